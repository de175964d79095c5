"""The public reads of a node (DESIGN §10): health, metrics, the network, logs, proofs, entries,
certificates, parcels, bundles and evidence. Anonymous: each is bounded by its parameters."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from node.core import crypto
from node.core.bundle import BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, MAX_BUNDLE_ENTRIES
from node.core.clock import today
from node.core.encoding import Value, decode, encode
from node.core.errors import (
    ApiError,
    NotAdoptedError,
    RecordError,
    RequestError,
    RequestTooLargeError,
    SequencerStoppedError,
    StoreError,
)
from node.core.provenance import DEFAULT_DEPTH, depth_text, parse_depth
from node.core.records import EntryRef, ParcelRef, parse_certificate_number
from node.engine.bundling import build_bundle
from node.engine.ledger import LedgerNode
from node.engine.replica import list_evidence
from node.engine.witness import (
    witnessed,
)
from node.server.metrics import NodeMetrics
from node.server.replication import note_digest
from node.server.requests import hash_param, known_log, node_of, read_body, restoring
from node.server.schemas import (
    ERRORS,
    MSGPACK,
    CertificateModel,
    ConsistencyProof,
    EntryHash,
    EntryModel,
    EvidenceModel,
    Health,
    InclusionProof,
    LogId,
    LogInfo,
    NetworkModel,
    ParcelModel,
    ParcelStates,
    ParcelStatesRequest,
    Problem,
    b64,
    certificate_model,
    json_value,
    parcel_model,
    responses,
)
from node.server.sequencer_process import SequencerProcess

__all__ = [
    "certificate",
    "charters",
    "checkpoint",
    "consistency_proof",
    "entries",
    "entry",
    "envelopes",
    "evidence",
    "healthz",
    "inclusion_proof",
    "logs",
    "metrics",
    "network",
    "parcel",
    "parcel_states",
    "parse_parcel_states",
    "provenance_bundle",
    "router",
]

logger = logging.getLogger("kp.api")


router = APIRouter()


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
    node = node_of(request)
    with node.store.read() as reader:
        size = reader.log(node.log).size()
    return Health(status="ok", log=node.log, size=size, restoring=restoring(request))


@router.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    node_metrics: NodeMetrics = request.app.state.metrics
    node = node_of(request)
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


@router.get("/v1/network", response_model=NetworkModel, tags=["network"], responses=ERRORS)
def network(request: Request) -> dict[str, Any]:
    """The adopted charter, the genesis hash (network id), every member with its keys and the
    charter version its log has adopted, and the chain of versions this node knows."""
    node = node_of(request)
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
            "governance_key": b64(member.governance_key),
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
            "document": b64(signed.encode()),
        },
        "newest_version": status.newest.version,
        "charters": [
            {"version": v.charter.version, "hash": v.hash.hex(), "document": b64(v.encode())}
            for v in chain
        ],
        "policy": charter.policy.to_value(),
        "participants": members,
    }


@router.get("/v1/charters", tags=["network"], responses=ERRORS)
def charters(request: Request) -> dict[str, Any]:
    """Every charter version from the genesis, oldest first: the chain this node trusts.

    An auditor replays each log under the version it had adopted, so it needs them all, not
    only the newest; it verifies the chain against its own trusted genesis hash.
    """
    node = node_of(request)
    genesis = node.genesis()
    if genesis is None:
        raise NotAdoptedError("this node has adopted no charter yet")
    return {
        "genesis": genesis.hex(),
        "charters": [
            {"version": c.charter.version, "hash": c.hash.hex(), "document": b64(c.encode())}
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
    node = node_of(request)
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
                    root=b64(log_reader.root(size)),
                    checkpoint=latest[1] if latest and with_notes else None,
                    digest=note_digest(latest[1]) if latest else None,
                )
            )
    return found


@router.get(
    "/v1/logs/{log_id}/checkpoint",
    tags=["logs"],
    response_class=PlainTextResponse,
    responses=ERRORS,
)
def checkpoint(
    request: Request,
    log_id: LogId,
    latest: Annotated[bool, Query(description="the newest signed one, witnessed or not")] = False,
) -> Response:
    """The log's newest witnessed checkpoint (C2SP signed note with at least
    ``witness_quorum`` cosignatures of other members); ``?latest=1``: the newest signed one."""
    node = node_of(request)
    known_log(node, log_id)
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
    responses=responses(
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
    node = node_of(request)
    size = known_log(node, log_id)
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
    "/v1/logs/{log_id}/envelopes",
    tags=["logs"],
    responses=responses(
        {
            200: {
                "content": {MSGPACK: {}},
                "description": "msgpack {end, envelopes: [[seq, bin]]}",
            }
        }
    ),
)
def envelopes(
    request: Request,
    log_id: LogId,
    start: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    end: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Response:
    """The envelopes this node holds of entries ``start <= seq < end`` (decision 0041): each
    entry's sealed values encrypted to the participants entitled to them, ciphertexts only,
    which every copy of the log serves and only each recipient can open. A page covers at most
    ``max_page_envelopes`` entries and says where it ``end``s; an entry that sealed nothing (or
    whose envelopes this node lacks) is left out."""
    node = node_of(request)
    size = known_log(node, log_id)
    if start >= size:
        raise ApiError(
            f"start {start} is beyond the log size {size}", code="range.invalid", status=400
        )
    if end is not None and end <= start:
        raise ApiError("end must be greater than start", code="range.invalid", status=400)
    stop = min(size, start + node.settings.max_page_envelopes, end if end is not None else size)
    found: list[Value] = []
    with node.store.read() as reader:
        log_reader = reader.log(log_id)
        for seq in range(start, stop):
            raw = reader.get("envelopes", log_reader.leaf_hash(seq))
            if raw is not None:
                found.append([seq, raw])
    return Response(encode({"end": stop, "envelopes": found}), media_type=MSGPACK)


@router.get(
    "/v1/logs/{log_id}/proof/inclusion",
    response_model=InclusionProof,
    tags=["logs"],
    responses=ERRORS,
)
def inclusion_proof(
    request: Request,
    log_id: LogId,
    index: Annotated[int, Query(ge=0, le=2**63 - 1)],
    size: Annotated[int, Query(ge=1, le=2**63 - 1)],
) -> InclusionProof:
    """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries."""
    node = node_of(request)
    log_size = known_log(node, log_id)
    if not index < size <= log_size:
        raise ApiError(f"need index < size <= {log_size}", code="range.invalid", status=400)
    with node.store.read() as reader:
        hashes = reader.log(log_id).inclusion_proof(index, size)
    return InclusionProof(index=index, size=size, hashes=[b64(h) for h in hashes])


@router.get(
    "/v1/logs/{log_id}/proof/consistency",
    response_model=ConsistencyProof,
    tags=["logs"],
    responses=ERRORS,
)
def consistency_proof(
    request: Request,
    log_id: LogId,
    old: Annotated[int, Query(ge=1, le=2**63 - 1)],
    new: Annotated[int, Query(ge=1, le=2**63 - 1)],
) -> ConsistencyProof:
    """RFC 9162 consistency proof between the trees of ``old`` and ``new`` entries."""
    node = node_of(request)
    log_size = known_log(node, log_id)
    if not old <= new <= log_size:
        raise ApiError(f"need 0 < old <= new <= {log_size}", code="range.invalid", status=400)
    with node.store.read() as reader:
        hashes = reader.log(log_id).consistency_proof(old, new)
    return ConsistencyProof(old=old, new=new, hashes=[b64(h) for h in hashes])


@router.get(
    "/v1/entries/{entry_hash}", response_model=EntryModel, tags=["entries"], responses=ERRORS
)
def entry(request: Request, entry_hash: EntryHash) -> EntryModel:
    """One entry by its hash, decoded, with its place in its log."""
    node = node_of(request)
    digest = hash_param(entry_hash)
    with node.store.read() as reader:
        position = reader.position(digest)
        if position is None:
            raise ApiError("no entry with that hash here", code="entry.unknown", status=404)
        raw = reader.log(position[0]).entry(position[1])
    value = decode(raw, max_size=len(raw))
    if not isinstance(value, dict):
        raise StoreError("stored entry is not a map")
    return EntryModel(
        log=position[0], seq=position[1], hash=entry_hash, entry=json_value(value), raw=b64(raw)
    )


@router.get(
    "/v1/certificates/{log_id}/{number:path}",
    response_model=CertificateModel,
    tags=["entries"],
    responses=ERRORS,
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
    node = node_of(request)
    with node.state() as state:
        found = state.certificate_by_number(log_id, parsed.key)
    if found is None:
        raise ApiError(
            f"no certificate with number {parsed.text} in log {log_id}",
            code="certificate.unknown",
            status=404,
        )
    return certificate_model(found, today(node.clock))


@router.get(
    "/v1/parcels/{log_id}/{seq}/{out}",
    response_model=ParcelModel,
    tags=["entries"],
    responses=ERRORS,
)
def parcel(
    request: Request,
    log_id: LogId,
    seq: Annotated[int, Path(ge=0, le=2**63 - 1)],
    out: Annotated[int, Path(ge=0, le=63)],
) -> ParcelModel:
    """A parcel's state: holder, mass, origins, and the entry that consumed it if any."""
    node = node_of(request)
    with node.state() as state:
        found = state.parcel(log_id, seq, out)
    if found is None:
        raise ApiError("no such parcel", code="parcel.unknown", status=404)
    return parcel_model(found)


@router.post(
    "/v1/parcels/states",
    response_model=ParcelStates,
    tags=["entries"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the parcels to answer, at most `max_parcel_states` (256)",
            "content": {"application/json": {"schema": ParcelStatesRequest.model_json_schema()}},
        }
    },
    responses=responses(
        {
            413: {"model": Problem, "description": "body over its bound"},
            415: {"model": Problem, "description": "not application/json"},
        }
    ),
)
async def parcel_states(request: Request) -> ParcelStates:
    """Many parcels' states at once, in order: each as ``GET /v1/parcels/{log}/{seq}/{out}``
    answers it, or null where this node holds no parcel of that reference (decision 0039: a
    verifier asks each node once, not once per parcel).

    Anonymous, so bounded: at most ``max_parcel_states`` references (400
    ``request.batch_size``), a body of at most ``parcel_states_body_bytes`` (413
    ``request.too_large``, from ``Content-Length`` before reading), and one read transaction of
    one read per reference. Refused before any read: not JSON (415 ``request.content_type``),
    not of the shape (400 ``request.invalid``).
    """
    node = node_of(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/json":
        raise ApiError(
            f"parcel references are sent as application/json, not {content_type or 'nothing'}",
            code="request.content_type",
            status=415,
        )
    body = await read_body(request, node.settings.parcel_states_body_bytes)
    refs = parse_parcel_states(body, node.settings.max_parcel_states)
    return await asyncio.to_thread(_parcel_states, node, refs)


def parse_parcel_states(body: bytes, limit: int) -> list[ParcelRef]:
    """The references of a ``POST /v1/parcels/states`` body.

    Raises:
        RequestError: not JSON of the request's shape (``request.invalid``), or not 1 to
            ``limit`` references (``request.batch_size``).
    """
    try:
        asked = ParcelStatesRequest.model_validate_json(body)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:10]
        )
        raise RequestError(details[:2000] or "not a parcel states request") from exc
    if not 1 <= len(asked.parcels) <= limit:
        raise RequestError(
            f"ask about 1 to {limit} parcels, not {len(asked.parcels)}",
            code="request.batch_size",
        )
    return [
        ParcelRef(log, seq, bytes.fromhex(digest), out) for log, seq, digest, out in asked.parcels
    ]


def _parcel_states(node: LedgerNode, refs: list[ParcelRef]) -> ParcelStates:
    answered: list[ParcelModel | None] = []
    with node.state() as state:  # one snapshot: the answers agree with one another
        for ref in refs:
            found = state.parcel(ref.log, ref.seq, ref.out)
            # A parcel of another hash at that place is not the one asked about.
            answered.append(None if found is None or found.ref != ref else parcel_model(found))
    return ParcelStates(parcels=answered)


@router.get(
    "/v1/provenance/{entry_hash}",
    tags=["verification"],
    responses=responses(
        {200: {"content": {BUNDLE_MEDIA_TYPE: {}}, "description": "the bundle of DESIGN §9"}}
    ),
)
def provenance_bundle(
    request: Request,
    entry_hash: EntryHash,
    depth: Annotated[
        str,
        Query(
            pattern=r"^(all|[0-9]{1,6})$",
            description=(
                "levels of parcel-making entries replayed below the subject and its "
                "certificate (decision 0039), or 'all' for the whole DAG back to the mines"
            ),
        ),
    ] = depth_text(DEFAULT_DEPTH),
) -> Response:
    """The offline-verifiable bundle of an entry: the subject, its certificate and ``depth``
    levels of the steps that made its parcels, the parcels behind them seeded (bounded by
    default; ``depth=all`` for the whole chain back to the mines, within the bundle's bounds)."""
    node = node_of(request)
    digest = hash_param(entry_hash)
    try:
        levels = parse_depth(depth)
    except ValueError as exc:
        raise ApiError(str(exc), code="request.invalid", status=400) from exc
    with node.store.read() as reader:
        position = reader.position(digest)
        if position is None:
            raise ApiError("no entry with that hash here", code="entry.unknown", status=404)
        bundle = build_bundle(reader, node.settings.network, EntryRef(*position, digest), levels)
    body = bundle.to_bytes()
    # What no verifier would take is not served: ask for a bounded depth instead.
    if len(bundle.entries) > MAX_BUNDLE_ENTRIES or len(body) > MAX_BUNDLE_BYTES:
        raise RequestTooLargeError(
            f"the bundle at depth {depth} is over {MAX_BUNDLE_ENTRIES} entries or "
            f"{MAX_BUNDLE_BYTES} bytes; ask for a smaller depth",
            code="provenance.too_large",
        )
    return Response(body, media_type=BUNDLE_MEDIA_TYPE)


@router.get("/v1/evidence", response_model=list[EvidenceModel], tags=["network"])
def evidence(request: Request) -> list[dict[str, Any]]:
    """Evidence this node holds against any log (forks, invalid entries)."""
    node = node_of(request)
    with node.store.read() as reader:
        found = list_evidence(reader)
    return [json_value(item) for item in found]
