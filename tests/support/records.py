"""Records for tests that drive a sequencer directly: a test genesis, an origin, produce bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

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
