"""The printable certificate: ``GET /v1/certificates/{log}/{number}/document`` (decision 0042).

The route gathers what ``client.document.render_certificate`` needs from one snapshot of the
node — the certificate's entry, its status today, the confirmation if there is one, the
participants' names and the genesis hash — and answers the one-page PDF it renders, its QR code
pointing at this node's own verification page (``node.settings.url``).

Anonymous, the sealed values print as sealed. A request signed per RFC 9421 as
``GET /v1/disclosures/{hash}`` accepts gets printed what the disclosure policy gives its signer,
read and recorded by the same code (node/server/disclosures.py): a bad signature is ``401``, a
member the policy gives nothing gets the anonymous document (its read recorded, refused).

Bounded: one certificate, one render of one page (about 30 KB, 0.1 s of one core), at most
``_CONCURRENT_RENDERS`` at once, in worker threads, so that a flood of anonymous requests waits
its turn and leaves the event loop to the other routes.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from client.document import (
    DOCUMENT_FIELDS,
    DOCUMENT_MEDIA_TYPE,
    CertificateDocument,
    Confirmation,
    document_filename,
    render_certificate,
)
from node.core.clock import today
from node.core.encoding import Value
from node.core.errors import ApiError, NotAdoptedError, RecordError, StoreError
from node.core.records import CertificateConfirm, Entry, parse_certificate_number
from node.core.state import CertificateState
from node.engine.ledger import LedgerNode
from node.server.disclosures import member_reader, read_disclosures
from node.server.requests import node_of
from node.server.schemas import LogId, Problem, responses

__all__ = ["certificate_document", "router"]

_CONCURRENT_RENDERS = 2  # the cores of the smallest machine a node runs on

router = APIRouter()


@router.get(
    "/v1/certificates/{log_id}/{number:path}/document",
    tags=["entries"],
    response_class=Response,
    responses=responses(
        {
            200: {"content": {DOCUMENT_MEDIA_TYPE: {}}, "description": "the certificate, a PDF"},
            401: {"model": Problem, "description": "signed, but not a valid member signature"},
        }
    ),
)
async def certificate_document(
    request: Request,
    log_id: LogId,
    number: Annotated[
        str,
        Path(description="the number written any way that reads alike (BW-2026-0005)"),
    ],
) -> Response:
    """The certificate as a printable PDF: every element of KPCS Annex I, the import
    confirmation once recorded, its place in the ledger and a QR code of its verification page
    (``/verify/{entry_hash}?genesis=...``). Sealed names and the value print only for a
    request signed by a member the disclosure policy entitles (RFC 9421, as
    ``GET /v1/disclosures/{hash}``); every such read is recorded."""
    try:
        parsed = parse_certificate_number(number)
    except RecordError as exc:
        raise ApiError(exc.message, code=exc.code, status=400) from exc
    node = node_of(request)
    # A signature, when there is one, must verify: a member is never silently served as
    # anonymous because its signature was wrong.
    signed = "signature" in request.headers or "signature-input" in request.headers
    reader = await member_reader(node, request) if signed else None
    found, entry, confirmation, names, genesis = _gather(node, log_id, parsed.key)
    if found is None or entry is None:
        raise ApiError(
            f"no certificate with number {parsed.text} in log {log_id}",
            code="certificate.unknown",
            status=404,
        )
    disclosed: dict[str, Value] = {}
    if reader is not None:
        read = await read_disclosures(node, reader, found.ref.hash)
        if read is not None:
            disclosed = {f: value for f, (_, value) in read[1].items() if f in DOCUMENT_FIELDS}
    document = CertificateDocument(
        entry=entry,
        status=found.status(today(node.clock)),
        as_of=today(node.clock),
        genesis=genesis,
        base_url=node.settings.url,
        names=names,
        confirmation=confirmation,
        disclosed=disclosed,
    )
    async with _renders(request):
        body = await asyncio.to_thread(render_certificate, document)
    filename = document_filename(document.certificate.number)
    return Response(
        body,
        media_type=DOCUMENT_MEDIA_TYPE,
        headers={"content-disposition": f'inline; filename="{filename}"'},
    )


def _gather(
    node: LedgerNode, log_id: str, key: str
) -> tuple[CertificateState | None, Entry | None, Confirmation | None, dict[str, str], bytes]:
    """The certificate, its entry, its confirmation and the charter's names, from one
    snapshot of the state (so the status and the confirmation agree)."""
    genesis = node.genesis()
    with node.state() as state:
        charter = state.adopted_charter(node.log)
        if charter is None or genesis is None:
            raise NotAdoptedError("this node has adopted no charter yet")
        names = {p.id: p.name for p in charter.participants.values()}
        found = state.certificate_by_number(log_id, key)
    if found is None:
        return None, None, None, names, genesis
    with node.store.read() as store:
        entry = _entry_at(store.entry_bytes(found.ref.log, found.ref.seq))
        confirmation = None
        if found.outcome == "confirmed" and found.outcome_ref is not None:
            outcome = _entry_at(store.entry_bytes(found.outcome_ref.log, found.outcome_ref.seq))
            body = outcome.signed.body
            if not isinstance(body, CertificateConfirm) or found.recorded_on is None:
                raise StoreError("the confirmation of a certificate is no certificate.confirm")
            confirmation = Confirmation(
                received_on=body.received_on,
                centicarats_received=body.centicarats_received,
                seal_intact=body.seal_intact,
                recorded_on=found.recorded_on,
                entry_hash=found.outcome_ref.hash,
            )
    return found, entry, confirmation, names, genesis


def _entry_at(raw: bytes | None) -> Entry:
    if raw is None:
        raise StoreError("the state names an entry the store does not hold")
    return Entry.parse(raw)


def _renders(request: Request) -> asyncio.Semaphore:
    """The application's render slots, made in its own event loop on first use."""
    slots: asyncio.Semaphore | None = getattr(request.app.state, "document_renders", None)
    if slots is None:
        slots = asyncio.Semaphore(_CONCURRENT_RENDERS)
        request.app.state.document_renders = slots
    return slots
