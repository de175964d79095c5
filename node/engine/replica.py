"""Replicas: another participant's log, appended here only after every entry re-validates.

``extend`` takes entries fetched from any peer together with a checkpoint signed by the log's
origin. Nothing is written unless the fetched entries, on top of what this store already holds,
hash to that checkpoint's root: a peer serving wrong entries changes nothing. Then each entry
goes through the same ``rules.check`` as the origin's sequencer used, in order, in one write
transaction. An entry that breaks a rule is turned into evidence (it is authentic: the signed
root covers it); an entry that references a log this store has not reached yet stops the
extension there, keeping the valid prefix, until that log catches up.

Evidence and quarantine live here too: a quarantined log is neither extended nor cosigned.

``keep_envelopes`` stores the envelopes (node/core/envelope.py, decision 0041) of entries already
held, fetched from any peer: well-formed, addressed only to the participants the policy names,
and, when one is addressed to this node's participant, opening against the entry's commitments.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.core import merkle
from node.core.clock import Clock, wall_ms
from node.core.crypto import load_public_key, verify
from node.core.encoding import Value, decode_trusted, encode
from node.core.envelope import check_addressed, open_with_any, parse_envelopes
from node.core.errors import (
    EncodingError,
    EnvelopeError,
    InvalidEntryError,
    LedgerError,
    PendingError,
    QuarantinedError,
    RecordError,
    ReplicaMismatchError,
    RuleError,
)
from node.core.notes import SignedCheckpoint
from node.core.records import Entry, EntryRef
from node.core.rules import Verified, check
from node.core.state import LedgerState
from node.engine.statistics import index_entry
from node.engine.store import LogReader, StoreReader, StoreWriter

__all__ = [
    "Evidence",
    "Extension",
    "KeptEnvelopes",
    "clear_quarantine",
    "exit_with_parent",
    "extend",
    "fork_evidence",
    "keep_envelopes",
    "list_evidence",
    "quarantined",
    "record_evidence",
    "verify_ahead",
]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Something a log's origin signed that proves it misbehaved, kept verbatim.

    Attributes:
        kind: ``invalid_entry`` or ``fork``.
        log: the offending log.
        code: the rule or check that failed.
        detail: a human explanation.
        material: the signed notes, entry bytes and proofs that show it.
        time: when this node found it (ms).
    """

    kind: str
    log: str
    code: str
    detail: str
    material: dict[str, Value]
    time: int

    def to_value(self) -> dict[str, Value]:
        return {
            "kind": self.kind,
            "log": self.log,
            "code": self.code,
            "detail": self.detail,
            "material": self.material,
            "time": self.time,
        }

    @property
    def id(self) -> bytes:
        # The same lie found twice is one piece of evidence.
        return hashlib.sha256(encode([self.kind, self.log, self.material])).digest()


def fork_evidence(
    log: str, checkpoints: Sequence[str], detail: str, time: int, proof: Sequence[bytes] = ()
) -> Evidence:
    """Evidence that ``log``'s origin signed checkpoints no one history can have: two notes
    (of one size with two roots, or of two sizes the larger does not extend), and, when the
    notes alone do not show it, the consistency proof from this node's copy that does."""
    material: dict[str, Value] = {"checkpoints": list[Value](sorted(checkpoints))}
    if proof:
        material["proof"] = list[Value](proof)
    return Evidence(
        kind="fork",
        log=log,
        code="checkpoint.inconsistent",
        detail=f"log {log}: {detail}",
        material=material,
        time=time,
    )


@dataclass(frozen=True, slots=True)
class Extension:
    """What ``extend`` did: the replica's size after it, and why it stopped short, if it did."""

    size: int
    pending: PendingError | None = None


def extend(
    writer: StoreWriter,
    log: str,
    signed: SignedCheckpoint,
    entries: Sequence[bytes],
    *,
    verified: Callable[[int], Verified] | None = None,
    clock: Clock = wall_ms,
) -> Extension:
    """Append ``entries`` (the log's seq ``size .. checkpoint.size - 1``) after re-validating.

    Args:
        writer: the store's write transaction.
        log: the log's participant id.
        signed: the signed checkpoint, which the caller verified with the origin's key; stored
            once the replica reaches its size.
        entries: the fetched entries, in order.
        verified: for an offset into ``entries``, signatures already verified for it (see
            ``verify_ahead``); the rules verify every other signature themselves.
        clock: when evidence is found.

    Raises:
        QuarantinedError: the log is quarantined.
        ReplicaMismatchError: the entries do not hash to the checkpoint's root (nothing written).
        InvalidEntryError: an authentic entry breaks a rule (nothing of this call written; the
            caller stores the evidence and quarantines the log).
    """
    if quarantined(writer, log):
        raise QuarantinedError(f"log {log} is quarantined")
    checkpoint = signed.checkpoint
    reader = writer.log(log)
    size = reader.size()
    if size + len(entries) != checkpoint.size:
        raise ReplicaMismatchError(
            f"{len(entries)} entries from {size} do not reach size {checkpoint.size}"
        )
    leaves = [merkle.leaf_hash(e) for e in entries]
    subtree = _extended(reader, size, leaves)
    if merkle.root_from(subtree, checkpoint.size) != checkpoint.root:
        raise ReplicaMismatchError(f"entries of {log} do not hash to the signed root")

    state = LedgerState(writer, writer)
    for offset, raw in enumerate(entries):
        seq = size + offset
        try:
            entry = Entry.parse(raw)
            if entry.seq != seq or entry.signed.log != log:
                raise RuleError(
                    f"entry at {log}/{seq} says {entry.signed.log}/{entry.seq}", code="entry.order"
                )
            effects = check(
                state, entry, leaves[offset], verified=verified(offset) if verified else ()
            )
        except PendingError as pending:
            return Extension(size=seq, pending=pending)
        except (RuleError, RecordError, EncodingError) as broken:
            proof = merkle.inclusion_proof_from(subtree, seq, checkpoint.size)
            raise InvalidEntryError(
                Evidence(
                    kind="invalid_entry",
                    log=log,
                    code=broken.code,
                    detail=f"entry {log}/{seq} breaks {broken.code}: {broken.message}",
                    material={
                        "checkpoint": signed.to_text(),
                        "seq": seq,
                        "entry": raw,
                        "proof": list[Value](proof),
                    },
                    time=clock(),
                )
            ) from broken
        state.apply(log, effects)
        writer.log(log).append(raw, entry.signed.record_hash, leaf=leaves[offset])
        index_entry(writer, EntryRef(log, seq, leaves[offset]), entry)
    writer.log(log).put_checkpoint(checkpoint.size, signed.to_text())
    return Extension(size=checkpoint.size)


def _extended(reader: LogReader, size: int, leaves: list[bytes]) -> merkle.SubtreeHash:
    """Complete subtrees of the stored tree extended by ``leaves`` (not yet written)."""
    memo: dict[tuple[int, int], bytes] = {}

    def subtree(level: int, index: int) -> bytes:
        first, end = index << level, (index + 1) << level
        if end <= size:
            return reader.subtree(level, index)
        if level == 0:
            return leaves[first - size]
        found = memo.get((level, index))
        if found is None:
            found = merkle.node_hash(
                subtree(level - 1, 2 * index), subtree(level - 1, 2 * index + 1)
            )
            memo[(level, index)] = found
        return found

    return subtree


def verify_ahead(
    entries: Sequence[bytes], keys: Mapping[str, Iterable[bytes]]
) -> frozenset[tuple[bytes, bytes, bytes]]:
    """Verify the signatures of ``entries`` with the keys their signers held when the range was
    fetched (``keys``: signer id or ``@log`` to its candidate raw public keys), for
    ``rules.check`` to skip.

    Runs in a worker process while the replica applies earlier entries, so that signature
    checks and the rest of re-validation use both cores. Anything it cannot settle — an entry
    that does not parse, a signer registered within the range — is left for the rules.
    """
    found = set()
    for raw in entries:
        try:
            signed = Entry.parse(raw).signed
        except LedgerError:
            continue
        for sig in signed.sigs:
            for key in keys.get(sig.by, ()):
                if verify(load_public_key(key), sig.sig, signed.payload):
                    found.add((key, sig.sig, signed.record_hash))
                    break
    return frozenset(found)


def exit_with_parent(parent: int) -> None:
    """In a worker process: end it when the node that started it is gone (killed, even with
    SIGKILL), so no worker outlives its node."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


# --- evidence and quarantine -------------------------------------------------------------------


def record_evidence(writer: StoreWriter, evidence: Evidence) -> bool:
    """Store ``evidence`` and quarantine its log; False if it was already stored."""
    if writer.get("evidence", evidence.id) is not None:
        return False
    writer.put("evidence", evidence.id, encode(evidence.to_value()))
    writer.put("quarantine", evidence.log.encode(), evidence.id)
    return True


def quarantined(reader: StoreReader, log: str) -> bool:
    return reader.get("quarantine", log.encode()) is not None


def clear_quarantine(writer: StoreWriter, log: str) -> bool:
    """An operator's decision: replicate and cosign ``log`` again. The evidence stays."""
    if writer.get("quarantine", log.encode()) is None:
        return False
    writer.delete("quarantine", log.encode())
    return True


def list_evidence(reader: StoreReader) -> list[dict[str, Value]]:
    found = []
    for key, value in reader.scan("evidence", b""):
        item = decode_trusted(value)
        if isinstance(item, dict):
            item["id"] = key
            item["quarantined"] = quarantined(reader, str(item.get("log")))
            found.append(item)
    return found


@dataclass(frozen=True, slots=True)
class KeptEnvelopes:
    """What ``keep_envelopes`` did: the seqs it stored, and those it refused with the code."""

    stored: tuple[int, ...] = ()
    refused: tuple[tuple[int, str], ...] = ()


def keep_envelopes(
    writer: StoreWriter,
    log: str,
    envelopes: Mapping[int, bytes],
    *,
    network: str,
    participant: str,
    keys: Sequence[X25519PrivateKey],
) -> KeptEnvelopes:
    """Store the envelopes a peer served for entries of ``log`` this store holds.

    Each is refused (and not stored) when it is malformed, addressed to a participant the
    policy does not name for its record, or, addressed to ``participant`` (this node's) and
    ``key`` given, does not open against the entry's commitments. Envelopes of an entry not held,
    or already stored, are passed over: the first that verified stays. Durable with the
    writer's transaction.

    Args:
        writer: the store, in a write transaction.
        log: the log the entries belong to.
        envelopes: seq → the encoded envelopes of that entry, as the peer served them.
        network: the charter's network (bound into every envelope).
        participant: this node's participant.
        keys: its disclosure keys, current then retired; none (a node made before envelopes)
            checks none it would open.
    """
    log_reader = writer.log(log)
    size = log_reader.size()
    stored: list[int] = []
    refused: list[tuple[int, str]] = []
    for seq, raw in sorted(envelopes.items()):
        if not 0 <= seq < size:
            continue
        entry_hash = log_reader.leaf_hash(seq)
        if writer.get("envelopes", entry_hash) is not None:
            continue
        entry_bytes = log_reader.entry(seq)
        try:
            parsed = parse_envelopes(raw)
            signed = Entry.parse(entry_bytes).signed
            check_addressed(signed, parsed)
            if participant in parsed and keys:
                open_with_any(
                    parsed,
                    network=network,
                    entry_hash=entry_hash,
                    participant=participant,
                    keys=keys,
                    signed=signed,
                )
        except (EnvelopeError, RecordError, EncodingError) as exc:
            refused.append((seq, exc.code))
            continue
        writer.put("envelopes", entry_hash, raw)
        stored.append(seq)
    return KeptEnvelopes(tuple(stored), tuple(refused))
