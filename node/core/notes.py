"""C2SP signed notes, checkpoints and Ed25519 cosignatures (DESIGN §7, §8).

Implements, as pure functions of strings and keys:

- c2sp.org/signed-note (parsing rules of golang.org/x/mod/sumdb/note ``Open``): a text ending in
  a newline, a blank line, then one or more ``— <name> <base64(keyid || signature)>`` lines;
- c2sp.org/tlog-checkpoint: the note text ``<origin>\\n<size>\\n<base64 root>\\n[extensions]``;
- c2sp.org/tlog-cosignature (``cosignature/v1``, key type 0x04): a witness's timestamped
  Ed25519 signature over ``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint text.

Parsing happens once, in ``parse_note``, which yields a ``SignedNote`` whose constructor enforces
every structural rule, or in ``SignedCheckpoint.parse``, which adds the checkpoint's: a signed
checkpoint travels through the node as a ``SignedCheckpoint``, and its methods (``verify``,
``cosigners``, ``cosignature``, ``with_signature``, ``origin_signed``) only look up keys and
check or make signatures on top of it. ``verify_note``, ``verify_checkpoint``, ``cosign``,
``verify_cosignature`` and ``cosigners`` are the same on notes as text.

Bounds (C2SP signed-note asks verifiers to limit the size of a note and to accept at least 16
signatures): a note is at most ``MAX_NOTE_BYTES`` (1 MiB of UTF-8) in total and carries at most
``MAX_SIGNATURES`` (100, as x/mod) signature lines. Notes we produce obey the same bounds.

Deliberate strictness beyond x/mod: base64 must be canonical (RFC 4648 §3.5, zero pad bits),
so that parsing and re-serialising a note gives back the same string; every signature from a
known key is verified (x/mod skips repeated signatures by one key unchecked; C2SP says a known
key's signature MUST be verified); a verifier list naming one (name, key ID) twice is rejected
up front rather than when a signature needs it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.crypto import (
    ED25519_COSIGNATURE_KEY_TYPE,
    ED25519_NOTE_KEY_TYPE,
    SIGNATURE_SIZE,
    Verifier,
    is_valid_key_name,
    key_id,
    parse_verifier_key,
    public_key_bytes,
    sign,
    verify,
)
from node.core.errors import CheckpointError, KeyFormatError, NoteError

__all__ = [
    "COSIGNATURE_HEADER",
    "MAX_COSIGNATURE_TIMESTAMP",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "MAX_TLOG_PROOF_HASHES",
    "MAX_TREE_SIZE",
    "TLOG_PROOF_HEADER",
    "Checkpoint",
    "NoteSignature",
    "SignedCheckpoint",
    "SignedNote",
    "TlogProof",
    "add_signature",
    "cosign",
    "cosigners",
    "parse_note",
    "parse_signature_lines",
    "sign_note",
    "verify_checkpoint",
    "verify_cosignature",
    "verify_note",
]

MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100

# c2sp.org/tlog-checkpoint: the tree size is a uint64.
MAX_TREE_SIZE = (1 << 64) - 1
# c2sp.org/tlog-cosignature: "timestamp ... MUST NOT exceed 2^63 - 1".
MAX_COSIGNATURE_TIMESTAMP = (1 << 63) - 1
COSIGNATURE_HEADER = "cosignature/v1\n"

_KEY_ID_SIZE = 4
_TIMESTAMP_SIZE = 8
_ROOT_SIZE = 32
# C2SP signed-note "Format": em dash (U+2014), space, key name, space, base64, newline.
_SIGNATURE_PREFIX = "\u2014 "
# C2SP signed-note: no ASCII control characters (below U+0020) other than newline.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
# c2sp.org/tlog-checkpoint: ASCII decimal, no leading zeroes unless the tree is empty.
_TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
# 32 bytes of standard base64 are 43 characters and one "=".
_ROOT_BASE64 = re.compile(r"[A-Za-z0-9+/]{43}=")


# --- signed notes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line of a signed note, verified or not.

    Attributes:
        name: the key name.
        key_id: the 4-byte key ID (big-endian uint32 in the spec).
        signature: the bytes after the key ID: an Ed25519 signature for key type 0x01, a
            timestamp and a signature for a 0x04 cosignature, anything for unknown types.
    """

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise NoteError(f"invalid key name {self.name!r}", code="note.malformed")
        if len(self.key_id) != _KEY_ID_SIZE:
            raise NoteError("key ID must be 4 bytes", code="note.malformed")
        # x/mod Open: a signature decodes to at least 4+1 bytes.
        if not self.signature:
            raise NoteError(f"empty signature from {self.name}", code="note.malformed")

    def to_line(self) -> str:
        """Return the signature line, ``— <name> <base64(key_id || signature)>\\n``."""
        encoded = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A structurally valid signed note; its signatures are not verified by construction.

    Attributes:
        text: the note text, including its final newline but not the blank separator line.
        signatures: the signature lines in note order (1 to ``MAX_SIGNATURES``).
    """

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_note_text(self.text)
        if not self.signatures:
            raise NoteError("a signed note needs at least one signature", code="note.malformed")
        if len(self.signatures) > MAX_SIGNATURES:
            raise NoteError(
                f"note has {len(self.signatures)} signatures; at most {MAX_SIGNATURES} accepted",
                code="note.too_many_signatures",
            )
        size = len(self.text.encode("utf-8")) + 1
        size += sum(len(s.to_line().encode("utf-8")) for s in self.signatures)
        if size > MAX_NOTE_BYTES:
            raise NoteError(
                f"note is {size} bytes; at most {MAX_NOTE_BYTES} accepted", code="note.too_large"
            )

    def to_text(self) -> str:
        """Serialise: the text, the blank separator line, then each signature line."""
        return self.text + "\n" + "".join(s.to_line() for s in self.signatures)


def _check_note_text(text: str) -> None:
    """Enforce C2SP signed-note on a note text (the part that is signed)."""
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline", code="note.malformed")
    if _CONTROL.search(text) is not None:
        raise NoteError(
            "note must not contain control characters other than newline", code="note.malformed"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("note is not valid UTF-8", code="note.malformed") from None


def _decode_note(note: str | bytes) -> str:
    """Return the note as ``str`` after the size bound and the UTF-8 validity check."""
    # A str never has fewer UTF-8 bytes than characters, so this cheap test runs first.
    if len(note) > MAX_NOTE_BYTES:
        raise NoteError(f"note exceeds {MAX_NOTE_BYTES} bytes", code="note.too_large")
    try:
        if isinstance(note, bytes):
            return note.decode("utf-8")
        size = len(note.encode("utf-8"))
    except UnicodeError:
        raise NoteError("note is not valid UTF-8", code="note.malformed") from None
    if size > MAX_NOTE_BYTES:
        raise NoteError(f"note exceeds {MAX_NOTE_BYTES} bytes", code="note.too_large")
    return note


def _decode_base64(encoded: str) -> bytes | None:
    """Decode canonical standard base64 (RFC 4648 §4, zero pad bits); ``None`` if it is not."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != encoded:
        return None
    return raw


def _parse_signature_line(line: str) -> NoteSignature:
    """Parse one line of the signature block (without its newline)."""
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError(f"not a signature line: {line[:80]!r}", code="note.malformed")
    name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not is_valid_key_name(name):
        raise NoteError(f"invalid key name in signature line {line[:80]!r}", code="note.malformed")
    raw = _decode_base64(encoded) if encoded else None
    if raw is None or len(raw) <= _KEY_ID_SIZE:
        raise NoteError(f"malformed signature from {name}", code="note.malformed")
    return NoteSignature(name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:])


def parse_signature_lines(block: str) -> tuple[NoteSignature, ...]:
    """Parse signature lines on their own, as a witness answers ``add-checkpoint`` with its
    cosignature (c2sp.org/tlog-witness): each ``— <name> <base64>`` line ending in a newline,
    at most ``MAX_SIGNATURES``, checked as in a note. Nothing is verified.

    Raises:
        NoteError: ``note.malformed``, ``note.too_large`` or ``note.too_many_signatures``.
    """
    return _parse_signature_block(_decode_note(block))


def _parse_signature_block(block: str) -> tuple[NoteSignature, ...]:
    if not block.endswith("\n"):
        raise NoteError("signature block must end with a newline", code="note.malformed")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(
            f"note has more than {MAX_SIGNATURES} signatures", code="note.too_many_signatures"
        )
    return tuple(_parse_signature_line(line) for line in lines)


def parse_note(note: str | bytes) -> SignedNote:
    """Parse a signed note strictly, without verifying any signature.

    Rules (C2SP signed-note, as x/mod ``Open`` applies them): valid UTF-8 with no control
    character but newline; at most ``MAX_NOTE_BYTES``; the text is everything up to and including
    the newline before the *last* blank line; after it, one or more signature lines, each ending
    in a newline, at most ``MAX_SIGNATURES`` of them, each ``— <valid key name> <base64>`` where
    the base64 is canonical and decodes to more than 4 bytes.

    Args:
        note: the note; ``bytes`` are decoded as strict UTF-8 (as received from the network).

    Raises:
        NoteError: ``note.malformed``, ``note.too_large`` or ``note.too_many_signatures``.
    """
    decoded = _decode_note(note)
    if _CONTROL.search(decoded) is not None:
        raise NoteError(
            "note must not contain control characters other than newline", code="note.malformed"
        )
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures", code="note.malformed")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    return SignedNote(text, _parse_signature_block(block))


def _with_signature(signed: SignedNote, new: NoteSignature) -> SignedNote:
    """Append ``new``, dropping an older signature by the same key (as x/mod ``Sign`` does)."""
    kept = tuple(s for s in signed.signatures if (s.name, s.key_id) != (new.name, new.key_id))
    return SignedNote(signed.text, (*kept, new))


def _note_signature(text: str, name: str, key: Ed25519PrivateKey) -> NoteSignature:
    """Sign a note text with an Ed25519 note key (signature type 0x01)."""
    if not is_valid_key_name(name):
        raise KeyFormatError(f"invalid key name {name!r}", code="key.bad_name")
    _check_note_text(text)
    kid = key_id(name, ED25519_NOTE_KEY_TYPE, public_key_bytes(key))
    return NoteSignature(name, kid, sign(key, text.encode("utf-8")))


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """Sign ``text`` and return the signed note.

    Args:
        text: the note text: non-empty, ending in a newline, no control character but newline.
        name: the key name (the log origin for a checkpoint, DESIGN §7).
        key: the Ed25519 private key.

    Returns:
        ``text + "\\n" + "— <name> <base64(keyid || signature)>\\n"``.

    Raises:
        NoteError: the text is not a valid note text, or the note would exceed the bounds.
        KeyFormatError: the name is not a valid key name.
    """
    return SignedNote(text, (_note_signature(text, name, key),)).to_text()


def add_signature(note: str, name: str, key: Ed25519PrivateKey) -> str:
    """Add a further Ed25519 signature line to an existing signed note.

    The existing signatures are kept as they are, not verified; an existing signature by the
    same key (name and key ID) is replaced.

    Raises:
        NoteError: the note is malformed or would exceed the bounds.
        KeyFormatError: the name is not a valid key name.
    """
    signed = parse_note(note)
    return _with_signature(signed, _note_signature(signed.text, name, key)).to_text()


def _index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    """Map (name, key ID) to its key, refusing a list that names one (name, key ID) twice."""
    index: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        if slot in index:
            # x/mod: "ambiguous key"; whoever controls the list controls verification.
            raise NoteError(
                f"ambiguous key {verifier.name}+{verifier.key_id.hex()} in verifier list",
                code="note.ambiguous_key",
            )
        index[slot] = verifier
    return index


def verify_note(note: str, verifier_keys: list[str]) -> tuple[str, list[str]]:
    """Verify a signed note against a list of C2SP verifier keys.

    C2SP signed-note "Signatures": signatures whose (name, key ID) match no given key are
    ignored; a signature from a known key that fails to verify rejects the whole note; a note
    with no verified signature is rejected, so an empty key list never passes. Verifier keys of
    the cosignature type (0x04) are not note keys and are left out; their lines count as unknown.

    Args:
        note: the signed note.
        verifier_keys: verifier key strings (``name+hex(keyid)+base64(0x01||pub)``).

    Returns:
        The note text and the names of the keys whose signatures verified, in note order, each
        name once.

    Raises:
        KeyFormatError: a verifier key string is malformed.
        NoteError: ``note.malformed`` (and the other parse codes), ``note.ambiguous_key``,
            ``note.bad_signature`` or ``note.no_verified_signature``.
    """
    parsed = [parse_verifier_key(k) for k in verifier_keys]
    signed = parse_note(note)
    return signed.text, _verified_signers(signed, parsed)


def _verified_signers(signed: SignedNote, verifier_keys: Iterable[str | Verifier]) -> list[str]:
    """``verify_note``'s rules on a parsed note; the verified names in note order, each once."""
    parsed = [k if isinstance(k, Verifier) else parse_verifier_key(k) for k in verifier_keys]
    known = _index_verifiers(v for v in parsed if v.key_type == ED25519_NOTE_KEY_TYPE)
    message = signed.text.encode("utf-8")
    verified: list[str] = []
    for signature in signed.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        if not verify(verifier.public_key, signature.signature, message):
            raise NoteError(
                f"invalid signature for key {signature.name}+{signature.key_id.hex()}",
                code="note.bad_signature",
            )
        if signature.name not in verified:
            verified.append(signature.name)
    if not verified:
        raise NoteError("note has no verifiable signatures", code="note.no_verified_signature")
    return verified


# --- checkpoints --------------------------------------------------------------------------------


def _check_line(value: str, what: str, code: str) -> None:
    """A checkpoint line is non-empty and holds no newline or other control character."""
    if not value or _CONTROL.search(value) is not None or "\n" in value:
        raise CheckpointError(
            f"checkpoint {what} must be a non-empty line without control characters", code=code
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A C2SP tlog-checkpoint note text.

    Attributes:
        origin: the log's identity, e.g. ``kp.example/BW`` (DESIGN §2).
        size: the number of leaves, ``0 <= size < 2**64``.
        root: the 32-byte RFC 6962 root hash at that size.
        extensions: optional extension lines, each non-empty, without their newlines.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin", "checkpoint.bad_origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError("checkpoint size must be an int", code="checkpoint.bad_size")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(
                f"checkpoint size {self.size} is not a uint64", code="checkpoint.bad_size"
            )
        if not isinstance(self.root, bytes) or len(self.root) != _ROOT_SIZE:
            raise CheckpointError(
                f"checkpoint root must be {_ROOT_SIZE} bytes", code="checkpoint.bad_root"
            )
        for extension in self.extensions:
            # c2sp.org/tlog-checkpoint: "Extension lines, if any, MUST be non-empty."
            _check_line(extension, "extension line", "checkpoint.bad_extension")

    def to_text(self) -> str:
        """Return the note text ``origin\\nsize\\nbase64(root)\\n`` plus extension lines."""
        root = base64.b64encode(self.root).decode("ascii")
        extensions = "".join(f"{line}\n" for line in self.extensions)
        return f"{self.origin}\n{self.size}\n{root}\n{extensions}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text strictly (c2sp.org/tlog-checkpoint "Note text").

        At least three non-empty lines, each ending in a newline: a non-empty origin; the size
        in ASCII decimal without leading zeros (``0`` for an empty tree), at most 2**64 - 1;
        the canonical standard base64 of a 32-byte root; then non-empty extension lines.

        Raises:
            CheckpointError: ``checkpoint.malformed``, ``checkpoint.bad_origin``,
                ``checkpoint.bad_size``, ``checkpoint.bad_root`` or ``checkpoint.bad_extension``.
        """
        if len(text) > MAX_NOTE_BYTES:
            raise CheckpointError("checkpoint text is too large", code="checkpoint.malformed")
        if not text.endswith("\n"):
            raise CheckpointError(
                "checkpoint text must end with a newline", code="checkpoint.malformed"
            )
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(
                "checkpoint needs origin, size and root lines", code="checkpoint.malformed"
            )
        origin, size_line, root_line, *extensions = lines
        if _TREE_SIZE.fullmatch(size_line) is None:
            raise CheckpointError(
                f"checkpoint size {size_line[:40]!r} is not a canonical decimal uint64",
                code="checkpoint.bad_size",
            )
        root = _decode_base64(root_line) if _ROOT_BASE64.fullmatch(root_line) else None
        if root is None:
            raise CheckpointError(
                f"checkpoint root {root_line[:60]!r} is not the base64 of {_ROOT_SIZE} bytes",
                code="checkpoint.bad_root",
            )
        # __post_init__ checks the origin, the uint64 range and every extension line.
        return cls(origin, int(size_line), root, tuple(extensions))


# --- cosignatures (c2sp.org/tlog-cosignature, cosignature/v1) -----------------------------------


def _cosigned_message(text: str, timestamp: int) -> bytes:
    """tlog-cosignature "Ed25519 signed message": header, time line, whole checkpoint text."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


def _parse_cosigner_key(text: str) -> Verifier:
    verifier = parse_verifier_key(text)
    if verifier.key_type != ED25519_COSIGNATURE_KEY_TYPE:
        raise KeyFormatError(
            f"{verifier.name} is not a cosignature key (type 0x04)", code="key.wrong_type"
        )
    return verifier


def _cosignature_time(signed: SignedNote, verifier: Verifier) -> int | None:
    """Return the latest timestamp of ``verifier``'s cosignatures, ``None`` if it has none.

    Every line with the cosigner's name and key ID must verify: one bad cosignature from a
    known cosigner is an error, not something to skip (C2SP signed-note "Signatures").
    """
    latest: int | None = None
    for line in signed.signatures:
        if (line.name, line.key_id) != (verifier.name, verifier.key_id):
            continue
        shown = f"{verifier.name}+{verifier.key_id.hex()}"
        if len(line.signature) != _TIMESTAMP_SIZE + SIGNATURE_SIZE:
            raise NoteError(
                f"cosignature by {shown} is not timestamp(8) || signature(64)",
                code="cosignature.invalid",
            )
        timestamp = int.from_bytes(line.signature[:_TIMESTAMP_SIZE], "big")
        if timestamp > MAX_COSIGNATURE_TIMESTAMP:
            raise NoteError(
                f"cosignature by {shown} has a timestamp above 2^63 - 1",
                code="cosignature.invalid",
            )
        message = _cosigned_message(signed.text, timestamp)
        if not verify(verifier.public_key, line.signature[_TIMESTAMP_SIZE:], message):
            raise NoteError(f"invalid cosignature by {shown}", code="cosignature.invalid")
        latest = timestamp if latest is None else max(latest, timestamp)
    return latest


# --- signed checkpoints -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A signed checkpoint parsed once: what travels between nodes, verifiers and witnesses.

    ``parse`` checks the structure (``parse_note``, then ``Checkpoint.parse`` of its text); no
    signature is verified by construction. The log's own signature comes first in every note
    this project signs, the witnesses' cosignatures after it.

    Attributes:
        checkpoint: the checkpoint the note text holds.
        note: the signed note, every signature line in order.
    """

    checkpoint: Checkpoint
    note: SignedNote

    @classmethod
    def parse(cls, note: str | bytes) -> SignedCheckpoint:
        """Parse a signed checkpoint strictly, without verifying any signature.

        Raises:
            NoteError: the note is malformed (``parse_note``'s codes).
            CheckpointError: its text is not a checkpoint (``Checkpoint.parse``'s codes).
        """
        signed = parse_note(note)
        return cls(Checkpoint.parse(signed.text), signed)

    @property
    def origin(self) -> str:
        return self.checkpoint.origin

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root

    @property
    def signatures(self) -> tuple[NoteSignature, ...]:
        return self.note.signatures

    def to_text(self) -> str:
        """The note as it travels (byte-identical to the text it was parsed from: parsing is
        strict enough that serialising gives back the same string)."""
        return self.note.to_text()

    def verify(self, verifier_keys: list[str], *, origin: str) -> list[str]:
        """Verify the log's signature and that the checkpoint is of the log ``origin``: a validly
        signed checkpoint of another log is still the wrong checkpoint. Cosignatures are not
        checked here (``cosigners``).

        Returns:
            The names of the keys whose signatures verified.

        Raises:
            KeyFormatError: a verifier key string is malformed.
            NoteError: not validly signed by one of the keys (``verify_note``'s codes).
            CheckpointError: its origin is not ``origin`` (``checkpoint.wrong_origin``).
        """
        verified = _verified_signers(self.note, verifier_keys)
        if self.checkpoint.origin != origin:
            raise CheckpointError(
                f"checkpoint origin {self.checkpoint.origin!r} is not {origin!r}",
                code="checkpoint.wrong_origin",
            )
        return verified

    def cosigners(self, cosigner_keys: list[str]) -> dict[str, int]:
        """Every given cosigner that validly cosigned the checkpoint, with its timestamp.

        Cosigners without a cosignature are left out; the caller's quorum rule decides what the
        count means (DESIGN §8), so an empty result is never a pass by itself.

        Args:
            cosigner_keys: verifier keys of type 0x04, one per cosigner, with distinct names.

        Returns:
            Cosigner name to cosignature timestamp (the latest, if it cosigned more than once).

        Raises:
            KeyFormatError: a key is malformed or not a cosignature key.
            NoteError: two keys share a name (``note.ambiguous_key``), or a listed cosigner's
                cosignature is invalid (``cosignature.invalid``).
        """
        verifiers = [_parse_cosigner_key(k) for k in cosigner_keys]
        names = [v.name for v in verifiers]
        if len(set(names)) != len(names):
            raise NoteError("two cosigner keys share a name", code="note.ambiguous_key")
        found: dict[str, int] = {}
        for verifier in verifiers:
            timestamp = _cosignature_time(self.note, verifier)
            if timestamp is not None:
                found[verifier.name] = timestamp
        return found

    def cosignature_time(self, cosigner_key: str) -> int:
        """Verify one cosigner's cosignature and return its timestamp (POSIX seconds; the latest
        one if it cosigned more than once). The log's own signature is not checked here.

        Raises:
            KeyFormatError: the key is malformed or not a cosignature key (``key.wrong_type``).
            NoteError: the cosigner has no cosignature here (``cosignature.missing``), or one of
                its cosignatures is invalid (``cosignature.invalid``).
        """
        verifier = _parse_cosigner_key(cosigner_key)
        timestamp = _cosignature_time(self.note, verifier)
        if timestamp is None:
            raise NoteError(
                f"no cosignature by {verifier.name}+{verifier.key_id.hex()}",
                code="cosignature.missing",
            )
        return timestamp

    def cosignature(self, name: str, key: Ed25519PrivateKey, timestamp: int) -> NoteSignature:
        """A witness's ``cosignature/v1`` Ed25519 cosignature line of this checkpoint.

        This only signs: the caller must already have verified the log's signature and the
        checkpoint's consistency with what it has seen (DESIGN §8).

        Args:
            name: the cosigner's key name.
            key: the cosigner's Ed25519 private key (its key ID uses type 0x04).
            timestamp: POSIX seconds, ``0 <= timestamp <= 2**63 - 1``.

        Raises:
            NoteError: the timestamp is out of range (``cosignature.bad_timestamp``).
            KeyFormatError: the name is not a valid key name.
        """
        if not is_valid_key_name(name):
            raise KeyFormatError(f"invalid key name {name!r}", code="key.bad_name")
        if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_COSIGNATURE_TIMESTAMP:
            raise NoteError(
                f"cosignature timestamp {timestamp} is out of range",
                code="cosignature.bad_timestamp",
            )
        kid = key_id(name, ED25519_COSIGNATURE_KEY_TYPE, public_key_bytes(key))
        signature = sign(key, _cosigned_message(self.note.text, timestamp))
        return NoteSignature(name, kid, timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature)

    def with_signature(self, signature: NoteSignature) -> SignedCheckpoint:
        """This checkpoint with one more signature line; an earlier one by the same key (name
        and key ID) is replaced, as x/mod ``Sign`` does.

        Raises:
            NoteError: the note would exceed the bounds.
        """
        return SignedCheckpoint(self.checkpoint, _with_signature(self.note, signature))

    def with_signatures(self, signatures: Iterable[NoteSignature]) -> SignedCheckpoint:
        """This checkpoint's text under exactly ``signatures``, in that order (unverified).

        Raises:
            NoteError: none given, or too many (the bounds of a signed note).
        """
        return SignedCheckpoint(self.checkpoint, SignedNote(self.note.text, tuple(signatures)))

    def origin_signed(self) -> SignedCheckpoint:
        """The checkpoint as its origin signed it, before cosignatures were attached: only the
        first signature line is kept (ours always carry the log's own signature first)."""
        return self.with_signatures(self.note.signatures[:1])


def verify_checkpoint(note: str, verifier_keys: list[str], *, origin: str) -> Checkpoint:
    """``SignedCheckpoint.verify`` of a note as text; returns its checkpoint."""
    signed = SignedCheckpoint.parse(note)
    signed.verify(verifier_keys, origin=origin)
    return signed.checkpoint


def cosign(checkpoint_note: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """``SignedCheckpoint.cosignature`` added to a note as text; returns the cosigned note."""
    signed = SignedCheckpoint.parse(checkpoint_note)
    return signed.with_signature(signed.cosignature(name, key, timestamp)).to_text()


def verify_cosignature(checkpoint_note: str, cosigner_key: str) -> int:
    """``SignedCheckpoint.cosignature_time`` of a note as text."""
    return SignedCheckpoint.parse(checkpoint_note).cosignature_time(cosigner_key)


def cosigners(checkpoint_note: str, cosigner_keys: list[str]) -> dict[str, int]:
    """``SignedCheckpoint.cosigners`` of a note as text."""
    return SignedCheckpoint.parse(checkpoint_note).cosigners(cosigner_keys)


# --- c2sp.org/tlog-proof ----------------------------------------------------------------------

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_TLOG_PROOF_HASHES = 64  # a tree of 2**64 leaves needs at most 64


@dataclass(frozen=True, slots=True)
class TlogProof:
    """An offline proof that an entry is in a log (c2sp.org/tlog-proof): the entry's index, its
    inclusion proof, and the signed (and cosigned) checkpoint the proof leads to.

    Attributes:
        index: the entry's zero-based index in the log.
        hashes: the RFC 6962 inclusion proof, from the leaf's sibling up.
        checkpoint: the checkpoint note, signatures and cosignatures included, verbatim.
        extra: optional opaque data (unauthenticated; never trusted).
    """

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def to_text(self) -> str:
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode() for h in self.hashes)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> TlogProof:
        """Parse a tlog-proof strictly.

        Raises:
            NoteError: with code ``tlog_proof.malformed``; the checkpoint itself is only checked
                when verified (``verify_note`` / ``Checkpoint.parse``).
        """
        if len(text) > MAX_NOTE_BYTES:
            raise NoteError("tlog-proof too large", code="tlog_proof.malformed")
        head, separator, checkpoint = text.partition("\n\n")
        lines = head.split("\n")
        if not separator or not lines or lines[0] != TLOG_PROOF_HEADER:
            raise NoteError("not a c2sp.org/tlog-proof@v1", code="tlog_proof.malformed")
        position = 1
        extra = None
        if position < len(lines) and lines[position].startswith("extra "):
            extra = _decode_base64(lines[position][len("extra ") :])
            if extra is None:
                raise NoteError("extra is not base64", code="tlog_proof.malformed")
            position += 1
        if position >= len(lines) or not lines[position].startswith("index "):
            raise NoteError("missing index line", code="tlog_proof.malformed")
        index_text = lines[position][len("index ") :]
        if (
            not index_text.isdigit()
            or not index_text.isascii()
            or (index_text != "0" and index_text.startswith("0"))
        ):
            raise NoteError(f"bad index {index_text!r}", code="tlog_proof.malformed")
        hashes = []
        for line in lines[position + 1 :]:
            digest = _decode_base64(line)
            if digest is None or len(digest) != 32:
                raise NoteError(
                    "a proof line is not a base64 SHA-256 hash", code="tlog_proof.malformed"
                )
            hashes.append(digest)
        if len(hashes) > MAX_TLOG_PROOF_HASHES:
            raise NoteError("inclusion proof too long", code="tlog_proof.malformed")
        index = int(index_text)
        if index >= MAX_TREE_SIZE:
            raise NoteError("index beyond any tree size", code="tlog_proof.malformed")
        return cls(index=index, hashes=tuple(hashes), checkpoint=checkpoint, extra=extra)
