"""Factories shared by the node unit tests: a fresh store, keys and signed records."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.log import Sequencer, SignatureCheck
from node.records import SignedRecord, sign_record
from node.store import Store

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


@pytest.fixture
def store(tmp_path: object) -> Iterator[Store]:
    s = Store.open(f"{tmp_path}/store", map_size=1 << 30)
    yield s
    s.close()


@pytest.fixture(scope="session")
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def operator_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def make_record(operator_key: Ed25519PrivateKey) -> MakeRecord:
    counter = itertools.count()

    def make(
        *,
        log: str = "BW",
        signer: str = "debswana",
        key: Ed25519PrivateKey | None = None,
        body: dict[str, object] | None = None,
    ) -> SignedRecord:
        record = {
            "v": 1,
            "type": "parcel.produce",
            "log": log,
            "time": 1_700_000_000_000 + next(counter),
            "body": body if body is not None else produce_body(next(counter)),
            "sealed": {},
        }
        return sign_record(record, [(signer, key or operator_key)])  # type: ignore[arg-type]

    return make


@pytest.fixture
def sequencer(
    store: Store, log_key: Ed25519PrivateKey, operator_key: Ed25519PrivateKey
) -> Sequencer:
    return Sequencer(
        store,
        log="BW",
        origin=ORIGIN,
        log_key=log_key,
        genesis=GENESIS,
        validate=SignatureCheck({"debswana": operator_key.public_key()}),
    )
