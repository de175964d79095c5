"""Kill a served node with SIGKILL at random moments; every acknowledged entry must survive.

The path under test is production's: ``kp-node run`` on a data directory, its HTTP process
handing each body to the sequencer process, which commits with ``Sequencer.append_batch``.
Each round starts the node on what the round before left, has a few clients submit signed
records over HTTP with the SDK (single records and batches), keeps every receipt a client
received, and kills the node's whole process group at a random moment. The store is then
reopened and checked: every acknowledged entry is at its seq with its hash, the ``prev`` chain
holds from the genesis, the root recomputed from the entries is the stored tree's, and the
latest checkpoint verifies and covers every entry. The next round's node must take records again
on top of it; a last one is started and read back over HTTP.

The random choices (how long to wait before the kill, single or batch, batch sizes) come from
one seed, printed on failure; ``KP_CRASH_SEED=<n>`` runs with a given one. The kill lands
wherever the processes happen to be, so a seed repeats the choices, not the interleaving.
"""

from __future__ import annotations

import datetime
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from client.sdk import ClientError, LedgerClient, Operator
from node.core import merkle
from node.core.notes import SignedCheckpoint
from node.core.receipt import Receipt
from node.core.records import Entry, SignedRecord
from node.core.sealing import Disclosures
from node.engine.datadir import DataDir
from tests.support.network import REPO, Devnet, devnet

ROUNDS = 10
CLIENTS = 4
MAX_BATCH = 8
KILL_WITHIN = 0.3  # seconds after the round's first receipt
LOG = "BW"


@dataclass
class _Round:
    """What one round's clients saw: every receipt, and any failure before the kill."""

    killed: threading.Event = field(default_factory=threading.Event)
    first: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    receipts: list[Receipt] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)

    def received(self, receipts: list[Receipt]) -> None:
        with self.lock:
            self.receipts.extend(receipts)
        self.first.set()

    def failed(self, error: BaseException) -> None:
        if not self.killed.is_set():  # after the kill, every request fails: that is expected
            with self.lock:
                self.failures.append(error)
        self.first.set()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Devnet:
    """A one-participant devnet whose node is stopped: its data directory is ours to serve."""
    with devnet(tmp_path_factory.mktemp("net"), participants=LOG) as running:
        made = running
    return made  # `devnet` stopped the node on leaving


def _data_dir(net: Devnet) -> Path:
    return Path(net.description["participants"][LOG]["data_dir"])


def _start(net: Devnet) -> subprocess.Popen[bytes]:
    """``kp-node run`` in a session (and process group) of its own, once it answers."""
    data_dir = _data_dir(net)
    with (data_dir / "node.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(data_dir)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{net.url(LOG)}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    _kill(process)
    tail = (data_dir / "node.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"the node did not come up; its log ends:\n{tail}")


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the node's whole process group (HTTP and sequencer process) and wait until no
    process of it is left, so that nothing writes to the store any more."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while _group_alive(process.pid):
        assert time.monotonic() < deadline, "the node's processes outlived SIGKILL"
        time.sleep(0.01)


def _group_alive(group: int) -> bool:
    """Whether any process (zombies aside) of this process group is still there."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _produce(mine: Operator, parcel: str) -> tuple[SignedRecord, Disclosures]:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    return mine.produce(parcel, centicarats=1_000, hs_code="7102.10", produced_on=today)


def _client(net: Devnet, number: int, rnd: int, rng: random.Random, seen: _Round) -> None:
    """Submit records until the node is killed, alone or in batches of up to MAX_BATCH."""
    mine = Operator(LOG, "mine", net.operator_key(LOG, "mine"))
    parcels = (f"BW-CRASH-{rnd}-{number}-{n}" for n in range(1_000_000))
    # Not retried: after the kill a retry would only wait; before it, a failure is a finding.
    with LedgerClient(net.url(LOG), timeout=30, retries=0) as client:
        while not seen.killed.is_set():
            records = [
                _produce(mine, next(parcels))
                for _ in range(rng.choice((1, 1, rng.randint(2, MAX_BATCH))))
            ]
            try:
                if len(records) == 1:
                    results: list[Receipt | ClientError] = [client.submit(*records[0])]
                else:
                    results = list(client.submit_batch(records))
            except ClientError as exc:
                seen.failed(exc)
                return
            receipts = [r for r in results if isinstance(r, Receipt)]
            seen.received(receipts)
            for refused in (r for r in results if not isinstance(r, Receipt)):
                seen.failed(refused)


def _run_and_kill(net: Devnet, rnd: int, rng: random.Random) -> list[Receipt]:
    """One round: start the node, submit from CLIENTS threads, kill it; the receipts."""
    seen = _Round()
    process = _start(net)
    clients = [
        threading.Thread(
            target=_client, args=(net, n, rnd, random.Random(rng.random()), seen), daemon=True
        )
        for n in range(CLIENTS)
    ]
    try:
        for thread in clients:
            thread.start()
        assert seen.first.wait(30), "no client heard back from the node"
        time.sleep(rng.uniform(0.0, KILL_WITHIN))
    finally:
        seen.killed.set()
        _kill(process)
    for thread in clients:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a client still waits on a killed node"
    assert not seen.failures, f"refused or failed before the kill: {seen.failures[:3]}"
    assert seen.receipts, "the restarted node acknowledged nothing"
    return seen.receipts


def _check_store(net: Devnet, acked: dict[int, bytes]) -> int:
    """Reopen the store the killed node left and check it whole; its log's size."""
    genesis = bytes.fromhex(net.description["genesis"])
    log_vkey = net.description["participants"][LOG]["log_vkey"]
    store = DataDir(_data_dir(net)).open_store()
    try:
        with store.read() as reader:
            log = reader.log(LOG)
            size = log.size()
            leaves, prev = [], genesis
            for seq, raw in enumerate(log.entries(0, size)):
                entry = Entry.parse(raw)
                assert (entry.seq, entry.prev) == (seq, prev), f"entry {seq} breaks the chain"
                prev = merkle.leaf_hash(raw)
                leaves.append(prev)
            assert len(leaves) == size
            for seq, entry_hash in acked.items():
                assert seq < size, f"acknowledged entry {seq} lost: the log has {size}"
                assert leaves[seq] == entry_hash, f"acknowledged entry {seq} replaced"
            root = merkle.root(leaves)
            assert log.root(size) == root
            latest = log.latest_checkpoint()
            assert latest is not None
            checkpoint = SignedCheckpoint.parse(latest[1])
            checkpoint.verify([log_vkey], origin=f"{net.description['network']}/{LOG}")
            # Entries and their checkpoint commit in one transaction: never one without the other.
            assert (latest[0], checkpoint.size, checkpoint.root) == (size, size, root)
            return size
    finally:
        store.close()


def test_sigkill_of_a_served_node_loses_no_acknowledged_entry(net: Devnet) -> None:
    seed = int(os.environ.get("KP_CRASH_SEED", random.randrange(2**32)))
    try:
        _crash_rounds(net, random.Random(seed))
    except BaseException as exc:
        exc.add_note(f"crash test seed: KP_CRASH_SEED={seed}")
        raise


def _crash_rounds(net: Devnet, rng: random.Random) -> None:
    acked: dict[int, bytes] = {}
    sizes = [_check_store(net, acked)]
    for rnd in range(ROUNDS):
        for receipt in _run_and_kill(net, rnd, rng):
            # A seq acknowledged twice is one entry: the same hash both times.
            assert acked.setdefault(receipt.seq, receipt.entry_hash) == receipt.entry_hash
        sizes.append(_check_store(net, acked))
        # Every round's node appended on top of what the killed one before it left.
        assert sizes[-1] > sizes[-2]

    # A last restart: it takes a record at the next seq and serves the log as checked.
    process = _start(net)
    try:
        mine = Operator(LOG, "mine", net.operator_key(LOG, "mine"))
        with LedgerClient(net.url(LOG), timeout=30) as client:
            receipt = client.submit(*_produce(mine, "BW-CRASH-LAST"))
            assert receipt.seq == sizes[-1]
            served: list[bytes] = []
            while len(served) < sizes[-1]:  # page by page
                page = client.entries(LOG, len(served), sizes[-1])
                assert page, f"the node serves {len(served)} of {sizes[-1]} entries"
                served += page
        for seq, entry_hash in acked.items():
            assert merkle.leaf_hash(served[seq]) == entry_hash
    finally:
        _kill(process)
