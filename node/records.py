"""Signed records and log entries (DESIGN §5): their shapes, the bytes that are signed and hashed.

A *record* is what an operator signs::

    {v: 1, type, log, time, body: {...}, sealed: {field: commitment}}

a *signed record* wraps it with signatures over ``RECORD_DOMAIN + canonical(record)``::

    {record, sigs: [{by: <operator id | "@log">, sig: <64 bytes>}]}

and an *entry* is what a log appends, its canonical bytes being the RFC 6962 leaf data::

    {seq, prev: <leaf hash of entry seq-1, or the genesis charter hash>, time, signed}

Objects here exist only after strict parsing: a ``SignedRecord`` or ``Entry`` in hand decoded
canonically and has the right shape. What each record type's body must say, and who may sign it,
is for the rules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node import merkle
from node.encoding import Value, decode, encode, encode_map
from node.errors import RecordError

__all__ = [
    "LOG_SIGNER",
    "MAX_ENTRY_SIZE",
    "MAX_SIGNATURES",
    "RECORD_DOMAIN",
    "Entry",
    "Signature",
    "SignedRecord",
    "sign_record",
    "signing_payload",
]

RECORD_DOMAIN = b"kp-ledger/record/v1\n"
MAX_ENTRY_SIZE = 64 * 1024  # DESIGN §4: an entry is at most 64 KiB encoded
MAX_SIGNATURES = 8  # the most any record type needs is a few co-signers
LOG_SIGNER = "@log"  # a signature by the participant's log key
SIGNATURE_SIZE = 64
HASH_SIZE = 32

_PARTICIPANT = re.compile(r"[A-Z]{2,8}")
_OPERATOR = re.compile(r"[A-Za-z0-9._-]{1,64}")
_RECORD_TYPE = re.compile(r"[a-z]{1,16}\.[a-z]{1,16}")
_MAX_INSTANT = 2**63 - 1
_RECORD_FIELDS = frozenset({"v", "type", "log", "time", "body", "sealed"})


def signing_payload(record: Mapping[str, Any]) -> bytes:
    """The bytes every record signature covers: the domain tag and the canonical record."""
    return RECORD_DOMAIN + encode(dict(record))


@dataclass(frozen=True, slots=True)
class Signature:
    by: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class SignedRecord:
    """A record with its signatures, exactly as it will stand in an entry.

    Build one with ``parse`` (bytes from outside) or ``sign_record``. ``raw`` is the canonical
    encoding of ``{record, sigs}`` and ``record_bytes`` the canonical record inside it.
    """

    record: Mapping[str, Value]
    sigs: tuple[Signature, ...]
    raw: bytes
    record_bytes: bytes
    record_hash: bytes
    """SHA-256 of the signing payload: the record's identity, whoever signed it.

    The log answers a resubmission of the same record with the original receipt, so a replayed
    record never becomes a second entry, even with a different set of signatures."""

    @property
    def log(self) -> str:
        return str(self.record["log"])

    @property
    def type(self) -> str:
        return str(self.record["type"])

    @property
    def payload(self) -> bytes:
        """What each signature signs (``signing_payload`` of the record)."""
        return RECORD_DOMAIN + self.record_bytes

    def to_value(self) -> dict[str, Value]:
        return {
            "record": dict(self.record),
            "sigs": [{"by": s.by, "sig": s.sig} for s in self.sigs],
        }

    @classmethod
    def parse(cls, data: bytes) -> SignedRecord:
        """Strictly decode and shape-check a signed record.

        Raises:
            EncodingError: the bytes are not canonical msgpack of at most ``MAX_ENTRY_SIZE``.
            RecordError: the value does not have the shape of DESIGN §5.
        """
        return cls.from_value(decode(data, max_size=MAX_ENTRY_SIZE), raw=bytes(data))

    @classmethod
    def from_value(cls, value: Value, *, raw: bytes | None = None) -> SignedRecord:
        """Shape-check an already decoded signed record (see ``parse``).

        Args:
            value: the decoded signed record.
            raw: its canonical encoding, when the caller has it (it then is not re-encoded).
        """
        outer = _map(value, "signed record", {"record", "sigs"})
        record = _map(outer["record"], "record", _RECORD_FIELDS)
        if record["v"] != 1 or isinstance(record["v"], bool):
            raise RecordError(f"unsupported record version {record['v']!r}", code="record.version")
        _match(record["type"], _RECORD_TYPE, "record type")
        _match(record["log"], _PARTICIPANT, "log")
        _instant(record["time"], "record time")
        if not isinstance(record["body"], dict):
            raise RecordError("record body must be a map", code="record.malformed")
        sealed = record["sealed"]
        if not isinstance(sealed, dict) or not all(
            isinstance(c, bytes) and len(c) == HASH_SIZE for c in sealed.values()
        ):
            raise RecordError(
                "sealed must map field names to 32-byte commitments", code="record.malformed"
            )
        sigs = outer["sigs"]
        if not isinstance(sigs, list) or not 1 <= len(sigs) <= MAX_SIGNATURES:
            raise RecordError(
                f"a signed record carries 1 to {MAX_SIGNATURES} signatures",
                code="signature.missing",
            )
        parsed: list[Signature] = []
        for item in sigs:
            sig = _map(item, "signature", {"by", "sig"})
            by = sig["by"]
            if by != LOG_SIGNER:
                _match(by, _OPERATOR, "signer")
            if not isinstance(sig["sig"], bytes) or len(sig["sig"]) != SIGNATURE_SIZE:
                raise RecordError("a signature is 64 bytes", code="signature.malformed")
            parsed.append(Signature(str(by), sig["sig"]))
        if len({s.by for s in parsed}) != len(parsed):
            raise RecordError("a signer signs a record once", code="signature.duplicate")
        # The canonical {record, sigs} is the map header, "record", the record, "sigs", the
        # signatures: the record's bytes are what lies between, and need no second encoding.
        tail = _SIGS_KEY + encode(sigs)
        if raw is None:
            record_bytes = encode(record)
            raw = _RECORD_HEAD + record_bytes + tail
        else:
            record_bytes = raw[len(_RECORD_HEAD) : len(raw) - len(tail)]
            if not (raw.startswith(_RECORD_HEAD) and raw.endswith(tail)):
                raise RecordError("signed record is not in canonical form", code="record.malformed")
        return cls(
            record=record,
            sigs=tuple(parsed),
            raw=raw,
            record_bytes=record_bytes,
            record_hash=hashlib.sha256(RECORD_DOMAIN + record_bytes).digest(),
        )


_RECORD_HEAD = encode_map({"record": b"", "sigs": b""}).removesuffix(encode("sigs"))
_SIGS_KEY = encode("sigs")


def sign_record(
    record: Mapping[str, Value], signers: Sequence[tuple[str, Ed25519PrivateKey]]
) -> SignedRecord:
    """Sign ``record`` with each ``(signer id, key)`` and return the checked result.

    Raises:
        RecordError: the record or the signer ids are malformed.
    """
    payload = signing_payload(record)
    value: dict[str, Value] = {
        "record": dict(record),
        "sigs": [{"by": by, "sig": key.sign(payload)} for by, key in signers],
    }
    return SignedRecord.from_value(value)


@dataclass(frozen=True, slots=True)
class Entry:
    """One leaf of a log: the signed record, placed and chained by the node that appended it."""

    seq: int
    prev: bytes
    time: int
    signed: SignedRecord

    def encode(self) -> bytes:
        """The canonical bytes: the RFC 6962 leaf data, whose leaf hash is the entry hash."""
        return encode_map(
            {
                "prev": encode(self.prev),
                "seq": encode(self.seq),
                "signed": self.signed.raw,
                "time": encode(self.time),
            }
        )

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.encode())

    @classmethod
    def parse(cls, data: bytes) -> Entry:
        """Strictly decode an entry.

        Raises:
            EncodingError: the bytes are not canonical msgpack of at most ``MAX_ENTRY_SIZE``.
            RecordError: the value does not have the shape of DESIGN §5.
        """
        value = _map(
            decode(data, max_size=MAX_ENTRY_SIZE), "entry", {"seq", "prev", "time", "signed"}
        )
        seq, prev = value["seq"], value["prev"]
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= _MAX_INSTANT:
            raise RecordError(f"bad entry seq {seq!r}", code="entry.malformed")
        if not isinstance(prev, bytes) or len(prev) != HASH_SIZE:
            raise RecordError("entry prev must be a 32-byte hash", code="entry.malformed")
        return cls(
            seq=seq,
            prev=prev,
            time=_instant(value["time"], "entry time"),
            signed=SignedRecord.from_value(value["signed"]),
        )


def _map(value: Value, what: str, fields: frozenset[str] | set[str]) -> dict[str, Value]:
    if not isinstance(value, dict):
        raise RecordError(f"{what} must be a map", code="record.malformed")
    if value.keys() != fields:
        missing = sorted(fields - value.keys())
        unknown = sorted(value.keys() - fields)
        raise RecordError(
            f"{what}: missing fields {missing}, unknown fields {unknown}", code="record.malformed"
        )
    return value


def _match(value: Value, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RecordError(f"malformed {what} {value!r}", code="record.malformed")
    return value


def _instant(value: Value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_INSTANT:
        raise RecordError(f"{what} must be milliseconds since the epoch", code="record.malformed")
    return value
