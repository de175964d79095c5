"""What every route takes from a request: the node it serves, a bounded body, a checked hash."""

from __future__ import annotations

import asyncio
import logging

from fastapi import Request
from starlette.requests import ClientDisconnect

from node.core.errors import ApiError
from node.engine.ledger import LedgerNode

__all__ = [
    "hash_param",
    "known_log",
    "node_of",
    "read_body",
    "restoring",
]

logger = logging.getLogger("kp.api")


def node_of(request: Request) -> LedgerNode:
    node: LedgerNode = request.app.state.node
    return node


async def read_body(request: Request, limit: int) -> bytes:
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


def hash_param(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as exc:  # the path pattern already refuses this; kept for direct calls
        raise ApiError("not a hex hash", code="request.invalid", status=400) from exc


def known_log(node: LedgerNode, log_id: str) -> int:
    """The size of a log this node holds; 404 if it holds none of it."""
    with node.store.read() as reader:
        size = reader.log(log_id).size()
    if size == 0:
        raise ApiError(
            f"this node holds no entries of log {log_id}", code="log.unknown", status=404
        )
    return size


def restoring(request: Request) -> bool:
    """Whether the node's own log is still coming back from peers — or is back, and the
    sequencer process it then starts is not taking records yet."""
    starting: asyncio.Task[None] | None = getattr(request.app.state, "starting", None)
    return bool(request.app.state.replicator.restoring) or (
        starting is not None and not starting.done()
    )
