"""What a node's routes answer: problem+json, the response schemas, domain values as JSON.

Every refusal is RFC 9457 ``application/problem+json`` with the stable ``code`` of the
``LedgerError`` behind it and the status node/server/problems.py gives it. Entries travel as
``application/msgpack``; everything else is JSON with base64 bytes and hex hashes.
"""

from __future__ import annotations

import base64
import logging
from typing import Annotated, Any

from fastapi import Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from node.core.encoding import Value
from node.core.errors import (
    LedgerError,
)
from node.core.records import EntryRef
from node.core.state import CertificateState, ParcelState
from node.server.problems import status_of

__all__ = [
    "ERRORS",
    "HASH_HEX",
    "LOG_ID",
    "MSGPACK",
    "PROBLEM",
    "AccessPageModel",
    "AccessRecordModel",
    "BatchResponse",
    "BatchResult",
    "CertificateModel",
    "CharterVersionModel",
    "ConsistencyProof",
    "DisclosedModel",
    "DisclosuresModel",
    "EntryHash",
    "EntryModel",
    "EvidenceModel",
    "Health",
    "InclusionProof",
    "LogId",
    "LogInfo",
    "MemberModel",
    "NetworkModel",
    "ParcelModel",
    "ParcelStates",
    "ParcelStatesRequest",
    "Problem",
    "ReceiptModel",
    "b64",
    "certificate_model",
    "json_value",
    "parcel_model",
    "problem",
    "problem_body",
    "problem_json",
    "ref_json",
    "responses",
]

logger = logging.getLogger("kp.api")


MSGPACK = "application/msgpack"


PROBLEM = "application/problem+json"


HASH_HEX = r"^[0-9a-f]{64}$"


LOG_ID = r"^[A-Z]{2,8}$"


LogId = Annotated[str, Path(pattern=LOG_ID, description="participant id, e.g. BW")]


EntryHash = Annotated[str, Path(pattern=HASH_HEX, description="hex entry hash")]


def problem(status: int, code: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem document, as a response."""
    headers = {"Retry-After": "1"} if status in (409, 429, 503) else None
    return JSONResponse(
        problem_body(status, code, detail),
        status_code=status,
        media_type=PROBLEM,
        headers=headers,
    )


def problem_body(status: int, code: str, detail: str) -> dict[str, Any]:
    """The problem document itself (also one item's result in a batch)."""
    return {
        "type": f"urn:kp-ledger:problem:{code}",
        "title": code.replace(".", " ").replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }


def problem_json(error: LedgerError) -> dict[str, Any]:
    return problem_body(status_of(error), error.code, error.message)


class Problem(BaseModel):
    """RFC 9457 problem details, with the stable error code."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable error code, e.g. parcel.not_live")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Malformed request (code says what)"},
    404: {"model": Problem, "description": "Unknown log, entry, certificate or parcel"},
}


def responses(extra: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: ``extra`` and the errors every route may answer."""
    return {**ERRORS, **extra}


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


_ParcelRefJson = tuple[
    Annotated[str, Field(pattern=LOG_ID)],
    Annotated[int, Field(ge=0, le=2**63 - 1)],
    Annotated[str, Field(pattern=HASH_HEX)],
    Annotated[int, Field(ge=0, le=63)],
]


class ParcelStatesRequest(BaseModel):
    """``POST /v1/parcels/states``: the parcels to answer, as ``[log, seq, hash, out]``."""

    # Strict: a seq of "4" or true is no seq; no field but ``parcels``.
    model_config = ConfigDict(strict=True, extra="forbid")

    # The count is checked against the node's ``max_parcel_states`` (400 request.batch_size),
    # not here: the schema states the default.
    parcels: list[_ParcelRefJson] = Field(
        description="`[log, seq, hex entry hash, out]` each, 1 to `max_parcel_states` (256 by "
        "default) of them; the same parcel may be asked twice",
        json_schema_extra={"minItems": 1, "maxItems": 256},
    )


class ParcelStates(BaseModel):
    parcels: list[ParcelModel | None] = Field(
        description="one per reference asked, in order: the parcel's state as "
        "`GET /v1/parcels/{log}/{seq}/{out}` answers it, or null when this node holds no "
        "parcel of that reference (none at that place, or one made by another entry)"
    )


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


class CharterVersionModel(BaseModel):
    version: int
    hash: str = Field(description="hex hash of the signed charter version")
    document: str = Field(description="base64 canonical signed charter")


class MemberModel(BaseModel):
    name: str
    kind: str
    status: str
    endpoints: list[str]
    log_vkey: str = Field(description="C2SP verifier key of the member's log")
    witness_vkey: str = Field(description="C2SP verifier key of its cosignatures")
    governance_key: str = Field(description="base64 Ed25519 key that signs charter versions")
    adopted_version: int | None = Field(description="the charter version its log adopted")
    behind: bool = Field(description="its log has not adopted the newest version")


class NetworkModel(BaseModel):
    network: str
    genesis: str = Field(description="hex hash of the genesis charter: the network's id")
    participant: str = Field(description="this node's own log")
    charter: CharterVersionModel = Field(description="the version this node's log adopted")
    newest_version: int
    charters: list[CharterVersionModel] = Field(description="every version from the genesis")
    policy: dict[str, Any]
    participants: dict[str, MemberModel]


class DisclosedModel(BaseModel):
    salt: str = Field(description="base64 salt of the commitment")
    value: Any = Field(description="the sealed value")


class DisclosuresModel(BaseModel):
    entry_hash: str
    member: str = Field(description="the key id the request was signed with")
    fields: dict[str, DisclosedModel] = Field(description="the sealed fields the policy gives")
    refused: dict[str, str] = Field(
        description="each sealed field it refuses, with the refusal's code (decision 0040)"
    )


class AccessRecordModel(BaseModel):
    n: int = Field(description="its number among the reads of this log's disclosures, from 1")
    time: int = Field(description="when the node answered the read (ms)")
    key_id: str = Field(description="who read, as the request's signature verified")
    log: str
    seq: int
    entry_hash: str
    fields: dict[str, str] = Field(
        description="per sealed field: disclosure.allowed, or the refusal's code"
    )
    allowed: bool = Field(description="whether any field was given")


class AccessPageModel(BaseModel):
    log: str = Field(description="the log whose disclosures were read: the signer's own")
    after: int
    next: int = Field(description="the after= of the next page")
    records: list[AccessRecordModel]


class EvidenceModel(BaseModel):
    id: str = Field(description="base64 id: the same lie found twice is one piece of evidence")
    kind: str = Field(description="invalid_entry or fork")
    log: str
    code: str
    detail: str
    material: dict[str, Any] = Field(
        description="the signed notes, entries and proofs; bytes base64"
    )
    time: int = Field(description="when this node found it (ms)")
    quarantined: bool


class Health(BaseModel):
    status: str
    log: str
    size: int
    restoring: bool = Field(
        False, description="its own log is still coming back from peers: records wait"
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ref_json(ref: EntryRef | None) -> list[Any] | None:
    return None if ref is None else [ref.log, ref.seq, ref.hash.hex()]


def json_value(value: Value) -> Any:
    """A decoded canonical value as JSON: bytes become base64."""
    if isinstance(value, bytes):
        return b64(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


def parcel_model(parcel: ParcelState) -> ParcelModel:
    ref = parcel.ref
    return ParcelModel(
        ref=[ref.log, ref.seq, ref.hash.hex(), ref.out],
        parcel=parcel.parcel,
        holder=parcel.holder,
        centicarats=parcel.centicarats,
        hs_code=parcel.hs_code,
        origins=list(parcel.origins),
        live=parcel.live,
        consumed_by=ref_json(parcel.consumed_by),
        transfers=[[t.log, t.seq, t.hash.hex()] for t in parcel.transfers],
    )


def certificate_model(certificate: CertificateState, today: str) -> CertificateModel:
    return CertificateModel(
        ref=ref_json(certificate.ref) or [],
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
        outcome_ref=ref_json(certificate.outcome_ref),
        voided=ref_json(certificate.voided),
        received_on=certificate.received_on,
        recorded_on=certificate.recorded_on,
    )
