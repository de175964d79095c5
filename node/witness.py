"""The witness side of c2sp.org/tlog-witness, and the cosignatures a log collects.

Pure parsing and formatting of ``add-checkpoint`` requests, the witness's record of the latest
checkpoint it cosigned for each log (read and compare-and-swapped inside one store write
transaction), and the merging of collected cosignatures into a log's stored checkpoint notes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from node.encoding import decode_trusted, encode
from node.errors import LedgerError, LogCorruptError
from node.notes import cosigners, parse_note
from node.store import StoreReader, StoreWriter

__all__ = [
    "MAX_PROOF_LINES",
    "MAX_REQUEST_BYTES",
    "AddCheckpoint",
    "Cosigned",
    "WitnessError",
    "add_cosignatures",
    "cosigned",
    "parse_add_checkpoint",
    "set_cosigned",
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


def add_cosignatures(
    writer: StoreWriter,
    log: str,
    size: int,
    lines: list[str],
    cosigner_keys: list[str],
    quorum: int,
) -> int:
    """Merge verified cosignature lines into the stored checkpoint of ``size``.

    Lines from keys not in ``cosigner_keys`` are dropped; a line from a known key that does not
    verify raises (``cosignature.invalid``). Returns how many distinct cosigners the stored note
    now carries; when that reaches ``quorum`` the checkpoint becomes the log's newest witnessed
    one (if it is newer than the last).
    """
    log_writer = writer.log(log)
    note = log_writer.checkpoint(size)
    if note is None:
        return 0
    have = {line for line in note.rstrip("\n").split("\n") if line.startswith("— ")}
    fresh = [line for line in lines if line.startswith("— ") and line not in have]
    candidate = note + "".join(line + "\n" for line in fresh)
    parse_note(candidate)  # still a well-formed note
    verified = cosigners(candidate, cosigner_keys)
    kept = [line for line in fresh if _signer(line) in verified]
    merged = note + "".join(line + "\n" for line in kept)
    if kept:
        log_writer.put_checkpoint(size, merged)
    count = len(cosigners(merged, cosigner_keys))
    if count >= quorum and size > witnessed(writer, log):
        writer.put("witnessed", log.encode(), encode(size))
    return count


def witnessed(reader: StoreReader, log: str) -> int:
    """The size of the newest witnessed checkpoint of ``log`` (0 if none)."""
    raw = reader.get("witnessed", log.encode())
    if raw is None:
        return 0
    size = decode_trusted(raw)
    if not isinstance(size, int):
        raise LogCorruptError(f"witnessed size of {log} is damaged")
    return size


def _signer(line: str) -> str:
    return line[2:].split(" ", 1)[0]
