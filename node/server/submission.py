"""``POST /v1/records``: bounded here, sequenced in the sequencer process, answered with receipts.

The hot route has a router of its own, mounted first: FastAPI tries routes in order, so every
submission would otherwise pay for matching all the reads before it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from node.core.errors import (
    ApiError,
    LedgerError,
    NotAdoptedError,
    RestoringError,
)
from node.core.receipt import Receipt
from node.engine.ledger import LedgerNode
from node.engine.witness import (
    witnessed,
)
from node.server.ingress import (
    ClientShares,
    IngressBounds,
    check_submissions,
)
from node.server.requests import node_of, read_body, restoring
from node.server.schemas import (
    MSGPACK,
    BatchResponse,
    Problem,
    ReceiptModel,
    problem_json,
    responses,
)
from node.server.sequencer_process import Outcome, SequencerProcess

__all__ = [
    "router",
    "submit_records",
]

logger = logging.getLogger("kp.api")


router = APIRouter()


# The hot route, submission, has a router of its own that is mounted first: FastAPI tries routes
# in order, so every submission would otherwise pay for matching all the reads before it.


@router.post(
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
    responses=responses(
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
    node = node_of(request)
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
    body = await read_body(request, bounds.body_bytes)
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
                out.append({"problem": problem_json(result)})
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


def _receipt(receipt: Receipt, node: LedgerNode, witnessed_now: bool) -> dict[str, Any]:
    """The receipt as sent (``ReceiptModel``); when witnessed, against the newest witnessed
    checkpoint."""
    if witnessed_now:
        receipt = dataclasses.replace(receipt, witnessed=True)
        with node.store.read() as reader:
            size = witnessed(reader, node.log)
            note = reader.log(node.log).checkpoint(size)
            if note is not None and size > receipt.seq:
                proof = tuple(reader.log(node.log).inclusion_proof(receipt.seq, size))
                receipt = dataclasses.replace(receipt, checkpoint=note, proof=proof)
    return receipt.to_json()


def _sequencer(request: Request) -> SequencerProcess:
    """The sequencer process, or why the node takes no records now."""
    sequencer: SequencerProcess | None = request.app.state.sequencer
    if sequencer is None:
        if restoring(request):
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
            asyncio.shield(future), node_of(request).settings.request_timeout
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
    node = node_of(request)
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
