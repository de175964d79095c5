"""Records for tests that drive a sequencer directly: a test genesis, an origin, produce bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import merkle, notes
from node.core.receipt import Receipt
from node.core.records import SignedRecord

__all__ = ["GENESIS", "ORIGIN", "MakeRecord", "produce_body"]

GENESIS = hashlib.sha256(b"test genesis").digest()
ORIGIN = "kp.test/BW"

MakeRecord = Callable[..., SignedRecord]


def produce_body(n: int) -> dict[str, object]:
    """A valid ``parcel.produce`` body; ``n`` makes each one distinct."""
    return {
        "parcel": f"BW-JW-{n:06d}",
        "mine": "jwaneng",
        "produced_on": "2026-11-20",
        "centicarats": 10_000 + n % 100_000,
        "hs_code": "7102.10",
        "holder": "debswana",
    }


def make_receipt() -> Receipt:
    """A receipt of entry 3 in a log of 5, signed by a fresh log key."""
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(5)]
    root = merkle.root(leaves)
    note = notes.sign_note(
        notes.Checkpoint(ORIGIN, 5, root).to_text(), ORIGIN, Ed25519PrivateKey.generate()
    )
    proof = tuple(merkle.inclusion_proof(leaves, 3, 5))
    return Receipt(leaves[3], "BW", 3, note, proof)
