"""The printable certificate (client/document.py, decision 0042): every KPCS Annex I element in
the PDF's text, sealed values only when given, the QR code decoded from the rendered page, the
same bytes for the same inputs.

The text is read back with pypdf and the page rendered with pdfium and scanned with zxing-cpp:
libraries other than the one that wrote it.
"""

from __future__ import annotations

import datetime
import functools
import io
import re
from collections.abc import Mapping
from dataclasses import replace

import pypdf
import pypdfium2
import pytest
import zxingcpp

from client.document import (
    AWAITING_CONFIRMATION,
    SEALED_PLACEHOLDER,
    STATEMENT,
    CertificateDocument,
    Confirmation,
    document_filename,
    render_certificate,
    verification_url,
)
from client.sdk import Operator
from node.core import crypto
from node.core.encoding import Value
from node.core.records import Entry, SignedRecord

OFFICER = Operator("BW", "officer", crypto.generate_private_key())
ENTRY_TIME = 1_764_583_200_000  # 2025-12-01T10:00:00Z
GENESIS = bytes(range(32))
BASE_URL = "https://kp.bw.example"
# The charter names each participant's authority; countries are printed by their codes.
NAMES = {"BW": "Botswana KP authority", "CA": "KP Canada", "EU": "EU KP authority"}
# Latin with diacritics, Cyrillic and Greek: participants' names as their registries write them.
EXPORTER = "Окаванго Даймонд Компани"
IMPORTER = "Ἀντβέρπη Rough Diamonds — Zürich Ærø Łódź"
VALUE_CENTS = 15_000_000_07
DISCLOSED: dict[str, Value] = {
    "exporter_name": EXPORTER,
    "importer_name": IMPORTER,
    "value_usd_cents": VALUE_CENTS,
}
CONFIRMATION = Confirmation(
    received_on="2025-12-05",
    centicarats_received=124_950,
    seal_intact=True,
    recorded_on="2025-12-06",
    entry_hash=bytes([0xAB] * 32),
)


def _certificate(
    *, origins: tuple[str, ...] = ("BW", "CA"), exporter_name: str = EXPORTER
) -> Entry:
    signed, _ = OFFICER.certify(
        "BW/2026/0005",
        exporter="trader",
        importing="EU",
        parcels=[["BW", 3, bytes(32), 0], ["BW", 4, bytes(32), 0]],
        centicarats=125_000,
        hs_codes=["7102.10", "7102.31"],
        origins=list(origins),
        issued_on="2025-12-01",
        expires_on="2025-12-31",
        value_usd_cents=VALUE_CENTS,
        exporter_name=exporter_name,
        importer_name=IMPORTER,
        seal_number="SEAL-7",
    )
    return Entry(seq=7, prev=bytes(32), time=ENTRY_TIME, signed=signed)


ENTRY = _certificate()


def _document(
    *,
    status: str = "usable",
    confirmation: Confirmation | None = None,
    disclosed: Mapping[str, Value] | None = None,
    entry: Entry = ENTRY,
) -> CertificateDocument:
    return CertificateDocument(
        entry=entry,
        status=status,
        as_of="2025-12-04",
        genesis=GENESIS,
        base_url=BASE_URL,
        names=NAMES,
        confirmation=confirmation,
        disclosed=disclosed or {},
    )


@functools.cache
def _text(pdf: bytes) -> str:
    """The page's text, each run of white space one space (a label may wrap)."""
    (page,) = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return " ".join(page.extract_text().split())


def _scanned(pdf: bytes) -> list[str]:
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=2).to_pil()
    return [found.text for found in zxingcpp.read_barcodes(image)]


@pytest.fixture(scope="module")
def anonymous() -> bytes:
    return render_certificate(_document())


@pytest.fixture(scope="module")
def entitled() -> bytes:
    return render_certificate(
        _document(status="confirmed", confirmation=CONFIRMATION, disclosed=DISCLOSED)
    )


ANNEX_I = [
    ("title", "KIMBERLEY PROCESS CERTIFICATE"),
    ("statement", STATEMENT),
    ("unique number", "Unique certificate number BW/2026/0005"),
    ("issuing authority", "Issuing authority Botswana KP authority (BW)"),
    ("exporting country", "Exporting country BW"),
    ("mixed origin", "Countries of mining origin (mixed origin) BW, CA"),
    ("exporter", "Exporter"),
    ("exporter's ledger identity", "ledger operator BW:trader"),
    ("importer", "importing participant EU KP authority (EU)"),
    ("carats", "Carat weight / mass 1,250.00 carats"),
    ("value", "Value (US$)"),
    ("parcels", "Number of parcels 2"),
    ("HS codes", "7102.10 — diamonds, unsorted"),
    ("second HS code", "7102.31 — non-industrial"),
    ("issued", "Date of issuance 2025-12-01"),
    ("expiry", "Date of expiry 2025-12-31"),
    ("validation", "Validation by the exporting authority signed by BW:officer (Ed25519)"),
    ("validated when", "on 2025-12-01 10:00:00 UTC"),
    ("confirmation section", "Import confirmation by the importing authority"),
    ("log", "Log BW"),
    ("seq", "Sequence number 7"),
    ("entry hash", f"Entry hash {ENTRY.leaf_hash.hex()}"),
    ("genesis", f"Network genesis {GENESIS.hex()}"),
]


@pytest.mark.parametrize(("element", "text"), ANNEX_I, ids=[e for e, _ in ANNEX_I])
def test_every_annex_i_element_and_the_ledger_identity_is_printed(
    anonymous: bytes, entitled: bytes, element: str, text: str
) -> None:
    assert text in _text(anonymous)
    assert text in _text(entitled)


def test_an_anonymous_reader_sees_placeholders_and_no_sealed_value(anonymous: bytes) -> None:
    text = _text(anonymous)
    assert text.count(SEALED_PLACEHOLDER) == 3  # exporter, importer, value
    for sealed in ("Окаванго", "Rough Diamonds", "15,000,000.07", "SEAL-7"):
        assert sealed not in text
    assert f"Confirmation {AWAITING_CONFIRMATION}" in text
    assert "Status on 2025-12-04 USABLE for import into EU until 2025-12-31" in text


def test_an_entitled_reader_sees_the_names_in_their_scripts_and_the_value(
    entitled: bytes,
) -> None:
    text = _text(entitled)
    assert SEALED_PLACEHOLDER not in text
    assert f"Exporter {EXPORTER}" in text
    assert f"Importer {IMPORTER}" in text
    assert "Value (US$) US$ 15,000,000.07" in text
    assert "SEAL-7" not in text  # for the importing authority's inspection, not the paper
    assert "\ufffd" not in text  # every character of these names is in the font


def test_a_confirmed_certificate_shows_what_the_importer_recorded(entitled: bytes) -> None:
    text = _text(entitled)
    assert "Received on 2025-12-05" in text
    assert "Carats received 1,249.50 carats" in text
    assert "Seal intact yes" in text
    assert "Confirmed by EU KP authority (EU), recorded 2025-12-06" in text
    assert f"Confirmation entry {'ab' * 32}" in text
    assert AWAITING_CONFIRMATION not in text
    assert "CONFIRMED by EU, not usable again" in text


def test_a_broken_seal_is_printed_in_capitals() -> None:
    broken = replace(CONFIRMATION, seal_intact=False)
    text = _text(render_certificate(_document(status="confirmed", confirmation=broken)))
    assert "Seal intact NO" in text


@pytest.mark.parametrize(
    ("status", "confirmation", "headline"),
    [
        ("rejected", "not confirmed: REJECTED by the importing authority", "REJECTED by EU"),
        ("voided", "not confirmed: VOIDED by the issuing authority", "VOIDED by BW"),
        ("expired", "not confirmed: EXPIRED on 2025-12-31", "EXPIRED on 2025-12-31"),
    ],
)
def test_a_certificate_that_will_never_be_confirmed_says_why(
    status: str, confirmation: str, headline: str
) -> None:
    text = _text(render_certificate(_document(status=status)))
    assert f"Confirmation {confirmation}" in text
    assert f"Status on 2025-12-04 {headline}" in text
    assert AWAITING_CONFIRMATION not in text


def test_one_country_of_origin_is_named_as_unmixed() -> None:
    text = _text(render_certificate(_document(entry=_certificate(origins=("BW",)))))
    assert "Country of origin (parcels of unmixed origin) BW" in text


def test_the_qr_code_scans_to_the_verification_url(anonymous: bytes, entitled: bytes) -> None:
    url = f"{BASE_URL}/verify/{ENTRY.leaf_hash.hex()}?genesis={GENESIS.hex()}"
    assert _scanned(anonymous) == [url]
    assert _scanned(entitled) == [url]
    assert url in _text(anonymous).replace(" ", "")  # printed too, for typing it in


def test_the_verification_url_is_the_contracts() -> None:
    assert verification_url("http://127.0.0.1:8400/", b"\x01" * 32, b"\x02" * 32) == (
        f"http://127.0.0.1:8400/verify/{'01' * 32}?genesis={'02' * 32}"
    )
    assert document_filename("BW/2026/0005") == "KP-BW-2026-0005.pdf"
    assert document_filename("BW-2026-0005") == "KP-BW-2026-0005.pdf"


def test_the_same_inputs_render_the_same_bytes_dated_by_the_certificate(anonymous: bytes) -> None:
    again = render_certificate(_document())
    assert again == anonymous
    info = pypdf.PdfReader(io.BytesIO(anonymous)).metadata
    assert info is not None
    assert info.creation_date == datetime.datetime(2025, 12, 1, 10, 0, tzinfo=datetime.UTC)
    assert info.title == "Kimberley Process Certificate BW/2026/0005"
    # Another day's status, another document: the inputs are the whole of it.
    assert render_certificate(replace(_document(), as_of="2025-12-05")) != anonymous


def test_the_document_is_one_small_page(anonymous: bytes, entitled: bytes) -> None:
    for pdf in (anonymous, entitled):
        assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 1
        assert len(pdf) < 64 * 1024  # the font is embedded as a subset
        assert re.search(rb"/FontFile2", pdf)


@pytest.mark.parametrize("name", ["東京", "דן", "دبي"], ids=["cjk", "hebrew", "arabic"])
def test_a_character_the_font_cannot_print_rightly_is_marked_and_explained(name: str) -> None:
    text = _text(render_certificate(_document(disclosed={"exporter_name": f"{name} Ltd"})))
    marks = "\ufffd" * len(name)
    assert f"Exporter {marks} Ltd" in text
    assert "marks a character this document's font cannot print" in text


def _produce() -> SignedRecord:
    signed, _ = OFFICER.produce(
        "BW-P-1", centicarats=100, hs_code="7102.10", produced_on="2025-11-01"
    )
    return signed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "lost"}, "unknown certificate status"),
        ({"status": "confirmed"}, "exactly for a confirmed"),
        ({"confirmation": CONFIRMATION}, "exactly for a confirmed"),
        ({"genesis": b"short"}, "32 bytes"),
        ({"disclosed": {"seal_number": "SEAL-7"}}, "not printed"),
        ({"disclosed": {"value_usd_cents": "a lot"}}, "must be int"),
        ({"disclosed": {"exporter_name": 7}}, "must be str"),
        ({"entry": Entry(seq=1, prev=bytes(32), time=0, signed=_produce())}, "no certificate"),
    ],
    ids=["status", "confirmed-without", "confirmation-without", "genesis", "seal", "value",
         "name", "produce"],
)  # fmt: skip
def test_a_document_that_cannot_be_printed_is_refused(
    change: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "entry": ENTRY,
        "status": "usable",
        "as_of": "2025-12-04",
        "genesis": GENESIS,
        "base_url": BASE_URL,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        CertificateDocument(**fields)  # type: ignore[arg-type]
