"""Ed25519 keys, key files and C2SP key strings (node/core/crypto.py, DESIGN §2)."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto
from node.core.errors import KeyFileError, KeyFormatError

PASSPHRASE = b"correct horse battery staple"

KeyFactory = Callable[[], Ed25519PrivateKey]


@pytest.fixture
def make_key() -> KeyFactory:
    return crypto.generate_private_key


@pytest.fixture
def key(make_key: KeyFactory) -> Ed25519PrivateKey:
    return make_key()


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes_raw()


# --- generation, raw public keys, sign / verify -------------------------------------------------


def test_generated_keys_differ(make_key: KeyFactory) -> None:
    assert _raw_private(make_key()) != _raw_private(make_key())


def test_public_key_bytes_is_raw_32_bytes(key: Ed25519PrivateKey) -> None:
    raw = crypto.public_key_bytes(key)
    assert len(raw) == 32
    assert raw == crypto.public_key_bytes(key.public_key())
    assert crypto.public_key_bytes(crypto.load_public_key(raw)) == raw


@pytest.mark.parametrize("length", [0, 31, 33, 64], ids=lambda n: f"{n}-bytes")
def test_load_public_key_rejects_wrong_length(length: int) -> None:
    with pytest.raises(KeyFormatError) as info:
        crypto.load_public_key(b"\x01" * length)
    assert info.value.code == "key.bad_length"


def test_sign_verify_round_trip(key: Ed25519PrivateKey) -> None:
    signature = crypto.sign(key, b"message")
    assert len(signature) == 64
    assert crypto.verify(key.public_key(), signature, b"message")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda s: s, b"other message", id="other-message"),
        pytest.param(lambda s: bytes([s[0] ^ 1]) + s[1:], b"message", id="flipped-bit"),
        pytest.param(lambda s: s[:-1], b"message", id="too-short"),
        pytest.param(lambda s: s + b"\x00", b"message", id="too-long"),
        pytest.param(lambda s: b"", b"message", id="empty"),
    ],
)
def test_verify_returns_false_never_raises(
    key: Ed25519PrivateKey, mutate: Callable[[bytes], bytes], message: bytes
) -> None:
    signature = mutate(crypto.sign(key, b"message"))
    assert crypto.verify(key.public_key(), signature, message) is False


def test_verify_rejects_other_key(make_key: KeyFactory) -> None:
    signer, other = make_key(), make_key()
    assert not crypto.verify(other.public_key(), crypto.sign(signer, b"m"), b"m")


# --- private key files --------------------------------------------------------------------------


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE], ids=["plain", "encrypted"])
def test_key_file_round_trip(
    tmp_path: Path, key: Ed25519PrivateKey, passphrase: bytes | None
) -> None:
    path = tmp_path / "log.key"
    crypto.save_private_key(path, key, passphrase=passphrase)
    loaded = crypto.load_private_key(path, passphrase=passphrase)
    assert _raw_private(loaded) == _raw_private(key)


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE], ids=["plain", "encrypted"])
def test_key_file_is_pkcs8_pem(
    tmp_path: Path, key: Ed25519PrivateKey, passphrase: bytes | None
) -> None:
    path = tmp_path / "log.key"
    crypto.save_private_key(path, key, passphrase=passphrase)
    text = path.read_bytes()
    header = b"ENCRYPTED PRIVATE KEY" if passphrase else b"-----BEGIN PRIVATE KEY-----"
    assert header in text
    assert _raw_private(key) not in text


@pytest.mark.parametrize(
    "umask", [0o000, 0o022, 0o077], ids=["umask-000", "umask-022", "umask-077"]
)
def test_key_file_created_with_mode_0600(
    tmp_path: Path, key: Ed25519PrivateKey, umask: int
) -> None:
    path = tmp_path / "log.key"
    previous = os.umask(umask)
    try:
        crypto.save_private_key(path, key)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_refuses_to_overwrite(tmp_path: Path, make_key: KeyFactory) -> None:
    path = tmp_path / "log.key"
    first = make_key()
    crypto.save_private_key(path, first)
    before = path.read_bytes()
    with pytest.raises(KeyFileError) as info:
        crypto.save_private_key(path, make_key())
    assert info.value.code == "key.file_exists"
    assert path.read_bytes() == before


def test_save_refuses_to_replace_a_symlink(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "log.key"
    link.symlink_to(target)
    with pytest.raises(KeyFileError) as info:
        crypto.save_private_key(link, key)
    assert info.value.code == "key.file_exists"
    assert not target.exists()


def test_save_refuses_empty_passphrase(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(KeyFileError) as info:
        crypto.save_private_key(tmp_path / "log.key", key, passphrase=b"")
    assert info.value.code == "key.empty_passphrase"
    assert not (tmp_path / "log.key").exists()


def test_save_into_missing_directory(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(KeyFileError) as info:
        crypto.save_private_key(tmp_path / "missing" / "log.key", key)
    assert info.value.code == "key.file_unwritable"


@pytest.mark.parametrize(
    "mode",
    [0o640, 0o604, 0o644, 0o660, 0o606, 0o601, 0o610, 0o700 | 0o007],
    ids=lambda m: f"mode-{m:04o}",
)
def test_load_refuses_file_accessible_by_others(
    tmp_path: Path, key: Ed25519PrivateKey, mode: int
) -> None:
    path = tmp_path / "log.key"
    crypto.save_private_key(path, key)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as info:
        crypto.load_private_key(path)
    assert info.value.code == "key.file_permissions"


@pytest.mark.parametrize("mode", [0o600, 0o400], ids=lambda m: f"mode-{m:04o}")
def test_load_accepts_owner_only_modes(tmp_path: Path, key: Ed25519PrivateKey, mode: int) -> None:
    path = tmp_path / "log.key"
    crypto.save_private_key(path, key)
    path.chmod(mode)
    assert _raw_private(crypto.load_private_key(path)) == _raw_private(key)


def _write_owner_only(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("content", "passphrase", "code"),
    [
        pytest.param(b"", None, "key.malformed", id="empty-file"),
        pytest.param(b"not a key at all\n", None, "key.malformed", id="garbage"),
        pytest.param(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            None,
            "key.malformed",
            id="truncated-pem",
        ),
        pytest.param(
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            PASSPHRASE,
            "key.bad_passphrase",
            id="corrupt-encrypted-pem",
        ),
        pytest.param(b"\x00" * (64 * 1024 + 1), None, "key.file_too_large", id="oversized"),
    ],
)
def test_load_rejects_bad_content(
    tmp_path: Path, content: bytes, passphrase: bytes | None, code: str
) -> None:
    path = _write_owner_only(tmp_path / "log.key", content)
    with pytest.raises(KeyFileError) as info:
        crypto.load_private_key(path, passphrase=passphrase)
    assert info.value.code == code


def test_load_rejects_non_ed25519_key(tmp_path: Path) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    path = _write_owner_only(tmp_path / "log.key", _pem(other))
    with pytest.raises(KeyFileError) as info:
        crypto.load_private_key(path)
    assert info.value.code == "key.wrong_type"


@pytest.mark.parametrize(
    ("saved_with", "loaded_with", "code"),
    [
        pytest.param(PASSPHRASE, b"wrong passphrase", "key.bad_passphrase", id="wrong-passphrase"),
        pytest.param(PASSPHRASE, None, "key.passphrase_required", id="missing-passphrase"),
        pytest.param(None, PASSPHRASE, "key.not_encrypted", id="unexpected-passphrase"),
    ],
)
def test_load_passphrase_mismatch(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    saved_with: bytes | None,
    loaded_with: bytes | None,
    code: str,
) -> None:
    path = tmp_path / "log.key"
    crypto.save_private_key(path, key, passphrase=saved_with)
    with pytest.raises(KeyFileError) as info:
        crypto.load_private_key(path, passphrase=loaded_with)
    assert info.value.code == code


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError) as info:
        crypto.load_private_key(tmp_path / "absent.key")
    assert info.value.code == "key.file_missing"


def test_load_refuses_directory(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    with pytest.raises(KeyFileError) as info:
        crypto.load_private_key(directory)
    assert info.value.code == "key.not_regular_file"


# --- C2SP key IDs and verifier keys -------------------------------------------------------------


def test_key_id_is_truncated_sha256_of_name_type_key(key: Ed25519PrivateKey) -> None:
    raw = crypto.public_key_bytes(key)
    expected = hashlib.sha256(b"kp.test/BW\n\x01" + raw).digest()[:4]
    assert crypto.key_id("kp.test/BW", crypto.ED25519_NOTE_KEY_TYPE, raw) == expected
    # C2SP: the type byte separates a note key from the same key used for cosignatures.
    assert crypto.key_id("kp.test/BW", crypto.ED25519_COSIGNATURE_KEY_TYPE, raw) != expected


@pytest.mark.parametrize(
    "key_type",
    [crypto.ED25519_NOTE_KEY_TYPE, crypto.ED25519_COSIGNATURE_KEY_TYPE],
    ids=["note-0x01", "cosignature-0x04"],
)
def test_verifier_key_round_trip(key: Ed25519PrivateKey, key_type: int) -> None:
    text = crypto.verifier_key("kp.test/BW", key.public_key(), key_type=key_type)
    name, hex_id, encoded = text.split("+", 2)
    raw = crypto.public_key_bytes(key)
    assert name == "kp.test/BW"
    assert hex_id == crypto.key_id(name, key_type, raw).hex()
    assert base64.b64decode(encoded) == bytes([key_type]) + raw
    verifier = crypto.parse_verifier_key(text)
    assert verifier.name == "kp.test/BW"
    assert verifier.key_type == key_type
    assert verifier.key_id == bytes.fromhex(hex_id)
    assert crypto.public_key_bytes(verifier.public_key) == raw


@pytest.mark.parametrize(
    "name",
    ["", "a+b", "a b", "a\tb", "a\u00a0b", "a\u2003b", "a\u3000b", "a\nb", "a\x01b", "a\ud800"],
    ids=[
        "empty",
        "plus",
        "space",
        "tab",
        "nbsp",
        "em-space",
        "ideographic-space",
        "newline",
        "control",
        "lone-surrogate",
    ],
)
def test_verifier_key_refuses_invalid_name(key: Ed25519PrivateKey, name: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        crypto.verifier_key(name, key.public_key())
    assert info.value.code == "key.bad_name"


def test_verifier_key_refuses_unknown_type(key: Ed25519PrivateKey) -> None:
    with pytest.raises(KeyFormatError):
        crypto.verifier_key("kp.test/BW", key.public_key(), key_type=0x02)


def _vkey(name: str, key_type: int, material: bytes, *, hex_id: str | None = None) -> str:
    """Build a verifier-key string with a correct key ID unless one is forced."""
    if hex_id is None:
        hex_id = hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + material).hexdigest()
        hex_id = hex_id[:8]
    return f"{name}+{hex_id}+{base64.b64encode(bytes([key_type]) + material).decode()}"


PUB = bytes(range(32))
GOOD = _vkey("kp.test/BW", 0x01, PUB)
_GOOD_NAME, _GOOD_ID, _GOOD_B64 = GOOD.split("+", 2)
_URLSAFE_B64 = base64.urlsafe_b64encode(b"\x01" + b"\xfb" * 32).decode()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("", "key.bad_name", id="empty"),
        pytest.param(GOOD.replace("+", "", 1), "key.bad_key_id", id="missing-separator"),
        pytest.param(f"+{_GOOD_ID}+{_GOOD_B64}", "key.bad_name", id="empty-name"),
        pytest.param(_vkey("kp test", 0x01, PUB), "key.bad_name", id="space-in-name"),
        pytest.param(_vkey("kp\u2028test", 0x01, PUB), "key.bad_name", id="unicode-space-in-name"),
        pytest.param(
            f"{_GOOD_NAME}+{_GOOD_ID.upper()}+{_GOOD_B64}", "key.bad_key_id", id="hex-id-uppercase"
        ),
        pytest.param(
            f"{_GOOD_NAME}+{_GOOD_ID[:7]}+{_GOOD_B64}", "key.bad_key_id", id="hex-id-7-chars"
        ),
        pytest.param(
            f"{_GOOD_NAME}+{_GOOD_ID}0+{_GOOD_B64}", "key.bad_key_id", id="hex-id-9-chars"
        ),
        pytest.param(
            f"{_GOOD_NAME}+0x{_GOOD_ID[:6]}+{_GOOD_B64}", "key.bad_key_id", id="hex-id-0x"
        ),
        pytest.param(f"{_GOOD_NAME}+{_GOOD_ID}+", "key.bad_base64", id="no-key-material"),
        pytest.param(
            f"{_GOOD_NAME}+{_GOOD_ID}+{_GOOD_B64[:-1]}", "key.bad_base64", id="truncated-base64"
        ),
        pytest.param(
            f"{_GOOD_NAME}+{_GOOD_ID}+{_GOOD_B64} ", "key.bad_base64", id="trailing-space"
        ),
        pytest.param(f"{_GOOD_NAME}+{_GOOD_ID}+{_URLSAFE_B64}", "key.bad_base64", id="urlsafe"),
        pytest.param(
            _vkey("kp.test/BW", 0x01, PUB, hex_id="00000000"),
            "key.key_id_mismatch",
            id="wrong-key-id",
        ),
        pytest.param(_vkey("kp.test/BW", 0x01, PUB[:31]), "key.bad_length", id="key-31-bytes"),
        pytest.param(_vkey("kp.test/BW", 0x01, PUB + b"\x00"), "key.bad_length", id="key-33-bytes"),
        pytest.param(_vkey("kp.test/BW", 0x02, PUB), "key.unknown_type", id="type-0x02-ecdsa"),
        pytest.param(_vkey("kp.test/BW", 0x00, PUB), "key.unknown_type", id="type-0x00"),
        pytest.param(_vkey("kp.test/BW", 0xFF, PUB), "key.unknown_type", id="type-0xff"),
    ],
)
def test_parse_verifier_key_rejects(text: str, code: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        crypto.parse_verifier_key(text)
    assert info.value.code == code


def test_parse_verifier_key_accepts_the_good_one() -> None:
    # Guards the table above: its base case must parse, so each row fails for its own reason.
    assert crypto.parse_verifier_key(GOOD).name == "kp.test/BW"


def test_parse_verifier_key_rejects_non_canonical_base64() -> None:
    # A real key (1 + 32 bytes) encodes without spare bits, so use a 34-byte payload whose last
    # quantum has four: the canonical-spelling check must fire before the length check does.
    canonical = base64.b64encode(b"\x01" + PUB + b"\x00").decode()
    assert canonical.endswith("AA==")
    non_canonical = canonical[:-3] + "B=="
    assert base64.b64decode(non_canonical) == base64.b64decode(canonical)
    with pytest.raises(KeyFormatError) as info:
        crypto.parse_verifier_key(f"{_GOOD_NAME}+{_GOOD_ID}+{non_canonical}")
    assert info.value.code == "key.bad_base64"


# --- x/mod signer keys --------------------------------------------------------------------------


def test_signer_key_round_trip(key: Ed25519PrivateKey) -> None:
    text = crypto.signer_key("kp.test/BW", key)
    assert text.startswith("PRIVATE+KEY+kp.test/BW+")
    name, parsed = crypto.parse_signer_key(text)
    assert name == "kp.test/BW"
    assert _raw_private(parsed) == _raw_private(key)
    # The signer key's ID is the verifier key's ID.
    assert text.split("+")[3] == crypto.verifier_key(name, key.public_key()).split("+")[1]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda s: s.removeprefix("PRIVATE+"), id="missing-PRIVATE"),
        pytest.param(lambda s: s.replace("PRIVATE+KEY", "PUBLIC+KEY"), id="wrong-prefix"),
        pytest.param(lambda s: s.replace("kp.test/BW", "kp.test/IN"), id="other-name"),
        pytest.param(lambda s: s.replace("kp.test/BW", "kp test"), id="bad-name"),
        pytest.param(lambda s: s[:-4], id="truncated"),
        pytest.param(lambda s: s.rsplit("+", 1)[0] + "+" + "A" * 44, id="zero-type-byte"),
    ],
)
def test_parse_signer_key_rejects(key: Ed25519PrivateKey, mutate: Callable[[str], str]) -> None:
    with pytest.raises(KeyFormatError):
        crypto.parse_signer_key(mutate(crypto.signer_key("kp.test/BW", key)))


def test_parse_signer_key_error_does_not_echo_the_secret(key: Ed25519PrivateKey) -> None:
    text = crypto.signer_key("kp.test/BW", key)
    # PRIVATE+KEY+<name>+<hex id>+<base64>: base64 may itself contain "+", so split from the left.
    secret = text.split("+", 4)[4]
    with pytest.raises(KeyFormatError) as info:
        crypto.parse_signer_key(text[:-4])
    assert secret[:-4] not in str(info.value)


def test_a_public_key_file_is_told_apart_from_a_private_one(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    public = _write_owner_only(tmp_path / "mine.pem.pub", crypto.public_key_pem(key))
    with pytest.raises(KeyFileError) as info:
        crypto.load_private_key(public)
    assert info.value.code == "key.public_not_private"
    # Registering an operator takes the public half, or the private key it derives it from.
    assert crypto.load_operator_public_key(public) == key.public_key()
    private = tmp_path / "mine.pem"
    crypto.save_private_key(private, key)
    assert crypto.load_operator_public_key(private) == key.public_key()
    other = _write_owner_only(tmp_path / "ec.pub", _pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(KeyFileError):
        crypto.load_operator_public_key(other)
