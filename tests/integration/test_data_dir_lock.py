"""One process per data directory, and files only their owner reads (decision 0030), on real
``kp-node`` processes: a second ``run`` is refused naming the first, restore, key promotion and
init wait for the node to stop, the sequencer process holds the lock while it outlives a killed
node, a killed node leaves no stale lock, every file ``kp-node`` creates is 0600 and every
directory 0700 under a umask of 000, and admin commands beside a node under load fork
nothing."""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.core import crypto, merkle, notes
from node.core.encoding import Value
from node.core.records import Entry
from node.engine.store import Store
from tests.support.network import REPO, Submitter, devnet, free_port_block, kp_node

NETWORK = "kp.lock-test"


def _kp_node(*args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def _start(directory: Path) -> subprocess.Popen[bytes]:
    log = (directory / "node.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "run", "--dir", str(directory)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed whole below
        preexec_fn=lambda: os.umask(0),  # the store is created under it
    )
    log.close()
    return process


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_healthy(url: str, process: subprocess.Popen[bytes], directory: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _healthy(url):
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError((directory / "node.log").read_text()[-3000:])


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


@pytest.fixture
def data_dir(tmp_path: Path) -> tuple[Path, str]:
    directory = tmp_path / "BW"
    port = free_port_block(1)
    made = _kp_node(
        "init", "--dir", str(directory), "--participant", "BW", "--network", NETWORK,
        "--name", "KP authority of Botswana", "--port", str(port), umask=0,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    # An unsigned genesis of one member: enough for `restore` to get as far as the lock.
    genesis = _kp_node(
        "charter", "genesis", "--network", NETWORK, "--participant-file",
        str(directory / "participant.json"), "--witness-quorum", "0", "-o",
        str(tmp_path / "genesis.charter"), umask=0,
    )  # fmt: skip
    assert genesis.returncode == 0, genesis.stderr
    return directory, f"http://127.0.0.1:{port}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_is_the_owners_alone_whatever_the_umask(data_dir: tuple[Path, str]) -> None:
    directory, url = data_dir
    process = _start(directory)
    try:
        _wait_healthy(url, process, directory)
        for path in [directory, *directory.rglob("*")]:
            if path.name == "node.log":
                continue  # written by the test harness's redirect, not by kp-node
            expected = 0o700 if path.is_dir() else 0o600
            assert _mode(path) == expected, f"{path} is {_mode(path):04o}"
        assert {"data.mdb", "lock.mdb"} <= {p.name for p in (directory / "store").iterdir()}
        assert (directory / "node.lock").exists()
        # What kp-node writes outside the data directory too: charters, backups.
        assert _mode(directory.parent / "genesis.charter") == 0o600
        backup = directory.parent / "backups" / "monday"
        made = _kp_node("backup", "--dir", str(directory), "--to", str(backup), umask=0)
        assert made.returncode == 0, made.stderr
        assert _mode(backup) == 0o700
        assert _mode(backup / "data.mdb") == 0o600
    finally:
        _kill(process)


def test_a_second_node_on_one_directory_is_refused_naming_the_first(
    data_dir: tuple[Path, str],
) -> None:
    directory, url = data_dir
    first = _start(directory)
    try:
        _wait_healthy(url, first, directory)
        second = _kp_node("run", "--dir", str(directory))
        assert second.returncode != 0
        assert "datadir.locked" in second.stderr
        assert f"pid {first.pid}, run" in second.stderr
        # What would replace the keys, the log or the directory under the running node waits
        # for it to stop.
        for command in (
            ("restore", "--dir", str(directory), str(directory.parent / "genesis.charter")),
            ("keys", "promote", "--dir", str(directory)),
            (
                "init", "--dir", str(directory), "--participant", "BW", "--network", NETWORK,
                "--name", "again",
            ),
        ):  # fmt: skip
            refused = _kp_node(*command)
            assert refused.returncode != 0, command
            assert "datadir.locked" in refused.stderr, refused.stderr
        assert _healthy(url)  # the first still serves
        # A killed node's lock goes with it: a new node starts at once.
        _kill(first)
        again = _start(directory)
        try:
            _wait_healthy(url, again, directory)
        finally:
            _kill(again)
    finally:
        _kill(first)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_sequencer_process_holds_the_lock_when_only_the_node_is_killed(
    data_dir: tuple[Path, str],
) -> None:
    directory, url = data_dir
    genesis = str(directory.parent / "genesis.charter")
    signed = _kp_node("charter", "sign", "--dir", str(directory), genesis)
    assert signed.returncode == 0, signed.stderr
    adopted = _kp_node("charter", "adopt", "--dir", str(directory), genesis)
    assert adopted.returncode == 0, adopted.stderr
    node = _start(directory)
    try:
        _wait_healthy(url, node, directory)
        holders = (directory / "node.lock").read_text().splitlines()
        assert holders[0] == f"pid {node.pid}, run"
        sequencer = int(holders[1].removeprefix("pid ").removesuffix(", sequencer"))
        assert _alive(sequencer)
        # Stopped, the child cannot notice its parent's death and end: it stays as a
        # sequencer would that is still committing what it was sent.
        os.kill(sequencer, signal.SIGSTOP)
        os.kill(node.pid, signal.SIGKILL)  # the node only, not its process group
        node.wait(timeout=20)
        second = _kp_node("run", "--dir", str(directory))
        assert second.returncode != 0
        assert "datadir.locked" in second.stderr
        assert f"pid {sequencer}, sequencer" in second.stderr
        # Let go, it sees its parent gone, ends, and the lock with it.
        os.kill(sequencer, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while _alive(sequencer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(sequencer)
        again = _start(directory)
        try:
            _wait_healthy(url, again, directory)
        finally:
            _kill(again)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)  # the group outlives its leader
        _kill(node)


@pytest.mark.parametrize(
    ("relative", "mode", "code"),
    [
        ("keys", 0o777, "datadir.permissions"),
        ("keys", 0o755, "datadir.permissions"),
        ("", 0o777, "datadir.permissions"),
        ("keys/governance.pem", 0o644, "key.file_permissions"),
    ],
    ids=["keys-world-writable", "keys-world-readable", "dir-world-writable", "key-file-readable"],
)
def test_keys_others_may_use_make_run_refuse(
    data_dir: tuple[Path, str], relative: str, mode: int, code: str
) -> None:
    directory, url = data_dir
    target = directory / relative
    target.chmod(mode)
    refused = _kp_node("run", "--dir", str(directory))
    assert refused.returncode != 0
    assert code in refused.stderr
    assert f"chmod 0{0o700 if target.is_dir() else 0o600:o} {target}" in refused.stderr
    assert not _healthy(url)  # refused before its port was bound


def test_admin_commands_beside_a_node_under_load_fork_nothing(tmp_path: Path) -> None:
    """``operator add`` and ``revoke`` are separate processes appending to the node's log while
    its sequencer commits records from HTTP: LMDB serialises their write transactions and each
    reads the log's tip inside its own, so every checkpoint ever handed out is the one stored
    for its size, and the tree holds every entry once, chained (decision 0030)."""
    with devnet(tmp_path / "net", participants="BW") as net:
        directory = Path(net.description["participants"]["BW"]["data_dir"])
        vkey = str(net.description["participants"]["BW"]["log_vkey"])
        receipts: list[dict[str, Any]] = []
        stop = threading.Event()

        def load(worker: int) -> None:
            submitter = Submitter(net, "BW")
            try:
                for n in itertools.count():
                    if stop.is_set() and n >= 10:
                        return
                    response = submitter.post(
                        submitter.signed(
                            "parcel.produce", _produce_body(f"P-{worker}-{n}"), by="mine"
                        )
                    )
                    if response.status_code == 200:
                        receipts.append(response.json())
            finally:
                submitter.close()

        workers = [threading.Thread(target=load, args=(w,)) for w in range(3)]
        for worker in workers:
            worker.start()
        admin_seqs: list[int] = []
        try:
            for n in range(6):
                key = base64.b64encode(
                    crypto.public_key_bytes(crypto.generate_private_key())
                ).decode()
                added = kp_node(
                    "operator",
                    "add",
                    "--dir",
                    str(directory),
                    f"trader-{n}",
                    "--kind",
                    "trader",
                    "--public-key",
                    key,
                )
                admin_seqs.append(int(added.stdout.rsplit(" ", 1)[1]))
                if n % 2:
                    revoked = kp_node(
                        "operator",
                        "revoke",
                        "--dir",
                        str(directory),
                        f"trader-{n}",
                        "--reason",
                        "test",
                    )
                    admin_seqs.append(int(revoked.stdout.rsplit(" ", 1)[1]))
        finally:
            stop.set()
            for worker in workers:
                worker.join()
    # The network is down: read the log as it was left.
    store = Store.open(directory / "store", map_size=1 << 30)
    try:
        with store.read() as reader:
            log = reader.log("BW")
            size = log.size()
            leaves = [merkle.leaf_hash(raw) for raw in log.entries(0, size)]
            entries = [Entry.parse(raw) for raw in log.entries(0, size)]
            checkpoints = dict(reader.scan("checkpoints", b"BW\x00"))
    finally:
        store.close()
    assert [e.seq for e in entries] == list(range(size))
    for entry, previous in zip(entries[1:], leaves, strict=False):
        assert entry.prev == previous  # one chain: no two entries at one seq
    assert len(admin_seqs) == 9
    # The admin entries fell among the HTTP ones: the two writers did take turns on one log.
    served = sorted(r["seq"] for r in receipts)
    assert any(served[0] < seq < served[-1] for seq in admin_seqs)
    admin = {e.seq for e in entries if e.signed.record["type"].startswith("operator.")}
    assert set(admin_seqs) <= admin
    stored: dict[int, str] = {}
    for key, note in checkpoints.items():
        checkpoint = notes.Checkpoint.parse(notes.verify_note(note.decode(), [vkey])[0])
        assert checkpoint.size == int.from_bytes(key[-8:], "big")
        assert checkpoint.root == merkle.root(leaves[: checkpoint.size])
        stored[checkpoint.size] = note.decode()
    for receipt in receipts:
        assert leaves[receipt["seq"]].hex() == receipt["entry_hash"]
        size_signed = notes.Checkpoint.parse(
            notes.verify_note(receipt["checkpoint"], [vkey])[0]
        ).size
        assert stored[size_signed] == receipt["checkpoint"]  # the only checkpoint of that size


def _produce_body(parcel: str) -> dict[str, Value]:
    return {
        "parcel": parcel,
        "mine": "mine",
        "produced_on": time.strftime("%Y-%m-%d", time.gmtime()),
        "centicarats": 100,
        "hs_code": "7102.10",
        "holder": "mine",
    }
