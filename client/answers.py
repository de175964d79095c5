"""What a node answers to the SDK's reads, parsed once and strictly where it arrives.

Each read of ``client.sdk.LedgerClient`` returns one of these frozen values, made by its
``from_json`` from the JSON the node sent; node/server/schemas.py holds the server's model of each,
and ``tests/unit/client/test_answers.py`` pins that the fields are the same. Parsing checks the
form: every field present and of its JSON type (an int is not a bool), hashes as 64 hex digits,
base64 that decodes, references as ``[log, seq, hash(, out)]``, an entry's bytes that parse and
hash to the hash given. Anything else raises ``MalformedAnswerError`` (``client.malformed``), so a
node's malformed answer fails at the edge and not later where a field is used.

Whether what a node says is true is its caller's to check, as before: an entry's hash against the
one asked for, a checkpoint against the charter's log key, a disclosure against its commitment.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from client.errors import MalformedAnswerError
from node.core import merkle
from node.core.encoding import Value
from node.core.errors import LedgerError
from node.core.records import Entry, EntryRef, ParcelRef

__all__ = [
    "AccessPage",
    "AccessRecord",
    "CertificateInfo",
    "CharterVersion",
    "Disclosed",
    "DisclosedEntry",
    "EntryInfo",
    "Evidence",
    "Health",
    "LogInfo",
    "Member",
    "NetworkInfo",
    "ParcelInfo",
    "ParcelStates",
]

_T = TypeVar("_T")
_HASH_SIZE = 32


class _Fields:
    """One JSON object of an answer, read field by field; any misfit is ``client.malformed``."""

    def __init__(self, document: object, what: str) -> None:
        if not isinstance(document, dict):
            raise MalformedAnswerError(f"{what}: not a JSON object")
        self.document: dict[str, Any] = document
        self.what = what

    def bad(self, name: str, why: str) -> MalformedAnswerError:
        return MalformedAnswerError(f"{self.what}: {name} {why}")

    def _typed(self, name: str, kind: type[_T]) -> _T:
        value = self.document.get(name)
        # bool is an int to Python, not to JSON: a seq of true is not a seq.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.bad(name, f"is missing or not a {kind.__name__}")
        return value

    def text(self, name: str) -> str:
        return self._typed(name, str)

    def text_or_none(self, name: str) -> str | None:
        return None if self.document.get(name) is None else self.text(name)

    def count(self, name: str) -> int:
        found = self._typed(name, int)
        if found < 0:
            raise self.bad(name, "is negative")
        return found

    def count_or_none(self, name: str) -> int | None:
        return None if self.document.get(name) is None else self.count(name)

    def flag(self, name: str, default: bool | None = None) -> bool:
        if default is not None and name not in self.document:
            return default
        return self._typed(name, bool)

    def texts(self, name: str) -> tuple[str, ...]:
        items = self.items(name)
        if not all(isinstance(item, str) for item in items):
            raise self.bad(name, "is not a list of strings")
        return tuple(items)

    def items(self, name: str) -> list[Any]:
        return self._typed(name, list)

    def mapping(self, name: str) -> dict[str, Any]:
        return self._typed(name, dict)

    def hash(self, name: str) -> bytes:
        return _hex_hash(self.text(name), self.bad, name)

    def base64(self, name: str, *, size: int | None = None) -> bytes:
        return _base64(self.text(name), self.bad, name, size)

    def entry_ref(self, name: str) -> EntryRef:
        ref = self.entry_ref_or_none(name)
        if ref is None:
            raise self.bad(name, "is missing")
        return ref

    def entry_ref_or_none(self, name: str) -> EntryRef | None:
        value = self.document.get(name)
        return None if value is None else _entry_ref(value, self.bad, name)

    def parcel_ref(self, name: str) -> ParcelRef:
        return _parcel_ref(self.document.get(name), self.bad, name)


def _hex_hash(text: str, bad: Any, name: str) -> bytes:
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        raise bad(name, "is not hex") from None
    if len(digest) != _HASH_SIZE or digest.hex() != text.lower():
        raise bad(name, "is not a SHA-256 hash in hex")
    return digest


def _base64(text: str, bad: Any, name: str, size: int | None) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad(name, "is not base64") from None
    if size is not None and len(data) != size:
        raise bad(name, f"is not {size} bytes")
    return data


def _ref_parts(value: object, bad: Any, name: str, length: int) -> list[Any]:
    if (
        not isinstance(value, list)
        or len(value) != length
        or not isinstance(value[0], str)
        or not all(type(v) is int and v >= 0 for v in (value[1], *value[3:]))
        or not isinstance(value[2], str)
    ):
        shape = "[log, seq, hash]" if length == 3 else "[log, seq, hash, out]"
        raise bad(name, f"is not {shape}")
    return [value[0], value[1], _hex_hash(value[2], bad, name), *value[3:]]


def _entry_ref(value: object, bad: Any, name: str) -> EntryRef:
    log, seq, digest = _ref_parts(value, bad, name, 3)
    return EntryRef(log, seq, digest)


def _parcel_ref(value: object, bad: Any, name: str) -> ParcelRef:
    log, seq, digest, out = _ref_parts(value, bad, name, 4)
    return ParcelRef(log, seq, digest, out)


def _no_floats(value: object) -> bool:
    """A JSON value that is a canonical ``Value`` too: no floats anywhere in it."""
    if isinstance(value, float):
        return False
    if isinstance(value, list):
        return all(_no_floats(v) for v in value)
    if isinstance(value, dict):
        return all(_no_floats(v) for v in value.values())
    return True


# --- /healthz, /v1/logs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Health:
    """``GET /healthz``: the node answers, and which log is its own."""

    status: str
    log: str
    size: int
    restoring: bool = False

    @classmethod
    def from_json(cls, document: object) -> Health:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "health")
        return cls(f.text("status"), f.text("log"), f.count("size"), f.flag("restoring", False))


@dataclass(frozen=True, slots=True)
class LogInfo:
    """One item of ``GET /v1/logs``: a log the node holds, its size and root, and its newest
    checkpoint note as text (parsed and verified by whoever relies on it)."""

    log: str
    size: int
    root: bytes
    checkpoint: str | None
    digest: str | None = None

    @classmethod
    def from_json(cls, document: object) -> LogInfo:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "log")
        return cls(
            f.text("log"),
            f.count("size"),
            f.base64("root", size=_HASH_SIZE),
            f.text_or_none("checkpoint"),
            f.text_or_none("digest"),
        )


# --- /v1/entries, /v1/parcels, /v1/certificates ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """``GET /v1/entries/{hash}``: an entry with its place in its log.

    ``entry`` is parsed from ``raw`` (the JSON decoding the node sends beside it is only checked
    to be an object); ``raw`` hashes to ``hash`` and places the entry at ``seq`` of ``log``.
    """

    log: str
    seq: int
    hash: bytes
    entry: Entry
    raw: bytes

    @classmethod
    def from_json(cls, document: object) -> EntryInfo:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "entry")
        log, seq, digest = f.text("log"), f.count("seq"), f.hash("hash")
        f.mapping("entry")
        raw = f.base64("raw")
        if merkle.leaf_hash(raw) != digest:
            raise f.bad("raw", f"does not hash to {digest.hex()}")
        try:
            entry = Entry.parse(raw)
        except LedgerError as exc:
            raise f.bad("raw", f"is no entry: {exc.code}: {exc.message}") from exc
        if (entry.signed.log, entry.seq) != (log, seq):
            raise f.bad("raw", f"is not entry {seq} of {log}")
        return cls(log, seq, digest, entry, raw)


@dataclass(frozen=True, slots=True)
class ParcelInfo:
    """``GET /v1/parcels/{log}/{seq}/{out}``: a parcel's state as the node knows it."""

    ref: ParcelRef
    parcel: str
    holder: str
    centicarats: int
    hs_code: str
    origins: tuple[str, ...]
    live: bool
    consumed_by: EntryRef | None
    transfers: tuple[EntryRef, ...]

    @classmethod
    def from_json(cls, document: object) -> ParcelInfo:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "parcel")
        return cls(
            ref=f.parcel_ref("ref"),
            parcel=f.text("parcel"),
            holder=f.text("holder"),
            centicarats=f.count("centicarats"),
            hs_code=f.text("hs_code"),
            origins=f.texts("origins"),
            live=f.flag("live"),
            consumed_by=f.entry_ref_or_none("consumed_by"),
            transfers=tuple(_entry_ref(t, f.bad, "transfers") for t in f.items("transfers")),
        )


@dataclass(frozen=True, slots=True)
class ParcelStates:
    """``POST /v1/parcels/states``: one state per parcel asked, in order; ``None`` where the
    node holds no parcel of that reference."""

    parcels: tuple[ParcelInfo | None, ...]

    @classmethod
    def from_json(cls, document: object) -> ParcelStates:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "parcel states")
        return cls(
            tuple(None if p is None else ParcelInfo.from_json(p) for p in f.items("parcels"))
        )


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """``GET /v1/certificates/{log}/{number}``: a certificate and its status as the node sees
    it today (usable, confirmed, rejected, voided or expired); a verifier proves it instead."""

    ref: EntryRef
    number: str
    status: str
    exporter: str
    importing: str
    parcels: tuple[ParcelRef, ...]
    centicarats: int
    hs_codes: tuple[str, ...]
    origins: tuple[str, ...]
    issued_on: str
    expires_on: str
    outcome_ref: EntryRef | None
    voided: EntryRef | None
    received_on: str | None
    recorded_on: str | None

    @classmethod
    def from_json(cls, document: object) -> CertificateInfo:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "certificate")
        return cls(
            ref=f.entry_ref("ref"),
            number=f.text("number"),
            status=f.text("status"),
            exporter=f.text("exporter"),
            importing=f.text("importing"),
            parcels=tuple(_parcel_ref(p, f.bad, "parcels") for p in f.items("parcels")),
            centicarats=f.count("centicarats"),
            hs_codes=f.texts("hs_codes"),
            origins=f.texts("origins"),
            issued_on=f.text("issued_on"),
            expires_on=f.text("expires_on"),
            outcome_ref=f.entry_ref_or_none("outcome_ref"),
            voided=f.entry_ref_or_none("voided"),
            received_on=f.text_or_none("received_on"),
            recorded_on=f.text_or_none("recorded_on"),
        )


# --- /v1/network ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CharterVersion:
    """A charter version as ``/v1/network`` lists it: the signed document's bytes, unverified
    (``client.replay.trusted_charters`` checks a chain of them against a trusted genesis)."""

    version: int
    hash: bytes
    document: bytes

    @classmethod
    def from_json(cls, document: object) -> CharterVersion:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "charter version")
        return cls(f.count("version"), f.hash("hash"), f.base64("document"))


@dataclass(frozen=True, slots=True)
class Member:
    """A participant of the adopted charter, as ``/v1/network`` describes it."""

    name: str
    kind: str
    status: str
    endpoints: tuple[str, ...]
    log_vkey: str
    witness_vkey: str
    governance_key: bytes
    adopted_version: int | None
    behind: bool

    @classmethod
    def from_json(cls, document: object) -> Member:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "participant")
        return cls(
            name=f.text("name"),
            kind=f.text("kind"),
            status=f.text("status"),
            endpoints=f.texts("endpoints"),
            log_vkey=f.text("log_vkey"),
            witness_vkey=f.text("witness_vkey"),
            governance_key=f.base64("governance_key"),
            adopted_version=f.count_or_none("adopted_version"),
            behind=f.flag("behind"),
        )


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    """``GET /v1/network``: the node's adopted charter and what it knows of the network.

    Nothing here is verified: it is what one node says. ``genesis`` is the network's id, to be
    compared with the one a verifier trusts.
    """

    network: str
    genesis: bytes
    participant: str
    charter: CharterVersion
    newest_version: int
    charters: tuple[CharterVersion, ...]
    policy: Mapping[str, Any] = field(hash=False)
    participants: Mapping[str, Member] = field(hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", MappingProxyType(dict(self.policy)))
        object.__setattr__(self, "participants", MappingProxyType(dict(self.participants)))

    @classmethod
    def from_json(cls, document: object) -> NetworkInfo:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "network")
        return cls(
            network=f.text("network"),
            genesis=f.hash("genesis"),
            participant=f.text("participant"),
            charter=CharterVersion.from_json(f.document.get("charter")),
            newest_version=f.count("newest_version"),
            charters=tuple(CharterVersion.from_json(c) for c in f.items("charters")),
            policy=f.mapping("policy"),
            participants={
                str(log): Member.from_json(member)
                for log, member in f.mapping("participants").items()
            },
        )


# --- /v1/disclosures, /v1/evidence ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Disclosed:
    """One sealed field opened: the salt and the value its commitment was made of."""

    salt: bytes
    value: Value

    @classmethod
    def from_json(cls, document: object) -> Disclosed:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "disclosed field")
        if "value" not in f.document or not _no_floats(f.document["value"]):
            raise f.bad("value", "is missing or not a canonical value")
        value: Value = f.document["value"]
        return cls(f.base64("salt"), value)


@dataclass(frozen=True, slots=True)
class DisclosedEntry:
    """``GET /v1/disclosures/{hash}``: an entry's sealed values, as disclosed to ``member``
    (check each against the commitment its entry carries: ``node.core.sealing.commit``)."""

    entry_hash: bytes
    member: str
    fields: Mapping[str, Disclosed] = field(hash=False)
    refused: Mapping[str, str] = field(hash=False, default_factory=dict)
    """Each sealed field the node's policy did not give ``member``, with the refusal's code
    (``disclosure.not_entitled``, …; decision 0040)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        object.__setattr__(self, "refused", MappingProxyType(dict(self.refused)))

    @classmethod
    def from_json(cls, document: object) -> DisclosedEntry:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "disclosures")
        return cls(
            entry_hash=f.hash("entry_hash"),
            member=f.text("member"),
            fields={str(k): Disclosed.from_json(v) for k, v in f.mapping("fields").items()},
            refused=_codes(f, "refused"),
        )


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One read of an entry's disclosures, as the node recorded it (``GET
    /v1/disclosures/access``): who read (``key_id``), when (the node's clock, ms), which
    entry, and per sealed field ``disclosure.allowed`` or the code it was refused with."""

    n: int
    time: int
    key_id: str
    log: str
    seq: int
    entry_hash: bytes
    fields: Mapping[str, str] = field(hash=False)
    allowed: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    @classmethod
    def from_json(cls, document: object) -> AccessRecord:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "access record")
        return cls(
            n=f.count("n"),
            time=f.count("time"),
            key_id=f.text("key_id"),
            log=f.text("log"),
            seq=f.count("seq"),
            entry_hash=f.hash("entry_hash"),
            fields=_codes(f, "fields"),
            allowed=f.flag("allowed"),
        )


@dataclass(frozen=True, slots=True)
class AccessPage:
    """A page of ``GET /v1/disclosures/access``: the reads of ``log``'s disclosures numbered
    above ``after``; ask again with ``after=next`` for more."""

    log: str
    after: int
    next: int
    records: tuple[AccessRecord, ...]

    @classmethod
    def from_json(cls, document: object) -> AccessPage:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "access page")
        return cls(
            log=f.text("log"),
            after=f.count("after"),
            next=f.count("next"),
            records=tuple(AccessRecord.from_json(r) for r in f.items("records")),
        )


def _codes(f: _Fields, name: str) -> dict[str, str]:
    found = f.mapping(name)
    if not all(isinstance(code, str) for code in found.values()):
        raise f.bad(name, "is not a map of codes")
    return {str(k): str(v) for k, v in found.items()}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One item of ``GET /v1/evidence``: what a node holds against a log (a fork, an invalid
    entry), with the signed material as JSON (bytes in base64)."""

    id: bytes
    kind: str
    log: str
    code: str
    detail: str
    material: Mapping[str, Any] = field(hash=False)
    time: int
    quarantined: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "material", MappingProxyType(dict(self.material)))

    @classmethod
    def from_json(cls, document: object) -> Evidence:
        """Raises: MalformedAnswerError."""
        f = _Fields(document, "evidence")
        return cls(
            id=f.base64("id"),
            kind=f.text("kind"),
            log=f.text("log"),
            code=f.text("code"),
            detail=f.text("detail"),
            material=f.mapping("material"),
            time=f.count("time"),
            quarantined=f.flag("quarantined"),
        )
