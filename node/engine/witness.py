"""The witness side of c2sp.org/tlog-witness, and the cosignatures a log collects.

Pure parsing of ``add-checkpoint`` requests and the witness's decision on one (``judge``:
what the request deserves before this node re-validates the log; node/server/witnessing.py
only maps it to HTTP), the witness's record of the latest checkpoint it cosigned for each log
(read and compare-and-swapped inside one store write transaction), and the merging of collected
cosignatures into a log's stored checkpoint notes.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
from collections.abc import Iterable

from node.core import merkle
from node.core.charter import Charter
from node.core.crypto import parse_verifier_key
from node.core.encoding import decode_trusted, encode
from node.core.errors import LedgerError, LogCorruptError, ProofError, WitnessError
from node.core.notes import NoteSignature, SignedCheckpoint
from node.engine.store import StoreReader, StoreWriter

__all__ = [
    "MAX_PROOF_LINES",
    "MAX_REQUEST_BYTES",
    "AddCheckpoint",
    "Cosigned",
    "Judgement",
    "Merged",
    "Outcome",
    "Subject",
    "add_cosignatures",
    "cosigned",
    "judge",
    "merge_cosignatures",
    "needs_store",
    "parse_add_checkpoint",
    "set_cosigned",
    "store_merged",
    "subject_of",
    "witnessed",
]

MAX_PROOF_LINES = 63  # c2sp.org/tlog-witness: "MUST NOT send more than 63"
MAX_REQUEST_BYTES = 128 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An ``add-checkpoint`` request: the size the log believes this witness is at, the
    consistency proof from it, and the signed checkpoint."""

    old: int
    proof: tuple[bytes, ...]
    note: str


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse a request body strictly (c2sp.org/tlog-witness, add-checkpoint).

    Raises:
        WitnessError: anything malformed (the endpoint answers 400).
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise WitnessError("request too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WitnessError("request is not UTF-8") from exc
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise WitnessError("no empty line before the checkpoint")
    lines = head.split("\n")
    old_line = lines[0]
    if not old_line.startswith("old "):
        raise WitnessError("first line must be `old <size>`")
    digits = old_line[4:]
    if not (digits.isascii() and digits.isdigit()) or (digits != "0" and digits[0] == "0"):
        raise WitnessError(f"bad old size {digits!r}")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise WitnessError("more than 63 consistency proof lines")
    proof = []
    for line in proof_lines:
        try:
            digest = base64.b64decode(line, validate=True)
        except ValueError as exc:
            raise WitnessError("a proof line is not base64") from exc
        if len(digest) != 32:
            raise WitnessError("a proof line is not a SHA-256 hash")
        proof.append(digest)
    old = int(digits)
    if old >= 2**64:
        raise WitnessError("old size beyond any tree")
    return AddCheckpoint(old=old, proof=tuple(proof), note=note)


@dataclasses.dataclass(frozen=True, slots=True)
class Cosigned:
    """The latest checkpoint this node cosigned for a log."""

    size: int
    root: bytes
    note: str


def cosigned(reader: StoreReader, log: str) -> Cosigned | None:
    raw = reader.get("witness", log.encode())
    if raw is None:
        return None
    value = decode_trusted(raw)
    if not isinstance(value, list) or len(value) != 3:
        raise LogCorruptError(f"witness state of {log} is damaged")
    size, root, note = value
    if not (isinstance(size, int) and isinstance(root, bytes) and isinstance(note, str)):
        raise LogCorruptError(f"witness state of {log} is damaged")
    return Cosigned(size, root, note)


class Outcome(enum.Enum):
    """What an ``add-checkpoint`` request deserves (c2sp.org/tlog-witness)."""

    PROCEED = "proceed"  # re-validate the log up to the checkpoint, then cosign it
    MALFORMED = "malformed"  # not a request this witness can read
    UNKNOWN_ORIGIN = "unknown_origin"  # not a log this witness witnesses
    BAD_SIGNATURE = "bad_signature"  # not signed by the log's key in the charter
    QUARANTINED = "quarantined"  # the log is under evidence here
    STALE = "stale"  # the log's idea of what this witness cosigned is wrong: tell it ``known``
    FORK = "fork"  # the same size as what was cosigned, another root: the two notes prove it
    INCONSISTENT = "inconsistent"  # the proof fails; only this node's own copy can prove a lie


@dataclasses.dataclass(frozen=True, slots=True)
class Subject:
    """The log a request's checkpoint is of, signed by that log's key in the charter."""

    log: str
    signed: SignedCheckpoint


@dataclasses.dataclass(frozen=True, slots=True)
class Judgement:
    """The witness's decision on one request, with what the answer needs.

    Attributes:
        outcome: the decision.
        detail: why, for the problem document.
        known: the size this witness cosigned last (0 if none).
        code: the error code, when a more precise one than the outcome's is known (the note's
            own, for a note that does not parse).
    """

    outcome: Outcome
    detail: str = ""
    known: int = 0
    code: str = ""


def subject_of(request: AddCheckpoint, charter: Charter, own_log: str) -> Subject | Judgement:
    """Which log ``request`` is of, once its origin's signature is checked, or why it is
    refused. Pure: the store is not read."""
    try:
        signed = SignedCheckpoint.parse(request.note)
    except LedgerError as exc:
        return Judgement(Outcome.MALFORMED, exc.message, code=exc.code)
    log = signed.origin.removeprefix(f"{charter.network}/")
    listed = log in charter.participants and signed.origin == charter.origin(log)
    if log == own_log or not listed:
        return Judgement(Outcome.UNKNOWN_ORIGIN, f"not a log this node witnesses: {signed.origin}")
    try:
        signed.verify([charter.log_verifier_key(log)], origin=charter.origin(log))
    except LedgerError as exc:
        return Judgement(Outcome.BAD_SIGNATURE, exc.message)
    if request.old > signed.size:
        return Judgement(Outcome.MALFORMED, "old size beyond the checkpoint")
    return Subject(log, signed)


def judge(
    request: AddCheckpoint, subject: Subject, state: Cosigned | None, *, quarantined: bool
) -> Judgement:
    """The witness's decision on ``request`` for the log ``subject`` names, given what it
    cosigned of that log last (``state``) and whether the log is quarantined.

    ``PROCEED`` means only that nothing in the request itself is wrong: the caller then
    re-validates every entry up to the checkpoint's size before it cosigns, and judges again
    inside the write transaction that records the cosignature, so that two requests racing for
    one log cannot both be cosigned (compare-and-swap, c2sp.org/tlog-witness). ``FORK`` is
    only ever judged against a ``state``. Pure.
    """
    checkpoint = subject.signed.checkpoint
    known = 0 if state is None else state.size
    if quarantined:
        return Judgement(Outcome.QUARANTINED, f"log {subject.log} is quarantined", known)
    if request.old != known:
        return Judgement(Outcome.STALE, f"this witness cosigned size {known}", known)
    if state is not None and request.old == checkpoint.size and state.root != checkpoint.root:
        return Judgement(Outcome.FORK, "same size, another root: evidence stored", known)
    if state is not None and 0 < request.old < checkpoint.size:
        try:
            merkle.verify_consistency(
                request.old, checkpoint.size, state.root, checkpoint.root, list(request.proof)
            )
        except ProofError:
            return Judgement(
                Outcome.INCONSISTENT, "not consistent with what this node cosigned", known
            )
    elif request.proof and request.old == 0:
        return Judgement(Outcome.MALFORMED, "a proof from size 0 must be empty", known)
    return Judgement(Outcome.PROCEED, known=known)


def set_cosigned(writer: StoreWriter, log: str, state: Cosigned) -> None:
    """Record the new cosigned checkpoint. The caller compared the old one in this same
    transaction (c2sp.org/tlog-witness: check and persist atomically)."""
    writer.put("witness", log.encode(), encode([state.size, state.root, state.note]))


@dataclasses.dataclass(frozen=True, slots=True)
class Merged:
    """What merging cosignature lines into a stored checkpoint note gives.

    Attributes:
        note: the merged note (equal to the stored one when nothing offered was new).
        cosigners: how many distinct cosigners it carries.
        verified: how many offered lines had their signature checked (the rest could not
            count: identical to a stored line, or not newer than the stored line of their key).
    """

    note: str
    cosigners: int
    verified: int


def merge_cosignatures(
    stored: SignedCheckpoint, offered: Iterable[NoteSignature], cosigner_keys: list[str]
) -> Merged:
    """Merge ``offered`` cosignature lines into a log's ``stored`` checkpoint (pure; decision
    0029).

    The result keeps at most one cosignature per cosigner key (name and key ID): the one with
    the newest ``cosignature/v1`` timestamp. The stored lines were verified when they were
    stored, so they are not verified again (decision 0033); an offered line that cannot count —
    identical to a stored one, or no newer than the line its key already has — is dropped
    unverified, so anti-entropy carrying lines a node already has costs no signature check.
    Every other offered line of a listed key is verified against the stored checkpoint before
    it counts, and one that does not verify raises (``cosignature.invalid``). Lines of keys not
    in ``cosigner_keys`` are dropped; the log's own signature (and stored lines of keys no
    longer listed) stay.
    """
    keys = {(v.name, v.key_id): key for key in cosigner_keys for v in [parse_verifier_key(key)]}
    kept = [s for s in stored.signatures if (s.name, s.key_id) not in keys]
    newest: dict[tuple[str, bytes], tuple[int, NoteSignature]] = {}
    for signature in stored.signatures:
        slot = (signature.name, signature.key_id)
        if slot not in keys:
            continue
        timestamp = _timestamp(signature)
        if slot not in newest or timestamp > newest[slot][0]:
            newest[slot] = (timestamp, signature)
    held = set(stored.signatures)
    verified = 0
    for signature in offered:
        slot = (signature.name, signature.key_id)
        if slot not in keys or signature in held:
            continue
        if slot in newest and _timestamp(signature) <= newest[slot][0]:
            continue  # could not replace the line its key has: nothing to check
        timestamp = stored.with_signatures([signature]).cosignature_time(keys[slot])
        verified += 1
        held.add(signature)
        newest[slot] = (timestamp, signature)
    # Cosignatures in the order of the cosigner keys, so every node holding the same lines
    # serves the same note.
    ordered = [newest[slot][1] for slot in keys if slot in newest]
    merged = stored.with_signatures([*kept, *ordered]).to_text()
    return Merged(note=merged, cosigners=len(ordered), verified=verified)


def store_merged(writer: StoreWriter, log: str, size: int, merged: Merged, quorum: int) -> None:
    """Write ``merged`` as the stored checkpoint note of ``size`` if it differs, and make it
    the log's newest witnessed checkpoint when it carries ``quorum`` cosigners and is newer."""
    log_writer = writer.log(log)
    if merged.note != log_writer.checkpoint(size):
        log_writer.put_checkpoint(size, merged.note)
    if merged.cosigners >= quorum and size > witnessed(writer, log):
        writer.put("witnessed", log.encode(), encode(size))


def needs_store(reader: StoreReader, log: str, size: int, merged: Merged, quorum: int) -> bool:
    """Whether ``store_merged`` would write anything: a reader's check, so that a merge that
    brought nothing new opens no write transaction."""
    if merged.note != reader.log(log).checkpoint(size):
        return True
    return merged.cosigners >= quorum and size > witnessed(reader, log)


def add_cosignatures(
    writer: StoreWriter,
    log: str,
    size: int,
    offered: Iterable[NoteSignature],
    cosigner_keys: list[str],
    quorum: int,
) -> int:
    """Merge cosignature lines into the stored checkpoint of ``size`` (``merge_cosignatures``)
    and store the result (``store_merged``); the store is not written when nothing changed.

    Returns how many distinct cosigners the stored note now carries (0 if no checkpoint of
    that size is stored); when that reaches ``quorum`` the checkpoint becomes the log's newest
    witnessed one (if it is newer than the last).

    Raises:
        NoteError: an offered line of a listed key that could count does not verify
            (``cosignature.invalid``); nothing is written.
    """
    note = writer.log(log).checkpoint(size)
    if note is None:
        return 0
    merged = merge_cosignatures(SignedCheckpoint.parse(note), offered, cosigner_keys)
    store_merged(writer, log, size, merged, quorum)
    return merged.cosigners


def witnessed(reader: StoreReader, log: str) -> int:
    """The size of the newest witnessed checkpoint of ``log`` (0 if none)."""
    raw = reader.get("witnessed", log.encode())
    if raw is None:
        return 0
    size = decode_trusted(raw)
    if not isinstance(size, int):
        raise LogCorruptError(f"witnessed size of {log} is damaged")
    return size


def _timestamp(signature: NoteSignature) -> int:
    """The ``cosignature/v1`` timestamp a line claims (big-endian, before the signature); not
    verified. A line too short to hold one claims 0, so it never outranks a stored line."""
    if len(signature.signature) < 8:
        return 0
    return int.from_bytes(signature.signature[:8], "big")
