"""The witness side of c2sp.org/tlog-witness over HTTP: ``POST /witness/add-checkpoint``."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from node.core import notes
from node.core.charter import Charter
from node.core.errors import (
    ApiError,
    InvalidEntryError,
    PeerError,
    PendingError,
)
from node.engine.ledger import LedgerNode
from node.engine.replica import Evidence, fork_evidence, quarantined
from node.engine.witness import (
    MAX_REQUEST_BYTES,
    AddCheckpoint,
    Cosigned,
    Judgement,
    Outcome,
    Subject,
    add_cosignatures,
    cosigned,
    judge,
    parse_add_checkpoint,
    set_cosigned,
    subject_of,
)
from node.server.replication import Replicator
from node.server.requests import node_of, read_body
from node.server.schemas import Problem, responses

__all__ = [
    "TLOG_SIZE",
    "add_checkpoint",
    "router",
]

logger = logging.getLogger("kp.api")


router = APIRouter()


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
    responses=responses(
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
    node = node_of(request)
    replicator: Replicator = request.app.state.replicator
    submitted = parse_add_checkpoint(await read_body(request, MAX_REQUEST_BYTES))
    charter = replicator.charter()
    subject = subject_of(submitted, charter, node.log)
    if isinstance(subject, Judgement):
        return _refusal(subject)
    log_id, signed = subject.log, subject.signed
    with node.store.read() as reader:
        held = quarantined(reader, log_id)
        state = cosigned(reader, log_id)
    judgement = judge(submitted, subject, state, quarantined=held)
    if judgement.outcome is Outcome.FORK and state is not None:
        detail = "signed checkpoints that are not consistent"
        replicator.report(fork_evidence(log_id, [state.note, submitted.note], detail, node.clock()))
    elif judgement.outcome is Outcome.INCONSISTENT:
        # The proof came from whoever posted it, so it proves nothing against the log; our
        # own copy of the log can, when it reaches that size.
        evidence = _inconsistency_from_replica(node, log_id, signed.checkpoint, submitted)
        if evidence is not None:
            replicator.report(evidence)
    if judgement.outcome is not Outcome.PROCEED:
        return _refusal(judgement)
    sources = [replicator.peers().get(log_id, ""), *replicator.peers().values()]
    try:
        done = await replicator.catch_up(log_id, signed, [s for s in sources if s])
    except InvalidEntryError as exc:
        raise ApiError(exc.message, code=exc.code, status=422) from exc
    except (PendingError, PeerError) as exc:
        raise ApiError(
            f"cannot re-validate {log_id} yet: {exc.message}", code="witness.not_ready", status=503
        ) from exc
    if done.size < signed.size:
        raise ApiError(f"{log_id} waits for another log", code="witness.not_ready", status=503)
    if signed.size > judgement.known:
        # Caught up to a checkpoint newer than any this witness cosigned: only the origin has
        # one to send (a replayed note is no newer), and its pushes bring the log, so
        # anti-entropy may leave it to them. Not before: a push that could not be caught up to
        # leaves the log to anti-entropy.
        replicator.pushed(log_id)
    return await asyncio.to_thread(_cosign, node, charter, subject, submitted)


# Every refusal of a judgement, as c2sp.org/tlog-witness and DESIGN §8 have it answered.
_REFUSALS: dict[Outcome, tuple[int, str]] = {
    Outcome.MALFORMED: (400, "witness.malformed"),
    Outcome.UNKNOWN_ORIGIN: (404, "witness.unknown_origin"),
    Outcome.BAD_SIGNATURE: (403, "witness.bad_signature"),
    Outcome.QUARANTINED: (422, "log.quarantined"),
    Outcome.FORK: (409, "checkpoint.inconsistent"),
    Outcome.INCONSISTENT: (422, "checkpoint.inconsistent"),
}


def _refusal(judgement: Judgement) -> Response:
    if judgement.outcome is Outcome.STALE:
        # 409 with our size, exactly this content type, without a charset parameter.
        return Response(
            f"{judgement.known}\n", status_code=409, headers={"content-type": TLOG_SIZE}
        )
    status, code = _REFUSALS[judgement.outcome]
    raise ApiError(judgement.detail, code=judgement.code or code, status=status)


def _cosign(
    node: LedgerNode, charter: Charter, subject: Subject, submitted: AddCheckpoint
) -> Response:
    """Judge again, record the cosigned checkpoint and cosign, in one write transaction: the
    compare-and-swap of c2sp.org/tlog-witness."""
    log_id, signed = subject.log, subject.signed
    with node.store.write() as writer:
        again = judge(submitted, subject, cosigned(writer, log_id), quarantined=False)
        if again.outcome is not Outcome.PROCEED:
            return _refusal(again)
        set_cosigned(writer, log_id, Cosigned(signed.size, signed.root, submitted.note))
        ours = signed.cosignature(
            charter.witness_name(node.log), node.witness_key, node.clock() // 1000
        )
        # Our copy of the log carries every cosignature we know of, ours included, so that we
        # serve it witnessed too.
        add_cosignatures(
            writer,
            log_id,
            signed.size,
            [*signed.signatures, ours],
            charter.cosigner_keys(exclude=log_id),
            charter.policy.witness_quorum,
        )
    return PlainTextResponse(ours.to_line(), media_type="text/plain; charset=utf-8")


def _inconsistency_from_replica(
    node: LedgerNode, log_id: str, checkpoint: notes.Checkpoint, submitted: AddCheckpoint
) -> Evidence | None:
    """Self-standing evidence that the submitted note contradicts the log as this node holds
    it: our newest stored checkpoint of the log and a consistency proof, computed from our copy,
    that leads to that checkpoint's root but not to the submitted one's."""
    with node.store.read() as reader:
        log_reader = reader.log(log_id)
        latest = log_reader.latest_checkpoint()
        if latest is None or not 0 < checkpoint.size < latest[0]:
            return None
        size, ours = latest
        if log_reader.root(checkpoint.size) == checkpoint.root:
            return None  # consistent after all: only the posted proof was wrong
        proof = log_reader.consistency_proof(checkpoint.size, size)
    return fork_evidence(
        log_id,
        [submitted.note, ours],
        f"signed a tree of {checkpoint.size} that its tree of {size} does not extend",
        node.clock(),
        proof,
    )
