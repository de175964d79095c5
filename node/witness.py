"""The witness side of c2sp.org/tlog-witness, and the cosignatures a log collects.

Pure parsing and formatting of ``add-checkpoint`` requests, the witness's record of the latest
checkpoint it cosigned for each log (read and compare-and-swapped inside one store write
transaction), and the merging of collected cosignatures into a log's stored checkpoint notes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

from node.crypto import parse_verifier_key
from node.encoding import decode_trusted, encode
from node.errors import LedgerError, LogCorruptError
from node.notes import NoteSignature, SignedNote, parse_note, verify_cosignature

if TYPE_CHECKING:  # the store is the server's; a verifier imports this without lmdb
    from node.store import StoreReader, StoreWriter

__all__ = [
    "MAX_PROOF_LINES",
    "MAX_REQUEST_BYTES",
    "AddCheckpoint",
    "Cosigned",
    "Merged",
    "WitnessError",
    "add_cosignatures",
    "cosigned",
    "merge_cosignatures",
    "needs_store",
    "parse_add_checkpoint",
    "set_cosigned",
    "store_merged",
    "witnessed",
]

MAX_PROOF_LINES = 63  # c2sp.org/tlog-witness: "MUST NOT send more than 63"
MAX_REQUEST_BYTES = 128 * 1024


class WitnessError(LedgerError):
    code = "witness.malformed"


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


def set_cosigned(writer: StoreWriter, log: str, state: Cosigned) -> None:
    """Record the new cosigned checkpoint. The caller compared the old one in this same
    transaction (c2sp.org/tlog-witness: check and persist atomically)."""
    writer.put("witness", log.encode(), encode([state.size, state.root, state.note]))


@dataclass(frozen=True, slots=True)
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


def merge_cosignatures(note: str, lines: list[str], cosigner_keys: list[str]) -> Merged:
    """Merge cosignature ``lines`` into a stored checkpoint ``note`` (pure; decision 0029).

    The result keeps at most one cosignature per cosigner key (name and key ID): the one with
    the newest ``cosignature/v1`` timestamp. The stored lines were verified when they were
    stored, so they are not verified again (decision 0033); an offered line that cannot count —
    identical to a stored one, or no newer than the line its key already has — is dropped
    unverified, so anti-entropy carrying lines a node already has costs no signature check.
    Every other offered line of a listed key is verified before it counts, and one that does
    not verify raises (``cosignature.invalid``). Lines of keys not in ``cosigner_keys`` are
    dropped; the log's own signature (and stored lines of keys no longer listed) stay.
    """
    stored = parse_note(note)
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
    for line in lines:
        if not line.startswith("— "):
            continue
        signature = _parse_line(stored.text, line)
        slot = (signature.name, signature.key_id)
        if slot not in keys or signature in held:
            continue
        if slot in newest and _timestamp(signature) <= newest[slot][0]:
            continue  # could not replace the line its key has: nothing to check
        one = SignedNote(stored.text, (signature,)).to_text()
        timestamp = verify_cosignature(one, keys[slot])
        verified += 1
        held.add(signature)
        newest[slot] = (timestamp, signature)
    # Cosignatures in the order of the cosigner keys, so every node holding the same lines
    # serves the same note.
    ordered = [newest[slot][1] for slot in keys if slot in newest]
    merged = SignedNote(stored.text, (*kept, *ordered)).to_text()
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
    lines: list[str],
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
    merged = merge_cosignatures(note, lines, cosigner_keys)
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


def _parse_line(text: str, line: str) -> NoteSignature:
    """One ``— <name> <base64>`` line under ``text``, checked as a signed note checks it."""
    return parse_note(f"{text}\n{line}\n").signatures[0]
