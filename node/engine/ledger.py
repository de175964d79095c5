"""The participant's ledger as one object: store, keys, sequencer, and the admin records.

Shared by the HTTP app (node/server/app.py) and the ``kp-node`` command line, so that an operator
registered from the command line and one submitted over HTTP go through the same sequencer code,
the same rules and the same store. Several processes may append to one store: LMDB serialises
their write transactions and each batch reads the log's head inside its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.core import crypto
from node.core.charter import Charter, SignedCharter, chain_to, check_genesis, longest_chain
from node.core.clock import Clock, wall_ms
from node.core.encoding import Value
from node.core.errors import KeyNotInForceError, LedgerError, NotAdoptedError, RestoringError
from node.core.receipt import Receipt
from node.core.records import LOG_SIGNER, Entry, sign_record
from node.core.state import LedgerState, LedgerView, OperatorState
from node.engine import restore
from node.engine.config import Settings
from node.engine.datadir import DataDir
from node.engine.sequencer import EnvelopeSeal, RuleCheck, Sequencer, Submission
from node.engine.statistics import ensure_index
from node.engine.store import Store, StoreWriter

__all__ = ["CharterStatus", "LedgerNode", "LogAdoption"]


@dataclass(frozen=True, slots=True)
class LogAdoption:
    """Which charter version one member's log has adopted, as this node's replica shows it.

    Attributes:
        log: the member's id.
        adopted_version: the version of the log's last ``charter.adopt`` this node holds;
            ``None`` when it holds no entry of that log.
        behind: whether that is older than the newest version this node knows (or missing).
    """

    log: str
    adopted_version: int | None
    behind: bool


@dataclass(frozen=True, slots=True)
class CharterStatus:
    """The newest charter version this node knows that verifies from the genesis, and how far
    each member's log has come (the replicated logs' own adoptions are authoritative)."""

    newest: Charter
    logs: tuple[LogAdoption, ...]

    @property
    def behind(self) -> tuple[LogAdoption, ...]:
        return tuple(log for log in self.logs if log.behind)


class _KeyInForce:
    """The validation step of this node's sequencer: the rules, after checking that the log key
    which will sign the checkpoint is the one the log's adopted charter lists.

    After a charter version rotating the log key is adopted (an adoption signed with the old
    key), the old key may sign nothing more: a checkpoint it signed would not verify for peers
    that adopted the rotation. Until the node restarts on the new key it refuses every record.
    """

    def __init__(self, validate: RuleCheck, log: str, public_key: bytes) -> None:
        self._validate = validate
        self._log = log
        self._public_key = public_key

    def __call__(self, store: StoreWriter, entry: Entry, entry_hash: bytes) -> None:
        charter = LedgerView(store, store).adopted_charter(self._log)
        member = None if charter is None else charter.participants.get(self._log)
        member_version = 0 if charter is None else charter.version
        if member is not None and member.log_key != self._public_key:
            raise KeyNotInForceError(
                f"this node's log key is not the one charter version {member_version} lists"
                f" for {self._log}: install the new key files with `kp-node keys promote` and"
                " restart (docs/operations.md, rotating a key)"
            )
        self._validate(store, entry, entry_hash)


class LedgerNode:
    """One participant's node state: its store, its keys, and the one sequencer of its log."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        log_key: Ed25519PrivateKey,
        witness_key: Ed25519PrivateKey,
        clock: Clock = wall_ms,
        disclosure_keys: tuple[X25519PrivateKey, ...] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock  # every wall-clock read of the node's processes (node/core/clock.py)
        self.store = store
        self.log_key = log_key
        self.witness_key = witness_key
        # Open the envelopes addressed to this participant (decision 0041): the current key,
        # then retired ones; none for a data directory made before envelopes.
        self.disclosure_keys = disclosure_keys
        self.log = settings.participant
        self.data_dir: Path | None = None  # set when opened from a data directory
        self._sequencer: Sequencer | None = None

    @classmethod
    def open(cls, data_dir: DataDir) -> LedgerNode:
        """Open the node in ``data_dir``: settings, online keys, store."""
        settings = data_dir.settings()
        node = cls(
            settings,
            data_dir.open_store(settings),
            data_dir.key("log"),
            data_dir.key("witness"),
            disclosure_keys=data_dir.disclosure_keys(),
        )
        node.data_dir = data_dir.root
        # A store made before the statistics index, or copied back without it, gets it now
        # (decision 0045); a store that has it costs one read.
        ensure_index(node.store)
        return node

    def close(self) -> None:
        self.store.close()

    # --- reading ------------------------------------------------------------------------------

    @contextmanager
    def state(self) -> Iterator[LedgerView]:
        """The ledger state in one read snapshot."""
        with self.store.read() as reader:
            yield LedgerView(reader, reader)

    def genesis(self) -> bytes | None:
        """The genesis charter hash (the network id): the ``prev`` of this log's entry 0, which
        adopted the genesis or, for a participant admitted later, the version that admitted it."""
        with self.state() as state:
            first = state.entry(self.log, 0)
        return None if first is None else first.prev

    def trusted_charter(self) -> Charter | None:
        """The charter this node goes by: the one its log adopted last, or, before its log has
        adopted any (a node being restored), the newest published version that chains from a
        published genesis under the TUF rule."""
        with self.store.read() as reader:
            state = LedgerView(reader, reader)
            adopted = state.adopted_charter(self.log)
            if adopted is not None:
                return adopted
            published = [SignedCharter.parse(raw) for _, raw in reader.scan("charters", b"")]
        geneses = [c for c in published if c.charter.version == 1]
        if len(geneses) != 1 or not check_genesis(geneses[0], geneses[0].hash).ok:
            return None
        return longest_chain(geneses[0], published)[-1].charter

    def known_chain(self) -> list[SignedCharter]:
        """The charter versions from this node's genesis to the newest published one that
        verifies (``charter.longest_chain``); empty before the log has adopted anything."""
        genesis_hash = self.genesis()
        if genesis_hash is None:
            return []
        with self.store.read() as reader:
            state = LedgerView(reader, reader)
            genesis = state.charter(genesis_hash)
            published = [
                found for key, _ in reader.scan("charters", b"") if (found := state.charter(key))
            ]
            adopted = {a.charter for a in state.adoptions(self.log)}
        if genesis is None:
            return []
        return longest_chain(genesis, published, prefer=adopted)

    def charter_status(self) -> CharterStatus | None:
        """Which version each member's log has adopted, against the newest this node knows
        (``None`` before this log has adopted anything)."""
        chain = self.known_chain()
        if not chain:
            return None
        newest = chain[-1].charter
        logs = []
        with self.state() as state:
            for member in newest.participants:
                adoptions = state.adoptions(member)
                version = adoptions[-1].version if adoptions else None
                logs.append(
                    LogAdoption(member, version, version is None or version < newest.version)
                )
        return CharterStatus(newest, tuple(logs))

    def operators(self) -> list[OperatorState]:
        """Every operator ever registered in this node's log."""
        with self.state() as state:
            return state.operators(self.log)

    # --- writing ------------------------------------------------------------------------------

    def sequencer(self) -> Sequencer:
        """The sequencer of this node's log (created on first use, after the genesis adoption)."""
        if self._sequencer is None:
            genesis = self.genesis()
            if genesis is None:
                raise NotAdoptedError(
                    f"log {self.log} has adopted no charter yet: run `kp-node charter adopt`"
                )
            self._sequencer = self._make_sequencer(genesis)
        return self._sequencer

    def _make_sequencer(self, genesis: bytes) -> Sequencer:
        if self.restoring():
            raise RestoringError(
                f"this node is restoring log {self.log} from its peers and appends nothing "
                "until the log is back (it starts its sequencer itself then)"
            )
        return Sequencer(
            self.store,
            log=self.log,
            origin=self.settings.origin,
            log_key=self.log_key,
            genesis=genesis,
            validate=_KeyInForce(RuleCheck(), self.log, crypto.public_key_bytes(self.log_key)),
            clock=self.clock,
            seal=EnvelopeSeal(self.log),
        )

    def append_admin(self, record_type: str, body: dict[str, Value]) -> Receipt:
        """Append a record signed with the log key (charter adoption, operator registry)."""
        return self._append(self.sequencer(), record_type, body)

    def _append(self, sequencer: Sequencer, record_type: str, body: dict[str, Value]) -> Receipt:
        record: dict[str, Value] = {
            "v": 1,
            "type": record_type,
            "log": self.log,
            "time": self.clock(),
            "body": body,
            "sealed": {},
        }
        signed = sign_record(record, [(LOG_SIGNER, self.log_key)])
        [result] = sequencer.append_batch([Submission(signed.raw)])
        if isinstance(result, LedgerError):
            raise result
        return result

    def restoring(self) -> bool:
        """Whether this node is restoring its own log from peers (node/engine/restore.py)."""
        with self.store.read() as reader:
            return restore.restoring_since(reader) is not None

    def begin_restore(self, versions: Sequence[SignedCharter]) -> None:
        """Publish ``versions`` and mark the store as restoring this node's log from peers, in
        one transaction: into an emptied store, or one put back from a backup (whose log may
        be behind what the peers hold).

        Raises:
            RestoringError: ``node.no_charter`` when the store would hold no genesis to go by.
        """
        with self.store.write() as writer:
            state = LedgerState(writer, writer)
            for signed in versions:
                state.put_charter(signed)
            if not any(True for _ in writer.scan("charters", b"")):
                raise RestoringError(
                    "no charter known: give the chain from the genesis", code="node.no_charter"
                )
            restore.begin_restore(writer)

    def finish_restore(self) -> None:
        with self.store.write() as writer:
            restore.finish_restore(writer)

    def publish_charter(self, signed: SignedCharter) -> None:
        """Keep a charter document in the store, so that logs may adopt it."""
        with self.store.write() as writer:
            LedgerState(writer, writer).put_charter(signed)

    def adopt(self, signed: SignedCharter, earlier: Sequence[SignedCharter] = ()) -> Receipt:
        """Publish a charter version (and ``earlier`` ones) and append this log's
        ``charter.adopt`` of it.

        A log that has adopted nothing yet adopts, in entry 0, the version that lists it: the
        genesis for a founder, version N for a participant admitted in N (decision 0024). Its
        ``prev`` is the genesis hash, found by following ``previous`` from ``signed`` through the
        published versions, so the earlier versions must be published first or given here.

        Raises:
            LedgerError: ``charter.unknown`` when an earlier version is not published, or the
                rules' code when the adoption is refused.
        """
        for version in (*earlier, signed):
            self.publish_charter(version)
        body: dict[str, Value] = {"version": signed.charter.version, "charter": signed.hash}
        if self.genesis() is None:
            with self.state() as state:
                genesis = chain_to(signed, state.charter)[0]
            return self._append(self._make_sequencer(genesis.hash), "charter.adopt", body)
        return self.append_admin("charter.adopt", body)

    def adopt_chain(self, versions: Sequence[SignedCharter]) -> list[Receipt]:
        """Bring this log to the last of ``versions`` (oldest first), publishing them all.

        A log that has adopted nothing adopts only the last (``adopt``); a log at version K
        adopts each given version above K in turn, as the TUF rule requires. Versions at or
        below K are published and otherwise left alone, so giving the whole chain from the
        genesis is always right.

        Raises:
            LedgerError: ``charter.empty_chain``, or whatever ``adopt`` raises for a version.
        """
        if not versions:
            raise LedgerError("no charter version given", code="charter.empty_chain")
        *earlier, last = versions
        if self.genesis() is None:
            return [self.adopt(last, earlier)]
        for version in versions:
            self.publish_charter(version)
        receipts = []
        for version in sorted(versions, key=lambda v: v.charter.version):
            with self.state() as state:
                current = state.adopted_charter(self.log)
            if current is None or version.charter.version > current.version:
                receipts.append(self.adopt(version))
        return receipts

    def register_operator(
        self,
        operator: str,
        *,
        kind: str,
        public_key: bytes,
        roles: list[str],
        licence: str,
        valid_until: str,
    ) -> Receipt:
        return self.append_admin(
            "operator.register",
            {
                "operator": operator,
                "kind": kind,
                "licence": licence,
                "public_key": public_key,
                "roles": list[Value](sorted(roles)),
                "valid_until": valid_until,
            },
        )

    def revoke_operator(self, operator: str, reason: str) -> Receipt:
        return self.append_admin("operator.revoke", {"operator": operator, "reason": reason})

    @property
    def log_vkey(self) -> str:
        return crypto.verifier_key(self.settings.origin, self.log_key.public_key())
