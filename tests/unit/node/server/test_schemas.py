"""The OpenAPI models describe what the node sends (node/server/schemas.py)."""

from __future__ import annotations

from node.server.schemas import ReceiptModel
from tests.support.records import make_receipt


def test_the_openapi_model_describes_exactly_the_receipt_sent() -> None:
    document = make_receipt().to_json()
    assert set(ReceiptModel.model_fields) == set(document)
    assert ReceiptModel.model_validate(document).model_dump() == document
