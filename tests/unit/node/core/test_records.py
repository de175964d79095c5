"""Record bodies, signed records and entries (node/core/records.py, DESIGN §5, §6): shapes."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto
from node.core.encoding import Value, encode
from node.core.errors import LedgerError, RecordError
from node.core.records import (
    MAX_CENTICARATS,
    MAX_REFS,
    RECORD_TYPES,
    SEALED_FIELDS,
    Entry,
    EntryRef,
    ParcelOutput,
    ParcelRef,
    SignedRecord,
    parse_body,
    sign_record,
)
from node.core.sealing import seal

H = hashlib.sha256(b"an entry").digest()
KEY = Ed25519PrivateKey.generate()
DELETE = object()

OUTPUT: dict[str, Value] = {"parcel": "BW-S-1", "centicarats": 50_000, "hs_code": "7102.10"}

VALID: dict[str, dict[str, Value]] = {
    "charter.adopt": {"version": 1, "charter": H},
    "operator.register": {
        "operator": "debswana",
        "kind": "mine",
        "licence": "BW-LIC-1",
        "public_key": crypto.public_key_bytes(KEY),
        "roles": ["parcel.produce", "parcel.transfer"],
        "valid_until": "2030-12-31",
    },
    "operator.revoke": {"operator": "debswana", "reason": "licence withdrawn"},
    "parcel.produce": {
        "parcel": "BW-JW-0001",
        "mine": "jwaneng",
        "produced_on": "2026-03-02",
        "centicarats": 100_000,
        "hs_code": "7102.10",
        "holder": "debswana",
    },
    "parcel.transform": {
        "inputs": [["BW", 3, H, 0]],
        "outputs": [OUTPUT],
        "kind": "split",
    },
    "parcel.transfer": {"parcel": ["BW", 3, H, 0], "to": "trader", "warranty": True},
    "certificate.issue": {
        "number": "BW-2026-0001",
        "exporter": "trader",
        "importing": "EU",
        "parcels": [["BW", 3, H, 0]],
        "parcel_count": 1,
        "centicarats": 100_000,
        "hs_codes": ["7102.10"],
        "origins": ["BW"],
        "issued_on": "2026-03-02",
        "expires_on": "2026-04-01",
    },
    "certificate.confirm": {
        "certificate": ["BW", 7, H],
        "received_on": "2026-03-05",
        "centicarats_received": 100_000,
        "seal_intact": True,
        "parcels": [OUTPUT],
        "holder": "trader",
    },
    "certificate.reject": {"certificate": ["BW", 7, H], "reason": "seal numbers differ"},
    "certificate.void": {
        "certificate": ["BW", 7, H],
        "reason": "rejected by the importer",
        "evidence": ["EU", 9, H],
    },
}


def _body(record_type: str, **changes: object) -> dict[str, Value]:
    body = copy.deepcopy(VALID[record_type])
    for field, value in changes.items():
        if value is DELETE:
            del body[field]
        else:
            body[field] = value  # type: ignore[assignment]
    return body


def _record(record_type: str, body: Value, **changes: Value) -> dict[str, Value]:
    sealed, _ = seal(_SEALED_VALUES[record_type])
    record: dict[str, Value] = {
        "v": 1,
        "type": record_type,
        "log": "BW",
        "time": 1_780_000_000_000,
        "body": body,
        "sealed": sealed,  # type: ignore[dict-item]
    }
    record.update(changes)
    return record


_SEALED_VALUES: dict[str, dict[str, Value]] = {
    t: {
        f: {
            "value_usd_cents": 1,
            "exporter_name": "E",
            "importer_name": "I",
            "seal_number": "S",
            "invoice": "INV",
        }[f]
        for f in SEALED_FIELDS.get(t, ())
    }
    for t in RECORD_TYPES
}


def _ref_case(name: str, ref: object) -> Any:
    return pytest.param("parcel.transfer", {"parcel": ref}, id=f"parcel-ref-{name}")


MALFORMED = [
    # unknown and missing fields
    pytest.param("parcel.produce", {"colour": "white"}, id="produce-unknown-field"),
    pytest.param("parcel.produce", {"holder": DELETE}, id="produce-missing-field"),
    pytest.param("certificate.issue", {"expires_on": DELETE}, id="issue-missing-field"),
    pytest.param("certificate.void", {"evidence": DELETE}, id="void-missing-evidence"),
    pytest.param(
        "parcel.transform",
        {"outputs": [{**OUTPUT, "colour": "white"}]},
        id="output-unknown-field",
    ),
    pytest.param(
        "parcel.transform",
        {"outputs": [{"parcel": "X", "centicarats": 1}]},
        id="output-missing-field",
    ),
    # wrong types, and bool where an int belongs (and the reverse)
    pytest.param("parcel.produce", {"centicarats": "100"}, id="centicarats-as-text"),
    pytest.param("parcel.produce", {"centicarats": True}, id="centicarats-as-bool"),
    pytest.param("charter.adopt", {"version": True}, id="version-as-bool"),
    pytest.param("charter.adopt", {"version": "1"}, id="version-as-text"),
    pytest.param("certificate.issue", {"parcel_count": True}, id="parcel-count-as-bool"),
    pytest.param("parcel.transfer", {"warranty": 1}, id="warranty-as-int"),
    pytest.param("certificate.confirm", {"seal_intact": 1}, id="seal-intact-as-int"),
    pytest.param("parcel.transfer", {"to": 7}, id="operator-as-int"),
    pytest.param("operator.register", {"public_key": "k" * 32}, id="public-key-as-text"),
    # ranges
    pytest.param("parcel.produce", {"centicarats": 0}, id="centicarats-zero"),
    pytest.param("parcel.produce", {"centicarats": -1}, id="centicarats-negative"),
    pytest.param("parcel.produce", {"centicarats": MAX_CENTICARATS + 1}, id="centicarats-over-max"),
    pytest.param(
        "certificate.confirm", {"centicarats_received": 0}, id="received-centicarats-zero"
    ),
    pytest.param("certificate.issue", {"parcel_count": 0}, id="parcel-count-zero"),
    pytest.param("certificate.issue", {"parcel_count": MAX_REFS + 1}, id="parcel-count-over"),
    pytest.param("charter.adopt", {"version": 0}, id="version-zero"),
    pytest.param("charter.adopt", {"charter": H[:31]}, id="charter-hash-31-bytes"),
    pytest.param("operator.register", {"public_key": bytes(31)}, id="public-key-31-bytes"),
    # dates
    pytest.param("parcel.produce", {"produced_on": "2026-02-30"}, id="date-february-30"),
    pytest.param("parcel.produce", {"produced_on": "2026-2-3"}, id="date-unpadded"),
    pytest.param("parcel.produce", {"produced_on": "2026-02-03T00:00"}, id="date-with-time"),
    pytest.param("certificate.issue", {"expires_on": 20260401}, id="date-as-int"),
    pytest.param("operator.register", {"valid_until": "31/12/2030"}, id="date-other-format"),
    # HS codes, kinds, roles, identifiers, text
    pytest.param("parcel.produce", {"hs_code": "7102.99"}, id="hs-code-unknown"),
    pytest.param("parcel.produce", {"hs_code": "7102"}, id="hs-code-short"),
    pytest.param("parcel.transform", {"kind": "grind"}, id="transform-kind-unknown"),
    pytest.param("operator.register", {"kind": "miner"}, id="operator-kind-unknown"),
    pytest.param("operator.register", {"roles": ["parcel.steal"]}, id="role-unknown"),
    pytest.param("operator.register", {"operator": "deb swana"}, id="operator-id-space"),
    pytest.param("operator.register", {"operator": "d" * 65}, id="operator-id-too-long"),
    pytest.param("operator.register", {"licence": ""}, id="licence-empty"),
    pytest.param("operator.revoke", {"reason": "r" * 501}, id="reason-too-long"),
    pytest.param("operator.revoke", {"reason": "line\nbreak"}, id="reason-unprintable"),
    pytest.param("certificate.issue", {"number": "bw-2026-1"}, id="number-lowercase"),
    pytest.param("certificate.issue", {"importing": "eu"}, id="importing-lowercase"),
    pytest.param("parcel.produce", {"parcel": "BW JW 1"}, id="parcel-id-space"),
    # sets: sorted, without repeats
    pytest.param("certificate.issue", {"origins": ["CA", "BW"]}, id="origins-unsorted"),
    pytest.param("certificate.issue", {"origins": ["BW", "BW"]}, id="origins-repeated"),
    pytest.param("certificate.issue", {"origins": ["BWA"]}, id="origin-not-iso-alpha-2"),
    pytest.param("certificate.issue", {"hs_codes": ["7102.31", "7102.10"]}, id="hs-codes-unsorted"),
    pytest.param("certificate.issue", {"hs_codes": ["7102.10", "7102.10"]}, id="hs-codes-repeated"),
    pytest.param(
        "operator.register",
        {"roles": ["parcel.transfer", "parcel.produce"]},
        id="roles-unsorted",
    ),
    pytest.param(
        "operator.register", {"roles": ["parcel.produce", "parcel.produce"]}, id="roles-repeated"
    ),
    # references
    _ref_case("three-items", ["BW", 3, H]),
    _ref_case("five-items", ["BW", 3, H, 0, 0]),
    _ref_case("map", {"log": "BW", "seq": 3, "hash": H, "out": 0}),
    _ref_case("short-hash", ["BW", 3, H[:31], 0]),
    _ref_case("lowercase-log", ["bw", 3, H, 0]),
    _ref_case("negative-seq", ["BW", -1, H, 0]),
    _ref_case("bool-seq", ["BW", True, H, 0]),
    _ref_case("out-64", ["BW", 3, H, MAX_REFS]),
    _ref_case("negative-out", ["BW", 3, H, -1]),
    pytest.param("certificate.reject", {"certificate": ["BW", 7, H, 0]}, id="entry-ref-four-items"),
    pytest.param("certificate.void", {"evidence": ["EU", 9]}, id="entry-ref-two-items"),
    # list sizes
    pytest.param("parcel.transform", {"inputs": []}, id="inputs-empty"),
    pytest.param("parcel.transform", {"outputs": []}, id="outputs-empty"),
    pytest.param("certificate.issue", {"parcels": []}, id="parcels-empty"),
    pytest.param("operator.register", {"roles": []}, id="roles-empty"),
    pytest.param("certificate.issue", {"origins": []}, id="origins-empty"),
    pytest.param("parcel.transform", {"outputs": [OUTPUT] * (MAX_REFS + 1)}, id="outputs-over-64"),
    pytest.param(
        "parcel.transform",
        {"inputs": [["BW", i, H, 0] for i in range(MAX_REFS + 1)]},
        id="inputs-over-64",
    ),
    pytest.param("parcel.transform", {"inputs": ["BW", 3, H, 0]}, id="inputs-not-nested"),
]


@pytest.mark.parametrize(("record_type", "changes"), MALFORMED)
def test_malformed_body_is_refused(record_type: str, changes: dict[str, object]) -> None:
    body = _body(record_type, **changes)
    with pytest.raises(RecordError) as refused:
        parse_body(record_type, body)
    assert refused.value.code == "record.malformed"
    # The same refusal when the body arrives inside a signed record.
    with pytest.raises(RecordError) as signed:
        sign_record(_record(record_type, body), [("officer", KEY)])
    assert signed.value.code == "record.malformed"


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_body_that_is_not_a_map_is_refused(record_type: str) -> None:
    with pytest.raises(RecordError) as refused:
        parse_body(record_type, [VALID[record_type]])
    assert refused.value.code == "record.malformed"


@pytest.mark.parametrize(
    ("record_type", "changes"),
    [
        pytest.param("parcel.produce", {"centicarats": 1}, id="centicarats-one"),
        pytest.param("parcel.produce", {"centicarats": MAX_CENTICARATS}, id="centicarats-max"),
        pytest.param("parcel.produce", {"produced_on": "2028-02-29"}, id="leap-day"),
        _ref_case("out-63", ["BW", 3, H, MAX_REFS - 1]),
        pytest.param("parcel.transform", {"outputs": [OUTPUT] * MAX_REFS}, id="outputs-64"),
        pytest.param("certificate.issue", {"parcel_count": MAX_REFS}, id="parcel-count-64"),
        pytest.param("parcel.transfer", {"warranty": False}, id="warranty-false-is-a-rule"),
        pytest.param("certificate.issue", {"origins": ["BW", "CA", "RU"]}, id="origins-sorted"),
    ],
)
def test_bodies_at_the_bounds_parse(record_type: str, changes: dict[str, object]) -> None:
    parse_body(record_type, _body(record_type, **changes))


def test_parsed_bodies_carry_typed_references_and_outputs() -> None:
    transform = parse_body("parcel.transform", VALID["parcel.transform"])
    assert transform.inputs == (ParcelRef("BW", 3, H, 0),)  # type: ignore[union-attr]
    assert transform.outputs == (ParcelOutput("BW-S-1", 50_000, "7102.10"),)  # type: ignore[union-attr]
    void = parse_body("certificate.void", VALID["certificate.void"])
    assert void.evidence == EntryRef("EU", 9, H)  # type: ignore[union-attr]


def test_unknown_record_type_is_refused() -> None:
    with pytest.raises(RecordError) as body:
        parse_body("parcel.teleport", {})
    assert body.value.code == "record.unknown_type"
    record = _record("parcel.produce", VALID["parcel.produce"], type="parcel.teleport")
    with pytest.raises(RecordError) as signed:
        sign_record(record, [("officer", KEY)])
    assert signed.value.code == "record.unknown_type"


@pytest.mark.parametrize(
    ("record_type", "fields"),
    [
        pytest.param("parcel.transfer", {}, id="transfer-without-invoice"),
        pytest.param("parcel.produce", {"invoice": "INV"}, id="produce-sealing-a-field"),
        pytest.param(
            "certificate.issue",
            {"value_usd_cents": 1, "exporter_name": "E", "importer_name": "I"},
            id="issue-missing-seal-number",
        ),
        pytest.param(
            "certificate.issue",
            {**_SEALED_VALUES["certificate.issue"], "invoice": "INV"},
            id="issue-with-an-extra-field",
        ),
    ],
)
def test_wrong_sealed_field_set_is_refused(record_type: str, fields: dict[str, Value]) -> None:
    sealed, _ = seal(fields)
    record = _record(record_type, VALID[record_type], sealed=sealed)  # type: ignore[arg-type]
    with pytest.raises(RecordError) as refused:
        sign_record(record, [("officer", KEY)])
    assert refused.value.code == "record.sealed_fields"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        pytest.param({"v": 2}, "record.version", id="version-2"),
        pytest.param({"v": True}, "record.version", id="version-bool"),
        pytest.param({"log": "bw"}, "record.malformed", id="log-lowercase"),
        pytest.param({"time": -1}, "record.malformed", id="time-negative"),
        pytest.param({"time": True}, "record.malformed", id="time-bool"),
        pytest.param({"sealed": {"invoice": H[:31]}}, "record.malformed", id="sealed-short-hash"),
    ],
)
def test_malformed_record_envelope_is_refused(changes: dict[str, Value], code: str) -> None:
    record = _record("parcel.transfer", VALID["parcel.transfer"], **changes)
    with pytest.raises(RecordError) as refused:
        sign_record(record, [("trader", KEY)])
    assert refused.value.code == code


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_signed_record_round_trips_through_its_bytes(record_type: str) -> None:
    signers = [("@log", KEY), ("officer", Ed25519PrivateKey.generate())]
    signed = sign_record(_record(record_type, VALID[record_type]), signers)
    parsed = SignedRecord.parse(signed.raw)
    assert parsed == signed
    assert parsed.body == parse_body(record_type, VALID[record_type])
    assert parsed.raw == encode(signed.to_value())
    assert parsed.payload == b"kp-ledger/record/v1\n" + encode(dict(signed.record))
    assert parsed.record_hash == hashlib.sha256(parsed.payload).digest()
    for sig in parsed.sigs:
        key = KEY if sig.by == "@log" else signers[1][1]
        assert crypto.verify(key.public_key(), sig.sig, parsed.payload)


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_entry_round_trips_through_its_bytes(record_type: str) -> None:
    signed = sign_record(_record(record_type, VALID[record_type]), [("officer", KEY)])
    entry = Entry(seq=5, prev=H, time=1_780_000_000_123, signed=signed)
    encoded = entry.encode()
    assert Entry.parse(encoded) == entry
    assert Entry.parse(encoded).leaf_hash == entry.leaf_hash
    assert entry.leaf_hash == hashlib.sha256(b"\x00" + encoded).digest()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        pytest.param({"seq": -1}, "entry.malformed", id="negative-seq"),
        pytest.param({"seq": True}, "entry.malformed", id="bool-seq"),
        pytest.param({"prev": H[:31]}, "entry.malformed", id="short-prev"),
        pytest.param({"time": "now"}, "record.malformed", id="time-as-text"),
        pytest.param({"extra": 1}, "record.malformed", id="unknown-field"),
    ],
)
def test_malformed_entry_is_refused(changes: dict[str, Value], code: str) -> None:
    signed = sign_record(_record("parcel.produce", VALID["parcel.produce"]), [("officer", KEY)])
    value: dict[str, Value] = {"seq": 5, "prev": H, "time": 1, "signed": signed.to_value()}
    value.update(changes)
    with pytest.raises(RecordError) as refused:
        Entry.parse(encode(value))
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        pytest.param(lambda v: v.update(sigs=[]), "signature.missing", id="no-signature"),
        pytest.param(
            lambda v: v["sigs"].append(dict(v["sigs"][0])), "signature.duplicate", id="twice"
        ),
        pytest.param(
            lambda v: v["sigs"][0].update(sig=bytes(63)), "signature.malformed", id="short-sig"
        ),
        pytest.param(
            lambda v: v["sigs"][0].update(by="bad signer"), "record.malformed", id="bad-signer-id"
        ),
        pytest.param(lambda v: v.update(extra=1), "record.malformed", id="unknown-field"),
    ],
)
def test_malformed_signatures_are_refused(mutate: Callable[[Any], object], code: str) -> None:
    signed = sign_record(_record("parcel.produce", VALID["parcel.produce"]), [("officer", KEY)])
    value = copy.deepcopy(signed.to_value())
    mutate(value)
    with pytest.raises(RecordError) as refused:
        SignedRecord.parse(encode(value))
    assert refused.value.code == code


def test_a_flipped_byte_is_refused_or_breaks_identity_or_signature() -> None:
    """Every byte of a signed record matters: a flip is refused when parsed, changes what the
    record is (its hash), or leaves a signature that no longer verifies."""
    signed = sign_record(
        _record("certificate.issue", VALID["certificate.issue"]), [("officer", KEY)]
    )
    public = KEY.public_key()
    for position in range(len(signed.raw)):
        for mask in (0x01, 0x80):
            mutated = bytearray(signed.raw)
            mutated[position] ^= mask
            try:
                parsed = SignedRecord.parse(bytes(mutated))
            except LedgerError:
                continue
            signature_holds = all(
                crypto.verify(public, s.sig, parsed.payload) for s in parsed.sigs
            ) and [s.by for s in parsed.sigs] == ["officer"]
            if parsed.record_hash == signed.record_hash:
                # The record is intact: only a signature changed, and it no longer verifies.
                assert parsed.sigs != signed.sigs, (position, mask)
            assert not signature_holds, (position, mask)
