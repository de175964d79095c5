"""Member reads of sealed values: ``GET /v1/disclosures/{hash}``, signed per RFC 9421."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from node.core import crypto, httpsig
from node.core.clock import today
from node.core.errors import (
    ApiError,
    AuthError,
    RuleError,
)
from node.core.rules import operator_in_force
from node.core.sealing import parse_disclosures
from node.core.state import LedgerView
from node.engine.ledger import LedgerNode
from node.server.requests import hash_param, node_of, read_body
from node.server.schemas import DisclosuresModel, EntryHash, Problem, b64, responses

__all__ = [
    "disclosures",
    "router",
]

logger = logging.getLogger("kp.api")


router = APIRouter()


@router.get(
    "/v1/disclosures/{entry_hash}",
    response_model=DisclosuresModel,
    tags=["entries"],
    responses=responses({401: {"model": Problem, "description": "not a signed member request"}}),
)
async def disclosures(request: Request, entry_hash: EntryHash) -> dict[str, Any]:
    """The sealed values of an entry, for members only: the request must be signed per
    RFC 9421 (label ``kp``, Ed25519) with a registered operator key (``BW:debswana``) or a
    participant's log key (``BW``)."""
    node = node_of(request)
    body = await read_body(request, 64 * 1024)
    now = node.clock() // 1000
    with node.state() as state:
        verified = httpsig.verify_request(
            request.method,
            _own_url(node, request),
            request.headers,
            body,
            resolve=lambda key_id: _member_key(node, state, key_id, today(node.clock)),
            now=now,
            max_age=node.settings.auth_max_age,
        )
    with node.store.read() as reader:
        raw = reader.get("disclosures", hash_param(entry_hash))
    if raw is None:
        raise ApiError(
            "this node holds no disclosures of that entry", code="disclosure.unknown", status=404
        )
    opened = parse_disclosures(raw)
    logger.info("disclosure read", extra={"entry": entry_hash, "member": verified.key_id})
    return {
        "entry_hash": entry_hash,
        "member": verified.key_id,
        "fields": {f: {"salt": b64(salt), "value": v} for f, (salt, v) in opened.items()},
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
        raise AuthError(f"{participant} is suspended", code="auth.key_not_in_force")
    if not operator:
        return crypto.load_public_key(member.log_key)
    try:
        registered = operator_in_force(state, participant, operator, today)
    except RuleError as exc:
        if exc.code == "operator.unknown":
            return None
        raise AuthError(exc.message, code="auth.key_not_in_force") from exc
    return crypto.load_public_key(registered.public_key)
