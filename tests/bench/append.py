"""Log-engine benchmark: sequencer append rate against raw Ed25519 verification, proof cost, disk.

Run: ``.venv/bin/python -m tests.bench.append [--records N]``

Prints, from one run on this machine:
  (a) raw Ed25519 verifications per second with ``cryptography`` on one core;
  (b) records appended per second by the sequencer, durable commits of ``--batch`` records
      (``Sequencer.append_batch``, as the sequencer process calls it), one signature each;
  (b)/(a), target >= 0.5;
  (c) the same under the full KP rules (operator registry, parcel state), for reference;
  the time of one inclusion proof from the stored tree at sizes 1e3, 1e5 and 1e6, and the
  1e6/1e3 ratio, target <= 3;
  bytes on disk per entry.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto
from node.core.receipt import Receipt
from node.core.records import sign_record
from node.engine.sequencer import Sequencer, SignatureCheck
from node.engine.store import Store
from tests.support.world import World

GENESIS = hashlib.sha256(b"bench genesis").digest()
BATCH = 256  # records per commit: what the in-process sequencer took under load


def raw_verifications_per_second(seconds: float = 2.0) -> float:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    messages = [os.urandom(200) for _ in range(256)]
    signed = [(key.sign(m), m) for m in messages]
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for sig, message in signed:
            crypto.verify(public, sig, message)
        count += len(signed)
    return count / elapsed


def _records(n: int, key: Ed25519PrivateKey) -> list[bytes]:
    # A realistic produce record: ids, a date, a mass, an HS code, a holder.
    return [
        sign_record(
            {
                "v": 1,
                "type": "parcel.produce",
                "log": "BW",
                "time": 1_790_000_000_000 + i,
                "body": {
                    "parcel": f"BW-JW-2026-{i:07d}",
                    "mine": "jwaneng",
                    "produced_on": "2026-11-20",
                    "centicarats": 125_000 + i,
                    "hs_code": "7102.10",
                    "holder": "debswana",
                },
                "sealed": {},
            },
            [("debswana", key)],
        ).raw
        for i in range(n)
    ]


def sequencer_appends_per_second(
    directory: Path, n: int, batch: int = BATCH
) -> tuple[float, int, int]:
    """Append ``n`` records in commits of ``batch``; return (rate, disk bytes, entries)."""
    operator = Ed25519PrivateKey.generate()
    records = _records(n, operator)
    store = Store.open(directory)
    sequencer = Sequencer(
        store,
        log="BW",
        origin="kp.bench/BW",
        log_key=Ed25519PrivateKey.generate(),
        genesis=GENESIS,
        validate=SignatureCheck({"debswana": operator.public_key()}),
    )
    started = time.perf_counter()
    receipts = _append_all(sequencer, records, batch)
    elapsed = time.perf_counter() - started
    assert len(receipts) == n
    disk = _used_bytes(store)
    store.close()
    return n / elapsed, disk, n


def rules_appends_per_second(directory: Path, n: int, batch: int = BATCH) -> float:
    """The same stream under the full KP rules: each record a production by a registered mine,
    its signature checked against the operator registry, parcel state written beside it."""
    world = World(("BW", "CA", "EU"), store=directory)
    world.setup_log("BW")
    records = [
        world.signed_record(
            "BW",
            "parcel.produce",
            {
                "parcel": f"BW-JW-2026-{i:07d}",
                "mine": "mine",
                "produced_on": world.today,
                "centicarats": 125_000 + i,
                "hs_code": "7102.10",
                "holder": "mine",
            },
            by="mine",
        )[0].raw
        for i in range(n)
    ]
    sequencer = world.sequencer("BW")
    started = time.perf_counter()
    receipts = _append_all(sequencer, records, batch)
    elapsed = time.perf_counter() - started
    world.close()
    assert len(receipts) == n
    return n / elapsed


def _append_all(sequencer: Sequencer, records: list[bytes], batch: int) -> list[Receipt]:
    """Every record, ``batch`` to a durable commit; each must be accepted."""
    receipts: list[Receipt] = []
    for start in range(0, len(records), batch):
        for result in sequencer.append_batch(records[start : start + batch]):
            if not isinstance(result, Receipt):
                raise result
            receipts.append(result)
    return receipts


def _used_bytes(store: Store) -> int:
    info, stat = store._env.info(), store._env.stat()
    return int((info["last_pgno"] + 1) * stat["psize"])


def proof_seconds(directory: Path, sizes: list[int], samples: int = 3000) -> dict[int, float]:
    """Mean time of one inclusion proof (random leaf, whole tree) at each size."""
    store = Store.open(directory)
    results: dict[int, float] = {}
    filled = 0
    rng = random.Random(7)
    for size in sizes:
        while filled < size:
            chunk = min(size - filled, 50_000)
            with store.write() as w:
                writer = w.log("BW")
                for i in range(filled, filled + chunk):
                    entry = i.to_bytes(8, "big")
                    writer.append(entry, hashlib.sha256(entry).digest())
            filled += chunk
        with store.read() as r:
            log = r.log("BW")
            indexes = [rng.randrange(size) for _ in range(samples)]
            started = time.perf_counter()
            for index in indexes:
                log.inclusion_proof(index, size)
            results[size] = (time.perf_counter() - started) / samples
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=BATCH, help="records per commit")
    parser.add_argument("--max-size", type=int, default=1_000_000)
    args = parser.parse_args()

    raw = raw_verifications_per_second()
    with tempfile.TemporaryDirectory() as tmp:
        rate, disk, entries = sequencer_appends_per_second(
            Path(tmp) / "append", args.records, args.batch
        )
        with_rules = rules_appends_per_second(Path(tmp) / "rules", args.records, args.batch)
        sizes = [s for s in (1_000, 100_000, 1_000_000) if s <= args.max_size]
        proofs = proof_seconds(Path(tmp) / "proofs", sizes)

    print(f"(a) raw Ed25519 verifications/s, one core : {raw:10.0f}")
    print(f"(b) sequencer appends/s, durable commits  : {rate:10.0f}   ({args.records} records)")
    print(f"    ratio (b)/(a)                         : {rate / raw:10.2f}   target >= 0.5")
    print(f"(c) appends/s under the full KP rules     : {with_rules:10.0f}")
    print(f"    ratio (c)/(a)                         : {with_rules / raw:10.2f}")
    for size, seconds in proofs.items():
        print(f"    inclusion proof at size {size:>9,}     : {seconds * 1e6:10.1f} µs")
    if 1_000 in proofs and 1_000_000 in proofs:
        ratio = proofs[1_000_000] / proofs[1_000]
        print(f"    proof 1e6 / proof 1e3                 : {ratio:10.2f}   target <= 3")
    print(f"    bytes on disk per entry               : {disk / entries:10.0f}")


if __name__ == "__main__":
    main()
