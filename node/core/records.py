"""Signed records and log entries (DESIGN §5): their shapes, the bytes that are signed and hashed.

A *record* is what an operator signs::

    {v: 1, type, log, time, body: {...}, sealed: {field: commitment}}

a *signed record* wraps it with signatures over ``RECORD_DOMAIN + canonical(record)``::

    {record, sigs: [{by: <operator id | "@log">, sig: <64 bytes>}]}

and an *entry* is what a log appends, its canonical bytes being the RFC 6962 leaf data::

    {seq, prev: <leaf hash of entry seq-1, or the genesis charter hash>, time, signed}

Objects here exist only after strict parsing: a ``SignedRecord`` or ``Entry`` in hand decoded
canonically, has the right shape, a known type and a body of that type's form (DESIGN §6), and
seals exactly the fields its type seals. Whether the ledger allows it (who signed, what it
consumes, mass and origins) is for the rules.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import merkle
from node.core.encoding import Value, decode, encode, encode_map
from node.core.errors import RecordError

__all__ = [
    "CERTIFICATE_NUMBER",
    "CERTIFICATE_NUMBER_GRAMMAR",
    "HS_CODES",
    "LOG_SIGNER",
    "MAX_CENTICARATS",
    "MAX_ENTRY_SIZE",
    "MAX_REFS",
    "MAX_SIGNATURES",
    "OPERATOR_KINDS",
    "OPTIONAL_SEALED_FIELDS",
    "RECORD_DOMAIN",
    "RECORD_TYPES",
    "ROLES",
    "SEALED_FIELDS",
    "TRANSFORM_KINDS",
    "Body",
    "CertificateConfirm",
    "CertificateIssue",
    "CertificateNumber",
    "CertificateReject",
    "CertificateVoid",
    "CharterAdopt",
    "Entry",
    "EntryRef",
    "OperatorRegister",
    "OperatorRevoke",
    "ParcelOutput",
    "ParcelProduce",
    "ParcelRef",
    "ParcelTransfer",
    "ParcelTransform",
    "Signature",
    "SignedRecord",
    "certificate_number_key",
    "parse_body",
    "parse_certificate_number",
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
    body: Body
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
        record_type = _match(record["type"], _RECORD_TYPE, "record type")
        _match(record["log"], _PARTICIPANT, "log")
        _instant(record["time"], "record time")
        body = parse_body(record_type, record["body"])
        sealed = record["sealed"]
        if not isinstance(sealed, dict) or not all(
            isinstance(c, bytes) and len(c) == HASH_SIZE for c in sealed.values()
        ):
            raise RecordError(
                "sealed must map field names to 32-byte commitments", code="record.malformed"
            )
        required = SEALED_FIELDS.get(record_type, frozenset())
        optional = OPTIONAL_SEALED_FIELDS.get(record_type, frozenset())
        if not required <= sealed.keys() <= required | optional:
            may = f" and may seal {sorted(optional)}" if optional else ""
            raise RecordError(
                f"{record_type} seals exactly {sorted(required)}{may}",
                code="record.sealed_fields",
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
            body=body,
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
    # The record is encoded once: the payload signed and the signed record's bytes share it.
    record_bytes = encode(dict(record))
    payload = RECORD_DOMAIN + record_bytes
    sigs: list[Value] = [{"by": by, "sig": key.sign(payload)} for by, key in signers]
    value: dict[str, Value] = {"record": dict(record), "sigs": sigs}
    return SignedRecord.from_value(
        value, raw=_RECORD_HEAD + record_bytes + _SIGS_KEY + encode(sigs)
    )


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
        time = _instant(value["time"], "entry time")
        # ``data`` is canonical, so the signed record's bytes are what lies between the fields
        # before it and the field after it (``Entry.encode`` in reverse): no second encoding.
        head = encode_map({"prev": encode(prev), "seq": encode(seq), "signed": b"", "time": b""})
        head = head.removesuffix(encode("time"))
        tail = encode("time") + encode(time)
        signed_raw = bytes(data[len(head) : len(data) - len(tail)])
        return cls(
            seq=seq,
            prev=prev,
            time=time,
            signed=SignedRecord.from_value(value["signed"], raw=signed_raw),
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


# --- record bodies (DESIGN §6) ------------------------------------------------------------------
#
# Each record type has a frozen body type. ``parse_body`` checks the body map field by field:
# exactly the declared fields, each of the declared form. What a body must agree with in the
# ledger (holders, mass balance, origins, addressing) is for the rules.

HS_CODES = frozenset({"7102.10", "7102.21", "7102.31"})  # unsorted, industrial, gem-quality
OPERATOR_KINDS = frozenset({"authority", "mine", "trader", "manufacturer"})
TRANSFORM_KINDS = frozenset({"split", "merge", "sort"})
ROLES = frozenset(
    {
        "parcel.produce",
        "parcel.transform",
        "parcel.transfer",
        "certificate.issue",
        "certificate.confirm",
        "certificate.reject",
        "certificate.void",
    }
)
"""An operator's roles are the record types it may sign."""

MAX_CENTICARATS = 10**12  # ten billion carats: more than the world mines in a century
MAX_REFS = 64  # parcels in one transform or certificate, outputs of one entry

_COUNTRY = re.compile(r"[A-Z]{2}")
_PARCEL_ID = re.compile(r"[A-Za-z0-9._/-]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- certificate numbers ---------------------------------------------------------------------
#
# One grammar for every reader and writer (decision 0025). A number is its issuer's participant
# id, then a serial of letters and digits in groups. The record body holds it as printed on the
# certificate (upper case, groups joined by single '-' or '/'); a person typing it may use any
# case and spaces. Case and separators carry no meaning: the ledger indexes a number under its
# key, the issuer, '-', and the serial with every separator removed, so two numbers a person
# reads alike are one number and cannot both be issued.

CERTIFICATE_NUMBER_GRAMMAR = (
    "a certificate number is its issuer's participant id (2 to 8 letters) followed by a serial "
    "of up to 40 letters and digits, in groups that '-', '/' or spaces may separate, e.g. "
    "BW-2026-0005, BW/2026/0005 or BW0001234; case and separators do not matter"
)
CERTIFICATE_NUMBER = re.compile(
    r"(?P<issuer>[A-Z]{2,8})(?:[-/]|(?=[0-9]))(?P<serial>[A-Z0-9]+(?:[-/][A-Z0-9]+)*)"
)
"""A number as a ``certificate.issue`` body writes it: upper case, single '-' or '/' between
groups. The issuer is the whole leading run of letters, so a serial that starts with a letter
needs a separator (``BW-A001``); ``BWA001`` is a number of participant BWA."""

_TYPED_NUMBER = re.compile(
    r"(?P<issuer>[A-Za-z]{2,8})(?:[-/\s]+|(?=[0-9]))"
    r"(?P<serial>[A-Za-z0-9]+(?:[-/\s]+[A-Za-z0-9]+)*)"
)
_NUMBER_SEPARATORS = re.compile(r"[-/\s]+")
_MAX_SERIAL = 40  # characters of the serial, separators included as written
_MAX_TYPED_NUMBER = 128  # what a lookup reads before it gives up on a number


@dataclass(frozen=True, slots=True)
class CertificateNumber:
    """A certificate number, parsed: its issuer, how to show it and the key it is indexed by.

    Attributes:
        issuer: the participant whose log issues it, e.g. ``BW``.
        text: the number as given, in upper case, white space trimmed and each run of it one
            space (``bw 2026  0005`` shows as ``BW 2026 0005``).
        key: the form the ledger indexes: issuer, ``-``, the serial without separators
            (``BW-20260005``). Two numbers are the same number when their keys are equal.
    """

    issuer: str
    text: str
    key: str


def parse_certificate_number(text: str) -> CertificateNumber:
    """Parse a certificate number as a person types it (any case, '-', '/' or spaces).

    Raises:
        RecordError: ``certificate.number_invalid``, naming the grammar, when ``text`` is
            not a certificate number.
    """
    # White space of any script separates; other characters must be ASCII before upper-casing,
    # which would otherwise turn some letters into others (``"ﬀ".upper() == "FF"``).
    shown = " ".join(text.split()) if len(text) <= _MAX_TYPED_NUMBER else ""
    found = _TYPED_NUMBER.fullmatch(shown.upper()) if shown.isascii() else None
    shown = shown.upper()
    if found is None:
        raise RecordError(
            f"{text[:_MAX_TYPED_NUMBER]!r} is not a certificate number: "
            f"{CERTIFICATE_NUMBER_GRAMMAR}",
            code="certificate.number_invalid",
        )
    serial = _NUMBER_SEPARATORS.sub("", found["serial"])
    if len(serial) > _MAX_SERIAL:
        raise RecordError(
            f"the serial of {shown!r} is longer than {_MAX_SERIAL} characters: "
            f"{CERTIFICATE_NUMBER_GRAMMAR}",
            code="certificate.number_invalid",
        )
    return CertificateNumber(issuer=found["issuer"], text=shown, key=f"{found['issuer']}-{serial}")


def certificate_number_key(text: str) -> str:
    """The key a certificate number is indexed under: equal for any two ways of writing it.

    Raises:
        RecordError: ``certificate.number_invalid`` when ``text`` is not a certificate number.
    """
    return parse_certificate_number(text).key


def _certificate_number(value: Value, what: str) -> str:
    found = CERTIFICATE_NUMBER.fullmatch(value) if isinstance(value, str) else None
    if found is None or len(found["serial"]) > _MAX_SERIAL:
        raise RecordError(
            f"malformed {what} {value!r}: {CERTIFICATE_NUMBER_GRAMMAR}, written in upper case "
            "with single '-' or '/' between groups",
            code="record.malformed",
        )
    return found.string


@dataclass(frozen=True, slots=True, order=True)
class EntryRef:
    """``[log, seq, leaf_hash]``: a pointer to an entry that also pins its content."""

    log: str
    seq: int
    hash: bytes

    def to_value(self) -> list[Value]:
        return [self.log, self.seq, self.hash]


@dataclass(frozen=True, slots=True, order=True)
class ParcelRef:
    """``[log, seq, leaf_hash, out]``: output ``out`` of the entry that created the parcel."""

    log: str
    seq: int
    hash: bytes
    out: int

    @property
    def entry(self) -> EntryRef:
        return EntryRef(self.log, self.seq, self.hash)

    def to_value(self) -> list[Value]:
        return [self.log, self.seq, self.hash, self.out]


@dataclass(frozen=True, slots=True)
class ParcelOutput:
    """A parcel an entry creates: its human id, mass and HS code."""

    parcel: str
    centicarats: int
    hs_code: str

    def to_value(self) -> dict[str, Value]:
        return {"parcel": self.parcel, "centicarats": self.centicarats, "hs_code": self.hs_code}


@dataclass(frozen=True, slots=True)
class CharterAdopt:
    version: int
    charter: bytes


@dataclass(frozen=True, slots=True)
class OperatorRegister:
    operator: str
    kind: str
    licence: str
    public_key: bytes
    roles: tuple[str, ...]
    valid_until: str


@dataclass(frozen=True, slots=True)
class OperatorRevoke:
    operator: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParcelProduce:
    parcel: str
    mine: str
    produced_on: str
    centicarats: int
    hs_code: str
    holder: str


@dataclass(frozen=True, slots=True)
class ParcelTransform:
    inputs: tuple[ParcelRef, ...]
    outputs: tuple[ParcelOutput, ...]
    kind: str


@dataclass(frozen=True, slots=True)
class ParcelTransfer:
    parcel: ParcelRef
    to: str
    warranty: bool


@dataclass(frozen=True, slots=True)
class CertificateIssue:
    number: str
    exporter: str
    importing: str
    parcels: tuple[ParcelRef, ...]
    parcel_count: int
    centicarats: int
    hs_codes: tuple[str, ...]
    origins: tuple[str, ...]
    issued_on: str
    expires_on: str


@dataclass(frozen=True, slots=True)
class CertificateConfirm:
    certificate: EntryRef
    received_on: str
    centicarats_received: int
    seal_intact: bool
    parcels: tuple[ParcelOutput, ...]
    holder: str


@dataclass(frozen=True, slots=True)
class CertificateReject:
    certificate: EntryRef
    reason: str


@dataclass(frozen=True, slots=True)
class CertificateVoid:
    """Voids an issued certificate and releases its parcels to the exporter as new parcels.

    ``evidence`` makes the decision replayable by every node: either the importer's
    ``certificate.reject`` of this certificate, or any entry of the importer's log stamped after
    ``expires_on`` + ``void_grace_days`` (that log holds no confirmation up to it; see
    docs/decisions/0009-certificate-void.md).
    """

    certificate: EntryRef
    reason: str
    evidence: EntryRef


Body = (
    CharterAdopt
    | OperatorRegister
    | OperatorRevoke
    | ParcelProduce
    | ParcelTransform
    | ParcelTransfer
    | CertificateIssue
    | CertificateConfirm
    | CertificateReject
    | CertificateVoid
)


def _date(value: Value, what: str) -> str:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            datetime.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise RecordError(f"{what} must be a YYYY-MM-DD date, not {value!r}", code="record.malformed")


def _int(low: int, high: int) -> Callable[[Value, str], int]:
    def parse(value: Value, what: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise RecordError(
                f"{what} must be an integer in {low}..{high}", code="record.malformed"
            )
        return value

    return parse


def _bool(value: Value, what: str) -> bool:
    if not isinstance(value, bool):
        raise RecordError(f"{what} must be true or false", code="record.malformed")
    return value


def _text(max_length: int) -> Callable[[Value, str], str]:
    def parse(value: Value, what: str) -> str:
        if (
            not isinstance(value, str)
            or not 1 <= len(value) <= max_length
            or not value.isprintable()
        ):
            raise RecordError(
                f"{what} must be 1 to {max_length} printable characters", code="record.malformed"
            )
        return value

    return parse


def _pattern(pattern: re.Pattern[str]) -> Callable[[Value, str], str]:
    def parse(value: Value, what: str) -> str:
        return _match(value, pattern, what)

    return parse


def _one_of(allowed: frozenset[str]) -> Callable[[Value, str], str]:
    def parse(value: Value, what: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise RecordError(f"{what} must be one of {sorted(allowed)}", code="record.malformed")
        return value

    return parse


def _hash(value: Value, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise RecordError(f"{what} must be a 32-byte hash", code="record.malformed")
    return value


def _public_key(value: Value, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise RecordError(f"{what} must be a 32-byte Ed25519 key", code="record.malformed")
    return value


_seq = _int(0, _MAX_INSTANT)


def _entry_ref(value: Value, what: str) -> EntryRef:
    if not isinstance(value, list) or len(value) != 3:
        raise RecordError(f"{what} must be [log, seq, hash]", code="record.malformed")
    log, seq, digest = value
    return EntryRef(_match(log, _PARTICIPANT, what), _seq(seq, what), _hash(digest, what))


def _parcel_ref(value: Value, what: str) -> ParcelRef:
    if not isinstance(value, list) or len(value) != 4:
        raise RecordError(f"{what} must be [log, seq, hash, out]", code="record.malformed")
    log, seq, digest, out = value
    return ParcelRef(
        _match(log, _PARTICIPANT, what),
        _seq(seq, what),
        _hash(digest, what),
        _int(0, MAX_REFS - 1)(out, what),
    )


def _parcel_output(value: Value, what: str) -> ParcelOutput:
    fields = _map(value, what, {"parcel", "centicarats", "hs_code"})
    return ParcelOutput(
        _match(fields["parcel"], _PARCEL_ID, f"{what} parcel"),
        _centicarats(fields["centicarats"], f"{what} centicarats"),
        _one_of(HS_CODES)(fields["hs_code"], f"{what} hs_code"),
    )


def _list_of(
    item: Callable[[Value, str], Any], *, sorted_unique: bool = False
) -> Callable[[Value, str], tuple[Any, ...]]:
    def parse(value: Value, what: str) -> tuple[Any, ...]:
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_REFS:
            raise RecordError(f"{what} must list 1 to {MAX_REFS} items", code="record.malformed")
        items = tuple(item(v, what) for v in value)
        if sorted_unique and list(items) != sorted(set(items)):
            # One spelling per set: sorted, without repeats, so equal sets have equal bytes.
            raise RecordError(f"{what} must be sorted and without repeats", code="record.malformed")
        return items

    return parse


_centicarats = _int(1, MAX_CENTICARATS)
_operator = _pattern(_OPERATOR)
_reason = _text(500)

_BODIES: dict[str, tuple[type[Any], dict[str, Callable[[Value, str], Any]]]] = {
    "charter.adopt": (CharterAdopt, {"version": _int(1, 2**32), "charter": _hash}),
    "operator.register": (
        OperatorRegister,
        {
            "operator": _operator,
            "kind": _one_of(OPERATOR_KINDS),
            "licence": _text(64),
            "public_key": _public_key,
            "roles": _list_of(_one_of(ROLES), sorted_unique=True),
            "valid_until": _date,
        },
    ),
    "operator.revoke": (OperatorRevoke, {"operator": _operator, "reason": _reason}),
    "parcel.produce": (
        ParcelProduce,
        {
            "parcel": _pattern(_PARCEL_ID),
            "mine": _operator,
            "produced_on": _date,
            "centicarats": _centicarats,
            "hs_code": _one_of(HS_CODES),
            "holder": _operator,
        },
    ),
    "parcel.transform": (
        ParcelTransform,
        {
            "inputs": _list_of(_parcel_ref),
            "outputs": _list_of(_parcel_output),
            "kind": _one_of(TRANSFORM_KINDS),
        },
    ),
    "parcel.transfer": (
        ParcelTransfer,
        {"parcel": _parcel_ref, "to": _operator, "warranty": _bool},
    ),
    "certificate.issue": (
        CertificateIssue,
        {
            "number": _certificate_number,
            "exporter": _operator,
            "importing": _pattern(_PARTICIPANT),
            "parcels": _list_of(_parcel_ref),
            "parcel_count": _int(1, MAX_REFS),
            "centicarats": _centicarats,
            "hs_codes": _list_of(_one_of(HS_CODES), sorted_unique=True),
            "origins": _list_of(_pattern(_COUNTRY), sorted_unique=True),
            "issued_on": _date,
            "expires_on": _date,
        },
    ),
    "certificate.confirm": (
        CertificateConfirm,
        {
            "certificate": _entry_ref,
            "received_on": _date,
            "centicarats_received": _centicarats,
            "seal_intact": _bool,
            "parcels": _list_of(_parcel_output),
            "holder": _operator,
        },
    ),
    "certificate.reject": (CertificateReject, {"certificate": _entry_ref, "reason": _reason}),
    "certificate.void": (
        CertificateVoid,
        {"certificate": _entry_ref, "reason": _reason, "evidence": _entry_ref},
    ),
}

RECORD_TYPES = frozenset(_BODIES)

SEALED_FIELDS: dict[str, frozenset[str]] = {
    "parcel.transfer": frozenset({"invoice"}),
    "certificate.issue": frozenset(
        {"value_usd_cents", "exporter_name", "importer_name", "seal_number"}
    ),
}
"""The commercial fields each record type carries sealed (DESIGN §5); other types seal none."""

OPTIONAL_SEALED_FIELDS: dict[str, frozenset[str]] = {
    # A mine's or an authority's declared value of its production (Annex III reports production
    # in carats and US dollars; decision 0045). Optional, so every record made before stays valid.
    "parcel.produce": frozenset({"value_usd_cents"}),
}
"""Sealed fields a record type may carry besides ``SEALED_FIELDS``."""


def parse_body(record_type: str, body: Value) -> Body:
    """Parse a record body strictly by its type.

    Raises:
        RecordError: unknown type (``record.unknown_type``), or a field missing, unknown, of
            the wrong type or out of range (``record.malformed``).
    """
    if record_type not in _BODIES:
        raise RecordError(f"unknown record type {record_type!r}", code="record.unknown_type")
    cls, spec = _BODIES[record_type]
    fields = _map(body, f"{record_type} body", set(spec))
    parsed: Body = cls(**{name: parse(fields[name], name) for name, parse in spec.items()})
    return parsed
