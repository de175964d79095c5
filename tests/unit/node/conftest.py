"""Factories shared by the node unit tests: a fresh store, keys and signed records."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.records import SignedRecord, sign_record
from node.engine.sequencer import Sequencer, SignatureCheck
from node.engine.store import Store
from tests.support.records import GENESIS, ORIGIN, MakeRecord, produce_body


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
