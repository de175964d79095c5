"""The printable KP certificate: every element of KPCS Annex I, the ledger identity, a QR code.

``render_certificate`` is a pure function of a ``CertificateDocument`` — the certificate's entry,
its status on a given day, the sealed values the reader may see, the participants' names, the
network's genesis hash and the base URL of the node that verifies — to the bytes of a one-page A4
PDF (fpdf2; the QR code by segno, drawn as vector rectangles). Nothing reads the clock: the PDF's
creation date is the certificate entry's own time, so the same inputs make the same bytes
(decision 0042).

The paper proves nothing by itself: its QR code carries ``verification_url``, the page that
verifies the certificate against the ledger at the moment it is scanned. Sealed commercial
values (exporter's and importer's names, the value) are printed only when given, which the
caller does for a reader the disclosure policy entitles to them (decision 0040); otherwise the
document says they are sealed.

Text is set in DejaVu Sans (vendored under ``client/fonts/`` with its licence): Latin, Greek,
Cyrillic, Armenian and Georgian. A character it lacks (CJK, Devanagari, Thai; Arabic and Hebrew
would print unshaped, so they count as lacking too) prints as U+FFFD and the document says so.

``read_document`` is the network half: it gathers a document from the nodes through the SDK.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import segno
from fpdf import FPDF
from fpdf.fonts import TTFFont

from client.errors import MalformedAnswerError, NotOnLedgerError, ProblemError, UndecidedError
from client.nodes import Nodes
from node.core.encoding import Value
from node.core.errors import DisclosureError
from node.core.records import (
    CertificateConfirm,
    CertificateIssue,
    CertificateReject,
    CertificateVoid,
    Entry,
    parse_certificate_number,
)
from node.core.sealing import commit

__all__ = [
    "AWAITING_CONFIRMATION",
    "DOCUMENT_FIELDS",
    "DOCUMENT_MEDIA_TYPE",
    "SEALED_PLACEHOLDER",
    "STATEMENT",
    "STATUSES",
    "TITLE",
    "CertificateDocument",
    "Confirmation",
    "document_filename",
    "read_document",
    "render_certificate",
    "verification_url",
]

DOCUMENT_MEDIA_TYPE = "application/pdf"
TITLE = "Kimberley Process Certificate"
# KPCS Annex I: the statement every certificate bears, word for word.
STATEMENT = (
    "The rough diamonds in this shipment have been handled in accordance with the provisions "
    "of the Kimberley Process Certification Scheme for rough diamonds."
)
SEALED_PLACEHOLDER = "sealed — shown to the parties' authorities"
AWAITING_CONFIRMATION = "awaiting confirmation by the importing authority"
STATUSES = frozenset({"usable", "confirmed", "rejected", "voided", "expired"})
DOCUMENT_FIELDS = frozenset({"exporter_name", "importer_name", "value_usd_cents"})
"""The sealed fields of a ``certificate.issue`` that Annex I asks the certificate to show (the
seal number is for the importing authority's inspection, not for the paper)."""

# Harmonized System 2022 headings of rough diamonds (KPCS Annex I: "relevant HS code").
_HS_NAMES = {
    "7102.10": "diamonds, unsorted",
    "7102.21": "industrial, unworked or simply sawn, cleaved or bruted",
    "7102.31": "non-industrial, unworked or simply sawn, cleaved or bruted",
}
_FONTS = Path(__file__).with_name("fonts")
_FONT = "DejaVuSans"
_MISSING = "\ufffd"  # DejaVu Sans has it: a visible mark where a glyph is missing
# Hebrew and Arabic (with their presentation forms): DejaVu has glyphs, but fpdf2 without a
# shaping engine sets them unjoined and left to right, which misprints a name.
_UNSHAPED = frozenset([*range(0x0590, 0x0900), *range(0xFB1D, 0xFE00), *range(0xFE70, 0xFF00)])

# A4 portrait, millimetres.
_MARGIN = 15.0
_LABEL_WIDTH = 58.0
_LINE = 5.2
_HASH_SIZE = 7.2  # points: 64 hex digits on one line beside the QR code
_QR_MODULE = 0.62  # a version 9-10 symbol comes to about 38 mm, quiet zone included


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the importing authority's ``certificate.confirm`` recorded.

    Attributes:
        received_on: the date the shipment was received (YYYY-MM-DD).
        centicarats_received: the mass received, in hundredths of a carat.
        seal_intact: whether the shipment's seal was found intact.
        recorded_on: the date of the confirmation's entry (YYYY-MM-DD, UTC).
        entry_hash: the confirmation entry's hash.
    """

    received_on: str
    centicarats_received: int
    seal_intact: bool
    recorded_on: str
    entry_hash: bytes


@dataclass(frozen=True, slots=True)
class CertificateDocument:
    """What a printed certificate shows; checked on construction.

    Attributes:
        entry: the ``certificate.issue`` entry, as its log holds it.
        status: ``usable``, ``confirmed``, ``rejected``, ``voided`` or ``expired`` on ``as_of``.
        as_of: the day (YYYY-MM-DD, UTC) the status was read.
        genesis: the network's genesis hash (its id).
        base_url: the node the verification URL points to, e.g. ``https://kp.example.org``.
        names: each participant's name by id, from the charter (``{"BW": "Botswana"}``).
        confirmation: what the importer recorded; given exactly when ``status`` is confirmed.
        disclosed: the values of ``DOCUMENT_FIELDS`` the reader may see, each already checked
            against its commitment; the others print as ``SEALED_PLACEHOLDER``.

    Raises:
        ValueError: the entry is no certificate, an unknown status, a confirmation without
            ``confirmed`` (or the reverse), a disclosed value of the wrong form or field.
    """

    entry: Entry
    status: str
    as_of: str
    genesis: bytes
    base_url: str
    names: Mapping[str, str] = field(default_factory=dict, hash=False)
    confirmation: Confirmation | None = None
    disclosed: Mapping[str, Value] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.entry.signed.body, CertificateIssue):
            raise ValueError(f"a {self.entry.signed.type} entry is no certificate")
        if self.status not in STATUSES:
            raise ValueError(f"unknown certificate status {self.status!r}")
        if (self.confirmation is not None) != (self.status == "confirmed"):
            raise ValueError("a confirmation is given exactly for a confirmed certificate")
        if len(self.genesis) != 32:
            raise ValueError("the genesis hash is 32 bytes")
        for name, value in self.disclosed.items():
            if name not in DOCUMENT_FIELDS:
                raise ValueError(f"{name} is not printed on a certificate")
            wanted = int if name == "value_usd_cents" else str
            if not isinstance(value, wanted) or isinstance(value, bool):
                raise ValueError(f"{name} must be {wanted.__name__}")
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))
        object.__setattr__(self, "disclosed", MappingProxyType(dict(self.disclosed)))

    @property
    def certificate(self) -> CertificateIssue:
        body = self.entry.signed.body
        if not isinstance(body, CertificateIssue):  # pragma: no cover - refused on construction
            raise TypeError("not a certificate")
        return body

    @property
    def entry_hash(self) -> bytes:
        return self.entry.leaf_hash

    @property
    def url(self) -> str:
        """Where the QR code leads."""
        return verification_url(self.base_url, self.entry_hash, self.genesis)


def verification_url(base_url: str, entry_hash: bytes, genesis: bytes) -> str:
    """The verification page of a certificate on a node: ``<base>/verify/<entry hash
    hex>?genesis=<genesis hex>`` (the URL contract of issue 17), what the QR code encodes."""
    return f"{base_url.rstrip('/')}/verify/{entry_hash.hex()}?genesis={genesis.hex()}"


def document_filename(number: str) -> str:
    """``KP-<number>.pdf``, the number's '/' written '-' so that it names one file."""
    return f"KP-{number.replace('/', '-')}.pdf"


def render_certificate(document: CertificateDocument) -> bytes:
    """The certificate as a one-page A4 PDF, the same bytes for the same document."""
    return _Page(document).render()


# --- the page ------------------------------------------------------------------------------------


class _Page:
    def __init__(self, document: CertificateDocument) -> None:
        self.document = document
        self.missing_glyphs = False
        pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
        pdf.set_auto_page_break(auto=False)
        pdf.add_font(_FONT, "", _FONTS / "DejaVuSans.ttf")
        pdf.add_font(_FONT, "B", _FONTS / "DejaVuSans-Bold.ttf")
        # The certificate's own time, never the clock: the same certificate, the same bytes.
        created = datetime.datetime.fromtimestamp(document.entry.time / 1000, datetime.UTC)
        pdf.set_creation_date(created)
        certificate = document.certificate
        pdf.set_title(f"{TITLE} {certificate.number}")
        pdf.set_subject(STATEMENT)
        pdf.set_author(self._name(document.entry.signed.log))
        pdf.set_creator("KP Ledger")
        pdf.set_lang("en")
        self.pdf = pdf
        self.covered: frozenset[int] = frozenset()

    def render(self) -> bytes:
        pdf, certificate = self.pdf, self.document.certificate
        pdf.add_page()
        self._font("", 10)
        font = pdf.current_font
        # The glyphs of the regular face, which sets every value; the bold face sets only
        # this module's own labels, in ASCII.
        glyphs = frozenset(font.cmap) if isinstance(font, TTFFont) else frozenset()
        self.covered = glyphs - _UNSHAPED
        self._header(certificate)
        self._annex_i(certificate)
        self._confirmation(certificate)
        self._ledger_identity()
        if self.missing_glyphs:
            self._font("", 7.5)
            pdf.set_xy(_MARGIN, 282)
            pdf.multi_cell(
                0,
                3.4,
                f"{_MISSING} marks a character this document's font cannot print; the "
                "verification page shows the name as recorded.",
            )
        return bytes(pdf.output())

    # --- parts ---

    def _header(self, certificate: CertificateIssue) -> None:
        pdf = self.pdf
        pdf.set_line_width(0.6)
        pdf.rect(_MARGIN - 5, _MARGIN - 5, 210 - 2 * (_MARGIN - 5), 297 - 2 * (_MARGIN - 5))
        pdf.set_line_width(0.2)
        self._font("B", 20)
        pdf.cell(0, 10, TITLE.upper(), align="C", new_x="LMARGIN", new_y="NEXT")
        self._font("B", 13)
        pdf.cell(0, 7, f"No. {certificate.number}", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        self._font("", 10)
        pdf.multi_cell(
            0,
            _LINE,
            self._text(STATEMENT),
            border=1,
            align="C",
            padding=2,
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(3)

    def _annex_i(self, certificate: CertificateIssue) -> None:
        document = self.document
        issuer = document.entry.signed.log
        origins = certificate.origins
        origin_label = (
            "Country of origin (parcels of unmixed origin)"
            if len(origins) == 1
            else "Countries of mining origin (mixed origin)"
        )
        signers = ", ".join(f"{issuer}:{s.by}" for s in document.entry.signed.sigs)
        self._section("Certificate (KPCS Annex I)")
        rows = [
            ("Unique certificate number", certificate.number),
            ("Issuing authority", self._party(issuer)),
            # Countries by their KP participant codes (ISO 3166-1 alpha-2, or EU): the charter
            # names each participant's authority, not its country.
            ("Exporting country", issuer),
            (origin_label, ", ".join(origins)),
            (
                "Exporter",
                f"{self._sealed('exporter_name')}\nledger operator {issuer}:{certificate.exporter}",
            ),
            (
                "Importer",
                f"{self._sealed('importer_name')}\n"
                f"importing participant {self._party(certificate.importing)}",
            ),
            ("Carat weight / mass", _carats(certificate.centicarats)),
            ("Value (US$)", self._value()),
            ("Number of parcels", str(certificate.parcel_count)),
            (
                "HS code(s)",
                "\n".join(f"{h} — {_HS_NAMES.get(h, '')}" for h in certificate.hs_codes),
            ),
            ("Date of issuance", certificate.issued_on),
            ("Date of expiry", certificate.expires_on),
            (
                "Validation by the exporting authority",
                f"signed by {signers} (Ed25519) and recorded in the ledger log of "
                f"{self._party(issuer)} on {_instant(document.entry.time)}",
            ),
        ]
        for label, value in rows:
            self._row(label, value)

    def _confirmation(self, certificate: CertificateIssue) -> None:
        document, confirmation = self.document, self.document.confirmation
        self._section("Import confirmation by the importing authority")
        if confirmation is not None:
            self._row("Received on", confirmation.received_on)
            self._row("Carats received", _carats(confirmation.centicarats_received))
            self._row("Seal intact", "yes" if confirmation.seal_intact else "NO")
            self._row(
                "Confirmed",
                f"by {self._party(certificate.importing)}, recorded {confirmation.recorded_on}",
            )
            self._row("Confirmation entry", confirmation.entry_hash.hex(), size=_HASH_SIZE)
            return
        shown = {
            "usable": AWAITING_CONFIRMATION,
            "rejected": "not confirmed: REJECTED by the importing authority",
            "voided": "not confirmed: VOIDED by the issuing authority",
            "expired": f"not confirmed: EXPIRED on {certificate.expires_on}",
        }[document.status]
        self._row("Confirmation", shown)

    def _ledger_identity(self) -> None:
        pdf, document = self.pdf, self.document
        entry = document.entry
        self._section("Ledger identity")
        top = pdf.get_y()
        qr = segno.make(document.url, error="m")
        matrix = qr.matrix
        quiet = 2  # modules of white around the symbol; the page around it is white too
        side = (len(matrix) + 2 * quiet) * _QR_MODULE
        left = 210 - _MARGIN - side
        _draw_qr(pdf, matrix, left + quiet * _QR_MODULE, top + quiet * _QR_MODULE)
        width = left - _MARGIN - 3
        for label, value, size in (
            ("Log", entry.signed.log, 9.2),
            ("Sequence number", str(entry.seq), 9.2),
            ("Entry hash", document.entry_hash.hex(), _HASH_SIZE),
            ("Network genesis", document.genesis.hex(), _HASH_SIZE),
        ):
            self._row(label, value, width=width, label_width=34, size=size)
        status = _status_line(document)
        self._row(f"Status on {document.as_of}", status, width=width, label_width=34)
        pdf.set_y(max(pdf.get_y(), top + side) + 1)
        self._font("", 8)
        pdf.multi_cell(
            0,
            3.8,
            "This paper proves nothing by itself. Scan the code, or open the address below, to "
            "verify the certificate against the ledger now:",
            align="L",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        self._font("B", 7.6)
        pdf.multi_cell(0, 3.8, document.url, align="L", new_x="LMARGIN", new_y="NEXT")

    # --- helpers ---

    def _section(self, title: str) -> None:
        pdf = self.pdf
        pdf.ln(1.5)
        self._font("B", 11)
        pdf.set_fill_color(230, 230, 230)
        pdf.cell(0, 6.5, f" {title}", fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def _row(
        self,
        label: str,
        value: str,
        *,
        width: float | None = None,
        label_width: float = 0,
        size: float = 9.2,
    ) -> None:
        pdf = self.pdf
        label_width = label_width or _LABEL_WIDTH
        width = width or 210 - 2 * _MARGIN
        top = pdf.get_y()
        self._font("B", 8.6)
        pdf.set_xy(_MARGIN, top)
        pdf.multi_cell(label_width, 4.4, label, align="L")
        bottom = pdf.get_y()
        self._font("", size)
        pdf.set_xy(_MARGIN + label_width, top)
        pdf.multi_cell(width - label_width, 4.4, self._text(value), align="L")
        pdf.set_y(max(bottom, pdf.get_y()) + 0.8)

    def _font(self, style: str, size: float) -> None:
        self.pdf.set_font(_FONT, style, size)

    def _text(self, text: str) -> str:
        """``text`` with each character the font lacks replaced by U+FFFD (flagged)."""
        kept = "".join(c if ord(c) in self.covered or c == "\n" else _MISSING for c in text)
        if kept != text:
            self.missing_glyphs = True
        return kept

    def _name(self, participant: str) -> str:
        return self.document.names.get(participant, participant)

    def _party(self, participant: str) -> str:
        name = self.document.names.get(participant)
        return participant if name is None else f"{name} ({participant})"

    def _sealed(self, name: str) -> str:
        value = self.document.disclosed.get(name)
        return SEALED_PLACEHOLDER if value is None else str(value)

    def _value(self) -> str:
        cents = self.document.disclosed.get("value_usd_cents")
        if not isinstance(cents, int):
            return SEALED_PLACEHOLDER
        return f"US$ {cents // 100:,}.{cents % 100:02d}"


def _draw_qr(pdf: FPDF, matrix: tuple[bytearray, ...], left: float, top: float) -> None:
    """The symbol as filled rectangles, one per run of dark modules in a row: vector, so it
    scans at any print size, and as deterministic as the rest of the page."""
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(
                left + start * _QR_MODULE,
                top + r * _QR_MODULE,
                (c - start) * _QR_MODULE,
                _QR_MODULE,
                style="F",
            )


def _status_line(document: CertificateDocument) -> str:
    certificate = document.certificate
    return {
        "usable": f"USABLE for import into {certificate.importing} until {certificate.expires_on}",
        "confirmed": f"CONFIRMED by {certificate.importing}, not usable again",
        "rejected": f"REJECTED by {certificate.importing}, not usable",
        "voided": f"VOIDED by {document.entry.signed.log}, not usable",
        "expired": f"EXPIRED on {certificate.expires_on}, never confirmed, not usable",
    }[document.status]


def _carats(centicarats: int) -> str:
    return f"{centicarats // 100:,}.{centicarats % 100:02d} carats"


def _instant(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# --- the network half: a document from the nodes -------------------------------------------------


def read_document(
    nodes: Nodes,
    entry_hash: str,
    *,
    base_url: str,
    today: str,
    genesis: bytes | None = None,
    disclose: bool = False,
) -> tuple[CertificateDocument, dict[str, str]]:
    """The document of a certificate as the nodes hold it: its entry (each entry checked to
    hash to what was asked), its status, its confirmation, the charter's names and, with
    ``disclose``, the sealed values the nodes give the member whose ``auth`` the nodes were
    made with, each checked against its commitment.

    Args:
        entry_hash: the hex hash of the certificate's entry, or of the confirmation,
            rejection or void of one (its certificate is rendered).
        base_url: the node the QR code points to.
        today: the day the status is read on (YYYY-MM-DD).
        genesis: the trusted genesis hash; ``None`` takes the one the nodes serve.

    Returns:
        The document, and each of ``DOCUMENT_FIELDS`` left sealed with the reason's code
        (the policy's refusal, ``disclosure.unknown``, ``disclosure.mismatch``); empty
        without ``disclose``.

    Raises:
        NotOnLedgerError: no entry with that hash, or one that is no certificate's.
        UndecidedError: the nodes serve another network than ``genesis``.
        MalformedAnswerError: a node served a certificate or confirmation that disagrees.
    """
    entry = _entry(nodes, entry_hash)
    body = entry.signed.body
    if isinstance(body, CertificateConfirm | CertificateReject | CertificateVoid):
        entry = _entry(nodes, body.certificate.hash.hex())
        body = entry.signed.body
    if not isinstance(body, CertificateIssue):
        raise NotOnLedgerError(
            f"{entry_hash} is a {entry.signed.type} entry, no certificate", code="entry.unknown"
        )
    certificate_hash = entry.leaf_hash
    info = nodes.certificate(parse_certificate_number(body.number))
    if info.ref.hash != certificate_hash:
        raise MalformedAnswerError(f"{nodes.answered} holds another entry for {body.number}")
    confirmation = None
    if info.status == "confirmed":
        if info.outcome_ref is None or info.recorded_on is None:
            raise MalformedAnswerError(f"{nodes.answered}: a confirmation without its entry")
        confirmed = _entry(nodes, info.outcome_ref.hash.hex()).signed.body
        if not isinstance(confirmed, CertificateConfirm) or (
            confirmed.certificate.hash != certificate_hash
        ):
            raise MalformedAnswerError(
                f"{nodes.answered}: the confirmation of {body.number} confirms something else"
            )
        confirmation = Confirmation(
            received_on=confirmed.received_on,
            centicarats_received=confirmed.centicarats_received,
            seal_intact=confirmed.seal_intact,
            recorded_on=info.recorded_on,
            entry_hash=info.outcome_ref.hash,
        )
    network = nodes.first(lambda c: c.network())
    if genesis is not None and network.genesis != genesis:
        raise UndecidedError(
            f"{nodes.answered} serves network {network.genesis.hex()}, not the trusted "
            f"{genesis.hex()}"
        )
    disclosed, sealed = _disclosed(nodes, entry) if disclose else ({}, {})
    document = CertificateDocument(
        entry=entry,
        status=info.status,
        as_of=today,
        genesis=network.genesis,
        base_url=base_url,
        names={log: member.name for log, member in network.participants.items()},
        confirmation=confirmation,
        disclosed=disclosed,
    )
    return document, sealed


def _entry(nodes: Nodes, entry_hash: str) -> Entry:
    try:
        return nodes.entry(entry_hash)
    except ProblemError as exc:
        if exc.code != "entry.unknown":
            raise
        raise NotOnLedgerError(
            f"no entry with this hash on the ledger — it may be forged: {entry_hash}",
            code="entry.unknown",
        ) from exc


def _disclosed(nodes: Nodes, entry: Entry) -> tuple[dict[str, Value], dict[str, str]]:
    """The certificate's printed sealed values the nodes give the signer, each checked against
    its commitment, and the others with why they stay sealed."""
    try:
        opened = nodes.first(lambda c: c.disclosures(entry.leaf_hash.hex()))
    except ProblemError as exc:
        return {}, dict.fromkeys(sorted(DOCUMENT_FIELDS), exc.code)
    commitments = entry.signed.record.get("sealed")
    given: dict[str, Value] = {}
    sealed: dict[str, str] = {}
    for name in sorted(DOCUMENT_FIELDS):
        field_ = opened.fields.get(name)
        if field_ is None:
            sealed[name] = opened.refused.get(name, "disclosure.unknown")
            continue
        try:
            matches = isinstance(commitments, dict) and (
                commit(name, field_.salt, field_.value) == commitments.get(name)
            )
        except DisclosureError:
            matches = False
        if matches:
            given[name] = field_.value
        else:
            sealed[name] = "disclosure.mismatch"
    return given, sealed
