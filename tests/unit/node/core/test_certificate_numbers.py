"""The one grammar of certificate numbers (decision 0025): what is a number, what is written in
a record, and which numbers are one number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.core.encoding import Value
from node.core.errors import RecordError
from node.core.records import (
    CERTIFICATE_NUMBER_GRAMMAR,
    CertificateIssue,
    CertificateNumber,
    certificate_number_key,
    parse_body,
    parse_certificate_number,
)
from tests.support.world import World

# typed text -> (issuer, shown, key)
ACCEPTED = [
    pytest.param("BW-2026-0005", "BW", "BW-2026-0005", "BW-20260005", id="dashes"),
    pytest.param("BW/2026/0005", "BW", "BW/2026/0005", "BW-20260005", id="slashes"),
    pytest.param("BW0001234", "BW", "BW0001234", "BW-0001234", id="no-separator"),
    pytest.param("bw-2026-000123", "BW", "BW-2026-000123", "BW-2026000123", id="lower-case"),
    pytest.param("BW 2026 0005", "BW", "BW 2026 0005", "BW-20260005", id="spaces"),
    pytest.param("  bw  2026\t0005 ", "BW", "BW 2026 0005", "BW-20260005", id="runs-of-space"),
    pytest.param("BW - 2026 / 0005", "BW", "BW - 2026 / 0005", "BW-20260005", id="mixed"),
    pytest.param("bw\u00a02026", "BW", "BW 2026", "BW-2026", id="no-break-space"),
    pytest.param("BW-A001", "BW", "BW-A001", "BW-A001", id="serial-starts-with-letter"),
    pytest.param("BWA001", "BWA", "BWA001", "BWA-001", id="issuer-is-every-leading-letter"),
    pytest.param("ABCDEFGH-1", "ABCDEFGH", "ABCDEFGH-1", "ABCDEFGH-1", id="issuer-8-letters"),
    pytest.param("BW-" + "9" * 40, "BW", "BW-" + "9" * 40, "BW-" + "9" * 40, id="serial-40"),
    pytest.param(
        "BW " + "1 " * 40, "BW", "BW" + " 1" * 40, "BW-" + "1" * 40, id="serial-40-spaced"
    ),
]

REFUSED = [
    pytest.param("", id="empty"),
    pytest.param("BW", id="issuer-only"),
    pytest.param("BW-", id="separator-only"),
    pytest.param("BWABC", id="letters-only"),
    pytest.param("B-2026", id="issuer-one-letter"),
    pytest.param("ABCDEFGHI-1", id="issuer-9-letters"),
    pytest.param("2026-0005", id="no-issuer"),
    pytest.param("BW-2026-", id="trailing-separator"),
    pytest.param("BW_2026", id="underscore"),
    pytest.param("BW.2026", id="dot"),
    pytest.param("BW-2026-0005/..", id="dot-segment"),
    pytest.param("BW-" + "9" * 41, id="serial-41"),
    pytest.param("BW-2026-ⅰ", id="roman-numeral"),
    pytest.param("BWﬀ1", id="ligature-that-upper-cases-to-letters"),
    pytest.param("BW-２０２６", id="full-width-digits"),
    pytest.param("BW-2026\n0005<script>", id="markup"),
    pytest.param("BW-1" + " " * 200, id="longer-than-a-lookup-reads"),
]

# Numbers a person reads alike are one number.
SAME = [
    pytest.param("BW-2026-0005", "BW/2026/0005", id="dash-slash"),
    pytest.param("BW-2026-0005", "bw 2026 0005", id="dash-space-case"),
    pytest.param("BW-2026-0005", "BW20260005", id="separators-dropped"),
    pytest.param("BW0001234", "BW-0001234", id="separator-after-issuer"),
    pytest.param("BW-ab-1", "BW-AB-1", id="case-of-the-serial"),
]

DIFFERENT = [
    pytest.param("BW-2026-0005", "BW-2026-005", id="leading-zeros-count"),
    pytest.param("BW-2026-0005", "BW-2026-0006", id="another-serial"),
    pytest.param("BW-A001", "BWA001", id="another-issuer"),
    pytest.param("BW-2026-O005", "BW-2026-0005", id="letter-o-is-not-zero"),
]


@pytest.mark.parametrize(("text", "issuer", "shown", "key"), ACCEPTED)
def test_accepted_numbers_parse_to_their_issuer_and_key(
    text: str, issuer: str, shown: str, key: str
) -> None:
    assert parse_certificate_number(text) == CertificateNumber(issuer, shown, key)
    assert certificate_number_key(text) == key
    assert certificate_number_key(key) == key  # the key is itself a number, of itself


@pytest.mark.parametrize("text", REFUSED)
def test_refused_numbers_name_the_grammar(text: str) -> None:
    with pytest.raises(RecordError) as refused:
        parse_certificate_number(text)
    assert refused.value.code == "certificate.number_invalid"
    assert CERTIFICATE_NUMBER_GRAMMAR in refused.value.message


@pytest.mark.parametrize(("one", "other"), SAME)
def test_numbers_read_alike_are_one_number(one: str, other: str) -> None:
    assert certificate_number_key(one) == certificate_number_key(other)


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_numbers_read_differently_are_two(one: str, other: str) -> None:
    assert certificate_number_key(one) != certificate_number_key(other)


@given(st.text(alphabet="BWbw0123456789-/ \tAa", max_size=60))
def test_any_text_parses_or_is_refused_and_folding_is_idempotent(text: str) -> None:
    try:
        number = parse_certificate_number(text)
    except RecordError as exc:
        refused = exc.code
    else:
        refused = ""
    if refused:
        assert refused == "certificate.number_invalid"
        return
    assert parse_certificate_number(number.key).key == number.key
    assert parse_certificate_number(number.text) == number


# What a certificate.issue body may write: the printed form only.
WRITTEN = ["BW-2026-0005", "BW/2026/0005", "BW0001234", "BW-A001", "BW-" + "9" * 40]
NOT_WRITTEN = [
    "bw-2026-0005",
    "BW-2026-0005a",
    "BW 2026 0005",
    "BW--2026",
    "BW-2026/",
    "/BW-2026",
    "BW-" + "9" * 41,
    "BWABC",
]


def _issue(number: str) -> dict[str, Value]:
    return {
        "number": number,
        "exporter": "trader",
        "importing": "EU",
        "parcels": [["BW", 1, b"\x00" * 32, 0]],
        "parcel_count": 1,
        "centicarats": 100,
        "hs_codes": ["7102.10"],
        "origins": ["BW"],
        "issued_on": "2026-01-01",
        "expires_on": "2026-02-01",
    }


@pytest.mark.parametrize("number", WRITTEN)
def test_a_record_writes_a_number_as_printed(number: str) -> None:
    body = parse_body("certificate.issue", _issue(number))
    assert isinstance(body, CertificateIssue)
    assert body.number == number


@pytest.mark.parametrize("number", NOT_WRITTEN)
def test_a_record_may_not_write_a_number_otherwise(number: str) -> None:
    with pytest.raises(RecordError) as refused:
        parse_body("certificate.issue", _issue(number))
    assert refused.value.code == "record.malformed"
    assert CERTIFICATE_NUMBER_GRAMMAR in refused.value.message


@pytest.mark.parametrize(
    "typed", ["BW/2026/0005", "BW-2026-0005", "bw 2026 0005", " BW20260005 ", "bw-2026/0005"]
)
def test_the_state_finds_a_certificate_by_any_way_of_writing_its_number(typed: str) -> None:
    world = World()
    world.setup_log("BW")
    world.setup_log("EU", mine=False)
    parcel = world.produce("BW", 100_000, holder="trader")
    issued = world.certify("BW", "BW/2026/0005", [parcel], "EU")
    found = world.state.certificate_by_number("BW", typed)
    assert found is not None
    assert (found.ref, found.number) == (issued, "BW/2026/0005")
    assert world.state.certificate_by_number("BW", "BW-2026-0006") is None
    assert world.state.certificate_by_number("EU", typed) is None
