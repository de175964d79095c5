"""Sealed fields (node/core/sealing.py, DESIGN §5): commitments, disclosures, strict parsing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.encoding import Value
from node.core.errors import DisclosureError, EncodingError, RecordError
from node.core.records import SignedRecord, sign_record
from node.core.sealing import (
    MAX_DISCLOSURE_SIZE,
    SALT_SIZE,
    SEAL_DOMAIN,
    Disclosures,
    check_disclosures,
    commit,
    encode_disclosures,
    parse_disclosures,
    seal,
)

VALUES: dict[str, Value] = {
    "value_usd_cents": 125_000_000,
    "exporter_name": "Okavango Diamond Company",
    "importer_name": "Antwerp Rough Traders NV",
    "seal_number": "SEAL-77801",
}
HASH = hashlib.sha256(b"an entry").digest()

MakeIssue = Callable[..., tuple[SignedRecord, Disclosures]]


@pytest.fixture
def make_issue() -> MakeIssue:
    """A signed ``certificate.issue`` sealing ``values``, with the disclosures that open it."""

    def make(values: dict[str, Value] | None = None) -> tuple[SignedRecord, Disclosures]:
        sealed, disclosures = seal(VALUES if values is None else values)
        record: dict[str, Value] = {
            "v": 1,
            "type": "certificate.issue",
            "log": "BW",
            "time": 1_780_000_000_000,
            "body": {
                "number": "BW-2026-0001",
                "exporter": "trader",
                "importing": "EU",
                "parcels": [["BW", 3, HASH, 0]],
                "parcel_count": 1,
                "centicarats": 100_000,
                "hs_codes": ["7102.10"],
                "origins": ["BW"],
                "issued_on": "2026-03-02",
                "expires_on": "2026-04-01",
            },
            "sealed": sealed,  # type: ignore[dict-item]
        }
        return sign_record(record, [("officer", Ed25519PrivateKey.generate())]), disclosures

    return make


def test_commitment_is_the_design_formula_computed_independently() -> None:
    salt = bytes(range(SALT_SIZE))
    for field, value in VALUES.items():
        packed = msgpack.packb(value, use_bin_type=True)
        expected = hashlib.sha256(b"kp-ledger/seal/v1\n" + salt + packed).digest()
        assert commit(field, salt, value) == expected, field
    assert SEAL_DOMAIN == b"kp-ledger/seal/v1\n"


def test_commitment_pins_a_known_vector() -> None:
    # SHA-256("kp-ledger/seal/v1\n" || 16 zero bytes || msgpack uint32 125000000)
    expected = hashlib.sha256(
        b"kp-ledger/seal/v1\n" + bytes(16) + b"\xce" + (125_000_000).to_bytes(4, "big")
    ).digest()
    assert commit("value_usd_cents", bytes(16), 125_000_000) == expected


def test_seal_and_check_round_trip(make_issue: MakeIssue) -> None:
    signed, disclosures = make_issue()
    assert set(disclosures) == set(VALUES)
    for field, (salt, value) in disclosures.items():
        assert len(salt) == SALT_SIZE
        assert value == VALUES[field]
        assert signed.record["sealed"][field] == commit(field, salt, value)  # type: ignore[index]
    check_disclosures(signed, disclosures)
    reparsed = parse_disclosures(encode_disclosures(disclosures))
    assert reparsed == disclosures
    check_disclosures(SignedRecord.parse(signed.raw), reparsed)


def test_each_seal_draws_a_fresh_salt() -> None:
    first, _ = seal({"invoice": "INV-1"})
    second, _ = seal({"invoice": "INV-1"})
    assert first["invoice"] != second["invoice"]


def _replace(field: str, *, salt: bytes | None = None, value: Value = None) -> Any:
    def change(d: Disclosures) -> None:
        old_salt, old_value = d[field]
        d[field] = (old_salt if salt is None else salt, old_value if value is None else value)

    return change


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param(
            _replace("value_usd_cents", value=125_000_001), "disclosure.mismatch", id="value"
        ),
        pytest.param(_replace("seal_number", value="SEAL-77802"), "disclosure.mismatch", id="text"),
        pytest.param(_replace("exporter_name", salt=bytes(16)), "disclosure.mismatch", id="salt"),
        pytest.param(lambda d: d.pop("importer_name"), "disclosure.missing", id="missing"),
        pytest.param(lambda d: d.clear(), "disclosure.missing", id="none"),
        pytest.param(
            lambda d: d.update(invoice=(bytes(16), "INV-1")), "disclosure.unexpected", id="extra"
        ),
        pytest.param(
            lambda d: d.update(exporter_name=d["importer_name"], importer_name=d["exporter_name"]),
            "disclosure.mismatch",
            id="swapped",
        ),
    ],
)
def test_disclosures_that_do_not_open_the_commitments_are_refused(
    make_issue: MakeIssue, change: Callable[[Disclosures], object], code: str
) -> None:
    signed, disclosures = make_issue()
    change(disclosures)
    with pytest.raises(DisclosureError) as refused:
        check_disclosures(signed, disclosures)
    assert refused.value.code == code
    assert isinstance(refused.value, RecordError)


def _packed(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


SALT = bytes(16)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(_packed([["x", 1]]), "disclosure.malformed", id="not-a-map"),
        pytest.param(_packed({"invoice": "INV-1"}), "disclosure.malformed", id="pair-not-a-list"),
        pytest.param(_packed({"invoice": [SALT]}), "disclosure.malformed", id="pair-too-short"),
        pytest.param(
            _packed({"invoice": [SALT, "INV-1", 1]}), "disclosure.malformed", id="pair-too-long"
        ),
        pytest.param(
            _packed({"invoice": ["0" * 16, "INV-1"]}), "disclosure.malformed", id="salt-is-text"
        ),
        pytest.param(
            _packed({"invoice": [bytes(15), "INV-1"]}), "disclosure.malformed", id="salt-15-bytes"
        ),
        pytest.param(
            _packed({"invoice": [bytes(17), "INV-1"]}), "disclosure.malformed", id="salt-17-bytes"
        ),
        pytest.param(
            _packed({"value_usd_cents": [SALT, "100"]}), "disclosure.malformed", id="amount-as-text"
        ),
        pytest.param(
            _packed({"value_usd_cents": [SALT, True]}), "disclosure.malformed", id="amount-as-bool"
        ),
        pytest.param(
            _packed({"value_usd_cents": [SALT, -1]}), "disclosure.malformed", id="negative-amount"
        ),
        pytest.param(_packed({"invoice": [SALT, 7]}), "disclosure.malformed", id="text-as-int"),
        pytest.param(_packed({"invoice": [SALT, ""]}), "disclosure.malformed", id="empty-text"),
        pytest.param(
            _packed({"invoice": [SALT, "x" * 501]}), "disclosure.malformed", id="text-too-long"
        ),
        pytest.param(
            _packed({"invoice": [SALT, "INV\n1"]}), "disclosure.malformed", id="unprintable-text"
        ),
        pytest.param(_packed({"price": [SALT, 1]}), "disclosure.malformed", id="unknown-field"),
        pytest.param(
            b"\x82"
            + _packed("invoice")
            + _packed([SALT, "INV-1"])
            + _packed("exporter_name")
            + _packed([SALT, "Okavango"]),
            "encoding.non_canonical",
            id="keys-unsorted",
        ),
        pytest.param(
            b"\x81" + _packed("value_usd_cents") + b"\x92" + _packed(SALT) + b"\xcd\x00\x05",
            "encoding.non_canonical",
            id="integer-not-minimal",
        ),
        pytest.param(_packed({"invoice": [SALT, "INV-1"]})[:-2], "encoding.malformed", id="cut"),
        pytest.param(
            _packed({"invoice": [SALT, "x" * 400]}) * 50, "encoding.too_large", id="too-large"
        ),
    ],
)
def test_malformed_disclosure_bytes_are_refused(data: bytes, code: str) -> None:
    with pytest.raises((DisclosureError, EncodingError)) as refused:
        parse_disclosures(data)
    assert refused.value.code == code


def test_disclosures_up_to_the_size_limit_parse() -> None:
    data = _packed({"invoice": [SALT, "INV-1"]})
    assert len(data) <= MAX_DISCLOSURE_SIZE
    assert parse_disclosures(data) == {"invoice": (SALT, "INV-1")}


@pytest.mark.parametrize(
    ("field", "salt", "value"),
    [
        pytest.param("price", SALT, 1, id="unknown-field"),
        pytest.param("invoice", bytes(8), "INV-1", id="short-salt"),
        pytest.param("value_usd_cents", SALT, "1", id="amount-as-text"),
        pytest.param("value_usd_cents", SALT, 2**63, id="amount-too-large"),
        pytest.param("seal_number", SALT, b"SEAL", id="text-as-bytes"),
    ],
)
def test_commit_refuses_a_value_its_field_cannot_hold(
    field: str, salt: bytes, value: Value
) -> None:
    with pytest.raises(DisclosureError) as refused:
        commit(field, salt, value)
    assert refused.value.code == "disclosure.malformed"
