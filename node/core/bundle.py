"""Provenance bundles (DESIGN §9): everything needed to verify a chain offline.

A bundle is JSON, media type ``application/vnd.kp-ledger.bundle.v1+json``::

    {"media_type": ..., "network": "kp.example", "genesis": <hex>, "subject": <hex entry hash>,
     "charters": [<base64 signed charter>, ...],          # the chain from the genesis, in order
     "checkpoints": {<log>: <checkpoint note>, ...},       # one per log, cosignatures attached
     "entries": [{"log", "seq", "hash": <hex>, "entry": <base64 canonical entry>,
                  "proof": <c2sp.org/tlog-proof text>}],  # the DAG and what checks it
     "depth": <int>,                                       # absent (or null): the whole DAG
     "seeds": [{"log", "seq", "hash": <hex>, "out",        # absent or [] for the whole DAG
                "parcel", "holder", "centicarats", "hs_code", "origins": [...], "basis"}]}

A bundle replays the subject, the certificate it confirms, rejects or voids, and ``depth``
levels of the entries that made the parcels consumed (node/core/provenance.py); the parcels the
deepest of those consumed are its ``seeds``, each as the serving node holds it just before it was
consumed (decision 0039): the verifier puts them into its replay instead of replaying the history
behind them, which the witness quorum vouches for. A bundle of the whole DAG (``depth`` absent,
as in every bundle served before bounded provenance; null reads the same) has no seeds. Entries
that made a seed are in ``entries`` too when a rule reads them (a certificate's parcels' dates);
they are checked for inclusion, and not replayed.

Every entry's tlog-proof leads to its log's checkpoint in ``checkpoints``. Each distinct
checkpoint appears there once with its cosignatures; the copy inside each tlog-proof carries the
origin's signature only, so it stays a standalone C2SP tlog-proof while the witness lines, ~130
bytes per cosigner, are not repeated per entry (decision 0034). Verifying a bundle needs only the
trusted genesis hash (client/verify.py).

``Bundle`` is that document, parsed once at the edge that meets it: a node builds one from its
store (node/engine/bundling.py) and serves ``to_bytes()``; ``kp`` and the SDK get one from a file
or a node's answer with ``Bundle.parse`` or ``Bundle.from_json``. Parsing checks the form only, and
strictly: the media type, every field of its JSON type, hashes as 64 lowercase hex digits, base64
that decodes, each tlog-proof parsed (``notes.TlogProof``), at most ``MAX_BUNDLE_ENTRIES``, each
``(log, seq)`` once, ``depth`` a count or null, at most ``MAX_BUNDLE_SEEDS`` seeds, each parcel
once, every field of its type and within the bounds a record's would be (no seed of a bundle of
the whole DAG), and from bytes at most ``MAX_BUNDLE_BYTES`` (an object the SDK decoded is
bounded by its response limit). Anything else raises ``BundleError``, ``bundle.malformed``
(``tlog_proof.malformed`` for a proof), the code a verdict reports. Whether the bundle's claims
hold (an entry's hash, its inclusion, the checkpoints' signatures and quorum, the charter chain) is
the verifier's to check: a ``Bundle`` is well formed, not trusted. Fields of the document this
version does not know are ignored and not kept.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from node.core import notes
from node.core.errors import BundleError, LedgerError
from node.core.provenance import MAX_DAG_ENTRIES, MAX_SEEDS
from node.core.records import HS_CODES, MAX_CENTICARATS, MAX_REFS, ParcelRef
from node.core.state import ParcelState

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "MAX_BUNDLE_BYTES",
    "MAX_BUNDLE_ENTRIES",
    "MAX_BUNDLE_SEEDS",
    "Bundle",
    "BundleEntry",
    "seed_from_json",
    "seed_to_json",
]

BUNDLE_MEDIA_TYPE = "application/vnd.kp-ledger.bundle.v1+json"
MAX_BUNDLE_BYTES = 32 * 1024 * 1024  # a bundle file, or a node's answer, before it is decoded
MAX_BUNDLE_ENTRIES = 100_000  # the DAG (provenance.MAX_DAG_ENTRIES) and what a status rests on

MAX_BUNDLE_SEEDS = MAX_SEEDS  # the widest bounded walk a node serves (provenance.MAX_SEEDS)

_HASH_HEX = re.compile(r"[0-9a-f]{64}")  # one spelling, as ``bytes.hex()`` writes it
# The spellings node/core/records.py accepts in a record: a seed names nothing a record could not.
_PARTICIPANT = re.compile(r"[A-Z]{2,8}")
_OPERATOR = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PARCEL_ID = re.compile(r"[A-Za-z0-9._/-]{1,64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_SEED_FIELDS = frozenset(
    {"log", "seq", "hash", "out", "parcel", "holder", "centicarats", "hs_code", "origins", "basis"}
)


@dataclass(frozen=True, slots=True)
class BundleEntry:
    """One entry of a bundle, with what the bundle claims of it.

    Attributes:
        log: the log the entry is claimed to be in.
        seq: its claimed index in that log.
        hash: the claimed entry hash; the verifier checks it is ``entry``'s RFC 9162 leaf hash.
        entry: the canonical entry bytes, as the log holds them (not decoded here).
        proof: its c2sp.org/tlog-proof, whose checkpoint is the log's, origin-signed.
    """

    log: str
    seq: int
    hash: bytes
    entry: bytes
    proof: notes.TlogProof

    @classmethod
    def from_json(cls, item: object) -> BundleEntry:
        """An item of a bundle's ``entries``, decoded.

        Raises:
            BundleError: ``bundle.malformed``, or ``tlog_proof.malformed`` from the proof.
        """
        if not isinstance(item, dict):
            raise BundleError("malformed entry item: not an object")
        where = "malformed entry item"
        log = _text(item, "log", where)
        seq = item.get("seq")
        # Exactly an int: JSON's true is no index (bool is an int in Python).
        if type(seq) is not int or not 0 <= seq < notes.MAX_TREE_SIZE:
            raise BundleError(f"{where}: seq is not the index of an entry")
        digest = _hash(item, "hash", where)
        raw = _b64(item.get("entry"))
        text = _text(item, "proof", where)
        try:
            proof = notes.TlogProof.parse(text)
        except LedgerError as exc:
            raise BundleError(f"the proof of {log}/{seq}: {exc.message}", code=exc.code) from exc
        return cls(log, seq, digest, raw, proof)

    def to_json(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "seq": self.seq,
            "hash": self.hash.hex(),
            "entry": base64.b64encode(self.entry).decode(),
            "proof": self.proof.to_text(),
        }


def seed_from_json(item: object) -> ParcelState:
    """An item of a bundle's ``seeds``: a parcel as it was just before it was consumed.

    Raises:
        BundleError: ``bundle.malformed``.
    """
    if not isinstance(item, dict):
        raise BundleError("malformed seed: not an object")
    where = "malformed seed"
    if set(item) != _SEED_FIELDS:
        raise BundleError(f"{where}: fields {sorted(item)}, not {sorted(_SEED_FIELDS)}")
    log = _match(item, "log", _PARTICIPANT, where)
    seq = _count(item, "seq", notes.MAX_TREE_SIZE - 1, where)
    digest = _hash(item, "hash", where)
    out = _count(item, "out", MAX_REFS - 1, where)
    centicarats = _count(item, "centicarats", MAX_CENTICARATS, where)
    basis = _count(item, "basis", centicarats, where)
    if centicarats < 1:
        raise BundleError(f"{where}: centicarats must be more than 0")
    hs_code = _text(item, "hs_code", where)
    if hs_code not in HS_CODES:
        raise BundleError(f"{where}: hs_code {hs_code!r} is not one of {sorted(HS_CODES)}")
    origins = item["origins"]
    if (
        not isinstance(origins, list)
        or not 1 <= len(origins) <= 256
        or not all(isinstance(o, str) and _COUNTRY.fullmatch(o) for o in origins)
        or origins != sorted(set(origins))
    ):
        raise BundleError(f"{where}: origins are not country codes, sorted, each once")
    return ParcelState(
        ref=ParcelRef(log, seq, digest, out),
        parcel=_match(item, "parcel", _PARCEL_ID, where),
        holder=_match(item, "holder", _OPERATOR, where),
        centicarats=centicarats,
        hs_code=hs_code,
        origins=tuple(origins),
        basis=basis,
    )


def seed_to_json(seed: ParcelState) -> dict[str, Any]:
    """A seed as a bundle's ``seeds`` lists it."""
    return {
        "log": seed.ref.log,
        "seq": seed.ref.seq,
        "hash": seed.ref.hash.hex(),
        "out": seed.ref.out,
        "parcel": seed.parcel,
        "holder": seed.holder,
        "centicarats": seed.centicarats,
        "hs_code": seed.hs_code,
        "origins": list(seed.origins),
        "basis": seed.basis,
    }


@dataclass(frozen=True, slots=True)
class Bundle:
    """A provenance bundle, well formed (the module docstring says what that checks).

    ``checkpoints`` is kept as a read-only mapping in the order given.

    Attributes:
        network: the network's name, as the bundle states it (the genesis hash is what binds).
        genesis: the hash of the network's genesis charter.
        subject: the entry hash of the entry the bundle proves.
        charters: the signed charter versions from the genesis, encoded, in order.
        checkpoints: each log's witnessed checkpoint note, cosignatures attached.
        entries: the entries, in the bundle's order.
        depth: how many levels of parcel-making entries below the subject and its certificate
            the bundle replays (node/core/provenance.py); None for the whole DAG.
        seeds: the parcels the deepest replayed entries consume, each as it was just before it
            was consumed (``consumed_by`` and ``transfers`` empty), in the bundle's order;
            none when ``depth`` is None.
    """

    network: str
    genesis: bytes
    subject: bytes
    charters: tuple[bytes, ...]
    checkpoints: Mapping[str, str] = field(hash=False)
    entries: tuple[BundleEntry, ...]
    depth: int | None = None
    seeds: tuple[ParcelState, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoints", MappingProxyType(dict(self.checkpoints)))

    @classmethod
    def parse(cls, data: bytes) -> Bundle:
        """A bundle from its JSON bytes (a file, a node's answer), at most ``MAX_BUNDLE_BYTES``.

        Raises:
            BundleError: the bytes are no well-formed bundle.
        """
        if len(data) > MAX_BUNDLE_BYTES:
            raise BundleError("bundle too large")
        try:
            document = json.loads(data)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested past any bundle
            raise BundleError(f"not JSON: {exc}") from exc
        return cls.from_json(document)

    @classmethod
    def from_json(cls, document: object) -> Bundle:
        """A bundle from its JSON document, already decoded (the SDK's answer).

        Raises:
            BundleError: the document is no well-formed bundle.
        """
        if not isinstance(document, dict) or document.get("media_type") != BUNDLE_MEDIA_TYPE:
            raise BundleError(f"not a {BUNDLE_MEDIA_TYPE}")
        for name, kind in (("charters", list), ("checkpoints", dict), ("entries", list)):
            if not isinstance(document.get(name), kind):
                raise BundleError(f"bundle has no {name}")
        if len(document["entries"]) > MAX_BUNDLE_ENTRIES:
            raise BundleError("too many entries")
        checkpoints: dict[str, str] = document["checkpoints"]
        for log, note in checkpoints.items():
            if not isinstance(note, str):
                raise BundleError(f"the checkpoint of {log!r} is not a note")
        entries = tuple(BundleEntry.from_json(item) for item in document["entries"])
        seen: set[tuple[str, int]] = set()
        for item in entries:
            if (item.log, item.seq) in seen:
                raise BundleError(f"entry {item.log}/{item.seq} twice")
            seen.add((item.log, item.seq))
        depth = document.get("depth")
        if depth is not None and (type(depth) is not int or not 0 <= depth <= MAX_DAG_ENTRIES):
            raise BundleError("depth is not a count of levels, nor null for all")
        listed = document.get("seeds", [])
        if not isinstance(listed, list):
            raise BundleError("seeds is not a list")
        if len(listed) > MAX_BUNDLE_SEEDS:
            raise BundleError(f"more than {MAX_BUNDLE_SEEDS} seeds")
        if listed and depth is None:
            raise BundleError("a bundle of the whole DAG has no seeds")
        seeds = tuple(seed_from_json(item) for item in listed)
        if len({seed.ref for seed in seeds}) != len(seeds):
            raise BundleError("a parcel is seeded twice")
        return cls(
            network=_text(document, "network", "bundle"),
            genesis=_hash(document, "genesis", "bundle"),
            subject=_hash(document, "subject", "bundle"),
            charters=tuple(_b64(text) for text in document["charters"]),
            checkpoints=checkpoints,
            entries=entries,
            depth=depth,
            seeds=seeds,
        )

    def to_json(self) -> dict[str, Any]:
        """The bundle's JSON document, fields in the order a node has always served them; then,
        for a bounded bundle only, ``depth`` and ``seeds`` (a bundle of the whole DAG reads as
        every bundle served before them)."""
        document: dict[str, Any] = {
            "media_type": BUNDLE_MEDIA_TYPE,
            "network": self.network,
            "genesis": self.genesis.hex(),
            "subject": self.subject.hex(),
            "charters": [base64.b64encode(raw).decode() for raw in self.charters],
            "checkpoints": dict(self.checkpoints),
            "entries": [item.to_json() for item in self.entries],
        }
        if self.depth is not None:
            document["depth"] = self.depth
            document["seeds"] = [seed_to_json(seed) for seed in self.seeds]
        return document

    def to_bytes(self) -> bytes:
        """The bytes a node serves: compact UTF-8 JSON, as the HTTP framework's JSON response
        renders ``to_json()``, so bundles served before this type existed read the same."""
        return json.dumps(
            self.to_json(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")


def _text(document: dict[str, Any], name: str, where: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise BundleError(f"{where}: {name} is not text")
    return value


def _match(document: dict[str, Any], name: str, pattern: re.Pattern[str], where: str) -> str:
    value = _text(document, name, where)
    if not pattern.fullmatch(value):
        raise BundleError(f"{where}: {name} {value[:80]!r} is not of the form a record allows")
    return value


def _count(document: dict[str, Any], name: str, high: int, where: str) -> int:
    value = document.get(name)
    # Exactly an int: JSON's true is no count (bool is an int in Python).
    if type(value) is not int or not 0 <= value <= high:
        raise BundleError(f"{where}: {name} is not a count from 0 to {high}")
    return value


def _hash(document: dict[str, Any], name: str, where: str) -> bytes:
    text = document.get(name)
    if not isinstance(text, str) or not _HASH_HEX.fullmatch(text):
        raise BundleError(f"{where}: {name} is not a hash in lowercase hex")
    return bytes.fromhex(text)


def _b64(text: object) -> bytes:
    if not isinstance(text, str):
        raise BundleError("expected base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError("bad base64") from exc
