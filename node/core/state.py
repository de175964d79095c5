"""Ledger state: what the rules need to know, derived from every log the node holds.

State is a function of the logs: applying each entry's ``Effects`` in log order rebuilds it. It
is kept beside the logs in the same store, and written in the same transaction as the entry that
changed it, so state and logs never disagree after a crash.

Tables (keys are canonical msgpack arrays, values canonical msgpack maps):

==============  ========================  ===================================================
table           key                       value
==============  ========================  ===================================================
``heads``       [log]                     ``Head``: seq, hash and time of the last entry applied
``operators``   [log, operator]           ``OperatorState``
``parcels``     [log, seq, out]           ``ParcelState`` (creator hash inside)
``certificates`` [log, seq]               ``CertificateState``
``numbers``     [log, number key]         seq of the certificate.issue with that number
``parcel_ids``  [log, parcel id]          the live parcels with that id (decision 0022)
``adoptions``   [log]                     ``Adoptions``: every charter.adopt of that log
``charters``    charter hash              a signed charter document, as published
==============  ========================  ===================================================

This module is pure: it reads and writes through a ``KeyValue`` (the LMDB write transaction in a
node, a dict in a verifier or a test), so the one ``apply`` serves them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from node.core.charter import Charter, SignedCharter
from node.core.encoding import Value, decode_trusted, encode
from node.core.errors import LogCorruptError
from node.core.records import Entry, EntryRef, ParcelRef, certificate_number_key

__all__ = [
    "TABLES",
    "Adoption",
    "CertificateState",
    "Effects",
    "EntrySource",
    "Head",
    "KeyValue",
    "LedgerState",
    "LedgerView",
    "MemoryKeyValue",
    "OperatorState",
    "ParcelState",
    "ReadableKeyValue",
]

TABLES = (
    "heads",
    "operators",
    "parcels",
    "certificates",
    "numbers",
    "parcel_ids",
    "adoptions",
    "charters",
)


class ReadableKeyValue(Protocol):
    """Byte-keyed tables to read: a store snapshot, or a dict."""

    def get(self, table: str, key: bytes) -> bytes | None: ...

    def scan(self, table: str, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...


class KeyValue(ReadableKeyValue, Protocol):
    """Byte-keyed tables to read and write: the store's write transaction, or a dict."""

    def put(self, table: str, key: bytes, value: bytes) -> None: ...

    def delete(self, table: str, key: bytes) -> None: ...


class EntrySource(Protocol):
    """The logs themselves, for rules that look at a referenced entry of another log."""

    def log_size(self, log: str) -> int: ...

    def entry_bytes(self, log: str, seq: int) -> bytes | None: ...


class MemoryKeyValue:
    """A ``KeyValue`` and ``EntrySource`` in memory, for verifiers and tests."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[bytes, bytes]] = {t: {} for t in TABLES}
        self.logs: dict[str, list[bytes]] = {}

    def get(self, table: str, key: bytes) -> bytes | None:
        return self.tables[table].get(key)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self.tables[table][key] = value

    def delete(self, table: str, key: bytes) -> None:
        del self.tables[table][key]

    def scan(self, table: str, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self.tables[table] if k.startswith(prefix)):
            yield key, self.tables[table][key]

    def log_size(self, log: str) -> int:
        return len(self.logs.get(log, ()))

    def entry_bytes(self, log: str, seq: int) -> bytes | None:
        entries = self.logs.get(log, [])
        return entries[seq] if 0 <= seq < len(entries) else None


@dataclass(frozen=True, slots=True)
class OperatorState:
    log: str
    operator: str
    kind: str
    roles: tuple[str, ...]
    public_key: bytes
    valid_until: str
    licence: str
    registered: EntryRef
    revoked: EntryRef | None = None
    history: tuple[EntryRef, ...] = ()  # every registration and revocation of this id, in order

    def to_value(self) -> dict[str, Value]:
        return {
            "history": [h.to_value() for h in self.history],
            "kind": self.kind,
            "roles": list(self.roles),
            "public_key": self.public_key,
            "valid_until": self.valid_until,
            "licence": self.licence,
            "registered": self.registered.to_value(),
            "revoked": None if self.revoked is None else self.revoked.to_value(),
        }


@dataclass(frozen=True, slots=True)
class ParcelState:
    """A parcel from the entry that created it until one entry consumes it (DESIGN §6).

    ``basis`` is the share of its lineage's mass, as weighed at the mines or at import, that the
    parcel is entitled to (decision 0020): what its outputs may weigh, with the tolerance, however
    many times it is reweighed. It never exceeds ``centicarats``.
    """

    ref: ParcelRef
    parcel: str
    holder: str
    centicarats: int
    hs_code: str
    origins: tuple[str, ...]
    basis: int
    consumed_by: EntryRef | None = None
    transfers: tuple[EntryRef, ...] = ()  # every change of holder, for the chain of custody

    @property
    def live(self) -> bool:
        return self.consumed_by is None

    def to_value(self) -> dict[str, Value]:
        return {
            "hash": self.ref.hash,
            "parcel": self.parcel,
            "holder": self.holder,
            "centicarats": self.centicarats,
            "hs_code": self.hs_code,
            "origins": list(self.origins),
            "basis": self.basis,
            "consumed_by": None if self.consumed_by is None else self.consumed_by.to_value(),
            "transfers": [t.to_value() for t in self.transfers],
        }


@dataclass(frozen=True, slots=True)
class CertificateState:
    """A certificate as issued, and what became of it.

    ``outcome`` is set by the importing participant's log (confirm or reject), ``voided`` by the
    issuing participant's log; each log decides only its own part. ``basis`` is the lineage mass
    its parcels were entitled to (decision 0020). A confirmation keeps when the goods were
    received (the confirmation's ``received_on``) and when that was recorded (its entry's date),
    so a verdict can show a receipt dated before expiry but recorded in the grace period.
    """

    ref: EntryRef
    number: str
    exporter: str
    importing: str
    parcels: tuple[ParcelRef, ...]
    centicarats: int
    hs_codes: tuple[str, ...]
    origins: tuple[str, ...]
    issued_on: str
    expires_on: str
    void_after: str  # the last date a confirmation may be appended (expiry + grace)
    basis: int
    outcome: str | None = None  # "confirmed" | "rejected"
    outcome_ref: EntryRef | None = None
    voided: EntryRef | None = None
    received_on: str | None = None  # confirmed: the confirmation's received_on
    recorded_on: str | None = None  # confirmed: the date of the confirmation's entry

    def status(self, today: str) -> str:
        """``usable``, ``confirmed``, ``rejected``, ``voided`` or ``expired`` on ``today``
        (DESIGN §9): only a usable certificate may be accepted for import."""
        if self.voided is not None:
            return "voided"
        if self.outcome is not None:
            return self.outcome
        return "expired" if today > self.expires_on else "usable"

    def to_value(self) -> dict[str, Value]:
        return {
            "hash": self.ref.hash,
            "number": self.number,
            "exporter": self.exporter,
            "importing": self.importing,
            "parcels": [p.to_value() for p in self.parcels],
            "centicarats": self.centicarats,
            "hs_codes": list(self.hs_codes),
            "origins": list(self.origins),
            "issued_on": self.issued_on,
            "expires_on": self.expires_on,
            "void_after": self.void_after,
            "basis": self.basis,
            "outcome": self.outcome,
            "outcome_ref": None if self.outcome_ref is None else self.outcome_ref.to_value(),
            "voided": None if self.voided is None else self.voided.to_value(),
            "received_on": self.received_on,
            "recorded_on": self.recorded_on,
        }


@dataclass(frozen=True, slots=True)
class Head:
    """The last entry applied from a log: what the next one must chain to.

    ``complete`` says every entry of the log up to this one was applied here, as on a node or in
    a full audit; a verifier replaying a provenance DAG skips entries, and then does not know
    every live parcel of the log (which the parcel-id rule needs, decision 0022).
    """

    seq: int
    hash: bytes
    time: int
    complete: bool

    def to_value(self) -> list[Value]:
        return [self.seq, self.hash, self.time, self.complete]


@dataclass(frozen=True, slots=True)
class Adoption:
    """One charter.adopt entry: from its seq on, the log is judged under that charter."""

    version: int
    charter: bytes
    entry: EntryRef

    def to_value(self) -> list[Value]:
        return [self.version, self.charter, self.entry.to_value()]


@dataclass(frozen=True, slots=True)
class Effects:
    """What one accepted entry changes: the rules compute it, ``LedgerState.apply`` writes it."""

    head: Head | None = None
    operators: tuple[OperatorState, ...] = ()
    parcels: tuple[ParcelState, ...] = ()
    certificates: tuple[CertificateState, ...] = ()
    adoption: Adoption | None = None


class LedgerView:
    """Typed reads of the ledger state and the logs beside it (what the rules may see)."""

    def __init__(self, kv: ReadableKeyValue, entries: EntrySource) -> None:
        self._kv = kv
        self._entries = entries

    # --- reads ------------------------------------------------------------------------------

    def log_size(self, log: str) -> int:
        return self._entries.log_size(log)

    def entry(self, log: str, seq: int) -> Entry | None:
        raw = self._entries.entry_bytes(log, seq)
        return None if raw is None else Entry.parse(raw)

    def head(self, log: str) -> Head | None:
        raw = self._kv.get("heads", encode([log]))
        if raw is None:
            return None
        seq, digest, time, complete = _list(_decode(raw))
        return Head(_int(seq), _bytes(digest), _int(time), _bool(complete))

    def operator(self, log: str, operator: str) -> OperatorState | None:
        value = self._get("operators", [log, operator])
        if value is None:
            return None
        revoked = value["revoked"]
        return OperatorState(
            log=log,
            operator=operator,
            kind=_str(value["kind"]),
            roles=tuple(_str(r) for r in _list(value["roles"])),
            public_key=_bytes(value["public_key"]),
            valid_until=_str(value["valid_until"]),
            licence=_str(value["licence"]),
            registered=_entry_ref(value["registered"]),
            revoked=None if revoked is None else _entry_ref(revoked),
            history=tuple(_entry_ref(h) for h in _list(value["history"])),
        )

    def operators(self, log: str) -> list[OperatorState]:
        """Every operator ever registered in ``log`` (revoked ones included), by id."""
        # Keys are canonical [log, operator]; dropping the encoded empty operator id from
        # encode([log, ""]) leaves the prefix every [log, <id>] key starts with.
        prefix = encode([log, ""])[:-1]
        found = []
        for key, _ in self._kv.scan("operators", prefix):
            _, operator = _list(_decode(key))
            state = self.operator(log, _str(operator))
            if state is not None:
                found.append(state)
        return found

    def parcel(self, log: str, seq: int, out: int) -> ParcelState | None:
        value = self._get("parcels", [log, seq, out])
        if value is None:
            return None
        consumed = value["consumed_by"]
        return ParcelState(
            ref=ParcelRef(log, seq, _bytes(value["hash"]), out),
            parcel=_str(value["parcel"]),
            holder=_str(value["holder"]),
            centicarats=_int(value["centicarats"]),
            hs_code=_str(value["hs_code"]),
            origins=tuple(_str(o) for o in _list(value["origins"])),
            basis=_int(value["basis"]),
            consumed_by=None if consumed is None else _entry_ref(consumed),
            transfers=tuple(_entry_ref(t) for t in _list(value["transfers"])),
        )

    def certificate(self, log: str, seq: int) -> CertificateState | None:
        value = self._get("certificates", [log, seq])
        if value is None:
            return None
        outcome, outcome_ref, voided = value["outcome"], value["outcome_ref"], value["voided"]
        received_on, recorded_on = value["received_on"], value["recorded_on"]
        return CertificateState(
            ref=EntryRef(log, seq, _bytes(value["hash"])),
            number=_str(value["number"]),
            exporter=_str(value["exporter"]),
            importing=_str(value["importing"]),
            parcels=tuple(_parcel_ref(p) for p in _list(value["parcels"])),
            centicarats=_int(value["centicarats"]),
            hs_codes=tuple(_str(h) for h in _list(value["hs_codes"])),
            origins=tuple(_str(o) for o in _list(value["origins"])),
            issued_on=_str(value["issued_on"]),
            expires_on=_str(value["expires_on"]),
            void_after=_str(value["void_after"]),
            basis=_int(value["basis"]),
            outcome=None if outcome is None else _str(outcome),
            outcome_ref=None if outcome_ref is None else _entry_ref(outcome_ref),
            voided=None if voided is None else _entry_ref(voided),
            received_on=None if received_on is None else _str(received_on),
            recorded_on=None if recorded_on is None else _str(recorded_on),
        )

    def certificate_by_number(self, log: str, number: str) -> CertificateState | None:
        """The certificate of ``log`` with that number, written any way that folds to its key
        (``BW/2026/0005``, ``bw 2026 0005``: decision 0025).

        Raises:
            RecordError: ``certificate.number_invalid`` when ``number`` is not one.
        """
        raw = self._kv.get("numbers", encode([log, certificate_number_key(number)]))
        return None if raw is None else self.certificate(log, _int(_decode(raw)))

    def live_parcels_named(self, log: str, parcel: str) -> tuple[ParcelRef, ...]:
        """The live parcels of ``log`` whose human id is ``parcel`` (one, unless a void released
        a parcel under an id taken meanwhile; decision 0022)."""
        raw = self._kv.get("parcel_ids", encode([log, parcel]))
        if raw is None:
            return ()
        return tuple(_parcel_ref(r) for r in _list(_decode(raw)))

    def adoptions(self, log: str) -> tuple[Adoption, ...]:
        """Every charter the log has adopted, oldest first."""
        raw = self._kv.get("adoptions", encode([log]))
        if raw is None:
            return ()
        return tuple(
            Adoption(_int(v[0]), _bytes(v[1]), _entry_ref(v[2]))
            for v in (_list(item) for item in _list(_decode(raw)))
        )

    def adopted_charter(self, log: str) -> Charter | None:
        """The charter the log adopted last: the one its next entry is judged under."""
        adoptions = self.adoptions(log)
        if not adoptions:
            return None
        signed = self.charter(adoptions[-1].charter)
        if signed is None:
            raise LogCorruptError(f"log {log} adopted a charter the store does not hold")
        return signed.charter

    def charter(self, charter_hash: bytes) -> SignedCharter | None:
        cached = _CHARTERS.get(charter_hash)
        if cached is not None:
            return cached
        raw = self._kv.get("charters", charter_hash)
        if raw is None:
            return None
        signed = SignedCharter.parse(raw)
        if signed.hash != charter_hash:
            raise LogCorruptError(f"charter stored as {charter_hash.hex()} has another hash")
        if len(_CHARTERS) >= 64:
            _CHARTERS.clear()
        _CHARTERS[charter_hash] = signed
        return signed

    # --- encoding ---------------------------------------------------------------------------

    def _get(self, table: str, key: list[Value]) -> dict[str, Value] | None:
        raw = self._kv.get(table, encode(key))
        if raw is None:
            return None
        value = _decode(raw)
        if not isinstance(value, dict):
            raise LogCorruptError(f"state {table} {key!r} is not a map")
        return value


class LedgerState(LedgerView):
    """The ledger state with the one ``apply``: what accepted entries write."""

    def __init__(self, kv: KeyValue, entries: EntrySource) -> None:
        super().__init__(kv, entries)
        self._writable = kv

    def put_charter(self, signed: SignedCharter) -> None:
        """Keep a charter document so that logs may adopt it (published, not yet adopted)."""
        self._writable.put("charters", signed.hash, signed.encode())

    def apply(self, log: str, effects: Effects) -> None:
        """Write what one accepted entry of ``log`` changed."""
        if effects.head is not None:
            self._writable.put("heads", encode([log]), encode(effects.head.to_value()))
        for op in effects.operators:
            self._put("operators", [op.log, op.operator], op.to_value())
        for parcel in effects.parcels:
            ref = parcel.ref
            self._put("parcels", [ref.log, ref.seq, ref.out], parcel.to_value())
            self._index_parcel_id(parcel)
        for cert in effects.certificates:
            self._put("certificates", [cert.ref.log, cert.ref.seq], cert.to_value())
            number = encode([cert.ref.log, certificate_number_key(cert.number)])
            self._writable.put("numbers", number, encode(cert.ref.seq))
        if effects.adoption is not None:
            history: list[Value] = [a.to_value() for a in self.adoptions(log)]
            history.append(effects.adoption.to_value())
            self._writable.put("adoptions", encode([log]), encode(history))

    def seed_parcel(self, parcel: ParcelState) -> None:
        """Put a parcel into a verifier's replay as it was just before it was consumed, instead
        of replaying the history that made it (a bounded bundle's seed, decision 0039).

        Only for a replay that skips entries: the parcel is not indexed by its id, because the
        replay does not know every live parcel of its log anyway (``Head.complete``), and a
        seed is live only from an entry the replay does not hold.

        Raises:
            ValueError: the parcel is not live, or a parcel is already at its reference.
        """
        ref = parcel.ref
        if not parcel.live:
            raise ValueError("a seed is the parcel before it was consumed")
        if self._kv.get("parcels", encode([ref.log, ref.seq, ref.out])) is not None:
            raise ValueError(f"parcel {ref.log}/{ref.seq}/{ref.out} is already in the state")
        self._put("parcels", [ref.log, ref.seq, ref.out], parcel.to_value())

    def _index_parcel_id(self, parcel: ParcelState) -> None:
        """Keep ``parcel_ids`` to the live parcels: a created parcel joins its id, a consumed one
        leaves it (a transfer changes neither)."""
        ref = parcel.ref
        named = self.live_parcels_named(ref.log, parcel.parcel)
        if parcel.live:
            if ref in named:
                return
            named = (*named, ref)
        else:
            if ref not in named:
                return
            named = tuple(r for r in named if r != ref)
        key = encode([ref.log, parcel.parcel])
        if named:
            self._writable.put("parcel_ids", key, encode([r.to_value() for r in named]))
        else:
            self._writable.delete("parcel_ids", key)

    def _put(self, table: str, key: list[Value], value: dict[str, Value]) -> None:
        self._writable.put(table, encode(key), encode(value))


# Charter documents are named by their hash, so a parsed one can be shared by every reader; every
# record's rules need the adopted charter, and parsing one costs more than the rest of the rules.
_CHARTERS: dict[bytes, SignedCharter] = {}

# State was written by this node after validation; a value of the wrong shape means the store
# is damaged, not that someone sent bad input.


def _decode(raw: bytes) -> Value:
    return decode_trusted(raw)


def _str(value: Value) -> str:
    if not isinstance(value, str):
        raise LogCorruptError(f"state holds {value!r} where text belongs")
    return value


def _int(value: Value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise LogCorruptError(f"state holds {value!r} where a number belongs")
    return value


def _bool(value: Value) -> bool:
    if not isinstance(value, bool):
        raise LogCorruptError(f"state holds {value!r} where true or false belongs")
    return value


def _bytes(value: Value) -> bytes:
    if not isinstance(value, bytes):
        raise LogCorruptError(f"state holds {value!r} where bytes belong")
    return value


def _list(value: Value) -> list[Value]:
    if not isinstance(value, list):
        raise LogCorruptError(f"state holds {value!r} where a list belongs")
    return value


def _entry_ref(value: Value) -> EntryRef:
    log, seq, digest = _list(value)
    return EntryRef(_str(log), _int(seq), _bytes(digest))


def _parcel_ref(value: Value) -> ParcelRef:
    log, seq, digest, out = _list(value)
    return ParcelRef(_str(log), _int(seq), _bytes(digest), _int(out))
