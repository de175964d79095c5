"""The receipt's one shape (node/core/receipt.py): what the API sends is what the SDK reads."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from node.core import notes
from node.core.errors import ReceiptError
from node.core.receipt import Receipt
from tests.support.records import make_receipt

ORIGIN = "kp.test/BW"


@pytest.fixture(scope="module")
def receipt() -> Receipt:
    return make_receipt()


def test_a_receipt_reads_back_as_it_was_sent(receipt: Receipt) -> None:
    document = receipt.to_json()
    assert Receipt.from_json(document) == receipt
    assert notes.TlogProof.parse(document["tlog_proof"]).index == 3
    assert receipt.parcel_ref(1) == ["BW", 3, receipt.entry_hash, 1]
    assert receipt.entry_ref() == ["BW", 3, receipt.entry_hash]


def _broken(receipt: Receipt) -> list[tuple[str, dict[str, Any]]]:
    good = receipt.to_json()
    other = Receipt(receipt.entry_hash, "BW", 2, receipt.checkpoint, receipt.proof).tlog_proof()
    return [
        ("missing field", {k: v for k, v in good.items() if k != "seq"}),
        ("seq is a bool", {**good, "seq": True}),
        ("negative seq", {**good, "seq": -1}),
        ("short hash", {**good, "entry_hash": "ab" * 31}),
        ("not hex", {**good, "entry_hash": "zz" * 32}),
        ("proof not base64", {**good, "proof": ["!!"]}),
        ("proof hash short", {**good, "proof": [base64.b64encode(b"x" * 31).decode()]}),
        ("proof too long", {**good, "proof": good["proof"] * 40}),
        ("empty log", {**good, "log": ""}),
        ("not a checkpoint", {**good, "checkpoint": "hello\n"}),
        ("tlog-proof of another seq", {**good, "tlog_proof": other}),
        ("witnessed not a bool", {**good, "witnessed": "yes"}),
    ]


def test_a_malformed_receipt_is_refused_with_its_code(receipt: Receipt) -> None:
    for why, document in _broken(receipt):
        with pytest.raises(ReceiptError) as refused:
            Receipt.from_json(document)
        assert refused.value.code == "receipt.malformed", why
    with pytest.raises(ReceiptError):
        Receipt.from_json(["not", "an", "object"])
