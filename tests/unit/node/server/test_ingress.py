"""The ingress walk of ``POST /v1/records`` bodies and the per-address shares of the queue."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass

import msgpack
import pytest

from node.core import crypto
from node.core.encoding import Value, decode, encode
from node.core.errors import (
    ClientBusyError,
    EncodingError,
    LedgerError,
    RecordError,
    RequestTooLargeError,
)
from node.core.records import MAX_ENTRY_SIZE, MAX_REFS, MAX_SIGNATURES, SignedRecord, sign_record
from node.core.sealing import encode_disclosures, seal
from node.engine.config import Settings
from node.server.ingress import (
    MAX_SUBMISSION_BYTES,
    MAX_SUBMISSION_VALUES,
    ClientShares,
    IngressBounds,
    SubmissionShape,
    check_submissions,
)

BOUNDS = IngressBounds.from_settings(Settings(participant="BW", network="kp.test"))
HASH = bytes(range(32))


def _record(record_type: str, body: dict[str, Value], signers: int = 1) -> dict[str, Value]:
    keys = [(f"op{i}", crypto.generate_private_key()) for i in range(signers)]
    record: dict[str, Value] = {
        "v": 1,
        "type": record_type,
        "log": "BW",
        "time": 1_790_000_000_000,
        "body": body,
        "sealed": {},
    }
    return {"signed": sign_record(record, keys).to_value()}


def _produce(n: int) -> dict[str, Value]:
    return _record(
        "parcel.produce",
        {
            "parcel": f"BW-JW-{n:06d}",
            "mine": "jwaneng",
            "produced_on": "2026-11-20",
            "centicarats": 12_500,
            "hs_code": "7102.10",
            "holder": "debswana",
        },
    )


def _largest_transform() -> dict[str, Value]:
    """A transform with as many inputs, outputs and signatures as a record may have."""
    return _record(
        "parcel.transform",
        {
            "inputs": [["BW", 2**62 + i, HASH, MAX_REFS - 1] for i in range(MAX_REFS)],
            "outputs": [
                {"parcel": f"BW-{'X' * 50}-{i:04d}", "centicarats": 10**12, "hs_code": "7102.31"}
                for i in range(MAX_REFS)
            ],
            "kind": "split",
        },
        signers=MAX_SIGNATURES,
    )


def _largest_certificate() -> dict[str, Value]:
    """A certificate of as many parcels and origins as a record may list, with disclosures."""
    sealed, disclosures = seal(
        {
            "value_usd_cents": 2**62,
            "exporter_name": "E" * 500,
            "importer_name": "I" * 500,
            "seal_number": "S" * 500,
        }
    )
    keys = [(f"op{i}", crypto.generate_private_key()) for i in range(MAX_SIGNATURES)]
    record: dict[str, Value] = {
        "v": 1,
        "type": "certificate.issue",
        "log": "BW",
        "time": 1_790_000_000_000,
        "body": {
            "number": "BW-2026-0001",
            "exporter": "debswana",
            "importing": "EU",
            "parcels": [["BW", 2**62 + i, HASH, MAX_REFS - 1] for i in range(MAX_REFS)],
            "parcel_count": MAX_REFS,
            "centicarats": 10**12,
            "hs_codes": ["7102.10", "7102.21", "7102.31"],
            "origins": sorted({f"{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(64)}),
            "issued_on": "2026-11-20",
            "expires_on": "2026-12-20",
        },
        "sealed": dict(sealed),
    }
    signed = sign_record(record, keys)
    return {
        "signed": signed.to_value(),
        "disclosures": decode(encode_disclosures(disclosures), max_size=1 << 20),
    }


def _values(value: object) -> int:
    """How many msgpack values ``value`` encodes as: itself, and every item, key and value."""
    if isinstance(value, list):
        return 1 + sum(_values(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(1 + _values(v) for v in value.values())
    return 1


@pytest.mark.parametrize(
    "submission", [_largest_transform(), _largest_certificate()], ids=["transform", "certificate"]
)
def test_the_largest_record_the_rules_admit_is_well_within_the_bounds(
    submission: dict[str, Value],
) -> None:
    signed = submission["signed"]
    SignedRecord.from_value(signed)  # its shape is one the sequencer accepts
    assert _values(submission) <= MAX_SUBMISSION_VALUES // 3
    assert len(encode(signed)) <= MAX_ENTRY_SIZE
    assert len(encode(submission)) <= MAX_SUBMISSION_BYTES
    assert check_submissions(encode(submission), BOUNDS) == SubmissionShape(False, 1)
    batch = encode({"batch": [submission] * 100})
    assert check_submissions(batch, BOUNDS) == SubmissionShape(True, 100)


def test_a_full_batch_of_ordinary_records_passes() -> None:
    one = _produce(1)
    body = encode({"batch": [one] * BOUNDS.batch_records})
    assert check_submissions(body, BOUNDS) == SubmissionShape(True, BOUNDS.batch_records)


def test_the_body_bound_is_derived_from_the_record_and_batch_bounds() -> None:
    small = Settings(participant="BW", network="kp.test", max_batch_records=10)
    derived = IngressBounds.from_settings(small).body_bytes
    assert 10 * MAX_SUBMISSION_BYTES < derived < 11 * MAX_SUBMISSION_BYTES
    assert BOUNDS.body_bytes == Settings(participant="BW", network="kp.test").max_body_bytes


@dataclass(frozen=True)
class Refused:
    body: bytes
    error: type[LedgerError]
    code: str


def _nils_array(count: int) -> bytes:
    return b"\xdd" + count.to_bytes(4, "big") + b"\xc0" * count


VALID = encode(_produce(7))
REFUSED = {
    # The bodies of issue 12: an array of 8 million nils, as a body and as one record.
    "eight-million-nils": Refused(
        _nils_array(8_000_000), RequestTooLargeError, "request.too_large"
    ),
    "record-of-a-million-nils": Refused(
        b"\x81\xa6signed" + _nils_array(1_000_000), RequestTooLargeError, "request.too_large"
    ),
    "batch-of-records-of-nils": Refused(
        encode({"batch": [{"signed": [None] * 60_000}] * 100}),
        RequestTooLargeError,
        "request.too_large",
    ),
    # Each submission small enough, but together more values than a body may hold.
    "batch-of-many-small-values": Refused(
        encode({"batch": [[None] * 3000] * 1000}), RequestTooLargeError, "request.too_large"
    ),
    "empty-arrays-over-the-submission-bound": Refused(
        b"\x81\xa6signed" + msgpack.packb([[]] * 5000), RequestTooLargeError, "request.too_large"
    ),
    "nested-empty-arrays-over-the-bound": Refused(
        b"\x81\xa6signed" + msgpack.packb([[[]] * 100] * 100),
        RequestTooLargeError,
        "request.too_large",
    ),
    "array-header-4g": Refused(b"\xdd\xff\xff\xff\xff", RequestTooLargeError, "request.too_large"),
    "map-header-4g": Refused(b"\xdf\xff\xff\xff\xff", RequestTooLargeError, "request.too_large"),
    "bin-header-over-an-entry": Refused(
        b"\x81\xa6signed\xc6"
        + (MAX_ENTRY_SIZE + 1).to_bytes(4, "big")
        + b"\x00" * (MAX_ENTRY_SIZE + 1),
        RequestTooLargeError,
        "request.too_large",
    ),
    "submission-over-its-bytes": Refused(
        encode({"batch": [{"signed": b"\x00" * MAX_ENTRY_SIZE, "disclosures": "x" * 20_000}]}),
        RequestTooLargeError,
        "request.too_large",
    ),
    "body-over-its-bytes": Refused(
        b"\x00" * (BOUNDS.body_bytes + 1), RequestTooLargeError, "request.too_large"
    ),
    "batch-1001-from-its-header": Refused(
        b"\x81\xa5batch\xdc\x03\xe9", RecordError, "request.batch_size"
    ),
    "batch-empty": Refused(encode({"batch": []}), RecordError, "request.batch_size"),
    "batch-not-a-list": Refused(encode({"batch": "all"}), RecordError, "request.batch_size"),
    "not-a-map": Refused(encode([1, 2, 3]), RecordError, "request.submission_shape"),
    "truncated": Refused(VALID[:-7], EncodingError, "encoding.malformed"),
    "str-header-1g-in-five-bytes": Refused(
        b"\x81\xa6signed\xdb\x40\x00\x00\x00", EncodingError, "encoding.malformed"
    ),
    "trailing-bytes": Refused(VALID + b"\xc0", EncodingError, "encoding.trailing_bytes"),
    "json-labelled-msgpack": Refused(b'{"signed": {}}', EncodingError, "encoding.trailing_bytes"),
    "ext-type": Refused(
        b"\x81\xa6signed" + msgpack.packb(msgpack.ExtType(42, b"\x00\x01")),
        EncodingError,
        "encoding.unsupported_type",
    ),
    "invalid-utf8": Refused(b"\x81\xa6signed\xa2\xff\xfe", EncodingError, "encoding.malformed"),
    "nesting-100000-deep": Refused(
        b"\x91" * 100_000 + b"\xc0", EncodingError, "encoding.malformed"
    ),
    "reserved-byte": Refused(b"\xc1", EncodingError, "encoding.malformed"),
    "empty": Refused(b"", EncodingError, "encoding.malformed"),
}


@pytest.mark.parametrize("refused", REFUSED.values(), ids=REFUSED.keys())
def test_a_body_no_submission_could_be_is_refused(refused: Refused) -> None:
    with pytest.raises(refused.error) as caught:
        check_submissions(refused.body, BOUNDS)
    assert caught.value.code == refused.code


@pytest.mark.parametrize(
    "body",
    [
        _nils_array(8_000_000),
        b"\x81\xa6signed" + msgpack.packb([[[]] * 1000] * 1000),
        b"\x81\xa5batch\xdd\x00\x00\x03\xe8" + msgpack.packb([[]] * 4000) * 1000,
    ],
    ids=["eight-million-nils", "a-million-nested-empty-arrays", "a-thousand-records-of-empties"],
)
def test_refusing_a_hostile_body_allocates_next_to_nothing(body: bytes) -> None:
    """The walk refuses by a declared length or a count, before it builds what the body
    describes: measured by memory, which, unlike time, this shared machine cannot blur."""
    tracemalloc.start()
    try:
        with pytest.raises(RequestTooLargeError):
            check_submissions(body, BOUNDS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # a megabyte, for bodies of eight


def test_what_the_walk_lets_through_the_sequencer_judges() -> None:
    """Key order, types and the record's own shape are not the walk's to judge."""
    unsorted = msgpack.packb({"signed": {"sigs": [], "record": {}}}, use_bin_type=True)
    duplicate = b"\x82\xa6signed\x00\xa6signed\x00"
    batch_of_junk = encode({"batch": [1, "two", [3]]})
    assert check_submissions(unsorted, BOUNDS) == SubmissionShape(False, 1)
    assert check_submissions(duplicate, BOUNDS) == SubmissionShape(False, 1)
    assert check_submissions(batch_of_junk, BOUNDS) == SubmissionShape(True, 3)


# --- shares of the queue -------------------------------------------------------------------------


def test_one_address_is_held_to_its_share_and_others_are_not() -> None:
    shares = ClientShares(max_records=10, max_bytes=1000)
    first = shares.take("192.0.2.1", 6, 100)
    shares.take("192.0.2.1", 4, 100)
    with pytest.raises(ClientBusyError) as caught:
        shares.check("192.0.2.1")
    assert caught.value.code == "sequencer.client_busy"
    with pytest.raises(ClientBusyError):
        shares.take("192.0.2.1", 1, 1)
    shares.check("192.0.2.2")
    shares.take("192.0.2.2", 10, 1000)
    shares.give_back(first)
    assert shares.waiting("192.0.2.1") == (4, 100)
    shares.take("192.0.2.1", 6, 800)
    with pytest.raises(ClientBusyError):  # over its bytes, not its records
        shares.take("192.0.2.1", 0, 200)


def test_an_address_with_nothing_waiting_is_always_let_in_once() -> None:
    shares = ClientShares(max_records=10, max_bytes=1000)
    held = shares.take("192.0.2.1", 1000, 10**6)  # a batch larger than the share
    with pytest.raises(ClientBusyError):
        shares.take("192.0.2.1", 1, 1)
    shares.give_back(held)
    assert shares.waiting("192.0.2.1") == (0, 0)
    shares.check("192.0.2.1")
