"""Kill a writer with SIGKILL at random moments; every acknowledged entry must survive.

Each round starts a real writer process on the same LMDB store, lets it append for a random
while, kills it without warning, then reopens the store and checks: every acknowledged entry is
present at its seq with its hash, the ``prev`` chain holds from the genesis, the root recomputed
from the entries equals the stored tree's, and the latest checkpoint verifies and covers it all.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto, merkle, notes
from node.core.records import Entry
from node.engine.store import Store
from tests.support.records import GENESIS, ORIGIN

ROUNDS = 20
REPO = Path(__file__).resolve().parents[2]


def _run_and_kill(
    store_dir: Path, log_seed: bytes, op_seed: bytes, rng: random.Random, acked: dict[int, str]
) -> int:
    lines: list[str] = []
    first = threading.Event()
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.crash_writer",
            str(store_dir),
            log_seed.hex(),
            op_seed.hex(),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                lines.append(line)
                first.set()

        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 60
        # Until the first acknowledgement, or the writer dies on its own (a bug, not our kill).
        while not first.wait(0.05) and proc.poll() is None and time.monotonic() < deadline:
            pass
        acknowledged = first.is_set()
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join()
    assert acknowledged, "writer acknowledged nothing"
    for line in lines:
        seq, entry_hash = line.split()
        acked[int(seq)] = entry_hash
    return len(lines)


def _check_store(store_dir: Path, log_key: Ed25519PrivateKey, acked: dict[int, str]) -> int:
    store = Store.open(store_dir, map_size=1 << 30)
    try:
        with store.read() as r:
            log = r.log("BW")
            size = log.size()
            assert size >= len(acked)
            leaves, prev = [], GENESIS
            for seq, raw in enumerate(log.entries(0, size)):
                entry = Entry.parse(raw)
                assert (entry.seq, entry.prev) == (seq, prev)
                prev = merkle.leaf_hash(raw)
                leaves.append(prev)
            assert len(leaves) == size
            for seq, entry_hash in acked.items():
                assert leaves[seq].hex() == entry_hash, f"acknowledged entry {seq} lost"
            assert merkle.root(leaves) == log.root(size)
            latest = log.latest_checkpoint()
            assert latest is not None
            vkey = crypto.verifier_key(ORIGIN, log_key.public_key())
            text, _ = notes.verify_note(latest[1], [vkey])
            checkpoint = notes.Checkpoint.parse(text)
            # Entries and their checkpoint commit in one transaction: never one without the other.
            assert (checkpoint.size, checkpoint.root) == (size, log.root(size))
            return size
    finally:
        store.close()


def test_sigkill_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    rng = random.Random()
    log_seed, op_seed = os.urandom(32), os.urandom(32)
    log_key = Ed25519PrivateKey.from_private_bytes(log_seed)
    store_dir = tmp_path / "store"
    acked: dict[int, str] = {}
    sizes = []
    for _ in range(ROUNDS):
        _run_and_kill(store_dir, log_seed, op_seed, rng, acked)
        sizes.append(_check_store(store_dir, log_key, acked))
    # Each round appended on top of what the killed one left: the log kept growing.
    assert sizes == sorted(sizes)
    assert sizes[-1] > sizes[0]
