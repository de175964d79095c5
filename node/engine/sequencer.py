"""The sequencer: the one writer of a participant's log (DESIGN §7).

``Sequencer.append_batch`` takes a batch and, in **one** LMDB write transaction, validates each
record in order, appends the accepted ones, updates the tree, and signs a checkpoint of the new
size. The transaction commits durably (fsync) before it returns, and so before any submitter hears
back: a receipt is a promise the log keeps across any crash. A record that fails validation leaves
no trace and the rest of the batch goes on. Who gathers the batches is the caller's business:
under ``kp-node run`` the sequencer process (node/server/sequencer_process.py, decision 0019);
``LedgerNode`` for the admin records of the command line.

A resubmitted record (same signing payload) is answered with the receipt of its original entry.

A record's disclosures are stored beside its entry, and encrypted to each participant entitled to
them (``EnvelopeSeal``, decision 0041) in the same transaction: an entry is never durable without
the envelopes its peers will replicate, nor envelopes without their entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from node.core import crypto, merkle, rules
from node.core.clock import Clock, wall_ms
from node.core.envelope import encode_envelopes, seal_envelopes
from node.core.errors import (
    DisclosureError,
    LedgerError,
    RecordError,
    SignatureError,
)
from node.core.notes import Checkpoint, sign_note
from node.core.receipt import Receipt
from node.core.records import MAX_ENTRY_SIZE, Entry, EntryRef, SignedRecord
from node.core.sealing import (
    Disclosures,
    check_disclosures,
    encode_disclosures,
    parse_disclosures,
)
from node.core.state import LedgerState
from node.engine.statistics import index_entry
from node.engine.store import LogReader, Store, StoreReader, StoreWriter

__all__ = [
    "EnvelopeSeal",
    "EnvelopeSealer",
    "RuleCheck",
    "Sequencer",
    "SignatureCheck",
    "Submission",
    "Validator",
]

Validator = Callable[[StoreWriter, Entry, bytes], None]
"""Decides whether an entry (given with its hash) may be appended; raises a ``LedgerError`` if
not, and otherwise writes what the entry changes in the ledger state.

It sees the store as the batch has left it so far, inside the batch's write transaction: if it
raises, it must have written nothing."""


EnvelopeSealer = Callable[[StoreWriter, SignedRecord, bytes, Disclosures], bytes | None]
"""Given the store inside the batch's transaction, an appended record, its entry hash and its
checked disclosures, the encoded envelopes to store beside the entry (``None``: none)."""


class EnvelopeSeal:
    """The envelopes of a KP node: the disclosures encrypted to each participant the policy
    names, with the disclosure keys of the charter the log has adopted (node/core/envelope.py)."""

    def __init__(self, log: str) -> None:
        self._log = log

    def __call__(
        self, store: StoreWriter, signed: SignedRecord, entry_hash: bytes, disclosures: Disclosures
    ) -> bytes | None:
        charter = LedgerState(store, store).adopted_charter(self._log)
        if charter is None:  # entry 0 adopts the charter; it seals nothing
            return None
        envelopes = seal_envelopes(charter, signed, entry_hash, disclosures)
        return encode_envelopes(envelopes) if envelopes else None


class SignatureCheck:
    """The validation step of the bare log engine: every signature verifies against a known key.

    The KP rules replace it with one that also knows operators, roles and parcel state.
    """

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        if not keys:
            raise ValueError("a signature check needs at least one key")  # an empty policy
        self._keys = dict(keys)

    def __call__(self, store: StoreWriter, entry: Entry, entry_hash: bytes) -> None:
        signed = entry.signed
        payload = signed.payload
        for sig in signed.sigs:
            key = self._keys.get(sig.by)
            if key is None:
                raise SignatureError(f"unknown signer {sig.by!r}", code="signature.unknown_signer")
            if not crypto.verify(key, sig.sig, payload):
                raise SignatureError(f"signature by {sig.by!r} does not verify")


class RuleCheck:
    """The validation step of a KP node: ``rules.check`` against the state in the store, then
    the entry's effects written to that state, and its movement to the statistics index
    (node/engine/statistics.py), in the same transaction."""

    def __call__(self, store: StoreWriter, entry: Entry, entry_hash: bytes) -> None:
        state = LedgerState(store, store)
        log = entry.signed.log
        state.apply(log, rules.check(state, entry, entry_hash))
        index_entry(store, EntryRef(log, entry.seq, entry_hash), entry)


@dataclass(frozen=True, slots=True)
class Submission:
    """A signed record as submitted, with the disclosures of its sealed fields (DESIGN §5)."""

    record: bytes
    disclosures: bytes | None = None
    parsed: SignedRecord | None = None  # ``record`` already parsed strictly by the caller


class Sequencer:
    """Appends signed records to one log, in durable batches.

    Args:
        store: the node's store.
        log: the participant id whose log this is (``BW``).
        origin: the checkpoint origin line (``kp.example/BW``), also the log key's name.
        log_key: the participant's log key, which signs every checkpoint.
        genesis: the genesis charter hash: the ``prev`` of entry 0.
        validate: decides each record; see ``Validator``.
        clock: milliseconds since the epoch, for entry times.
        seal: makes the envelopes of each appended record's disclosures; see
            ``EnvelopeSealer``. ``None`` (the bare log engine): none are made.
    """

    def __init__(
        self,
        store: Store,
        *,
        log: str,
        origin: str,
        log_key: Ed25519PrivateKey,
        genesis: bytes,
        validate: Validator,
        clock: Clock = wall_ms,
        seal: EnvelopeSealer | None = None,
    ) -> None:
        if len(genesis) != 32:
            raise ValueError("genesis must be a 32-byte hash")
        self._store = store
        self.log = log
        self.origin = origin
        self._key = log_key
        self._genesis = genesis
        self._validate = validate
        self._clock = clock
        self._seal = seal
        self.on_commit: Callable[[int, int, float], None] | None = None
        """Called after each commit with (batch size, new log size, commit seconds)."""
        # The hash and time of the last entry this sequencer committed (``_time_of_last``).
        self._last: tuple[bytes, int] | None = None

    def append_batch(
        self, submissions: Sequence[Submission | bytes]
    ) -> list[Receipt | LedgerError]:
        """Validate and append a batch in one durable transaction.

        Args:
            submissions: signed records, each with its disclosures (bare bytes: a record that
                seals nothing).

        Returns one result per submission, in order: its receipt, or the ``LedgerError`` that
        refused it. Returns only after the commit is durable.

        Raises:
            StoreError: the store failed; the transaction was aborted and nothing was appended.
        """
        started = time.monotonic()
        # Per submission: its refusal, the seq of its new entry, or the hash of its earlier entry.
        outcomes: list[LedgerError | int | bytes] = []
        with self._store.write() as store:
            log = store.log(self.log)
            size = log.size()
            prev = log.leaf_hash(size - 1) if size else self._genesis
            last_time = self._time_of_last(log, size, prev)
            appended: list[tuple[int, bytes]] = []
            for submission in submissions:
                if isinstance(submission, bytes):
                    submission = Submission(submission)
                try:
                    signed = submission.parsed or SignedRecord.parse(submission.record)
                    if signed.log != self.log:
                        raise RecordError(
                            f"record is for log {signed.log}, this is log {self.log}",
                            code="record.wrong_log",
                        )
                    original = store.entry_for_record(signed.record_hash)
                    if original is not None:
                        outcomes.append(original)
                        continue
                    disclosed = _disclosures(signed, submission.disclosures)
                    entry = Entry(
                        seq=size, prev=prev, time=max(last_time, self._clock()), signed=signed
                    )
                    encoded = entry.encode()
                    if len(encoded) > MAX_ENTRY_SIZE:
                        raise RecordError(
                            f"entry would be {len(encoded)} bytes, over {MAX_ENTRY_SIZE}",
                            code="entry.too_large",
                        )
                    entry_hash = merkle.leaf_hash(encoded)
                    self._validate(store, entry, entry_hash)
                    seq, prev = log.append(encoded, signed.record_hash, leaf=entry_hash)
                    if disclosed is not None:
                        # Durable with the entry, in this transaction, or not at all (see the
                        # module docstring): the plaintext for this node, the envelopes for all.
                        store.put("disclosures", prev, encode_disclosures(disclosed))
                        sealed = (
                            None
                            if self._seal is None
                            else self._seal(store, signed, prev, disclosed)
                        )
                        if sealed is not None:
                            store.put("envelopes", prev, sealed)
                    size, last_time = seq + 1, entry.time
                    appended.append((seq, prev))
                    outcomes.append(seq)
                except LedgerError as exc:
                    outcomes.append(exc)
            fresh: dict[int, Receipt] = {}
            if appended:
                checkpoint = Checkpoint(self.origin, size, log.root(size)).to_text()
                note = sign_note(checkpoint, self.origin, self._key)
                log.put_checkpoint(size, note)
                proofs = log.inclusion_proofs([seq for seq, _ in appended], size)
                for (seq, entry_hash), proof in zip(appended, proofs, strict=True):
                    fresh[seq] = Receipt(entry_hash, self.log, seq, note, tuple(proof))
            results: list[Receipt | LedgerError] = [
                fresh[o]
                if isinstance(o, int)
                else self._receipt(store, o)
                if isinstance(o, bytes)
                else o
                for o in outcomes
            ]
        # Committed and durable: only now may anyone be answered.
        if appended:
            self._last = (prev, last_time)
            if self.on_commit is not None:
                self.on_commit(len(appended), size, time.monotonic() - started)
        return results

    def _time_of_last(self, log: LogReader, size: int, last_hash: bytes) -> int:
        """The time of the log's last entry (0 while it has none), which the next entry's may
        not be before.

        The time of the last entry this sequencer committed is remembered with that entry's
        hash. The log's head still having that hash means it is the very same entry, time and
        all, so the remembered time is right; otherwise (the first batch since the sequencer
        was made, or another writer appended meanwhile) the stored entry is read. Nothing is
        kept in the store for it, so there is nothing to keep consistent across a crash.
        """
        if not size:
            return 0
        if self._last is not None and self._last[0] == last_hash:
            return self._last[1]
        return Entry.parse(log.entry(size - 1)).time

    def _receipt(self, store: StoreReader, entry_hash: bytes) -> Receipt:
        """The receipt of an entry of this log: the first checkpoint that covers it, and the
        inclusion proof against that checkpoint (computed from stored subtrees)."""
        position = store.position(entry_hash)
        if position is None or position[0] != self.log:
            raise RecordError("record belongs to another log", code="record.wrong_log")
        seq = position[1]
        log = store.log(self.log)
        covering = log.checkpoint_covering(seq)
        if covering is None:
            raise RecordError("entry has no checkpoint yet", code="record.not_committed")
        checkpoint_size, note = covering
        proof = tuple(log.inclusion_proof(seq, checkpoint_size))
        return Receipt(entry_hash=entry_hash, log=self.log, seq=seq, checkpoint=note, proof=proof)


def _disclosures(signed: SignedRecord, disclosures: bytes | None) -> Disclosures | None:
    """Check the disclosures against the record's commitments; return them parsed.

    Raises:
        DisclosureError: sealed fields undisclosed, or disclosures that do not open them.
    """
    if disclosures is None:
        if signed.record["sealed"]:
            raise DisclosureError("sealed fields were not disclosed", code="disclosure.missing")
        return None
    opened = parse_disclosures(disclosures)
    check_disclosures(signed, opened)
    return opened
