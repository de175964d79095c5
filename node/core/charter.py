"""The charter: the network's threshold-signed trust root (DESIGN §3), after TUF root metadata.

A charter version is the canonical msgpack (DESIGN §4) of::

    {v: 1, network, version, previous (hash of the previous version or nil),
     participants: {id: {name, kind: participant|observer, status: active|suspended,
                         log_key, witness_key, governance_key, endpoints: [url],
                         disclosure_key (optional)}},
     policy: {charter_threshold, witness_quorum, mass_tolerance_ppm, max_certificate_days,
              void_grace_days}}

and a *signed* charter is ``{charter, signatures: [{participant, sig}]}``, each signature an
Ed25519 signature by the participant's governance key over ``CHARTER_DOMAIN + canonical(charter)``.

- A version's identity is ``SHA-256(CHARTER_DOMAIN + canonical(charter))``; the genesis version's
  identity is the network id every verifier is configured with.
- Version 1 is valid when every member it lists has signed it.
- Version N+1 is valid when ``charter_threshold`` governors of version N *and*
  ``charter_threshold`` governors of version N+1 have signed it, each with the governance key
  that version lists for them (the TUF root rotation rule, TUF specification §5.3.4).

Objects here exist only after validation: a ``Participant``, ``Policy``, ``Charter`` or
``SignedCharter`` in hand is well-formed, because each constructor checks itself and
``from_value``/``parse`` only add the shape checks of untrusted input. Signatures are judged by the
``check_*`` / ``verify_*`` pairs, never by the constructors. Everything is a pure function of bytes
and values except the participant key file reader at the bottom (``load_participant_key_files``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from node.core import crypto
from node.core.encoding import Value, decode, encode, encode_map
from node.core.errors import CharterError, KeyFormatError, PendingError

__all__ = [
    "CHARTER_DOMAIN",
    "KINDS",
    "MAX_CHARTER_SIZE",
    "MAX_KEY_FILE_SIZE",
    "MAX_PARTICIPANTS",
    "MAX_SIGNATURES",
    "MAX_SIGNATURES_PER_PARTICIPANT",
    "STATUSES",
    "Charter",
    "CharterCheck",
    "CharterSignature",
    "Participant",
    "Policy",
    "SignedCharter",
    "chain_to",
    "check_genesis",
    "check_successor",
    "load_participant_key_files",
    "longest_chain",
    "make_genesis",
    "make_successor",
    "parse_participant_key_file",
    "participant_key_file",
    "sign_charter",
    "verify_chain",
    "verify_genesis",
    "verify_successor",
    "with_status",
]

CHARTER_DOMAIN = b"kp-ledger/charter/v1\n"
MAX_CHARTER_SIZE = 64 * 1024  # a signed charter, encoded
MAX_PARTICIPANTS = 300
# A participant rotating its governance key signs once with the old key and once with the new.
MAX_SIGNATURES_PER_PARTICIPANT = 2
MAX_SIGNATURES = MAX_PARTICIPANTS * MAX_SIGNATURES_PER_PARTICIPANT
MAX_KEY_FILE_SIZE = 16 * 1024  # a participant key file is well under 2 KiB

KINDS = ("participant", "observer")
STATUSES = ("active", "suspended")

_FORMAT_VERSION = 1
_HASH_SIZE = 32
_MAX_VERSION = 2**63 - 1
_MAX_NAME = 200
_MAX_ENDPOINTS = 8
_MAX_ENDPOINT = 200
_MAX_TOLERANCE_PPM = 100_000
_MAX_DAYS = 3650

# DESIGN §2: participants are ISO 3166-1 alpha-2 codes (or EU), observers up to eight letters.
# One pattern serves both; kind, not the id's length, decides what a member may do.
_MEMBER_ID = re.compile(r"[A-Z]{2,8}")
_NETWORK = re.compile(r"[a-z0-9.-]{1,64}")

_CHARTER_FIELDS = frozenset({"v", "network", "version", "previous", "participants", "policy"})
_PARTICIPANT_FIELDS = frozenset(
    {"name", "kind", "status", "log_key", "witness_key", "governance_key", "endpoints"}
)
_POLICY_FIELDS = frozenset(
    {
        "charter_threshold",
        "witness_quorum",
        "mass_tolerance_ppm",
        "max_certificate_days",
        "void_grace_days",
    }
)
_KEY_FILE_FIELDS = frozenset(
    {"id", "name", "kind", "log_key", "witness_key", "governance_key", "endpoints"}
)
# Optional, so that charters and key files made before envelopes (decision 0041) still parse, and
# keep their hashes: a member without it is encoded exactly as before and receives no envelopes.
_OPTIONAL_FIELDS = frozenset({"disclosure_key"})
_DISCLOSURE_KEY_SIZE = 32  # a raw X25519 public key, RFC 7748

# The largest {participant, sig} map: fixmap, "participant", an 8-letter id, "sig", bin8 of 64.
_SIGNATURE_ENTRY_MAX = len(encode({"participant": "A" * 8, "sig": bytes(64)}))
# {"charter": ..., "signatures": [...]} minus the two values: map header, both keys, array16.
_SIGNED_OVERHEAD = len(encode_map({"charter": b"", "signatures": b""})) + 3


# --- members and policy ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Participant:
    """One member of the network, as a charter version lists it.

    Attributes:
        id: ``[A-Z]{2,8}``; an ISO 3166-1 alpha-2 code (or ``EU``) for a participant, up to
            eight letters for an observer (DESIGN §2).
        name: 1 to 200 printable characters.
        kind: ``"participant"`` (a KP participant: runs a log, governs) or ``"observer"``
            (runs a node and witnesses, never governs).
        status: ``"active"`` or ``"suspended"``.
        log_key: raw Ed25519 public key signing the member's checkpoints and admin records.
        witness_key: raw Ed25519 public key cosigning other members' checkpoints.
        governance_key: raw Ed25519 public key signing charter versions (kept offline).
        endpoints: 0 to 8 ``http://`` or ``https://`` base URLs of the member's node.
        disclosure_key: raw X25519 public key that the disclosures of records it is entitled to
            are encrypted to (decision 0041), or ``None`` for a member listed before envelopes:
            it then receives none.

    Raises:
        CharterError: on construction, if any field is malformed.
    """

    id: str
    name: str
    kind: str
    status: str
    log_key: bytes
    witness_key: bytes
    governance_key: bytes
    endpoints: tuple[str, ...] = ()
    disclosure_key: bytes | None = None

    def __post_init__(self) -> None:
        _check_member_id(self.id)
        if (
            type(self.name) is not str
            or not 1 <= len(self.name) <= _MAX_NAME
            or not self.name.isprintable()
            or not self.name.strip()
        ):
            raise CharterError(
                f"{self.id}: name must be 1 to {_MAX_NAME} printable characters, not blank",
                code="charter.bad_name",
            )
        if self.kind not in KINDS:
            raise CharterError(f"{self.id}: unknown kind {self.kind!r}", code="charter.bad_kind")
        if self.status not in STATUSES:
            raise CharterError(
                f"{self.id}: unknown status {self.status!r}", code="charter.bad_status"
            )
        keys = (self.log_key, self.witness_key, self.governance_key)
        for role, key in zip(("log_key", "witness_key", "governance_key"), keys, strict=True):
            _check_public_key(key, f"{self.id} {role}")
        # One key, one purpose: the governance key is kept offline and must not double as an
        # online key, and a log key that could also pass for a witness key blurs the record.
        if len(set(keys)) != len(keys):
            raise CharterError(
                f"{self.id}: log, witness and governance keys must be distinct",
                code="charter.duplicate_key",
            )
        endpoints = self.endpoints
        if not isinstance(endpoints, tuple | list):
            raise CharterError(f"{self.id}: endpoints must be a list", code="charter.malformed")
        object.__setattr__(self, "endpoints", tuple(endpoints))
        if len(self.endpoints) > _MAX_ENDPOINTS:
            raise CharterError(
                f"{self.id}: at most {_MAX_ENDPOINTS} endpoints", code="charter.bad_endpoint"
            )
        for url in self.endpoints:
            _check_endpoint(url, self.id)
        if len(set(self.endpoints)) != len(self.endpoints):
            raise CharterError(f"{self.id}: duplicate endpoint", code="charter.bad_endpoint")
        if self.disclosure_key is not None:
            _check_disclosure_key(self.disclosure_key, f"{self.id} disclosure_key")
            if self.disclosure_key in keys:
                raise CharterError(
                    f"{self.id}: the disclosure key must differ from the signing keys",
                    code="charter.duplicate_key",
                )

    @property
    def governs(self) -> bool:
        """Whether this member's signature counts toward a charter threshold (see ``governors``)."""
        return self.kind == "participant" and self.status == "active"

    def to_value(self) -> dict[str, Value]:
        """The map a charter holds under ``participants[id]`` (the id is its key, not a field)."""
        value: dict[str, Value] = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "log_key": self.log_key,
            "witness_key": self.witness_key,
            "governance_key": self.governance_key,
            "endpoints": list(self.endpoints),
        }
        if self.disclosure_key is not None:
            value["disclosure_key"] = self.disclosure_key
        return value

    @property
    def signing_keys(self) -> tuple[bytes, ...]:
        """The member's Ed25519 keys: log, witness, governance."""
        return (self.log_key, self.witness_key, self.governance_key)

    @classmethod
    def from_value(cls, participant_id: str, value: Value) -> Participant:
        """Strictly shape-check one ``participants`` entry of a decoded charter.

        Raises:
            CharterError: a field is missing, unknown, of the wrong type or out of range.
        """
        what = f"participant {participant_id}"
        fields = _map(value, what, _PARTICIPANT_FIELDS, optional=_OPTIONAL_FIELDS)
        endpoints = fields["endpoints"]
        disclosure_key = fields.get("disclosure_key")
        if not isinstance(endpoints, list):
            raise CharterError(f"{what}: endpoints must be an array", code="charter.malformed")
        return cls(
            id=participant_id,
            name=_str(fields["name"], f"{what} name"),
            kind=_str(fields["kind"], f"{what} kind"),
            status=_str(fields["status"], f"{what} status"),
            log_key=_bytes(fields["log_key"], f"{what} log_key"),
            witness_key=_bytes(fields["witness_key"], f"{what} witness_key"),
            governance_key=_bytes(fields["governance_key"], f"{what} governance_key"),
            endpoints=tuple(_str(url, f"{what} endpoint") for url in endpoints),
            disclosure_key=(
                None if disclosure_key is None else _bytes(disclosure_key, f"{what} disclosure_key")
            ),
        )


@dataclass(frozen=True, slots=True)
class Policy:
    """The network-wide parameters a charter version sets.

    Attributes:
        charter_threshold: governors who must sign the next version (>= 1; TUF root threshold).
        witness_quorum: cosignatures from other members that make a checkpoint witnessed (>= 0).
        mass_tolerance_ppm: allowed mass gain in splits and on import, parts per million
            (0 to 100 000, i.e. at most 10 %).
        max_certificate_days: longest validity of a KP certificate (1 to 3650).
        void_grace_days: days after expiry before an unconfirmed certificate may be voided
            (0 to 3650).

    Whether the thresholds are reachable depends on the members, so ``Charter`` checks that.

    Raises:
        CharterError: on construction, if a value is not an int or is out of range.
    """

    charter_threshold: int
    witness_quorum: int
    mass_tolerance_ppm: int
    max_certificate_days: int
    void_grace_days: int

    def __post_init__(self) -> None:
        _check_range(self.charter_threshold, "charter_threshold", 1, MAX_PARTICIPANTS)
        _check_range(self.witness_quorum, "witness_quorum", 0, MAX_PARTICIPANTS - 1)
        _check_range(self.mass_tolerance_ppm, "mass_tolerance_ppm", 0, _MAX_TOLERANCE_PPM)
        _check_range(self.max_certificate_days, "max_certificate_days", 1, _MAX_DAYS)
        _check_range(self.void_grace_days, "void_grace_days", 0, _MAX_DAYS)

    def to_value(self) -> dict[str, Value]:
        """The charter's ``policy`` map."""
        return {
            "charter_threshold": self.charter_threshold,
            "witness_quorum": self.witness_quorum,
            "mass_tolerance_ppm": self.mass_tolerance_ppm,
            "max_certificate_days": self.max_certificate_days,
            "void_grace_days": self.void_grace_days,
        }

    @classmethod
    def from_value(cls, value: Value) -> Policy:
        """Strictly shape-check a decoded ``policy`` map.

        Raises:
            CharterError: a field is missing, unknown, not an int (bools are refused) or out of
                range.
        """
        fields = _map(value, "policy", _POLICY_FIELDS)
        return cls(**{name: _int(fields[name], name) for name in sorted(_POLICY_FIELDS)})


# --- a charter version ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Charter:
    """One version of the charter, without its signatures.

    ``participants`` is stored as a read-only mapping ordered by id, whatever mapping was given;
    equality compares its contents.

    Raises:
        CharterError: on construction, if a field is malformed, the members are inconsistent
            (duplicate keys, a threshold no set of governors can meet), or the version could not
            be signed by all its members within ``MAX_CHARTER_SIZE``.
    """

    network: str
    version: int
    previous: bytes | None
    participants: Mapping[str, Participant] = field(hash=False)
    policy: Policy
    # CHARTER_DOMAIN + canonical(to_value()), computed once: it is signed, verified and hashed
    # repeatedly, and the value is immutable.
    _payload: bytes = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if type(self.network) is not str or not _NETWORK.fullmatch(self.network):
            raise CharterError(
                f"network must match [a-z0-9.-]{{1,64}}, got {self.network!r}",
                code="charter.bad_network",
            )
        _check_range(self.version, "version", 1, _MAX_VERSION, code="charter.bad_version")
        if self.version == 1:
            if self.previous is not None:
                raise CharterError(
                    "version 1 (the genesis) has no previous version", code="charter.bad_previous"
                )
        elif type(self.previous) is not bytes or len(self.previous) != _HASH_SIZE:
            raise CharterError(
                f"version {self.version} must name the 32-byte hash of version {self.version - 1}",
                code="charter.bad_previous",
            )
        if not isinstance(self.policy, Policy):
            raise CharterError("policy must be a Policy", code="charter.malformed")
        self._set_participants()
        governors = self.governors()
        if self.policy.charter_threshold > len(governors):
            raise CharterError(
                f"charter_threshold {self.policy.charter_threshold} exceeds the"
                f" {len(governors)} active participants who can sign",
                code="charter.threshold_unreachable",
            )
        # A checkpoint is witnessed by *other* members (DESIGN §8); a suspended member's
        # cosignature is not one to rely on, so only active members of either kind count.
        witnesses = sum(1 for p in self.participants.values() if p.status == "active") - 1
        if self.policy.witness_quorum > witnesses:
            raise CharterError(
                f"witness_quorum {self.policy.witness_quorum} exceeds the {witnesses} other"
                " active members who can cosign",
                code="charter.quorum_unreachable",
            )
        payload = CHARTER_DOMAIN + encode(self.to_value())
        # Refuse at build time a version that its members could not all sign within the bound
        # that ``SignedCharter.parse`` enforces: the genesis needs every member's signature.
        budget = len(self.participants) * _SIGNATURE_ENTRY_MAX + _SIGNED_OVERHEAD
        if len(payload) - len(CHARTER_DOMAIN) + budget > MAX_CHARTER_SIZE:
            raise CharterError(
                f"charter version of {len(payload) - len(CHARTER_DOMAIN)} bytes leaves no room"
                f" for {len(self.participants)} signatures within {MAX_CHARTER_SIZE} bytes",
                code="charter.too_large",
            )
        object.__setattr__(self, "_payload", payload)

    def _set_participants(self) -> None:
        if not isinstance(self.participants, Mapping):
            raise CharterError("participants must be a mapping", code="charter.malformed")
        if not 1 <= len(self.participants) <= MAX_PARTICIPANTS:
            raise CharterError(
                f"a charter lists 1 to {MAX_PARTICIPANTS} members, not {len(self.participants)}",
                code="charter.participant_count",
            )
        for member_id, member in self.participants.items():
            if not isinstance(member, Participant) or member.id != member_id:
                raise CharterError(
                    f"participants[{member_id!r}] must be the Participant with that id",
                    code="charter.malformed",
                )
        # TUF counts a threshold in distinct keys, not roles: two members sharing a governance key
        # would let one key holder count twice, and a shared online key would make two logs one.
        seen: dict[bytes, str] = {}
        for member in self.participants.values():
            shared = () if member.disclosure_key is None else (member.disclosure_key,)
            for key in (*member.signing_keys, *shared):
                if key in seen:
                    raise CharterError(
                        f"{member.id} and {seen[key]} share a public key",
                        code="charter.duplicate_key",
                    )
                seen[key] = member.id
        ordered = {
            member_id: self.participants[member_id] for member_id in sorted(self.participants)
        }
        object.__setattr__(self, "participants", MappingProxyType(ordered))

    def to_value(self) -> dict[str, Value]:
        """The unsigned charter map of DESIGN §3, with ``v: 1``."""
        return {
            "v": _FORMAT_VERSION,
            "network": self.network,
            "version": self.version,
            "previous": self.previous,
            "participants": {pid: p.to_value() for pid, p in self.participants.items()},
            "policy": self.policy.to_value(),
        }

    def payload(self) -> bytes:
        """The bytes every governance signature covers: ``CHARTER_DOMAIN + canonical(charter)``."""
        return self._payload

    @property
    def hash(self) -> bytes:
        """SHA-256 of ``payload()``: this version's identity; for version 1, the network id.

        Signatures are not part of it, so collecting signatures never changes which version a
        hash names (as TUF keys a root by its signed portion only).
        """
        return hashlib.sha256(self._payload).digest()

    def origin(self, participant_id: str) -> str:
        """The log origin and log key name of a member: ``<network>/<id>`` (DESIGN §2)."""
        return f"{self.network}/{participant_id}"

    def log_verifier_key(self, participant_id: str) -> str:
        """The C2SP verifier key of a member's log key (signs its checkpoints)."""
        key = crypto.load_public_key(self.participants[participant_id].log_key)
        return crypto.verifier_key(self.origin(participant_id), key)

    def cosigner_keys(self, *, exclude: str) -> list[str]:
        """The C2SP cosigner keys of every member but ``exclude``: who may witness its log."""
        return [
            crypto.verifier_key(
                self.witness_name(member.id),
                crypto.load_public_key(member.witness_key),
                key_type=crypto.ED25519_COSIGNATURE_KEY_TYPE,
            )
            for member in self.participants.values()
            if member.id != exclude
        ]

    def witness_name(self, participant_id: str) -> str:
        """The name a participant's witness key cosigns under (its C2SP cosigner key name)."""
        return f"{self.network}/{participant_id}/witness"

    def is_active(self, participant_id: str) -> bool:
        """Whether ``participant_id`` is a member of this version with status ``active``."""
        member = self.participants.get(participant_id)
        return member is not None and member.status == "active"

    def governors(self) -> list[str]:
        """Ids, in order, of the members whose signatures count toward ``charter_threshold``.

        Only members of kind ``participant`` with status ``active`` govern. Observers are not KP
        participants and have no vote in the Kimberley Process; a suspended participant has lost
        its standing, and letting it sign would let it vote on its own reinstatement. Both may
        still sign (and, at genesis, must), but their signatures never count toward a threshold.
        """
        return [pid for pid, p in self.participants.items() if p.governs]

    @classmethod
    def from_value(cls, value: Value) -> Charter:
        """Strictly shape-check a decoded, unsigned charter map.

        Raises:
            CharterError: ``charter.malformed`` for unknown or missing fields and wrong types
                (a bool is not an int), ``charter.unsupported_format`` for ``v`` other than 1,
                and the specific code of any out-of-range value or inconsistency.
        """
        fields = _map(value, "charter", _CHARTER_FIELDS)
        if _int(fields["v"], "v") != _FORMAT_VERSION:
            raise CharterError(
                f"unsupported charter format v={fields['v']!r}", code="charter.unsupported_format"
            )
        previous = fields["previous"]
        members = fields["participants"]
        if not isinstance(members, dict):
            raise CharterError("participants must be a map", code="charter.malformed")
        return cls(
            network=_str(fields["network"], "network"),
            version=_int(fields["version"], "version"),
            previous=None if previous is None else _bytes(previous, "previous"),
            participants={pid: Participant.from_value(pid, p) for pid, p in members.items()},
            policy=Policy.from_value(fields["policy"]),
        )


# --- signatures -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CharterSignature:
    """A governance signature over a charter version's ``payload()``."""

    participant: str
    sig: bytes

    def __post_init__(self) -> None:
        _check_member_id(self.participant)
        if type(self.sig) is not bytes or len(self.sig) != crypto.SIGNATURE_SIZE:
            raise CharterError(
                f"signature by {self.participant} must be {crypto.SIGNATURE_SIZE} bytes",
                code="charter.malformed",
            )

    def to_value(self) -> dict[str, Value]:
        return {"participant": self.participant, "sig": self.sig}


@dataclass(frozen=True, slots=True)
class SignedCharter:
    """A charter version and the governance signatures collected for it.

    Signatures are kept sorted by (participant, sig), so the same set of signatures always has
    the same encoding whoever collected it and in whatever order. A signer need not be listed in
    this version: a member a successor removes still signs it with its old key. At most two
    signatures per participant (old and new key during a rotation), ``MAX_SIGNATURES`` in all.
    Whether the signatures verify is for ``check_genesis`` and ``check_successor``.

    Raises:
        CharterError: on construction, if the signatures break those bounds, one is repeated, or
            the whole exceeds ``MAX_CHARTER_SIZE`` encoded.
    """

    charter: Charter
    signatures: tuple[CharterSignature, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.charter, Charter):
            raise CharterError("charter must be a Charter", code="charter.malformed")
        signatures = tuple(sorted(self.signatures, key=lambda s: (s.participant, s.sig)))
        object.__setattr__(self, "signatures", signatures)
        if len(signatures) > MAX_SIGNATURES:
            raise CharterError(
                f"at most {MAX_SIGNATURES} signatures, got {len(signatures)}",
                code="charter.too_many_signatures",
            )
        if len(set(signatures)) != len(signatures):
            raise CharterError("a signature is repeated", code="charter.duplicate_signature")
        per_signer: dict[str, int] = {}
        for signature in signatures:
            per_signer[signature.participant] = per_signer.get(signature.participant, 0) + 1
            if per_signer[signature.participant] > MAX_SIGNATURES_PER_PARTICIPANT:
                raise CharterError(
                    f"{signature.participant} signs at most {MAX_SIGNATURES_PER_PARTICIPANT}"
                    " times (old and new governance key)",
                    code="charter.too_many_signatures",
                )
        size = len(self.encode())
        if size > MAX_CHARTER_SIZE:
            raise CharterError(
                f"signed charter is {size} bytes, more than {MAX_CHARTER_SIZE}",
                code="charter.too_large",
            )

    @property
    def hash(self) -> bytes:
        """The version's identity, ``charter.hash``; signatures do not change it."""
        return self.charter.hash

    def signers(self) -> list[str]:
        """Ids of the participants that signed, each once, in order."""
        return sorted({s.participant for s in self.signatures})

    def to_value(self) -> dict[str, Value]:
        return {
            "charter": self.charter.to_value(),
            "signatures": [s.to_value() for s in self.signatures],
        }

    def encode(self) -> bytes:
        """The canonical encoding of ``to_value()``."""
        # The charter's canonical bytes are already in its payload; join rather than re-encode.
        return encode_map(
            {
                "charter": self.charter.payload()[len(CHARTER_DOMAIN) :],
                "signatures": encode([s.to_value() for s in self.signatures]),
            }
        )

    @classmethod
    def from_value(cls, value: Value) -> SignedCharter:
        """Strictly shape-check a decoded signed charter (see ``parse``)."""
        fields = _map(value, "signed charter", {"charter", "signatures"})
        signatures = fields["signatures"]
        if not isinstance(signatures, list):
            raise CharterError("signatures must be an array", code="charter.malformed")
        if len(signatures) > MAX_SIGNATURES:
            raise CharterError(
                f"at most {MAX_SIGNATURES} signatures, got {len(signatures)}",
                code="charter.too_many_signatures",
            )
        parsed = []
        for item in signatures:
            entry = _map(item, "signature", {"participant", "sig"})
            parsed.append(
                CharterSignature(
                    participant=_str(entry["participant"], "signer"),
                    sig=_bytes(entry["sig"], "signature"),
                )
            )
        return cls(Charter.from_value(fields["charter"]), tuple(parsed))

    @classmethod
    def parse(cls, data: bytes) -> SignedCharter:
        """Strictly decode a signed charter.

        Raises:
            EncodingError: the bytes are not canonical msgpack of at most ``MAX_CHARTER_SIZE``.
            CharterError: the value is not a well-formed signed charter, or its signatures are
                not in canonical order.
        """
        signed = cls.from_value(decode(data, max_size=MAX_CHARTER_SIZE))
        if signed.encode() != bytes(data):
            raise CharterError(
                "signatures are not sorted by participant and signature",
                code="charter.malformed",
            )
        return signed


def sign_charter(
    signed: SignedCharter | Charter, participant: str, key: Ed25519PrivateKey
) -> SignedCharter:
    """Add ``participant``'s signature by ``key`` to a charter version.

    The key is not compared with the charter's: during a rotation a participant signs with the
    governance key of the previous version, which this version may no longer list, and
    verification is what decides whether a signature counts. Signing twice with one key is
    idempotent (Ed25519 signatures are deterministic).

    Raises:
        CharterError: the participant id is malformed, it would be the participant's third
            signature, or the result would exceed ``MAX_CHARTER_SIZE``.
    """
    if isinstance(signed, Charter):
        signed = SignedCharter(signed)
    signature = CharterSignature(participant, crypto.sign(key, signed.charter.payload()))
    if signature in signed.signatures:
        return signed
    return SignedCharter(signed.charter, (*signed.signatures, signature))


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CharterCheck:
    """What checking one charter version found.

    Attributes:
        version: the candidate's version number.
        hash: the candidate's hash.
        passed: a short sentence for each check that passed.
        failures: one ``CharterError`` for each check that failed, in the order checked.
    """

    version: int
    hash: bytes
    passed: tuple[str, ...]
    failures: tuple[CharterError, ...]

    @property
    def ok(self) -> bool:
        """True only if nothing failed and something was checked (nothing checked is no pass)."""
        return not self.failures and bool(self.passed)

    def raise_for_failure(self) -> None:
        """Raise the first failure, if any."""
        if self.failures:
            raise self.failures[0]


def check_genesis(signed: SignedCharter, genesis_hash: bytes) -> CharterCheck:
    """Check a signed charter as the genesis version of the network ``genesis_hash`` names.

    Every member listed, of either kind and any status, must have signed with the governance key
    this version lists for it (DESIGN §3: "signed by every participant listed"); every signature
    present must verify.

    Returns:
        The result, listing what passed and each failure: ``charter.not_genesis``,
        ``charter.wrong_network``, ``charter.unknown_signer``, ``charter.bad_signature`` or
        ``charter.unsigned``.
    """
    charter = signed.charter
    passed: list[str] = []
    failures: list[CharterError] = []
    if charter.version == 1 and charter.previous is None:
        passed.append("version 1 with no previous version")
    else:
        failures.append(
            CharterError(
                f"the genesis must be version 1, got version {charter.version}",
                code="charter.not_genesis",
            )
        )
    if charter.hash == genesis_hash:
        passed.append(f"hash {charter.hash.hex()} is the configured network id")
    else:
        failures.append(
            CharterError(
                f"charter hash {charter.hash.hex()} is not the configured network id"
                f" {genesis_hash.hex()}",
                code="charter.wrong_network",
            )
        )
    signed_by: set[str] = set()
    payload = charter.payload()
    for signature in signed.signatures:
        member = charter.participants.get(signature.participant)
        if member is None:
            failures.append(
                CharterError(
                    f"signature by {signature.participant}, who is not a member",
                    code="charter.unknown_signer",
                )
            )
        elif _signed_with(member.governance_key, signature, payload):
            signed_by.add(member.id)
        else:
            failures.append(_bad_signature(signature, charter.version))
    missing = [pid for pid in charter.participants if pid not in signed_by]
    if missing:
        failures.append(
            CharterError(
                f"the genesis lacks valid signatures of {', '.join(missing)}",
                code="charter.unsigned",
            )
        )
    else:
        passed.append(f"signed by all {len(signed_by)} members")
    return CharterCheck(charter.version, charter.hash, tuple(passed), tuple(failures))


def verify_genesis(signed: SignedCharter, genesis_hash: bytes) -> Charter:
    """Verify a genesis version (see ``check_genesis``) and return its charter.

    Raises:
        CharterError: the first failure ``check_genesis`` found.
    """
    check_genesis(signed, genesis_hash).raise_for_failure()
    return signed.charter


def check_successor(current: Charter, candidate: SignedCharter) -> CharterCheck:
    """Check ``candidate`` as the version that follows ``current``.

    The TUF root rotation rule (TUF specification §5.3.4; DESIGN §3): the candidate is valid only
    if signed by ``current.policy.charter_threshold`` governors of ``current``, each verified with
    its governance key in ``current``, *and* by ``candidate.policy.charter_threshold`` governors
    of the candidate, each verified with its governance key in the candidate. A participant
    rotating its key signs with both; one signature verified with an unchanged key counts on both
    sides. Each participant counts at most once per side. Every signature must verify against
    the key its participant has in at least one of the two versions.

    Returns:
        The result, listing what passed and each failure: ``charter.version_gap``,
        ``charter.wrong_previous``, ``charter.wrong_network``, ``charter.unknown_signer``,
        ``charter.bad_signature`` or ``charter.threshold_not_met`` (once per side short).
    """
    new = candidate.charter
    passed: list[str] = []
    failures: list[CharterError] = []
    if new.version == current.version + 1:
        passed.append(f"version {new.version} follows version {current.version}")
    else:
        failures.append(
            CharterError(
                f"version {new.version} does not follow version {current.version}",
                code="charter.version_gap",
            )
        )
    if new.previous == current.hash:
        passed.append(f"previous is the hash of version {current.version}")
    else:
        failures.append(
            CharterError(
                f"previous {new.previous.hex() if new.previous else None} is not the hash"
                f" {current.hash.hex()} of version {current.version}",
                code="charter.wrong_previous",
            )
        )
    if new.network == current.network:
        passed.append(f"network {new.network}")
    else:
        failures.append(
            CharterError(
                f"network {new.network!r} is not {current.network!r}", code="charter.wrong_network"
            )
        )
    payload = new.payload()
    old_side: set[str] = set()
    new_side: set[str] = set()
    for signature in candidate.signatures:
        old_member = current.participants.get(signature.participant)
        new_member = new.participants.get(signature.participant)
        if old_member is None and new_member is None:
            failures.append(
                CharterError(
                    f"signature by {signature.participant}, a member of neither version",
                    code="charter.unknown_signer",
                )
            )
            continue
        by_old = old_member is not None and _signed_with(
            old_member.governance_key, signature, payload
        )
        by_new = new_member is not None and _signed_with(
            new_member.governance_key, signature, payload
        )
        if not (by_old or by_new):
            failures.append(_bad_signature(signature, new.version))
        if by_old and old_member is not None and old_member.governs:
            old_side.add(old_member.id)
        if by_new and new_member is not None and new_member.governs:
            new_side.add(new_member.id)
    for side, charter, counted in (
        ("current", current, old_side),
        ("candidate", new, new_side),
    ):
        threshold = charter.policy.charter_threshold
        names = ", ".join(sorted(counted)) or "none"
        if len(counted) >= threshold:
            passed.append(
                f"{len(counted)} of {threshold} required governors of the {side} version"
                f" {charter.version} signed ({names})"
            )
        else:
            failures.append(
                CharterError(
                    f"{side} version {charter.version} requires {threshold} governor"
                    f" signatures, got {len(counted)} ({names})",
                    code="charter.threshold_not_met",
                )
            )
    return CharterCheck(new.version, new.hash, tuple(passed), tuple(failures))


def verify_successor(current: Charter, candidate: SignedCharter) -> Charter:
    """Verify ``candidate`` as the successor of ``current`` (see ``check_successor``).

    Returns:
        The candidate's charter, now trusted.

    Raises:
        CharterError: the first failure ``check_successor`` found.
    """
    check_successor(current, candidate).raise_for_failure()
    return candidate.charter


def verify_chain(versions: Sequence[SignedCharter], genesis_hash: bytes) -> Charter:
    """Verify a charter chain from the genesis and return its latest version.

    Args:
        versions: the genesis first, then each successive version.
        genesis_hash: the network id the verifier trusts.

    Raises:
        CharterError: ``charter.empty_chain``, or the first failure of the first version that
            does not verify.
    """
    if not versions:
        raise CharterError("a charter chain starts with the genesis", code="charter.empty_chain")
    current = verify_genesis(versions[0], genesis_hash)
    for candidate in versions[1:]:
        current = verify_successor(current, candidate)
    return current


def longest_chain(
    genesis: SignedCharter, published: Iterable[SignedCharter], *, prefer: Container[bytes] = ()
) -> list[SignedCharter]:
    """The longest chain from ``genesis`` through ``published`` in which every version verifies
    under the TUF rule against the one before, oldest first.

    A store keeps every charter document it was given, adopted or not; this is the part of them
    a verifier trusting the genesis would accept. Two valid successors of one version would be
    a split in governance; the walk then follows the one in ``prefer`` (the versions a log
    adopted), else the smaller hash, so every reader of one store picks the same.
    """
    following: dict[bytes, list[SignedCharter]] = {}
    for signed in published:
        if signed.charter.previous is not None:
            following.setdefault(signed.charter.previous, []).append(signed)
    chain = [genesis]
    while True:
        current = chain[-1].charter
        valid = [
            candidate
            for candidate in following.get(chain[-1].hash, ())
            if check_successor(current, candidate).ok
        ]
        if not valid:
            return chain
        valid.sort(key=lambda c: (c.hash not in prefer, c.hash))
        chain.append(valid[0])


def chain_to(
    last: SignedCharter, find: Callable[[bytes], SignedCharter | None]
) -> list[SignedCharter]:
    """The versions from the genesis to ``last``, found by following ``previous`` through
    ``find`` (a lookup by version hash: the store's published documents, a bundle's list).

    Each step must name the version just below, so the walk ends after ``last.version`` steps.
    Whether the chain is valid, and from which genesis, is ``verify_chain``'s to say.

    Raises:
        PendingError: ``charter.unknown``, a version on the way is not held.
        CharterError: ``charter.version_gap``, a version follows a document that is not the
            version below it.
    """
    chain = [last]
    while chain[-1].charter.version > 1:
        above = chain[-1].charter
        previous = above.previous
        found = None if previous is None else find(previous)
        if found is None:
            shown = previous.hex() if previous is not None else None
            raise PendingError(
                f"charter version {above.version - 1} ({shown}), which version {above.version}"
                " follows, is not known here",
                code="charter.unknown",
            )
        if found.charter.version != above.version - 1:
            raise CharterError(
                f"version {above.version} follows a document of version {found.charter.version}",
                code="charter.version_gap",
            )
        chain.append(found)
    chain.reverse()
    return chain


def _signed_with(public_key: bytes, signature: CharterSignature, payload: bytes) -> bool:
    return crypto.verify(crypto.load_public_key(public_key), signature.sig, payload)


def _bad_signature(signature: CharterSignature, version: int) -> CharterError:
    return CharterError(
        f"signature by {signature.participant} does not verify against its governance key"
        f" for version {version}",
        code="charter.bad_signature",
    )


# --- building versions ----------------------------------------------------------------------


def make_genesis(network: str, participants: Iterable[Participant], policy: Policy) -> Charter:
    """Build version 1 of a network's charter.

    Raises:
        CharterError: two members share an id, or the charter is invalid.
    """
    members: dict[str, Participant] = {}
    for member in participants:
        if member.id in members:
            raise CharterError(
                f"member {member.id} listed twice", code="charter.duplicate_participant"
            )
        members[member.id] = member
    return Charter(network=network, version=1, previous=None, participants=members, policy=policy)


def make_successor(
    current: Charter,
    *,
    participants: Mapping[str, Participant] | None = None,
    policy: Policy | None = None,
) -> Charter:
    """Build the version after ``current``, changing its members and/or policy.

    Raises:
        CharterError: the resulting charter is invalid.
    """
    return Charter(
        network=current.network,
        version=current.version + 1,
        previous=current.hash,
        participants=current.participants if participants is None else participants,
        policy=current.policy if policy is None else policy,
    )


def with_status(
    participants: Mapping[str, Participant], participant_id: str, status: str
) -> dict[str, Participant]:
    """Return a copy of ``participants`` with one member's status changed (suspend, reinstate).

    Raises:
        CharterError: ``charter.unknown_participant``, or the status is not a valid one.
    """
    if participant_id not in participants:
        raise CharterError(f"{participant_id} is not a member", code="charter.unknown_participant")
    changed = dict(participants)
    changed[participant_id] = replace(participants[participant_id], status=status)
    return changed


# --- participant key files ------------------------------------------------------------------


def participant_key_file(participant: Participant) -> str:
    """The public key file a prospective member hands to the others to be listed.

    JSON with sorted keys and two-space indent; keys are standard base64 of the raw 32 bytes.
    Status is not part of it: a member is admitted active.
    """
    document = {
        "id": participant.id,
        "name": participant.name,
        "kind": participant.kind,
        "log_key": _b64(participant.log_key),
        "witness_key": _b64(participant.witness_key),
        "governance_key": _b64(participant.governance_key),
        "endpoints": list(participant.endpoints),
    }
    if participant.disclosure_key is not None:
        document["disclosure_key"] = _b64(participant.disclosure_key)
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def parse_participant_key_file(text: str) -> Participant:
    """Strictly parse a participant public key file (see ``participant_key_file``).

    Refused: more than ``MAX_KEY_FILE_SIZE`` bytes, invalid JSON, duplicate or unknown or missing
    fields, non-string values, non-canonical base64, and anything ``Participant`` refuses.

    Returns:
        The participant, with status ``active``.

    Raises:
        CharterError: ``charter.key_file_too_large``, ``charter.key_file_malformed``, or the
            specific code of an invalid field.
    """
    if len(text) > MAX_KEY_FILE_SIZE or len(text.encode("utf-8", "replace")) > MAX_KEY_FILE_SIZE:
        raise CharterError(
            f"participant key file exceeds {MAX_KEY_FILE_SIZE} bytes",
            code="charter.key_file_too_large",
        )
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise CharterError(
            f"participant key file is not valid JSON: {exc}", code="charter.key_file_malformed"
        ) from None
    if not isinstance(document, dict) or document.keys() - _OPTIONAL_FIELDS != _KEY_FILE_FIELDS:
        shown = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise CharterError(
            f"participant key file must hold exactly {sorted(_KEY_FILE_FIELDS)}, got {shown}",
            code="charter.key_file_malformed",
        )
    endpoints = document["endpoints"]
    scalars = [
        document[name]
        for name in (_KEY_FILE_FIELDS | _OPTIONAL_FIELDS) - {"endpoints"}
        if name in document
    ]
    if (
        not all(type(v) is str for v in scalars)
        or not isinstance(endpoints, list)
        or not all(type(url) is str for url in endpoints)
    ):
        raise CharterError(
            "participant key file fields must be strings (endpoints a list of strings)",
            code="charter.key_file_malformed",
        )
    return Participant(
        id=document["id"],
        name=document["name"],
        kind=document["kind"],
        status="active",
        log_key=_unb64(document["log_key"], "log_key"),
        witness_key=_unb64(document["witness_key"], "witness_key"),
        governance_key=_unb64(document["governance_key"], "governance_key"),
        endpoints=tuple(endpoints),
        disclosure_key=(
            None
            if "disclosure_key" not in document
            else _unb64(document["disclosure_key"], "disclosure_key")
        ),
    )


def load_participant_key_files(paths: Iterable[str | os.PathLike[str]]) -> list[Participant]:
    """Read and parse participant key files, in the order given (the file-system edge).

    Raises:
        CharterError: ``charter.key_file_unreadable`` (missing, unreadable, not UTF-8),
            ``charter.key_file_too_large``, or whatever ``parse_participant_key_file`` raises.
    """
    members = []
    for path in paths:
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_KEY_FILE_SIZE + 1)
        except OSError as exc:
            raise CharterError(
                f"cannot read participant key file {os.fspath(path)}: {exc.strerror}",
                code="charter.key_file_unreadable",
            ) from exc
        if len(data) > MAX_KEY_FILE_SIZE:
            raise CharterError(
                f"participant key file {os.fspath(path)} exceeds {MAX_KEY_FILE_SIZE} bytes",
                code="charter.key_file_too_large",
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CharterError(
                f"participant key file {os.fspath(path)} is not UTF-8",
                code="charter.key_file_unreadable",
            ) from None
        members.append(parse_participant_key_file(text))
    return members


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    # RFC 4648 §3.5: one spelling per key, so refuse non-zero pad bits.
    if raw is None or _b64(raw) != text:
        raise CharterError(
            f"{what} is not canonical standard base64", code="charter.key_file_malformed"
        )
    return raw


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys in {sorted(keys)}")
    return dict(pairs)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# --- field checks ---------------------------------------------------------------------------


def _check_member_id(member_id: object) -> None:
    if type(member_id) is not str or not _MEMBER_ID.fullmatch(member_id):
        raise CharterError(
            f"member id must match [A-Z]{{2,8}}, got {member_id!r}", code="charter.bad_id"
        )


def _check_public_key(key: object, what: str) -> None:
    if type(key) is not bytes:
        raise CharterError(f"{what} must be bytes", code="charter.malformed")
    try:
        crypto.load_public_key(key)
    except (KeyFormatError, ValueError) as exc:
        raise CharterError(f"{what}: {exc}", code="charter.bad_key") from None


def _check_disclosure_key(key: object, what: str) -> None:
    if type(key) is not bytes:
        raise CharterError(f"{what} must be bytes", code="charter.malformed")
    if len(key) != _DISCLOSURE_KEY_SIZE:
        raise CharterError(
            f"{what}: an X25519 public key is {_DISCLOSURE_KEY_SIZE} bytes, not {len(key)}",
            code="charter.bad_key",
        )
    try:
        X25519PublicKey.from_public_bytes(key)
    except ValueError as exc:
        raise CharterError(f"{what}: {exc}", code="charter.bad_key") from None


def _check_endpoint(url: object, member_id: str) -> None:
    if type(url) is not str:
        raise CharterError(f"{member_id}: endpoint must be a string", code="charter.malformed")
    problem = None
    if len(url) > _MAX_ENDPOINT:
        problem = f"longer than {_MAX_ENDPOINT} characters"
    elif not url.startswith(("http://", "https://")):
        problem = "not an http:// or https:// URL"
    elif not all(0x21 <= ord(ch) <= 0x7E for ch in url):
        problem = "not printable ASCII without spaces"
    else:
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError for a malformed port
        except ValueError as exc:
            problem = str(exc)
        else:
            # A charter is public: credentials have no place in it, and a fragment means nothing
            # to a server.
            if not parts.hostname:
                problem = "no host"
            elif "@" in parts.netloc:
                problem = "user information is not allowed"
            elif parts.fragment or url.endswith("#"):
                problem = "a fragment is not allowed"
    if problem is not None:
        raise CharterError(
            f"{member_id}: endpoint {url[:_MAX_ENDPOINT]!r}: {problem}",
            code="charter.bad_endpoint",
        )


def _check_range(
    value: object, what: str, low: int, high: int, *, code: str = "charter.bad_policy"
) -> None:
    if type(value) is not int:
        raise CharterError(f"{what} must be an integer, got {value!r}", code="charter.malformed")
    if not low <= value <= high:
        raise CharterError(f"{what} must be {low} to {high}, got {value}", code=code)


def _map(
    value: Value,
    what: str,
    fields: frozenset[str] | set[str],
    *,
    optional: frozenset[str] = frozenset(),
) -> dict[str, Value]:
    if not isinstance(value, dict):
        raise CharterError(f"{what} must be a map", code="charter.malformed")
    if value.keys() - optional != fields:
        missing = sorted(fields - value.keys())
        unknown = sorted(value.keys() - fields - optional)
        raise CharterError(
            f"{what}: missing fields {missing}, unknown fields {unknown}", code="charter.malformed"
        )
    return value


def _str(value: Value, what: str) -> str:
    if not isinstance(value, str):
        raise CharterError(f"{what} must be a string", code="charter.malformed")
    return value


def _int(value: Value, what: str) -> int:
    # bool is a subclass of int in Python; in the charter it is a different type.
    if not isinstance(value, int) or isinstance(value, bool):
        raise CharterError(f"{what} must be an integer", code="charter.malformed")
    return value


def _bytes(value: Value, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise CharterError(f"{what} must be bytes", code="charter.malformed")
    return value
