"""The verification page (``GET /verify/{entry_hash}``), the target of a certificate's QR code.

Status first, in words a border officer cannot misread (USABLE, ALREADY CONFIRMED, REJECTED,
VOIDED, EXPIRED, INVALID, NOT FOUND — POSSIBLY FORGED), each with a colour, a word and an
icon; then the certificate's Annex I elements; then the chain from the mines (or from the seeded
parcels, decision 0039) as a graph and as a table; the downloads; the checks, each with its
mark; and how to verify without trusting this node.

The node builds the subject's bounded bundle from its own store (the default depth: its cost
does not grow with a hub's history) and verifies it exactly as an offline verifier would
(``client.verify.check_bundle_replay``), against the genesis this node adopted and on the
node's own clock's date. What the page shows is only as trustworthy as this node; it says how to
check independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from client.replay import Replay
from client.verify import CertificateStatus, Finding, Step, Verdict, check_bundle_replay
from node.core.bundle import MAX_BUNDLE_ENTRIES
from node.core.charter import Charter
from node.core.clock import today
from node.core.records import EntryRef
from node.engine.bundling import build_bundle
from node.server.explorer._graph import (
    chain_graph,
    hs_change,
    parcel_href,
    stated_date,
    step_origins,
    step_title,
)
from node.server.explorer._layout import HTML_ERRORS, HtmlRoute, node_of, page, refusal
from node.server.explorer.search import not_found

__all__ = ["Card", "CheckMark", "Status", "certificate_status", "checks", "router", "verify"]

router = APIRouter(route_class=HtmlRoute)

_ANY_HASH = r"^[0-9a-fA-F]{64}$"


@dataclass(frozen=True, slots=True)
class Status:
    """The page's first words: ``key`` (``usable`` … ``invalid``, the status element's
    ``data-status``), the ``word`` in capitals, a sentence, and the tone its colour and icon
    come from (``ok``, ``stop``, ``bad``)."""

    key: str
    word: str
    detail: str
    tone: str


def certificate_status(verdict: Verdict) -> Status:
    """What a border officer must read first, from the verdict."""
    if not verdict.valid:
        first = verdict.findings[0]
        more = len(verdict.findings) - 1
        return Status(
            "invalid",
            "INVALID",
            f"Do not accept: {first.code}: {first.detail}"
            + (f" (and {more} more finding{'s' if more > 1 else ''} below)" if more else ""),
            "bad",
        )
    status = verdict.certificate
    if status is None:
        return Status(
            "valid", "VALID", "This entry is not a certificate; its history verifies.", "ok"
        )
    as_of = f" (as of {status.as_of})" if status.as_of else ""
    words = {
        "usable": (
            "USABLE",
            f"Valid, awaiting import confirmation by {status.importing}, not expired: may be "
            f"accepted for import into {status.importing} until {status.expires_on}{as_of}.",
            "ok",
        ),
        "confirmed": (
            "ALREADY CONFIRMED",
            f"Imported into {status.importing} on {status.received_on} (recorded "
            f"{status.decided_on}): not usable again.",
            "stop",
        ),
        "rejected": (
            "REJECTED",
            f"Rejected by {status.importing} on {status.decided_on}: not usable.",
            "bad",
        ),
        "voided": (
            "VOIDED",
            f"Voided by {status.issuer} on {status.decided_on}: not usable.",
            "bad",
        ),
        "expired": (
            "EXPIRED",
            f"Expired on {status.expires_on} without an import confirmation: not usable.",
            "stop",
        ),
        "suspended": ("SUSPENDED", status.headline + ".", "bad"),
        "unissued": ("NOT YET ISSUED", status.headline + ".", "stop"),
    }
    word, detail, tone = words.get(status.state, (status.state.upper(), status.headline, "stop"))
    return Status(status.state, word, detail, tone)


@dataclass(frozen=True, slots=True)
class CheckMark:
    """One check the page performed: ``passed`` True, False, or None (not reached)."""

    key: str
    label: str
    passed: bool | None
    findings: tuple[Finding, ...]


# Which findings belong to which check, by code prefix; what no prefix claims, the rules.
_CHECKS = (
    ("charter", "Charter chain from the trusted genesis", ("charter.", "bundle.wrong_network")),
    (
        "checkpoints",
        "Witnessed checkpoints: each log's signature and the witness quorum",
        ("checkpoint.",),
    ),
    ("proofs", "Inclusion proofs of every entry", ("proof.", "entry.hash_mismatch")),
    ("signatures", "Signatures and roles of every record", ("signature.", "operator.")),
    ("rules", "Every rule along the replayed steps: mass, origins, addressing, expiry", ()),
)


def checks(verdict: Verdict) -> list[CheckMark]:
    """The checks in the order they run, each with the findings that failed it."""
    claimed: dict[str, list[Finding]] = {key: [] for key, _, _ in _CHECKS}
    for finding in verdict.findings:
        key = next(
            (k for k, _, prefixes in _CHECKS if finding.code.startswith(prefixes) and prefixes),
            "rules",
        )
        claimed[key].append(finding)
    marks = []
    reached = True
    for key, label, _ in _CHECKS:
        found = tuple(claimed[key])
        marks.append(CheckMark(key, label, not found if reached else None, found))
        if key == "charter" and found:
            reached = False  # nothing else can be judged without the charter
    status = verdict.certificate
    if status is not None:
        marks.append(
            CheckMark(
                "status",
                f"Certificate status: {status.state}",
                verdict.usable if reached else None,
                (),
            )
        )
    return marks


@router.get(
    "/verify/{entry_hash}", response_class=HTMLResponse, tags=["explorer"], responses=HTML_ERRORS
)
def verify(
    request: Request,
    entry_hash: Annotated[
        str, Path(pattern=_ANY_HASH, description="hex entry hash of a certificate or any entry")
    ],
    genesis: Annotated[
        str | None,
        Query(
            pattern=_ANY_HASH,
            description="the network the certificate names (its QR code carries it)",
        ),
    ] = None,
) -> Response:
    """The verification page of an entry: its certificate's status, card, chain and checks."""
    node = node_of(request)
    adopted = node.genesis()
    if adopted is None:
        return refusal(request, 503, "Not ready", "This node has adopted no charter yet.")
    digest = bytes.fromhex(entry_hash)
    if genesis is not None and bytes.fromhex(genesis) != adopted:
        return page(
            request,
            "other_network.html",
            query=digest.hex(),
            asked=genesis.lower(),
            entry_hash=digest.hex(),
        )
    with node.store.read() as reader:
        position = reader.position(digest)
        if position is None:
            return not_found(request, digest.hex(), "No entry with this hash is on the ledger.")
        subject = EntryRef(*position, digest)
        bundle = build_bundle(reader, node.settings.network, subject)
    if len(bundle.entries) > MAX_BUNDLE_ENTRIES:  # what no verifier would take, as the API
        return refusal(
            request,
            413,
            "Too large to verify here",
            f"The bundle of this entry holds over {MAX_BUNDLE_ENTRIES} entries: verify it with "
            f"kp verify {digest.hex()}.",
        )
    verdict, replayed = check_bundle_replay(bundle, adopted, today=today(node.clock))
    charter = node.trusted_charter()
    graph = chain_graph(verdict.chain, verdict.seeds)
    layer = {n.id: n.layer for n in graph.nodes}
    # Mine → import: by the graph's layers, then by the date each record states.
    steps = sorted(
        verdict.chain,
        key=lambda s: (layer.get(s.hash, 0), s.stated_on or s.date, s.log, s.seq),
    )
    status = verdict.certificate
    return page(
        request,
        "verify.html",
        query=digest.hex(),
        subject=subject,
        verdict=verdict,
        status=certificate_status(verdict),
        card=_card(verdict, replayed, charter),
        graph=graph,
        steps=steps,
        checks=checks(verdict),
        bundle_href=f"/v1/provenance/{digest.hex()}",
        document_href=(
            None
            if status is None
            else f"/v1/certificates/{status.issuer}/{quote(status.number, safe='')}/document"
        ),
        title=step_title,
        stated=stated_date,
        hs=hs_change,
        origins_of=step_origins,
        parcel_href=parcel_href,
    )


def _names(charter: Charter | None) -> dict[str, str]:
    return {} if charter is None else {p.id: p.name for p in charter.participants.values()}


@dataclass(frozen=True, slots=True)
class Card:
    """The Annex I elements of the KPCS certificate, as the replayed state holds them."""

    status: CertificateStatus
    issuer_name: str
    importer_name: str
    exporter: str  # the exporting operator, ``BW:trader``; the legal name is sealed
    centicarats: int
    parcel_count: int
    hs_codes: tuple[str, ...]
    origins: tuple[str, ...]
    certificate_step: Step | None


def _card(verdict: Verdict, replayed: Replay | None, charter: Charter | None) -> Card | None:
    status = verdict.certificate
    if status is None or replayed is None:
        return None
    step = next((s for s in verdict.chain if s.hash == status.entry), None)
    if step is None:
        return None
    held = replayed.state.certificate(step.log, step.seq)
    if held is None:
        return None
    names = _names(charter)
    return Card(
        status=status,
        issuer_name=names.get(status.issuer, status.issuer),
        importer_name=names.get(status.importing, status.importing),
        exporter=f"{status.issuer}:{held.exporter}",
        centicarats=held.centicarats,
        parcel_count=len(held.parcels),
        hs_codes=held.hs_codes,
        origins=held.origins,
        certificate_step=step,
    )
