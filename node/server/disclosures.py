"""Member reads of sealed values, signed per RFC 9421, under the disclosure policy.

- ``GET /v1/disclosures/{hash}``: the sealed fields of an entry that the policy
  (node/core/disclosure.py, decision 0040) gives the verified reader; 403 with the policy's code
  when it gives none. Every read whose signature verified is recorded first
  (node/engine/access.py), allowed or refused.
- ``GET /v1/disclosures/access``: that record, for the authority of the log whose entries
  were read.

A node serves the disclosures it was submitted with, or, of an entry it holds a replica of, those
of the envelope addressed to its own participant (decision 0041), which it opens with its
disclosure key and checks against the entry's commitments: the importing authority reads its
certificate's values from its own node, whether or not the exporter's is up. Either way the same
policy decides, and the read is recorded the same.

The signature proves who asks; the policy decides what they see. So a registered key that may
not act today (revoked, past ``valid_until``, its participant suspended) still authenticates —
its request is recorded and refused with a ``disclosure.*`` code — while an unknown key or a bad
signature is ``401 auth.*`` and recorded nowhere: its key id proves nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from node.core import crypto, httpsig
from node.core.clock import today
from node.core.disclosure import (
    ALLOWED,
    Decision,
    Reader,
    Subject,
    check_access_record,
    check_disclosure,
    reader_of,
)
from node.core.envelope import open_with_any, parse_envelopes
from node.core.errors import ApiError, DisclosureRefusedError
from node.core.records import Entry, SignedRecord
from node.core.sealing import Disclosures, parse_disclosures
from node.core.state import LedgerView
from node.engine.access import AccessRecord, access_page, record_access
from node.engine.ledger import LedgerNode
from node.server.requests import hash_param, node_of, read_body
from node.server.schemas import (
    AccessPageModel,
    DisclosuresModel,
    EntryHash,
    Problem,
    b64,
    responses,
)

__all__ = [
    "access",
    "disclosures",
    "member_reader",
    "read_disclosures",
    "router",
]

logger = logging.getLogger("kp.api")

_MEMBER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "not a signed member request"},
    403: {"model": Problem, "description": "the disclosure policy refuses this member"},
}

router = APIRouter()


# Declared before /v1/disclosures/{entry_hash}, which would otherwise take "access" for a hash.
@router.get(
    "/v1/disclosures/access",
    response_model=AccessPageModel,
    tags=["entries"],
    responses=responses(_MEMBER_ERRORS),
)
async def access(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62, description="show records numbered above")] = 0,
    limit: Annotated[int, Query(ge=1, le=2**31, description="at most this many")] = 100,
) -> dict[str, Any]:
    """Who read the disclosures of the signer's own log on this node, and what they were
    given: for the authority of that log only (its log key, or an ``authority`` operator)."""
    node = node_of(request)
    reader = await member_reader(node, request)
    check_access_record(reader, reader.participant).verify()
    limit = min(limit, node.settings.max_page_access)
    with node.store.read() as store:
        page = access_page(store, reader.participant, after, limit)
    return {
        "log": reader.participant,
        "after": after,
        "next": page[-1].n if page else after,
        "records": [_access_json(record) for record in page],
    }


@router.get(
    "/v1/disclosures/{entry_hash}",
    response_model=DisclosuresModel,
    tags=["entries"],
    responses=responses({**_MEMBER_ERRORS, 404: {"model": Problem, "description": "none here"}}),
)
async def disclosures(request: Request, entry_hash: EntryHash) -> dict[str, Any]:
    """The sealed values of an entry that the disclosure policy gives the signer of the
    request (RFC 9421, label ``kp``, Ed25519; a registered operator key ``BW:debswana`` or a
    participant's log key ``BW``). Fields it refuses are listed with the refusal's code;
    none given is 403. Every read is recorded (``GET /v1/disclosures/access``)."""
    node = node_of(request)
    reader = await member_reader(node, request)
    digest = hash_param(entry_hash)
    read = await read_disclosures(node, reader, digest)
    if read is None:
        raise ApiError(
            "this node holds no disclosures of that entry", code="disclosure.unknown", status=404
        )
    decisions, given = read
    codes = {field: decision.code for field, decision in decisions.items()}
    logger.info("disclosure read", extra={"entry": entry_hash, "member": reader.key_id})
    if not given:
        first = next(iter(decisions.values()))
        raise DisclosureRefusedError(first.reason, code=first.code)
    return {
        "entry_hash": entry_hash,
        "member": reader.key_id,
        "fields": {f: {"salt": b64(salt), "value": v} for f, (salt, v) in given.items()},
        "refused": {f: code for f, code in codes.items() if code != ALLOWED},
    }


async def read_disclosures(
    node: LedgerNode, reader: Reader, entry_hash: bytes
) -> tuple[dict[str, Decision], Disclosures] | None:
    """The policy's decision on each sealed field of an entry for ``reader``, and the values
    it gives; ``None`` when this node holds no disclosures of the entry. The read is recorded
    (node/engine/access.py) before this returns: no value leaves the node unrecorded.

    Raises:
        EnvelopeError: a kept envelope no longer opens against its entry.
    """
    with node.store.read() as store:
        raw = store.get("disclosures", entry_hash)
        sealed = None if raw is not None else store.get("envelopes", entry_hash)
        position = store.position(entry_hash)
        entry_bytes = None if position is None else store.entry_bytes(*position)
    if position is None or entry_bytes is None:
        return None
    signed = Entry.parse(entry_bytes).signed
    opened = None
    if raw is not None:
        opened = parse_disclosures(raw)
    elif sealed is not None:
        opened = await asyncio.to_thread(_open_own, node, sealed, entry_hash, signed)
    if opened is None:
        return None
    subject = Subject.of(signed)
    decisions = {field: check_disclosure(reader, subject, field) for field in sorted(opened)}
    await asyncio.to_thread(
        record_access,
        node.store,
        time=node.clock(),
        key_id=reader.key_id,
        log=position[0],
        seq=position[1],
        entry_hash=entry_hash,
        fields={field: decision.code for field, decision in decisions.items()},
    )
    given = {f: opened[f] for f, decision in decisions.items() if decision.allowed}
    return decisions, given


def _open_own(
    node: LedgerNode, sealed: bytes, entry_hash: bytes, signed: SignedRecord
) -> Disclosures | None:
    """The disclosures of the envelope addressed to this node's participant, or ``None`` when
    it holds none (or no disclosure key to open one with).

    Raises:
        EnvelopeError: the envelope does not open against the entry (kept envelopes were
            checked when kept, so a store that changed since).
    """
    charter = node.trusted_charter()
    if not node.disclosure_keys or charter is None:
        return None
    envelopes = parse_envelopes(sealed)
    if node.log not in envelopes:
        return None
    return open_with_any(
        envelopes,
        network=charter.network,
        entry_hash=entry_hash,
        participant=node.log,
        keys=node.disclosure_keys,
        signed=signed,
    )


async def member_reader(node: LedgerNode, request: Request) -> Reader:
    """The verified signer of a member request and its standing today.

    Raises:
        AuthError: no signature, a malformed one, an unknown key, a bad signature, too old.
    """
    body = await read_body(request, 64 * 1024)
    now, day = node.clock() // 1000, today(node.clock)
    found: list[Reader] = []
    with node.state() as state:

        def resolve(key_id: str) -> Any:
            reader = _registered(node, state, key_id, day)
            if reader is None:
                return None
            found.append(reader[0])
            return crypto.load_public_key(reader[1])

        httpsig.verify_request(
            request.method,
            _own_url(node, request),
            request.headers,
            body,
            resolve=resolve,
            now=now,
            max_age=node.settings.auth_max_age,
        )
    return found[-1]


def _registered(
    node: LedgerNode, state: LedgerView, key_id: str, day: str
) -> tuple[Reader, bytes] | None:
    """A charter member's log key, or a key its log registered (revoked and expired ones too:
    the policy refuses those once the signature proves who asks), with the reader's standing."""
    charter = state.adopted_charter(node.log)
    if charter is None:
        return None
    reader = reader_of(state, charter, key_id, day)
    if reader is None:
        return None
    if reader.operator is None:
        return reader, charter.participants[reader.participant].log_key
    registered = state.operator(reader.participant, reader.operator)
    return None if registered is None else (reader, registered.public_key)


def _own_url(node: LedgerNode, request: Request) -> str:
    """The URL a member request was addressed to, as this node knows itself: its configured
    public URL with the request's path and query. Never the Host header, which the client
    chooses: a request signed for another node's URL then fails its signature here."""
    target = node.settings.url.rstrip("/") + request.url.path
    query = request.url.query
    return f"{target}?{query}" if query else target


def _access_json(record: AccessRecord) -> dict[str, Any]:
    return {
        "n": record.n,
        "time": record.time,
        "key_id": record.key_id,
        "log": record.log,
        "seq": record.seq,
        "entry_hash": record.entry_hash.hex(),
        "fields": dict(record.fields),
        "allowed": record.allowed,
    }
