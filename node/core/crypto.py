"""Ed25519 keys, key files and C2SP key strings (DESIGN §2).

KP Ledger signs with Ed25519 only. This module holds the few primitives every other module builds
on: generating keys, the private key file on disk (PKCS#8 PEM, mode 0600, optional passphrase),
raw public keys, C2SP signed-note key IDs, verifier keys (``name+hex(keyid)+base64(type||pub)``)
and the golang.org/x/mod signer-key format (``PRIVATE+KEY+name+hex(keyid)+base64(0x01||seed)``),
and thin ``sign`` / ``verify`` wrappers.

Everything here is a pure function except ``save_private_key`` and ``load_private_key``, which are
the edge where OpenSSL and file-system errors are translated into ``KeyFileError``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.core.errors import KeyFileError, KeyFormatError

__all__ = [
    "ED25519_COSIGNATURE_KEY_TYPE",
    "ED25519_NOTE_KEY_TYPE",
    "MAX_KEY_FILE_BYTES",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "Verifier",
    "generate_private_key",
    "is_valid_key_name",
    "key_id",
    "load_disclosure_key",
    "load_operator_public_key",
    "load_private_key",
    "load_public_key",
    "parse_signer_key",
    "parse_verifier_key",
    "public_key_bytes",
    "public_key_pem",
    "save_private_key",
    "sign",
    "signer_key",
    "verifier_key",
    "verify",
]

# C2SP signed-note "Signature types": 0x01 is an Ed25519 note signature, 0x04 a timestamped
# Ed25519 witness cosignature (c2sp.org/tlog-cosignature). The byte is part of the key ID, so the
# same key and name yield different IDs for the two uses.
ED25519_NOTE_KEY_TYPE = 0x01
ED25519_COSIGNATURE_KEY_TYPE = 0x04
_KEY_TYPES = frozenset({ED25519_NOTE_KEY_TYPE, ED25519_COSIGNATURE_KEY_TYPE})

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
KEY_ID_SIZE = 4

# A PKCS#8 Ed25519 PEM is about 120 bytes (about 300 encrypted); anything near this bound is not
# a key file, and reading it whole would let a mistaken path exhaust memory.
MAX_KEY_FILE_BYTES = 64 * 1024

_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")

# Unicode White_Space, which is what Go's unicode.IsSpace (used by x/mod isValidName) tests.
# Spelled out rather than str.isspace(), which differs (it counts U+001C..U+001F, for instance).
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def generate_private_key() -> Ed25519PrivateKey:
    """Generate a new Ed25519 private key from the operating system's CSPRNG."""
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """Return the raw 32-byte RFC 8032 encoding of a public key (or a private key's public key)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes_raw()


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    """Decode a raw 32-byte Ed25519 public key.

    Raises:
        KeyFormatError: ``raw`` is not exactly 32 bytes.
    """
    if len(raw) != PUBLIC_KEY_SIZE:
        raise KeyFormatError(
            f"Ed25519 public key must be {PUBLIC_KEY_SIZE} bytes, got {len(raw)}",
            code="key.bad_length",
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """Sign ``message`` (RFC 8032 Ed25519, deterministic) and return the 64-byte signature."""
    return key.sign(message)


def verify(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """Report whether ``signature`` is a valid Ed25519 signature of ``message``.

    Never raises for a bad signature: a wrong length or a failed check is simply ``False``.
    """
    if len(signature) != SIGNATURE_SIZE:
        return False
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# --- private key files (DESIGN §2: PKCS#8 PEM, mode 0600, optional passphrase) -----------------


def save_private_key(
    path: str | os.PathLike[str],
    key: Ed25519PrivateKey | X25519PrivateKey,
    *,
    passphrase: bytes | None = None,
) -> None:
    """Write ``key`` to a new PKCS#8 PEM file readable by its owner only.

    The file is created with ``O_EXCL`` and mode 0600 in one step, so it is never readable by
    others, not even between creation and a later chmod, and an existing key is never replaced.

    Durability: once this returns, the file's content and its directory entry have been fsynced.
    A crash before that leaves either no file or a partial one; a failure reported here removes
    the partial file.

    Args:
        path: where to create the file; it must not exist.
        key: the private key.
        passphrase: when given (non-empty), the PEM is encrypted with the best encryption the
            OpenSSL build offers.

    Raises:
        KeyFileError: the file exists (``key.file_exists``), the passphrase is empty
            (``key.empty_passphrase``), or the file could not be written (``key.file_unwritable``).
    """
    if passphrase is not None and not passphrase:
        raise KeyFileError("an empty passphrase encrypts nothing", code="key.empty_passphrase")
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if passphrase is None
        else serialization.BestAvailableEncryption(passphrase)
    )
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=encryption,
    )
    target = Path(path)
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"refusing to overwrite existing key file {target}", code="key.file_exists"
        ) from None
    except OSError as exc:
        raise KeyFileError(
            f"cannot create key file {target}: {exc.strerror}", code="key.file_unwritable"
        ) from exc
    try:
        # The umask can only have cleared bits of 0600; set it exactly so the owner can read it.
        os.fchmod(fd, 0o600)
        view = memoryview(pem)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise KeyFileError(
            f"cannot write key file {target}: {exc.strerror}", code="key.file_unwritable"
        ) from exc
    os.close(fd)
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable (POSIX: fsync of the file alone does not)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_key(
    path: str | os.PathLike[str],
    *,
    passphrase: bytes | None = None,
) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from a PKCS#8 PEM file written by ``save_private_key``.

    The mode is checked on the opened file descriptor (not the path), so the file that is
    checked is the file that is read.

    Args:
        path: the key file.
        passphrase: the passphrase the file was encrypted with, or ``None`` for a plain file.

    Raises:
        KeyFileError: with code ``key.file_missing``, ``key.file_unreadable``,
            ``key.not_regular_file``, ``key.file_permissions`` (group or other bits set),
            ``key.file_too_large``, ``key.passphrase_required``, ``key.not_encrypted``,
            ``key.bad_passphrase``, ``key.malformed``, ``key.public_not_private`` or
            ``key.wrong_type``.
    """
    target = Path(path)
    key = _read_private_key(target, passphrase)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            f"key file {target} holds a {type(key).__name__}, not an Ed25519 key",
            code="key.wrong_type",
        )
    return key


def _read_private_key(target: Path, passphrase: bytes | None) -> PrivateKeyTypes:
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise KeyFileError(f"key file {target} does not exist", code="key.file_missing") from None
    except OSError as exc:
        raise KeyFileError(
            f"cannot open key file {target}: {exc.strerror}", code="key.file_unreadable"
        ) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{target} is not a regular file", code="key.not_regular_file")
        # DESIGN §2: refuse a key file readable (or writable) by anyone but its owner.
        if info.st_mode & 0o077:
            raise KeyFileError(
                f"key file {target} has mode {stat.S_IMODE(info.st_mode):04o};"
                " it must not be accessible by group or others (chmod 600)",
                code="key.file_permissions",
            )
        data = _read_bounded(fd, MAX_KEY_FILE_BYTES)
    except OSError as exc:
        raise KeyFileError(
            f"cannot read key file {target}: {exc.strerror}", code="key.file_unreadable"
        ) from exc
    finally:
        os.close(fd)
    if data is None:
        raise KeyFileError(
            f"key file {target} is larger than {MAX_KEY_FILE_BYTES} bytes",
            code="key.file_too_large",
        )
    return _decode_private_key_pem(data, passphrase, target)


def load_disclosure_key(path: str | os.PathLike[str]) -> X25519PrivateKey:
    """Read a participant's X25519 disclosure key (decision 0041) from an unencrypted PKCS#8 PEM
    file, with the checks of ``load_private_key`` (owner-only mode, bounded size).

    Raises:
        KeyFileError: as ``load_private_key``; ``key.wrong_type`` for a key that is not X25519.
    """
    target = Path(path)
    key = _read_private_key(target, None)
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(
            f"key file {target} holds a {type(key).__name__}, not an X25519 disclosure key",
            code="key.wrong_type",
        )
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public key as a SubjectPublicKeyInfo PEM (``-----BEGIN PUBLIC KEY-----``): what an
    operator hands its authority to be registered; the private key never leaves the operator."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def load_operator_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Read the public key of an operator to register: a public-key PEM (``kp key new`` writes
    one beside the private key), or the operator's private key file itself.

    Raises:
        KeyFileError: ``key.file_missing``, ``key.file_too_large``, ``key.malformed`` (no PEM
            key), ``key.wrong_type`` (not Ed25519), or what ``load_private_key`` raises.
    """
    target = Path(path)
    try:
        with target.open("rb") as file:
            data = file.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyFileError(f"key file {target} does not exist", code="key.file_missing") from None
    except OSError as exc:
        raise KeyFileError(
            f"cannot read key file {target}: {exc.strerror}", code="key.file_unreadable"
        ) from exc
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(
            f"key file {target} is larger than {MAX_KEY_FILE_BYTES} bytes",
            code="key.file_too_large",
        )
    if b"-----BEGIN PUBLIC KEY-----" not in data:
        return load_private_key(target).public_key()  # with its mode and passphrase checks
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"key file {target} is not a PEM public key", code="key.malformed"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(
            f"key file {target} holds a {type(key).__name__}, not an Ed25519 key",
            code="key.wrong_type",
        )
    return key


def _read_bounded(fd: int, limit: int) -> bytes | None:
    """Read the whole file, or return ``None`` as soon as it proves longer than ``limit``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, limit + 1 - total)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None


def _decode_private_key_pem(data: bytes, passphrase: bytes | None, target: Path) -> PrivateKeyTypes:
    """Translate OpenSSL's PEM decoding outcomes into one ``KeyFileError`` per cause."""
    encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data
    if b"-----BEGIN PUBLIC KEY-----" in data:
        raise KeyFileError(
            f"key file {target} holds a public key, which signs nothing: give the private key "
            "(the file `kp key new` wrote without .pub)",
            code="key.public_not_private",
        )
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        # cryptography signals a passphrase/encryption mismatch with TypeError.
        if passphrase is None:
            raise KeyFileError(
                f"key file {target} is encrypted; a passphrase is required",
                code="key.passphrase_required",
            ) from None
        raise KeyFileError(
            f"a passphrase was given but key file {target} is not encrypted",
            code="key.not_encrypted",
        ) from None
    except ValueError:
        if encrypted and passphrase is not None:
            raise KeyFileError(
                f"cannot decrypt key file {target}: wrong passphrase or corrupt file",
                code="key.bad_passphrase",
            ) from None
        raise KeyFileError(
            f"key file {target} is not a PKCS#8 PEM private key", code="key.malformed"
        ) from None
    except UnsupportedAlgorithm:
        raise KeyFileError(
            f"key file {target} uses an unsupported algorithm or cipher", code="key.wrong_type"
        ) from None
    return key


# --- C2SP key IDs, verifier keys and x/mod signer keys -----------------------------------------


def is_valid_key_name(name: str) -> bool:
    """Report whether ``name`` is a valid C2SP signed-note key name.

    C2SP signed-note "Format": non-empty, no Unicode spaces, no plus (U+002B). Control characters
    are refused too: a signed note may not contain them, so such a name could never sign one.
    """
    return (
        bool(name)
        and "+" not in name
        and not any(ch in _UNICODE_SPACES or ord(ch) < 0x20 for ch in name)
        and _is_encodable(name)
    )


def _is_encodable(text: str) -> bool:
    """Report whether ``text`` is valid Unicode (no lone surrogates), i.e. encodes to UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """Compute a C2SP key ID.

    C2SP signed-note "Signatures": ``SHA-256(key name || 0x0A || signature type || public
    key)[:4]``; the ID is those four bytes read big-endian, which is the bytes themselves.

    Args:
        name: the key name.
        key_type: the signature type byte (``0x01`` note signature, ``0x04`` cosignature).
        public_key: the raw 32-byte Ed25519 public key.

    Returns:
        The 4-byte key ID.
    """
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key).digest()
    return digest[:KEY_ID_SIZE]


@dataclass(frozen=True, slots=True)
class Verifier:
    """A parsed, validated C2SP verifier key.

    Attributes:
        name: the key name, as it appears in signature lines.
        key_id: the 4-byte key ID, already checked against name, type and key.
        key_type: ``ED25519_NOTE_KEY_TYPE`` or ``ED25519_COSIGNATURE_KEY_TYPE``.
        public_key: the Ed25519 public key.
    """

    name: str
    key_id: bytes
    key_type: int
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise KeyFormatError(f"invalid key name {self.name!r}", code="key.bad_name")
        if self.key_type not in _KEY_TYPES:
            raise KeyFormatError(
                f"unsupported key type 0x{self.key_type:02x}", code="key.unknown_type"
            )
        if self.key_id != key_id(self.name, self.key_type, public_key_bytes(self.public_key)):
            raise KeyFormatError(
                f"key ID does not match key {self.name}", code="key.key_id_mismatch"
            )


def verifier_key(
    name: str, public_key: Ed25519PublicKey, *, key_type: int = ED25519_NOTE_KEY_TYPE
) -> str:
    """Format a C2SP verifier key: ``name+hex(keyid)+base64(type || 32-byte public key)``.

    Raises:
        KeyFormatError: the name is not a valid key name, or the type is not 0x01 or 0x04.
    """
    if not is_valid_key_name(name):
        raise KeyFormatError(f"invalid key name {name!r}", code="key.bad_name")
    raw = public_key_bytes(public_key)
    verifier = Verifier(name, key_id(name, key_type, raw), key_type, public_key)
    encoded = base64.b64encode(bytes([key_type]) + raw).decode("ascii")
    return f"{verifier.name}+{verifier.key_id.hex()}+{encoded}"


def parse_verifier_key(text: str) -> Verifier:
    """Parse a C2SP verifier key strictly.

    Accepted: ``name+hhhhhhhh+base64`` where the name is a valid key name, the key ID is 8
    lowercase hex digits equal to the computed ID, and the canonical standard base64 decodes to
    a type byte (0x01 or 0x04) followed by exactly 32 key bytes.

    Raises:
        KeyFormatError: anything else.
    """
    name, _, rest = text.partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not is_valid_key_name(name):
        raise KeyFormatError(f"invalid key name in verifier key {text!r}", code="key.bad_name")
    if _HEX_KEY_ID.fullmatch(hex_id) is None:
        raise KeyFormatError(
            f"verifier key ID must be 8 lowercase hex digits: {text!r}", code="key.bad_key_id"
        )
    raw = _decode_key_material(encoded, text)
    key_type, public = raw[0], raw[1:]
    if key_type not in _KEY_TYPES:
        raise KeyFormatError(
            f"unsupported key type 0x{key_type:02x} in verifier key {text!r}",
            code="key.unknown_type",
        )
    if len(public) != PUBLIC_KEY_SIZE:
        raise KeyFormatError(
            f"Ed25519 verifier key must hold {PUBLIC_KEY_SIZE} key bytes, got {len(public)}",
            code="key.bad_length",
        )
    return Verifier(name, bytes.fromhex(hex_id), key_type, load_public_key(public))


def signer_key(name: str, key: Ed25519PrivateKey) -> str:
    """Format the golang.org/x/mod signer key ``PRIVATE+KEY+name+hex(keyid)+base64(0x01||seed)``.

    The result holds the private key in clear text; it exists to interoperate with x/mod tooling
    and test vectors, not to store keys (use ``save_private_key``).

    Raises:
        KeyFormatError: the name is not a valid key name.
    """
    public_text = verifier_key(name, key.public_key())
    _, hex_id, _ = public_text.split("+", 2)
    seed = key.private_bytes_raw()
    encoded = base64.b64encode(bytes([ED25519_NOTE_KEY_TYPE]) + seed).decode("ascii")
    return f"{_PRIVATE_KEY_PREFIX}{name}+{hex_id}+{encoded}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse a golang.org/x/mod signer key (x/mod ``note.NewSigner``), strictly.

    The key ID must match the public key derived from the seed, and the type byte must be 0x01
    (x/mod defines no other signer type).

    Returns:
        The key name and the private key.

    Raises:
        KeyFormatError: the string is not a well-formed signer key.
    """
    if not text.startswith(_PRIVATE_KEY_PREFIX):
        raise KeyFormatError("signer key must start with PRIVATE+KEY+", code="key.bad_signer_key")
    name, _, rest = text[len(_PRIVATE_KEY_PREFIX) :].partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not is_valid_key_name(name):
        raise KeyFormatError("invalid key name in signer key", code="key.bad_name")
    if _HEX_KEY_ID.fullmatch(hex_id) is None:
        raise KeyFormatError("signer key ID must be 8 lowercase hex digits", code="key.bad_key_id")
    # The message never echoes the string: it is a private key.
    raw = _decode_key_material(encoded, "<signer key>")
    if raw[0] != ED25519_NOTE_KEY_TYPE:
        raise KeyFormatError(f"unsupported signer key type 0x{raw[0]:02x}", code="key.unknown_type")
    seed = raw[1:]
    if len(seed) != PUBLIC_KEY_SIZE:
        raise KeyFormatError(
            f"Ed25519 signer key must hold a 32-byte seed, got {len(seed)}", code="key.bad_length"
        )
    key = Ed25519PrivateKey.from_private_bytes(seed)
    if bytes.fromhex(hex_id) != key_id(name, ED25519_NOTE_KEY_TYPE, public_key_bytes(key)):
        raise KeyFormatError(f"signer key ID does not match key {name}", code="key.key_id_mismatch")
    return name, key


def _decode_key_material(encoded: str, shown: str) -> bytes:
    """Decode the canonical standard base64 (RFC 4648 §4) of a type byte plus key bytes."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(
            f"key material is not standard base64: {shown!r}", code="key.bad_base64"
        ) from None
    # RFC 4648 §3.5: refuse non-zero pad bits, so each key has exactly one spelling.
    if not raw or base64.b64encode(raw).decode("ascii") != encoded:
        raise KeyFormatError(
            f"key material is not canonical base64: {shown!r}", code="key.bad_base64"
        )
    return raw
