"""The HTTP API of a node (DESIGN §10): routes, request and response schemas, problem+json.

Every refusal is RFC 9457 ``application/problem+json`` with the stable ``code`` of the
``LedgerError`` behind it and the status ``node.problems`` gives it. Entries
travel as ``application/msgpack``; everything else is JSON with base64 bytes and hex hashes.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node import crypto, explorer, httpsig, merkle, notes
from node.bundle import BUNDLE_MEDIA_TYPE, build_bundle
from node.encoding import Value, decode, encode
from node.errors import (
    EncodingError,
    LedgerError,
    PendingError,
    ProofError,
    RecordError,
    RuleError,
    StoreError,
)
from node.ingress import (
    ClientShares,
    IngressBounds,
    check_submissions,
)
from node.ledger import LedgerNode, NotAdoptedError
from node.log import Receipt, SequencerStoppedError
from node.metrics import NodeMetrics
from node.problems import ApiError, status_of
from node.records import EntryRef, parse_certificate_number
from node.replica import Evidence, InvalidEntryError, list_evidence, quarantined
from node.replication import PeerError, Replicator, note_digest
from node.restore import RestoringError
from node.rules import entry_date, operator_in_force
from node.sealing import parse_disclosures
from node.sequencer_process import Outcome, SequencerProcess
from node.state import CertificateState, LedgerView, ParcelState
from node.witness import (
    MAX_REQUEST_BYTES,
    AddCheckpoint,
    Cosigned,
    add_cosignatures,
    cosigned,
    parse_add_checkpoint,
    set_cosigned,
    witnessed,
)

__all__ = ["ApiError", "install", "problem"]

log = logging.getLogger("kp.api")

MSGPACK = "application/msgpack"
PROBLEM = "application/problem+json"
_HASH_HEX = r"^[0-9a-f]{64}$"
_LOG_ID = r"^[A-Z]{2,8}$"


def problem(status: int, code: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem document, as a response."""
    headers = {"Retry-After": "1"} if status in (409, 429, 503) else None
    return JSONResponse(
        _problem_body(status, code, detail),
        status_code=status,
        media_type=PROBLEM,
        headers=headers,
    )


def _problem_body(status: int, code: str, detail: str) -> dict[str, Any]:
    """The problem document itself (also one item's result in a batch)."""
    return {
        "type": f"urn:kp-ledger:problem:{code}",
        "title": code.replace(".", " ").replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }


class Problem(BaseModel):
    """RFC 9457 problem details, with the stable error code."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable error code, e.g. parcel.not_live")


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Malformed request (code says what)"},
    404: {"model": Problem, "description": "Unknown log, entry, certificate or parcel"},
}


def _responses(extra: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: ``extra`` and the errors every route may answer."""
    return {**_ERRORS, **extra}


# --- response schemas --------------------------------------------------------------------------


class ReceiptModel(BaseModel):
    entry_hash: str = Field(description="hex leaf hash of the new entry")
    log: str
    seq: int
    checkpoint: str = Field(description="C2SP signed checkpoint of the commit")
    proof: list[str] = Field(description="base64 RFC 9162 inclusion proof against it")
    tlog_proof: str = Field(description="the same as one c2sp.org/tlog-proof text")
    witnessed: bool = Field(
        default=False, description="whether the checkpoint carries the witness quorum"
    )


class BatchResult(BaseModel):
    receipt: ReceiptModel | None = None
    problem: Problem | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]


class LogInfo(BaseModel):
    log: str
    size: int
    root: str = Field(description="base64 Merkle root at that size")
    checkpoint: str | None = Field(
        description="the newest signed checkpoint note with its cosignatures (null with "
        "`?notes=false`, or when none is stored)"
    )
    digest: str | None = Field(
        default=None,
        description="hex, 128 bits of SHA-256 of that note's text and the key names and IDs "
        "of its signatures: equal digests, the same checkpoint signed by the same keys "
        "(cosignature timestamps may differ); anti-entropy compares them instead of fetching "
        "notes",
    )


class InclusionProof(BaseModel):
    index: int
    size: int
    hashes: list[str]


class ConsistencyProof(BaseModel):
    old: int
    new: int
    hashes: list[str]


class EntryModel(BaseModel):
    log: str
    seq: int
    hash: str
    entry: dict[str, Any] = Field(description="the decoded entry; bytes as base64")
    raw: str = Field(description="base64 canonical entry bytes (the leaf data)")


class ParcelModel(BaseModel):
    ref: list[Any]
    parcel: str
    holder: str
    centicarats: int
    hs_code: str
    origins: list[str]
    live: bool
    consumed_by: list[Any] | None
    transfers: list[list[Any]]


class CertificateModel(BaseModel):
    ref: list[Any]
    number: str
    status: str = Field(description="usable, confirmed, rejected, voided or expired")
    exporter: str
    importing: str
    parcels: list[list[Any]]
    centicarats: int
    hs_codes: list[str]
    origins: list[str]
    issued_on: str
    expires_on: str
    outcome_ref: list[Any] | None
    voided: list[Any] | None
    received_on: str | None = Field(description="confirmed: the date the goods were received")
    recorded_on: str | None = Field(description="confirmed: the date the confirmation was recorded")


class Health(BaseModel):
    status: str
    log: str
    size: int
    restoring: bool = Field(
        False, description="its own log is still coming back from peers: records wait"
    )


# --- helpers ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _ref(ref: EntryRef | None) -> list[Any] | None:
    return None if ref is None else [ref.log, ref.seq, ref.hash.hex()]


def _json(value: Value) -> Any:
    """A decoded canonical value as JSON: bytes become base64."""
    if isinstance(value, bytes):
        return _b64(value)
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def _receipt(receipt: Receipt, node: LedgerNode, witnessed_now: bool) -> dict[str, Any]:
    """The receipt as sent (``ReceiptModel``); when witnessed, against the newest witnessed
    checkpoint."""
    if witnessed_now:
        with node.store.read() as reader:
            size = witnessed(reader, node.log)
            note = reader.log(node.log).checkpoint(size)
            if note is not None and size > receipt.seq:
                proof = tuple(reader.log(node.log).inclusion_proof(receipt.seq, size))
                receipt = dataclasses.replace(receipt, checkpoint=note, proof=proof)
    return receipt.to_json(witnessed=witnessed_now)


def _problem_json(error: LedgerError) -> dict[str, Any]:
    return _problem_body(status_of(error), error.code, error.message)


def _parcel(parcel: ParcelState) -> ParcelModel:
    ref = parcel.ref
    return ParcelModel(
        ref=[ref.log, ref.seq, ref.hash.hex(), ref.out],
        parcel=parcel.parcel,
        holder=parcel.holder,
        centicarats=parcel.centicarats,
        hs_code=parcel.hs_code,
        origins=list(parcel.origins),
        live=parcel.live,
        consumed_by=_ref(parcel.consumed_by),
        transfers=[[t.log, t.seq, t.hash.hex()] for t in parcel.transfers],
    )


def _certificate(certificate: CertificateState, today: str) -> CertificateModel:
    return CertificateModel(
        ref=_ref(certificate.ref) or [],
        number=certificate.number,
        status=certificate.status(today),
        exporter=certificate.exporter,
        importing=certificate.importing,
        parcels=[[p.log, p.seq, p.hash.hex(), p.out] for p in certificate.parcels],
        centicarats=certificate.centicarats,
        hs_codes=list(certificate.hs_codes),
        origins=list(certificate.origins),
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        outcome_ref=_ref(certificate.outcome_ref),
        voided=_ref(certificate.voided),
        received_on=certificate.received_on,
        recorded_on=certificate.recorded_on,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(f"body larger than {limit} bytes", code="request.too_large", status=413)
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise ApiError(
                    f"body larger than {limit} bytes", code="request.too_large", status=413
                )
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ApiError(
            "the client left before sending its body", code="request.incomplete", status=400
        ) from exc
    return b"".join(chunks)


def _hash(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as exc:  # the path pattern already refuses this; kept for direct calls
        raise ApiError("not a hex hash", code="request.invalid", status=400) from exc


def _node(request: Request) -> LedgerNode:
    node: LedgerNode = request.app.state.node
    return node


def _known_log(node: LedgerNode, log_id: str) -> int:
    """The size of a log this node holds; 404 if it holds none of it."""
    with node.store.read() as reader:
        size = reader.log(log_id).size()
    if size == 0:
        raise ApiError(
            f"this node holds no entries of log {log_id}", code="log.unknown", status=404
        )
    return size


# --- routes ----------------------------------------------------------------------------------

router = APIRouter()
# The hot route, submission, has a router of its own that is mounted first: FastAPI tries routes
# in order, so every submission would otherwise pay for matching all the reads before it.
submissions = APIRouter()
LogId = Annotated[str, Path(pattern=_LOG_ID, description="participant id, e.g. BW")]
EntryHash = Annotated[str, Path(pattern=_HASH_HEX, description="hex entry hash")]


@router.get(
    "/healthz",
    response_model=Health,
    tags=["operations"],
    responses={503: {"model": Problem, "description": "the sequencer process has ended"}},
)
def healthz(request: Request) -> Health:
    """Liveness: the node answers, its store reads and, once a charter is adopted, its
    sequencer process takes records (503 ``sequencer.stopped`` if it ended)."""
    sequencer: SequencerProcess | None = getattr(request.app.state, "sequencer", None)
    if sequencer is not None and not sequencer.running:
        raise SequencerStoppedError("the sequencer process has ended; restart the node")
    node = _node(request)
    with node.store.read() as reader:
        size = reader.log(node.log).size()
    return Health(status="ok", log=node.log, size=size, restoring=_restoring(request))


def _restoring(request: Request) -> bool:
    """Whether the node's own log is still coming back from peers — or is back, and the
    sequencer process it then starts is not taking records yet."""
    starting: asyncio.Task[None] | None = getattr(request.app.state, "starting", None)
    return bool(request.app.state.replicator.restoring) or (
        starting is not None and not starting.done()
    )


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    node_metrics: NodeMetrics = request.app.state.metrics
    node = _node(request)
    status = node.charter_status()
    if status is not None:
        node_metrics.charter_status(status)
    # Read at scrape time, so that every log counts — replicas, and entries an admin command
    # appended from another process — not only what this process's sequencer committed.
    with node.store.read() as reader:
        for log_id in reader.logs():
            node_metrics.log_size.labels(log_id).set(reader.log(log_id).size())
    registry = node_metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/network", tags=["network"], responses=_ERRORS)
def network(request: Request) -> dict[str, Any]:
    """The adopted charter, the genesis hash (network id), every member with its keys and the
    charter version its log has adopted, and the chain of versions this node knows."""
    node = _node(request)
    with node.state() as state:
        charter = state.adopted_charter(node.log)
        adoptions = state.adoptions(node.log)
        signed = state.charter(adoptions[-1].charter) if adoptions else None
    genesis = node.genesis()
    status = node.charter_status()
    if charter is None or signed is None or genesis is None or status is None:
        raise NotAdoptedError("this node has adopted no charter yet")
    chain = node.known_chain()
    adopted = {log.log: log for log in status.logs}
    members = {}
    for member in charter.participants.values():
        witness_key = crypto.load_public_key(member.witness_key)
        progress = adopted.get(member.id)
        members[member.id] = {
            "name": member.name,
            "kind": member.kind,
            "status": member.status,
            "endpoints": list(member.endpoints),
            "log_vkey": charter.log_verifier_key(member.id),
            "witness_vkey": crypto.verifier_key(
                charter.witness_name(member.id),
                witness_key,
                key_type=crypto.ED25519_COSIGNATURE_KEY_TYPE,
            ),
            "governance_key": _b64(member.governance_key),
            "adopted_version": None if progress is None else progress.adopted_version,
            "behind": True if progress is None else progress.behind,
        }
    return {
        "network": charter.network,
        "genesis": genesis.hex(),
        "participant": node.log,
        "charter": {
            "version": charter.version,
            "hash": signed.hash.hex(),
            "document": _b64(signed.encode()),
        },
        "newest_version": status.newest.version,
        "charters": [
            {"version": v.charter.version, "hash": v.hash.hex(), "document": _b64(v.encode())}
            for v in chain
        ],
        "policy": charter.policy.to_value(),
        "participants": members,
    }


@router.get("/v1/charters", tags=["network"], responses=_ERRORS)
def charters(request: Request) -> dict[str, Any]:
    """Every charter version from the genesis, oldest first: the chain this node trusts.

    An auditor replays each log under the version it had adopted, so it needs them all, not
    only the newest; it verifies the chain against its own trusted genesis hash.
    """
    node = _node(request)
    genesis = node.genesis()
    if genesis is None:
        raise NotAdoptedError("this node has adopted no charter yet")
    return {
        "genesis": genesis.hex(),
        "charters": [
            {"version": c.charter.version, "hash": c.hash.hex(), "document": _b64(c.encode())}
            for c in node.known_chain()
        ],
    }


@router.get("/v1/logs", response_model=list[LogInfo], tags=["logs"])
def logs(
    request: Request,
    with_notes: Annotated[
        bool,
        Query(
            alias="notes",
            description="`false`: leave the checkpoint notes out, keep their digests (a "
            "listing whose size does not grow with the number of witnesses)",
        ),
    ] = True,
) -> list[LogInfo]:
    """Every log this node holds: its own and its replicas."""
    node = _node(request)
    found = []
    with node.store.read() as reader:
        for log_id in reader.logs():
            log_reader = reader.log(log_id)
            size = log_reader.size()
            latest = log_reader.latest_checkpoint()
            found.append(
                LogInfo(
                    log=log_id,
                    size=size,
                    root=_b64(log_reader.root(size)),
                    checkpoint=latest[1] if latest and with_notes else None,
                    digest=note_digest(latest[1]) if latest else None,
                )
            )
    return found


@router.get(
    "/v1/logs/{log_id}/checkpoint",
    tags=["logs"],
    response_class=PlainTextResponse,
    responses=_ERRORS,
)
def checkpoint(
    request: Request,
    log_id: LogId,
    latest: Annotated[bool, Query(description="the newest signed one, witnessed or not")] = False,
) -> Response:
    """The log's newest witnessed checkpoint (C2SP signed note with at least
    ``witness_quorum`` cosignatures of other members); ``?latest=1``: the newest signed one."""
    node = _node(request)
    _known_log(node, log_id)
    with node.store.read() as reader:
        if latest:
            found = reader.log(log_id).latest_checkpoint()
            note = found[1] if found else None
        else:
            size = witnessed(reader, log_id)
            note = reader.log(log_id).checkpoint(size) if size else None
    if note is None:
        code = "checkpoint.unwitnessed" if not latest else "log.unknown"
        raise ApiError(f"no such checkpoint of log {log_id} here", code=code, status=404)
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8")


@router.get(
    "/v1/logs/{log_id}/entries",
    tags=["logs"],
    responses=_responses(
        {200: {"content": {MSGPACK: {}}, "description": "msgpack array of entries (bin)"}}
    ),
)
def entries(
    request: Request,
    log_id: LogId,
    start: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    end: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Response:
    """Raw canonical entries ``start <= seq < end`` as a msgpack array of bin, at most
    ``max_page_entries`` of them (fewer at the end of the log)."""
    node = _node(request)
    size = _known_log(node, log_id)
    if start >= size:
        raise ApiError(
            f"start {start} is beyond the log size {size}", code="range.invalid", status=400
        )
    if end is not None and end <= start:
        raise ApiError("end must be greater than start", code="range.invalid", status=400)
    stop = min(size, start + node.settings.max_page_entries, end if end is not None else size)
    with node.store.read() as reader:
        page: list[Value] = list(reader.log(log_id).entries(start, stop))
    return Response(encode(page), media_type=MSGPACK)


@router.get(
    "/v1/logs/{log_id}/proof/inclusion",
    response_model=InclusionProof,
    tags=["logs"],
    responses=_ERRORS,
)
def inclusion_proof(
    request: Request,
    log_id: LogId,
    index: Annotated[int, Query(ge=0, le=2**63 - 1)],
    size: Annotated[int, Query(ge=1, le=2**63 - 1)],
) -> InclusionProof:
    """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries."""
    node = _node(request)
    log_size = _known_log(node, log_id)
    if not index < size <= log_size:
        raise ApiError(f"need index < size <= {log_size}", code="range.invalid", status=400)
    with node.store.read() as reader:
        hashes = reader.log(log_id).inclusion_proof(index, size)
    return InclusionProof(index=index, size=size, hashes=[_b64(h) for h in hashes])


@router.get(
    "/v1/logs/{log_id}/proof/consistency",
    response_model=ConsistencyProof,
    tags=["logs"],
    responses=_ERRORS,
)
def consistency_proof(
    request: Request,
    log_id: LogId,
    old: Annotated[int, Query(ge=1, le=2**63 - 1)],
    new: Annotated[int, Query(ge=1, le=2**63 - 1)],
) -> ConsistencyProof:
    """RFC 9162 consistency proof between the trees of ``old`` and ``new`` entries."""
    node = _node(request)
    log_size = _known_log(node, log_id)
    if not old <= new <= log_size:
        raise ApiError(f"need 0 < old <= new <= {log_size}", code="range.invalid", status=400)
    with node.store.read() as reader:
        hashes = reader.log(log_id).consistency_proof(old, new)
    return ConsistencyProof(old=old, new=new, hashes=[_b64(h) for h in hashes])


@router.get(
    "/v1/entries/{entry_hash}", response_model=EntryModel, tags=["entries"], responses=_ERRORS
)
def entry(request: Request, entry_hash: EntryHash) -> EntryModel:
    """One entry by its hash, decoded, with its place in its log."""
    node = _node(request)
    digest = _hash(entry_hash)
    with node.store.read() as reader:
        position = reader.position(digest)
        if position is None:
            raise ApiError("no entry with that hash here", code="entry.unknown", status=404)
        raw = reader.log(position[0]).entry(position[1])
    value = decode(raw, max_size=len(raw))
    if not isinstance(value, dict):
        raise StoreError("stored entry is not a map")
    return EntryModel(
        log=position[0], seq=position[1], hash=entry_hash, entry=_json(value), raw=_b64(raw)
    )


@router.get(
    "/v1/certificates/{log_id}/{number:path}",
    response_model=CertificateModel,
    tags=["entries"],
    responses=_ERRORS,
)
def certificate(
    request: Request,
    log_id: LogId,
    number: Annotated[
        str,
        Path(
            description="the number in any case, '-', '/' or spaces between its groups "
            "(BW-2026-0005, BW/2026/0005, bw%202026%200005)",
        ),
    ],
) -> CertificateModel:
    """A certificate by its issuer and number, written any way that reads alike (decision
    0025), with its status; 400 ``certificate.number_invalid`` names the grammar."""
    try:
        parsed = parse_certificate_number(number)
    except RecordError as exc:
        raise ApiError(exc.message, code=exc.code, status=400) from exc
    node = _node(request)
    with node.state() as state:
        found = state.certificate_by_number(log_id, parsed.key)
    if found is None:
        raise ApiError(
            f"no certificate with number {parsed.text} in log {log_id}",
            code="certificate.unknown",
            status=404,
        )
    return _certificate(found, entry_date(int(time.time() * 1000)))


@router.get(
    "/v1/parcels/{log_id}/{seq}/{out}",
    response_model=ParcelModel,
    tags=["entries"],
    responses=_ERRORS,
)
def parcel(
    request: Request,
    log_id: LogId,
    seq: Annotated[int, Path(ge=0, le=2**63 - 1)],
    out: Annotated[int, Path(ge=0, le=63)],
) -> ParcelModel:
    """A parcel's state: holder, mass, origins, and the entry that consumed it if any."""
    node = _node(request)
    with node.state() as state:
        found = state.parcel(log_id, seq, out)
    if found is None:
        raise ApiError("no such parcel", code="parcel.unknown", status=404)
    return _parcel(found)


@router.get(
    "/v1/provenance/{entry_hash}",
    tags=["verification"],
    responses=_responses(
        {200: {"content": {BUNDLE_MEDIA_TYPE: {}}, "description": "the bundle of DESIGN §9"}}
    ),
)
def provenance_bundle(request: Request, entry_hash: EntryHash) -> Response:
    """The offline-verifiable bundle of an entry's whole chain back to the mines."""
    node = _node(request)
    digest = _hash(entry_hash)
    with node.store.read() as reader:
        position = reader.position(digest)
        if position is None:
            raise ApiError("no entry with that hash here", code="entry.unknown", status=404)
        bundle = build_bundle(reader, node.settings.network, EntryRef(*position, digest))
    return JSONResponse(bundle, media_type=BUNDLE_MEDIA_TYPE)


@router.get(
    "/v1/disclosures/{entry_hash}",
    tags=["entries"],
    responses=_responses({401: {"model": Problem, "description": "not a signed member request"}}),
)
async def disclosures(request: Request, entry_hash: EntryHash) -> dict[str, Any]:
    """The sealed values of an entry, for members only: the request must be signed per
    RFC 9421 (label ``kp``, Ed25519) with a registered operator key (``BW:debswana``) or a
    participant's log key (``BW``)."""
    node = _node(request)
    body = await _read_body(request, 64 * 1024)
    now = int(time.time())
    with node.state() as state:
        verified = httpsig.verify_request(
            request.method,
            _own_url(node, request),
            request.headers,
            body,
            resolve=lambda key_id: _member_key(node, state, key_id, entry_date(now * 1000)),
            now=now,
            max_age=node.settings.auth_max_age,
        )
    with node.store.read() as reader:
        raw = reader.get("disclosures", _hash(entry_hash))
    if raw is None:
        raise ApiError(
            "this node holds no disclosures of that entry", code="disclosure.unknown", status=404
        )
    opened = parse_disclosures(raw)
    log.info("disclosure read", extra={"entry": entry_hash, "member": verified.key_id})
    return {
        "entry_hash": entry_hash,
        "member": verified.key_id,
        "fields": {f: {"salt": _b64(salt), "value": v} for f, (salt, v) in opened.items()},
    }


def _own_url(node: LedgerNode, request: Request) -> str:
    """The URL a member request was addressed to, as this node knows itself: its configured
    public URL with the request's path and query. Never the Host header, which the client
    chooses: a request signed for another node's URL then fails its signature here."""
    target = node.settings.url.rstrip("/") + request.url.path
    query = request.url.query
    return f"{target}?{query}" if query else target


def _member_key(node: LedgerNode, state: LedgerView, key_id: str, today: str) -> Any:
    """The public key of a member in force today: an active participant's log key, or the key
    of one of its operators that the rules would accept on a record today."""
    charter = state.adopted_charter(node.log)
    if charter is None:
        return None
    participant, _, operator = key_id.partition(":")
    member = charter.participants.get(participant)
    if member is None:
        return None
    if member.status != "active":
        raise httpsig.AuthError(f"{participant} is suspended", code="auth.key_not_in_force")
    if not operator:
        return crypto.load_public_key(member.log_key)
    try:
        registered = operator_in_force(state, participant, operator, today)
    except RuleError as exc:
        if exc.code == "operator.unknown":
            return None
        raise httpsig.AuthError(exc.message, code="auth.key_not_in_force") from exc
    return crypto.load_public_key(registered.public_key)


@router.get("/v1/evidence", tags=["network"])
def evidence(request: Request) -> list[dict[str, Any]]:
    """Evidence this node holds against any log (forks, invalid entries)."""
    node = _node(request)
    with node.store.read() as reader:
        found = list_evidence(reader)
    return [_json(item) for item in found]


@submissions.post(
    "/v1/records",
    tags=["records"],
    response_model=ReceiptModel | BatchResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "canonical msgpack: {signed, disclosures?} or {batch: [...]}",
            "content": {MSGPACK: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses=_responses(
        {
            413: {"model": Problem, "description": "body, a submission or a length too large"},
            415: {"model": Problem, "description": "not application/msgpack"},
            422: {"model": Problem, "description": "the record breaks a rule (code names it)"},
            409: {"model": Problem, "description": "references an entry not held yet"},
            429: {"model": Problem, "description": "this address has its share waiting; retry"},
            503: {"model": Problem, "description": "overloaded or not yet adopted; retry"},
        }
    ),
)
async def submit_records(
    request: Request,
    wait: Annotated[
        Literal["committed", "witnessed"],
        Query(description="`witnessed`: answer once a witnessed checkpoint covers the records"),
    ] = "committed",
) -> Any:
    """Submit a signed record, or a batch of them, each with the disclosures of its sealed
    fields. Answers only after the durable commit, with the receipt (entry hash, seq, signed
    checkpoint, inclusion proof). A record submitted again gets its original receipt.

    With ``wait=witnessed`` the receipts are against the first checkpoint that covers them and
    carries ``witness_quorum`` cosignatures; if that takes longer than ``witness_timeout`` the
    answer is 202 with the committed (not yet witnessed) receipts, ``witnessed: false``."""
    node = _node(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != MSGPACK:
        raise ApiError(
            f"records are sent as {MSGPACK}, not {content_type or 'nothing'}",
            code="request.content_type",
            status=415,
        )
    sequencer = _sequencer(request)
    # Decision 0028: what an anonymous client puts before the one writer is bounded here, at
    # msgpack's C speed, and its address holds at most its share of the writer's queue.
    shares: ClientShares = request.app.state.client_shares
    client = request.client.host if request.client is not None else ""
    shares.check(client)  # before reading a byte of the body
    bounds: IngressBounds = request.app.state.ingress_bounds
    body = await _read_body(request, bounds.body_bytes)
    shape = check_submissions(body, bounds)
    held = shares.take(client, shape.records, len(body))
    outcome = await _sequenced(request, sequencer, body, lambda: shares.give_back(held))
    if outcome.batch:
        accepted = [r for r in outcome.results if isinstance(r, Receipt)]
        witnessed_ok = False
        if wait == "witnessed" and accepted:
            witnessed_ok = await _await_witnessed(request, max(r.seq for r in accepted) + 1)
        out: list[dict[str, Any]] = []
        for result in outcome.results:
            if isinstance(result, Receipt):
                out.append({"receipt": _receipt(result, node, witnessed_ok)})
            else:
                request.app.state.metrics.records_refused.labels(result.code).inc()
                out.append({"problem": _problem_json(result)})
        status = 202 if wait == "witnessed" and accepted and not witnessed_ok else 200
        return JSONResponse({"results": out}, status_code=status)
    [result] = outcome.results
    if isinstance(result, LedgerError):
        request.app.state.metrics.records_refused.labels(result.code).inc()
        raise result
    if wait == "committed" and outcome.receipt_json is not None:
        return Response(outcome.receipt_json, media_type="application/json")
    done = wait == "witnessed" and await _await_witnessed(request, result.seq + 1)
    status = 202 if wait == "witnessed" and not done else 200
    return JSONResponse(_receipt(result, node, done), status_code=status)


def _sequencer(request: Request) -> SequencerProcess:
    """The sequencer process, or why the node takes no records now."""
    sequencer: SequencerProcess | None = request.app.state.sequencer
    if sequencer is None:
        if _restoring(request):
            raise RestoringError("this node is restoring its own log from peers; retry later")
        raise NotAdoptedError("this node has adopted no charter yet")
    return sequencer


async def _sequenced(
    request: Request, sequencer: SequencerProcess, body: bytes, answered: Callable[[], None]
) -> Outcome:
    """Hand a body to the sequencer process, which decodes and shape-checks it, and validates,
    appends and commits its records; whether it was a batch, and one result per record.

    ``answered`` is called once the sequencer has answered, or refused the body, even after
    this request has timed out: until then the body is in the writer's queue."""
    try:
        future = sequencer.submit(body)
    except LedgerError:
        answered()
        raise

    def settled(done: asyncio.Future[Outcome]) -> None:
        if not done.cancelled():
            done.exception()  # retrieved: a request that timed out no longer awaits it
        answered()

    future.add_done_callback(settled)
    try:
        return await asyncio.wait_for(
            asyncio.shield(future), _node(request).settings.request_timeout
        )
    except TimeoutError as exc:
        raise ApiError(
            "the sequencer did not answer in time; the records may still be appended, "
            "and submitting them again returns their receipts",
            code="sequencer.timeout",
            status=503,
        ) from exc


async def _await_witnessed(request: Request, size: int) -> bool:
    """Wait until our log's newest witnessed checkpoint covers ``size`` entries, or time out."""
    node = _node(request)
    condition: asyncio.Condition = request.app.state.witnessed

    def covered() -> bool:
        with node.store.read() as reader:
            return witnessed(reader, node.log) >= size

    async with condition:
        try:
            await asyncio.wait_for(
                condition.wait_for(covered), timeout=node.settings.witness_timeout
            )
        except TimeoutError:
            return False
    return True


# --- witness --------------------------------------------------------------------------------------

TLOG_SIZE = "text/x.tlog.size"


@router.post(
    "/witness/add-checkpoint",
    tags=["witness"],
    response_class=PlainTextResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "c2sp.org/tlog-witness: `old <size>`, proof lines, blank line, note",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
    responses=_responses(
        {
            200: {"content": {"text/plain": {}}, "description": "the cosignature line"},
            403: {"model": Problem, "description": "not signed by the log's key"},
            409: {"content": {TLOG_SIZE: {}}, "description": "old size is stale: ours follows"},
            422: {"model": Problem, "description": "inconsistent or invalid: evidence stored"},
            503: {"model": Problem, "description": "cannot re-validate yet; try again"},
        }
    ),
)
async def add_checkpoint(request: Request) -> Response:
    """c2sp.org/tlog-witness ``add-checkpoint``: cosign a member's checkpoint, but only once this
    node holds and has re-validated every entry up to its size (DESIGN §8)."""
    node = _node(request)
    replicator: Replicator = request.app.state.replicator
    body = await _read_body(request, MAX_REQUEST_BYTES)
    submitted = parse_add_checkpoint(body)
    charter = replicator.charter()
    try:
        text = notes.parse_note(submitted.note).text
        checkpoint = notes.Checkpoint.parse(text)
    except LedgerError as exc:
        raise ApiError(exc.message, code=exc.code, status=400) from exc
    log_id = checkpoint.origin.removeprefix(f"{charter.network}/")
    if (
        log_id == node.log
        or log_id not in charter.participants
        or checkpoint.origin != charter.origin(log_id)
    ):
        raise ApiError(
            f"not a log this node witnesses: {checkpoint.origin}",
            code="witness.unknown_origin",
            status=404,
        )
    try:
        notes.verify_note(submitted.note, [charter.log_verifier_key(log_id)])
    except LedgerError as exc:
        raise ApiError(exc.message, code="witness.bad_signature", status=403) from exc
    if submitted.old > checkpoint.size:
        raise ApiError("old size beyond the checkpoint", code="witness.malformed", status=400)
    with node.store.read() as reader:
        if quarantined(reader, log_id):
            raise ApiError(f"log {log_id} is quarantined", code="log.quarantined", status=422)
        state = cosigned(reader, log_id)
    stale = _stale(state, submitted.old)
    if stale is not None:
        return stale
    if state is not None and submitted.old == checkpoint.size and state.root != checkpoint.root:
        replicator.report(_fork_evidence(log_id, state.note, submitted.note))
        raise ApiError(
            "same size, another root: evidence stored", code="checkpoint.inconsistent", status=409
        )
    if state is not None and 0 < submitted.old < checkpoint.size:
        try:
            merkle.verify_consistency(
                submitted.old, checkpoint.size, state.root, checkpoint.root, list(submitted.proof)
            )
        except ProofError as exc:
            # The proof came from whoever posted it, so it proves nothing against the log; our
            # own copy of the log can, when it reaches that size.
            evidence = _inconsistency_from_replica(node, log_id, checkpoint, submitted.note)
            if evidence is not None:
                replicator.report(evidence)
            raise ApiError(
                "not consistent with what this node cosigned",
                code="checkpoint.inconsistent",
                status=422,
            ) from exc
    elif submitted.proof and submitted.old == 0:
        raise ApiError("a proof from size 0 must be empty", code="witness.malformed", status=400)
    sources = [replicator.peers().get(log_id, ""), *replicator.peers().values()]
    try:
        done = await replicator.catch_up(log_id, submitted.note, [s for s in sources if s])
    except InvalidEntryError as exc:
        raise ApiError(exc.message, code=exc.code, status=422) from exc
    except (PendingError, PeerError) as exc:
        raise ApiError(
            f"cannot re-validate {log_id} yet: {exc.message}", code="witness.not_ready", status=503
        ) from exc
    if done.size < checkpoint.size:
        raise ApiError(f"{log_id} waits for another log", code="witness.not_ready", status=503)
    return await asyncio.to_thread(_cosign, node, charter, log_id, checkpoint, submitted)


def _stale(state: Cosigned | None, old: int) -> Response | None:
    """409 with our size when the log's idea of what we cosigned is wrong."""
    known = 0 if state is None else state.size
    if old != known:
        # Exactly this content type (c2sp.org/tlog-witness), without a charset parameter.
        return Response(f"{known}\n", status_code=409, headers={"content-type": TLOG_SIZE})
    return None


def _cosign(
    node: LedgerNode,
    charter: Any,
    log_id: str,
    checkpoint: notes.Checkpoint,
    submitted: AddCheckpoint,
) -> Response:
    """Compare-and-swap the witness state and cosign, in one write transaction."""
    with node.store.write() as writer:
        stale = _stale(cosigned(writer, log_id), submitted.old)
        if stale is not None:
            return stale
        set_cosigned(writer, log_id, Cosigned(checkpoint.size, checkpoint.root, submitted.note))
        note = notes.cosign(
            submitted.note, charter.witness_name(node.log), node.witness_key, int(time.time())
        )
        line = note.rstrip("\n").rsplit("\n", 1)[1]
        # Our copy of the log carries every cosignature we know of, ours included, so that we
        # serve it witnessed too.
        add_cosignatures(
            writer,
            log_id,
            checkpoint.size,
            [x for x in note.rstrip("\n").split("\n") if x.startswith("— ")],
            charter.cosigner_keys(exclude=log_id),
            charter.policy.witness_quorum,
        )
    return PlainTextResponse(line + "\n", media_type="text/plain; charset=utf-8")


def _inconsistency_from_replica(
    node: LedgerNode, log_id: str, checkpoint: notes.Checkpoint, note: str
) -> Evidence | None:
    """Self-standing evidence that ``note`` contradicts the log as this node holds it: our
    newest stored checkpoint of the log and a consistency proof, computed from our copy, that
    leads to that checkpoint's root but not to ``note``'s."""
    with node.store.read() as reader:
        log_reader = reader.log(log_id)
        latest = log_reader.latest_checkpoint()
        if latest is None or not 0 < checkpoint.size < latest[0]:
            return None
        size, ours = latest
        if log_reader.root(checkpoint.size) == checkpoint.root:
            return None  # consistent after all: only the posted proof was wrong
        proof = log_reader.consistency_proof(checkpoint.size, size)
    return Evidence(
        kind="fork",
        log=log_id,
        code="checkpoint.inconsistent",
        detail=f"log {log_id} signed a tree of {checkpoint.size} that its tree of {size} "
        "does not extend",
        material={"checkpoints": [note, ours], "proof": list[Value](proof)},
        time=time.time_ns() // 1_000_000,
    )


def _fork_evidence(log_id: str, ours: str, theirs: str) -> Evidence:
    return Evidence(
        kind="fork",
        log=log_id,
        code="checkpoint.inconsistent",
        detail=f"log {log_id} signed checkpoints that are not consistent",
        material={"checkpoints": list[Value](sorted([ours, theirs]))},
        time=time.time_ns() // 1_000_000,
    )


# --- installation ------------------------------------------------------------------------------


class _HeaderLimit:
    """431 for requests whose header names and values exceed the limit (plain ASGI: it runs on
    every request, so it must cost next to nothing)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(k) + len(v) for k, v in scope["headers"])
            if size > self.limit:
                refusal = problem(
                    431, "request.headers_too_large", f"headers of {size} bytes, over {self.limit}"
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _RequestLog:
    """One JSON log line and one latency observation per request (plain ASGI)."""

    def __init__(self, app: ASGIApp, metrics: NodeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.request_seconds.labels(method, route, str(status)).observe(seconds)
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                },
            )


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the node answers: every error as problem+json (the
    handlers below turn FastAPI's 422 validation errors into 400 problems), and a ``default``
    problem response on every operation for the statuses any route may meet (413, 431, 500)."""
    problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                if responses.get("422", {}).get("description") == "Validation Error":
                    del responses["422"]
                for status, response in list(responses.items()):
                    if status.isdigit() and int(status) >= 400:
                        content = response.get("content", {})
                        content.pop("application/json", None)
                        content.pop("text/plain", None)
                        response["content"] = {**content, **problem_content}
                responses.setdefault(
                    "400", {"description": "Malformed request", "content": problem_content}
                )
                responses["default"] = {"description": "A problem", "content": problem_content}
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, node: LedgerNode, metrics: NodeMetrics) -> None:
    """Mount the routes, the error handlers and the request log on ``app``."""
    app.state.node = node
    app.state.metrics = metrics
    app.state.ingress_bounds = IngressBounds.from_settings(node.settings)
    app.state.client_shares = ClientShares(
        max_records=node.settings.sequencer_client_max_records,
        max_bytes=node.settings.sequencer_client_max_bytes,
    )
    app.include_router(submissions)
    app.include_router(router)
    app.include_router(explorer.router)
    _document_problems(app)

    @app.exception_handler(LedgerError)
    async def ledger_error(request: Request, exc: LedgerError) -> JSONResponse:
        status = status_of(exc)
        if status == 503:
            # A state the operator may have to act on (not adopted, restoring, a new log key
            # waiting for a restart, busy), not a fault of this code.
            log.warning("request refused", extra={"code": exc.code, "detail": exc.message})
        elif status >= 500:
            log.error("request failed", extra={"code": exc.code, "detail": exc.message})
        elif isinstance(exc, RuleError | RecordError | EncodingError):
            metrics.records_refused.labels(exc.code).inc()
        return problem(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return problem(400, "request.invalid", details[:2000])

    # Starlette's own (unknown routes, wrong methods), of which FastAPI's is a subclass.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "route.unknown", 405: "method.not_allowed"}.get(exc.status_code, "http.error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return problem(500, "internal.error", "the node failed; the failure is logged")

    app.add_middleware(_RequestLog, metrics=metrics)
    app.add_middleware(_HeaderLimit, limit=node.settings.max_header_bytes)
