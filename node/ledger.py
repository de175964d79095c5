"""The participant's ledger as one object: store, keys, sequencer, and the admin records.

Shared by the HTTP app (node/app.py) and the ``kp-node`` command line, so that an operator
registered from the command line and one submitted over HTTP go through the same sequencer code,
the same rules and the same store. Several processes may append to one store: LMDB serialises
their write transactions and each batch reads the log's head inside its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node import crypto
from node.charter import Charter, SignedCharter, longest_chain
from node.config import Settings
from node.datadir import DataDir
from node.encoding import Value
from node.errors import LedgerError
from node.log import Receipt, RuleCheck, Sequencer, Submission, wall_ms
from node.records import LOG_SIGNER, sign_record
from node.state import LedgerState, LedgerView, OperatorState
from node.store import Store

__all__ = ["LedgerNode", "NotAdoptedError"]


class NotAdoptedError(LedgerError):
    code = "charter.not_adopted"


class LedgerNode:
    """One participant's node state: its store, its keys, and the one sequencer of its log."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        log_key: Ed25519PrivateKey,
        witness_key: Ed25519PrivateKey,
    ) -> None:
        self.settings = settings
        self.store = store
        self.log_key = log_key
        self.witness_key = witness_key
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
        )
        node.data_dir = data_dir.root
        return node

    def close(self) -> None:
        if self._sequencer is not None:
            self._sequencer.stop()
        self.store.close()

    # --- reading ------------------------------------------------------------------------------

    @contextmanager
    def state(self) -> Iterator[LedgerView]:
        """The ledger state in one read snapshot."""
        with self.store.read() as reader:
            yield LedgerView(reader, reader)

    def genesis(self) -> bytes | None:
        """The genesis charter hash this node's log adopted first (the network id)."""
        with self.state() as state:
            adoptions = state.adoptions(self.log)
        return adoptions[0].charter if adoptions else None

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
        chain = longest_chain(geneses[0].hash, published) if len(geneses) == 1 else []
        return chain[-1].charter if chain else None

    def charter_chain(self) -> list[SignedCharter]:
        """Every charter version this store holds that chains from the genesis this log adopted
        (TUF rule), oldest first: adopted ones and published ones not adopted yet."""
        genesis = self.genesis()
        if genesis is None:
            return []
        with self.store.read() as reader:
            published = [SignedCharter.parse(raw) for _, raw in reader.scan("charters", b"")]
        return longest_chain(genesis, published)

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
        return Sequencer(
            self.store,
            log=self.log,
            origin=self.settings.origin,
            log_key=self.log_key,
            genesis=genesis,
            validate=RuleCheck(),
            max_batch=self.settings.sequencer_max_batch,
            max_delay=self.settings.sequencer_max_delay_ms / 1000,
            max_queue=self.settings.sequencer_max_queue,
        )

    def append_admin(self, record_type: str, body: dict[str, Value]) -> Receipt:
        """Append a record signed with the log key (charter adoption, operator registry)."""
        return self._append(self.sequencer(), record_type, body)

    def _append(self, sequencer: Sequencer, record_type: str, body: dict[str, Value]) -> Receipt:
        record: dict[str, Value] = {
            "v": 1,
            "type": record_type,
            "log": self.log,
            "time": wall_ms(),
            "body": body,
            "sealed": {},
        }
        signed = sign_record(record, [(LOG_SIGNER, self.log_key)])
        [result] = sequencer.append_batch([Submission(signed.raw)])
        if isinstance(result, LedgerError):
            raise result
        return result

    def publish_charter(self, signed: SignedCharter) -> None:
        """Keep a charter document in the store, so that logs may adopt it."""
        with self.store.write() as writer:
            LedgerState(writer, writer).put_charter(signed)

    def adopt(self, signed: SignedCharter) -> Receipt:
        """Publish a charter version and append this log's ``charter.adopt`` of it."""
        self.publish_charter(signed)
        body: dict[str, Value] = {"version": signed.charter.version, "charter": signed.hash}
        if self.genesis() is None:
            # The first adoption is entry 0, whose prev is the genesis hash it adopts.
            return self._append(self._make_sequencer(signed.hash), "charter.adopt", body)
        return self.append_admin("charter.adopt", body)

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
