"""A KP network in a test: participants with keys, a genesis charter, operators, and logs.

``World`` builds and signs real records and appends them either straight through the pure
``rules.check`` over an in-memory state (fast, for tables and Hypothesis) or through real
sequencers writing one LMDB store (for scenarios). Either way nothing is mocked: signatures,
canonical encoding, the rules and the state are the production code.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.core import crypto, merkle, rules
from node.core.charter import (
    Charter,
    Participant,
    Policy,
    SignedCharter,
    make_genesis,
    sign_charter,
)
from node.core.encoding import Value
from node.core.errors import LedgerError
from node.core.receipt import Receipt
from node.core.records import (
    LOG_SIGNER,
    SEALED_FIELDS,
    Entry,
    EntryRef,
    ParcelRef,
    SignedRecord,
    sign_record,
)
from node.core.sealing import Disclosures, encode_disclosures, seal
from node.core.state import LedgerState, LedgerView, MemoryKeyValue
from node.engine.sequencer import EnvelopeSeal, RuleCheck, Sequencer, Submission
from node.engine.store import Store

NETWORK = "kp.test"
DAY_MS = 86_400_000
START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)

DEFAULT_POLICY = Policy(
    charter_threshold=3,
    witness_quorum=2,
    mass_tolerance_ppm=1_000,  # 0.1 %: reweighing on different scales
    max_certificate_days=60,
    void_grace_days=14,
)


@dataclass
class Member:
    id: str
    log_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    witness_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    governance_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    disclosure_key: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)

    def participant(self, *, kind: str = "participant", status: str = "active") -> Participant:
        return Participant(
            id=self.id,
            name=f"KP authority of {self.id}",
            kind=kind,
            status=status,
            log_key=crypto.public_key_bytes(self.log_key),
            witness_key=crypto.public_key_bytes(self.witness_key),
            governance_key=crypto.public_key_bytes(self.governance_key),
            endpoints=(),
            disclosure_key=self.disclosure_key.public_key().public_bytes_raw(),
        )


def ref_value(ref: EntryRef | ParcelRef) -> list[Value]:
    return ref.to_value()


class World:
    """Participants, a signed genesis, operators' keys, and a way to append records.

    Args:
        ids: the participants (all of kind participant, all active).
        observers: members of kind observer (active), listed and signing the genesis too.
        store: a store directory to append through real sequencers; None for in-memory rules.
        policy: the genesis policy.
    """

    def __init__(
        self,
        ids: Iterable[str] = ("BW", "CA", "EU", "AE", "IN"),
        *,
        store: Path | None = None,
        policy: Policy = DEFAULT_POLICY,
        observers: Iterable[str] = (),
    ) -> None:
        self.members = {i: Member(i) for i in (*ids, *observers)}
        self.observers = frozenset(observers)
        charter = make_genesis(
            NETWORK,
            [
                m.participant(kind="observer" if m.id in self.observers else "participant")
                for m in self.members.values()
            ],
            policy,
        )
        self.genesis = self.sign(charter, self.members)
        self.operator_keys: dict[tuple[str, str], Ed25519PrivateKey] = {}
        self.time = int(START.timestamp() * 1000)
        self.kv = MemoryKeyValue()
        self.state = LedgerState(self.kv, self.kv)
        self.store = Store.open(store, map_size=1 << 30) if store is not None else None
        self.sequencers: dict[str, Sequencer] = {}
        self.produced = 0
        self.publish(self.genesis)

    # --- charter -------------------------------------------------------------------------------

    def sign(
        self, charter: Charter, signers: Iterable[str] | Mapping[str, Member]
    ) -> SignedCharter:
        signed = SignedCharter(charter, ())
        for member_id in signers:
            signed = sign_charter(signed, member_id, self.members[member_id].governance_key)
        return signed

    def publish(self, signed: SignedCharter) -> None:
        """Make a charter document known to the store (as the network endpoint would)."""
        if self.store is None:
            self.state.put_charter(signed)
        else:
            with self.store.write() as w:
                LedgerState(w, w).put_charter(signed)

    @property
    def genesis_hash(self) -> bytes:
        return self.genesis.hash

    # --- time ----------------------------------------------------------------------------------

    def advance(self, days: float) -> None:
        self.time += int(days * DAY_MS)

    @property
    def today(self) -> str:
        return rules.entry_date(self.time)

    def date(self, days_from_today: int) -> str:
        day = datetime.date.fromisoformat(self.today) + datetime.timedelta(days=days_from_today)
        return day.isoformat()

    # --- appending -----------------------------------------------------------------------------

    def append(
        self,
        log: str,
        record_type: str,
        body: dict[str, Value],
        *,
        by: str | Iterable[str],
        sealed_values: Mapping[str, Value] | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> EntryRef:
        """Sign and append one record; return its entry reference.

        Raises:
            LedgerError: the record was refused (with the rule's code).
        """
        signed, disclosures = self.signed_record(
            log, record_type, body, by=by, sealed_values=sealed_values, key=key
        )
        disclosed = encode_disclosures(disclosures) if disclosures else None
        if self.store is not None:
            [result] = self._sequencer(log).append_batch([Submission(signed.raw, disclosed)])
            if isinstance(result, LedgerError):
                raise result
            assert isinstance(result, Receipt)
            return EntryRef(log, result.seq, result.entry_hash)
        entries = self.kv.logs.setdefault(log, [])
        prev = merkle.leaf_hash(entries[-1]) if entries else self.genesis_hash
        entry = Entry(seq=len(entries), prev=prev, time=self.time, signed=signed)
        encoded = entry.encode()
        entry_hash = merkle.leaf_hash(encoded)
        effects = rules.check(self.state, entry, entry_hash)
        self.state.apply(log, effects)
        entries.append(encoded)
        return EntryRef(log, entry.seq, entry_hash)

    def signed_record(
        self,
        log: str,
        record_type: str,
        body: dict[str, Value],
        *,
        by: str | Iterable[str],
        sealed_values: Mapping[str, Value] | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> tuple[SignedRecord, Disclosures]:
        """Sign a record as ``append`` would, without appending it; with its disclosures."""
        signers = [by] if isinstance(by, str) else list(by)
        if sealed_values is None:
            sealed_values = _default_sealed(record_type)
        sealed, disclosures = seal(sealed_values)
        record = {
            "v": 1,
            "type": record_type,
            "log": log,
            "time": self.time,
            "body": body,
            "sealed": sealed,
        }
        keys = [(s, key or self._key(log, s)) for s in signers]
        return sign_record(record, keys), disclosures

    def sequencer(self, log: str) -> Sequencer:
        """The real sequencer of ``log`` (store mode only)."""
        return self._sequencer(log)

    def _key(self, log: str, signer: str) -> Ed25519PrivateKey:
        if signer == LOG_SIGNER:
            return self.members[log].log_key
        return self.operator_keys[(log, signer)]

    def _sequencer(self, log: str) -> Sequencer:
        if log not in self.sequencers:
            assert self.store is not None
            self.sequencers[log] = Sequencer(
                self.store,
                log=log,
                origin=f"{NETWORK}/{log}",
                log_key=self.members[log].log_key,
                genesis=self.genesis_hash,
                validate=RuleCheck(),
                clock=lambda: self.time,
                seal=EnvelopeSeal(log),
            )
        return self.sequencers[log]

    def read_state(self) -> _StoreState:
        """A context manager giving a ``LedgerView`` over the store (store mode only)."""
        assert self.store is not None
        return _StoreState(self.store)

    # --- common records ------------------------------------------------------------------------

    def adopt(self, log: str, signed: SignedCharter | None = None) -> EntryRef:
        charter = signed or self.genesis
        body = {"version": charter.charter.version, "charter": charter.hash}
        return self.append(log, "charter.adopt", body, by=LOG_SIGNER)

    def register(
        self,
        log: str,
        operator: str,
        kind: str,
        roles: Iterable[str] | None = None,
        *,
        valid_until: str = "2030-12-31",
    ) -> EntryRef:
        key = Ed25519PrivateKey.generate()
        self.operator_keys[(log, operator)] = key
        if roles is None:
            roles = sorted(rules_for(kind))
        body: dict[str, Value] = {
            "operator": operator,
            "kind": kind,
            "licence": f"{log}-LIC-{operator}",
            "public_key": crypto.public_key_bytes(key),
            "roles": sorted(roles),
            "valid_until": valid_until,
        }
        return self.append(log, "operator.register", body, by=LOG_SIGNER)

    def setup_log(self, log: str, *, mine: bool = True) -> None:
        """Adopt the genesis and register an authority officer, a trader, and a mine."""
        self.adopt(log)
        self.register(log, "officer", "authority")
        self.register(log, "trader", "trader")
        if mine:
            self.register(log, "mine", "mine")

    def produce(
        self,
        log: str,
        centicarats: int,
        *,
        parcel: str | None = None,
        hs_code: str = "7102.10",
        holder: str = "mine",
        by: str = "mine",
    ) -> ParcelRef:
        """Produce a parcel; without ``parcel``, under a fresh id (ids are unique while live)."""
        self.produced += 1
        if parcel is None:
            parcel = f"{log}-P-{self.produced:04}"
        ref = self.append(
            log,
            "parcel.produce",
            {
                "parcel": parcel,
                "mine": "mine",
                "produced_on": self.today,
                "centicarats": centicarats,
                "hs_code": hs_code,
                "holder": holder,
            },
            by=by,
        )
        return ParcelRef(ref.log, ref.seq, ref.hash, 0)

    def transfer(
        self,
        parcel: ParcelRef,
        to: str,
        *,
        by: str,
        sealed_values: Mapping[str, Value] | None = None,
    ) -> EntryRef:
        """Hand ``parcel`` on, warranted; return the transfer's entry."""
        return self.append(
            parcel.log,
            "parcel.transfer",
            {"parcel": parcel.to_value(), "to": to, "warranty": True},
            by=by,
            sealed_values=sealed_values,
        )

    def transform(
        self,
        log: str,
        inputs: list[ParcelRef],
        outputs: list[tuple[str, int, str]],
        kind: str,
        *,
        by: str = "trader",
    ) -> list[ParcelRef]:
        ref = self.append(
            log,
            "parcel.transform",
            {
                "inputs": [p.to_value() for p in inputs],
                "outputs": [
                    {"parcel": name, "centicarats": cct, "hs_code": hs} for name, cct, hs in outputs
                ],
                "kind": kind,
            },
            by=by,
        )
        return [ParcelRef(ref.log, ref.seq, ref.hash, i) for i in range(len(outputs))]

    def certify(
        self,
        log: str,
        number: str,
        parcels: list[ParcelRef],
        importing: str,
        *,
        exporter: str = "trader",
        days: int = 30,
        by: str = "officer",
        sealed_values: Mapping[str, Value] | None = None,
        **overrides: Value,
    ) -> EntryRef:
        body = self.certificate_body(
            number, parcels, importing, exporter=exporter, days=days, **overrides
        )
        return self.append(log, "certificate.issue", body, by=by, sealed_values=sealed_values)

    def certificate_body(
        self,
        number: str,
        parcels: list[ParcelRef],
        importing: str,
        *,
        exporter: str = "trader",
        days: int = 30,
        **overrides: Value,
    ) -> dict[str, Value]:
        """The body ``certify`` signs: mass, HS codes and origins taken from the parcels."""
        states = [self.parcel_state(p) for p in parcels]
        body: dict[str, Value] = {
            "number": number,
            "exporter": exporter,
            "importing": importing,
            "parcels": [p.to_value() for p in parcels],
            "parcel_count": len(parcels),
            "centicarats": sum(s.centicarats for s in states),
            "hs_codes": sorted({s.hs_code for s in states}),
            "origins": sorted({o for s in states for o in s.origins}),
            "issued_on": self.today,
            "expires_on": self.date(days),
        }
        body.update(overrides)
        return body

    def confirm(
        self,
        log: str,
        certificate: EntryRef,
        parcels: list[tuple[str, int, str]],
        *,
        holder: str = "trader",
        by: str = "officer",
        **overrides: Value,
    ) -> list[ParcelRef]:
        body: dict[str, Value] = {
            "certificate": certificate.to_value(),
            "received_on": self.today,
            "centicarats_received": sum(c for _, c, _ in parcels),
            "seal_intact": True,
            "parcels": [
                {"parcel": name, "centicarats": cct, "hs_code": hs} for name, cct, hs in parcels
            ],
            "holder": holder,
        }
        body.update(overrides)
        ref = self.append(log, "certificate.confirm", body, by=by)
        return [ParcelRef(ref.log, ref.seq, ref.hash, i) for i in range(len(parcels))]

    def parcel_state(self, ref: ParcelRef) -> Any:
        if self.store is None:
            return self.state.parcel(ref.log, ref.seq, ref.out)
        with self.read_state() as state:
            return state.parcel(ref.log, ref.seq, ref.out)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def rules_for(kind: str) -> frozenset[str]:
    """Every role an operator of this kind may hold."""
    return rules.KIND_ROLES[kind]


def _default_sealed(record_type: str) -> dict[str, Value]:
    """Plausible sealed values for the types that seal fields."""
    defaults: dict[str, Value] = {
        "invoice": "INV-0001",
        "value_usd_cents": 125_000_000,
        "exporter_name": "Okavango Diamond Company",
        "importer_name": "Antwerp Rough Traders NV",
        "seal_number": "SEAL-77801",
    }
    return {f: defaults[f] for f in SEALED_FIELDS.get(record_type, ())}


class _StoreState:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._context: Any = None

    def __enter__(self) -> LedgerView:
        self._context = self._store.read()
        reader = self._context.__enter__()
        return LedgerView(reader, reader)

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()
