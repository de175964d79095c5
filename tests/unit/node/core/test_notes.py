"""C2SP signed notes, checkpoints and cosignatures (node/core/notes.py, DESIGN §7–§8)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from node.core import crypto
from node.core.errors import CheckpointError, KeyFormatError, NoteError
from node.core.notes import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    NoteSignature,
    SignedCheckpoint,
    SignedNote,
    add_signature,
    cosign,
    cosigners,
    parse_note,
    parse_signature_lines,
    sign_note,
    verify_checkpoint,
    verify_cosignature,
    verify_note,
)

ORIGIN = "kp.test/BW"
ROOT = bytes(range(32))
TEXT = "kp.test/BW\n42\n" + base64.b64encode(ROOT).decode() + "\n"
TIME = 1_700_000_000


@dataclass(frozen=True)
class Party:
    """A key holder: its name, private key, and verifier keys as note signer and as cosigner."""

    name: str
    key: Ed25519PrivateKey

    @property
    def vkey(self) -> str:
        return crypto.verifier_key(self.name, self.key.public_key())

    @property
    def cosigner_vkey(self) -> str:
        return crypto.verifier_key(
            self.name, self.key.public_key(), key_type=crypto.ED25519_COSIGNATURE_KEY_TYPE
        )


MakeParty = Callable[[str], Party]


@pytest.fixture
def make_party() -> MakeParty:
    def make(name: str) -> Party:
        return Party(name, crypto.generate_private_key())

    return make


@pytest.fixture
def log(make_party: MakeParty) -> Party:
    return make_party(ORIGIN)


@pytest.fixture
def checkpoint_note(log: Party) -> str:
    return sign_note(TEXT, log.name, log.key)


def _replace_signature(
    note: str, index: int, change: Callable[[NoteSignature], NoteSignature]
) -> str:
    signed = parse_note(note)
    signatures = list(signed.signatures)
    signatures[index] = change(signatures[index])
    return SignedNote(signed.text, tuple(signatures)).to_text()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# --- signing and verifying notes ----------------------------------------------------------------


def test_sign_verify_round_trip(log: Party) -> None:
    note = sign_note(TEXT, log.name, log.key)
    assert verify_note(note, [log.vkey]) == (TEXT, [log.name])


def test_signed_note_layout(log: Party) -> None:
    note = sign_note(TEXT, log.name, log.key)
    head, line = note.split("\n\n")
    assert head + "\n" == TEXT
    assert line.startswith("\u2014 kp.test/BW ")
    assert line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4] == crypto.key_id(log.name, 0x01, crypto.public_key_bytes(log.key))
    assert crypto.verify(log.key.public_key(), raw[4:], TEXT.encode())


def test_several_signers_verify_in_note_order(make_party: MakeParty) -> None:
    a, b, c = make_party("a.example"), make_party("b.example"), make_party("c.example")
    note = sign_note(TEXT, a.name, a.key)
    note = add_signature(note, b.name, b.key)
    note = add_signature(note, c.name, c.key)
    assert verify_note(note, [c.vkey, a.vkey, b.vkey]) == (
        TEXT,
        ["a.example", "b.example", "c.example"],
    )
    assert verify_note(note, [b.vkey]) == (TEXT, ["b.example"])


def test_add_signature_replaces_same_key(log: Party, make_party: MakeParty) -> None:
    other = make_party("w.example")
    note = add_signature(sign_note(TEXT, log.name, log.key), other.name, other.key)
    again = add_signature(note, log.name, log.key)
    assert len(parse_note(again).signatures) == 2
    assert [s.name for s in parse_note(again).signatures] == ["w.example", log.name]


def test_unknown_signer_is_ignored(log: Party, make_party: MakeParty) -> None:
    stranger = make_party("stranger.example")
    note = add_signature(sign_note(TEXT, stranger.name, stranger.key), log.name, log.key)
    assert verify_note(note, [log.vkey]) == (TEXT, [log.name])


def test_unknown_signature_with_garbage_bytes_is_ignored(log: Party) -> None:
    note = sign_note(TEXT, log.name, log.key) + "\u2014 other.example AAAAAAA=\n"
    assert verify_note(note, [log.vkey]) == (TEXT, [log.name])


def test_same_name_other_key_is_unknown_not_bad(log: Party, make_party: MakeParty) -> None:
    # C2SP: signatures sharing a name or an ID (but not both) with a known key are ignored.
    impostor = make_party(log.name)
    note = sign_note(TEXT, impostor.name, impostor.key)
    with pytest.raises(NoteError) as info:
        verify_note(note, [log.vkey])
    assert info.value.code == "note.no_verified_signature"


def test_same_key_id_other_name_is_unknown(log: Party) -> None:
    note = _replace_signature(
        sign_note(TEXT, log.name, log.key), 0, lambda s: replace(s, name="kp.test/IN")
    )
    with pytest.raises(NoteError) as info:
        verify_note(note, [log.vkey])
    assert info.value.code == "note.no_verified_signature"


def test_bad_signature_from_known_key_rejects_note(log: Party, make_party: MakeParty) -> None:
    witness = make_party("w.example")
    note = add_signature(sign_note(TEXT, log.name, log.key), witness.name, witness.key)
    tampered = _replace_signature(note, 1, lambda s: replace(s, signature=_flip(s.signature, 10)))
    with pytest.raises(NoteError) as info:
        verify_note(tampered, [log.vkey, witness.vkey])
    assert info.value.code == "note.bad_signature"
    # Without the witness's key the tampered line is just unknown.
    assert verify_note(tampered, [log.vkey]) == (TEXT, [log.name])


def test_second_bad_signature_from_same_key_rejects_note(log: Party) -> None:
    # x/mod skips repeated signatures by one key unchecked; C2SP says verify every one.
    note = sign_note(TEXT, log.name, log.key)
    signed = parse_note(note)
    good = signed.signatures[0]
    bad = replace(good, signature=_flip(good.signature, 0))
    doubled = SignedNote(signed.text, (good, bad)).to_text()
    with pytest.raises(NoteError) as info:
        verify_note(doubled, [log.vkey])
    assert info.value.code == "note.bad_signature"


def test_duplicate_valid_signature_counted_once(log: Party) -> None:
    note = sign_note(TEXT, log.name, log.key)
    signed = parse_note(note)
    doubled = SignedNote(signed.text, signed.signatures * 2).to_text()
    assert verify_note(doubled, [log.vkey]) == (TEXT, [log.name])


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param(lambda p: [], id="empty-policy"),
        pytest.param(
            lambda p: [
                crypto.verifier_key("x.example", crypto.generate_private_key().public_key())
            ],
            id="unrelated-key",
        ),
        pytest.param(lambda p: [p.cosigner_vkey], id="cosignature-key-only"),
    ],
)
def test_no_verified_signature_is_rejected(log: Party, keys: Callable[[Party], list[str]]) -> None:
    note = sign_note(TEXT, log.name, log.key)
    with pytest.raises(NoteError) as info:
        verify_note(note, keys(log))
    assert info.value.code == "note.no_verified_signature"


def test_ambiguous_verifier_list_is_rejected(log: Party) -> None:
    note = sign_note(TEXT, log.name, log.key)
    with pytest.raises(NoteError) as info:
        verify_note(note, [log.vkey, log.vkey])
    assert info.value.code == "note.ambiguous_key"


def test_malformed_verifier_key_is_rejected(log: Party) -> None:
    with pytest.raises(KeyFormatError):
        verify_note(sign_note(TEXT, log.name, log.key), [log.vkey[:-2]])


def test_every_mutated_text_character_fails(log: Party) -> None:
    note = sign_note(TEXT, log.name, log.key)
    for index, char in enumerate(TEXT):
        replacement = "x" if char != "x" else "y"
        mutated = note[:index] + replacement + note[index + 1 :]
        with pytest.raises(NoteError):
            verify_note(mutated, [log.vkey])


def test_flipped_signature_bit_fails(log: Party) -> None:
    note = sign_note(TEXT, log.name, log.key)
    for at in (0, 31, 32, 63):
        tampered = _replace_signature(
            note, 0, lambda s, at=at: replace(s, signature=_flip(s.signature, at))
        )
        with pytest.raises(NoteError) as info:
            verify_note(tampered, [log.vkey])
        assert info.value.code == "note.bad_signature"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no final newline",
        "bell \x07\n",
        "carriage return\r\n",
        "tab\tinside\n",
        "lone \ud800\n",
    ],
    ids=["empty", "no-newline", "bell", "cr", "tab", "lone-surrogate"],
)
def test_sign_note_rejects_invalid_text(log: Party, text: str) -> None:
    with pytest.raises(NoteError) as info:
        sign_note(text, log.name, log.key)
    assert info.value.code == "note.malformed"


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\u2009b"], ids=["empty", "space", "plus", "thin-space"]
)
def test_sign_note_rejects_invalid_name(log: Party, name: str) -> None:
    with pytest.raises(KeyFormatError):
        sign_note(TEXT, name, log.key)


def test_sign_note_refuses_oversized_note(log: Party) -> None:
    with pytest.raises(NoteError) as info:
        sign_note("a" * MAX_NOTE_BYTES + "\n", log.name, log.key)
    assert info.value.code == "note.too_large"


def test_text_may_contain_blank_lines(log: Party) -> None:
    text = "first\n\nsecond\n\n\nthird\n"
    note = sign_note(text, log.name, log.key)
    assert verify_note(note, [log.vkey]) == (text, [log.name])


def test_text_may_end_with_blank_line(log: Party) -> None:
    # The separator is the *last* blank line, so a text ending in "\n\n" still round-trips.
    text = "ends with a blank line\n\n"
    note = sign_note(text, log.name, log.key)
    assert verify_note(note, [log.vkey]) == (text, [log.name])


# --- parsing notes ------------------------------------------------------------------------------

# The signature bytes spell "/" in base64, so the URL-safe alphabet check bites.
SIG_BYTES = b"\xfb\xef\xff" * 21 + b"\x00"
SIG = "\u2014 kp.test/BW " + base64.b64encode(b"\x01\x02\x03\x04" + SIG_BYTES).decode() + "\n"


def test_parse_note_round_trip() -> None:
    note = "text\n\n" + SIG + SIG.replace("kp.test/BW", "w.example")
    parsed = parse_note(note)
    assert parsed.text == "text\n"
    assert [s.name for s in parsed.signatures] == ["kp.test/BW", "w.example"]
    assert parsed.signatures[0].key_id == b"\x01\x02\x03\x04"
    assert parsed.signatures[0].signature == SIG_BYTES
    assert parsed.to_text() == note


def test_parse_note_accepts_utf8_bytes() -> None:
    note = "caf\u00e9\n\n" + SIG
    assert parse_note(note.encode()) == parse_note(note)


@pytest.mark.parametrize(
    "note",
    [
        pytest.param("text\n", id="no-blank-line"),
        pytest.param("text\n\n", id="no-signature"),
        pytest.param("text\n\n" + SIG[:-1], id="signature-without-newline"),
        pytest.param("text\n\n" + SIG + "\n", id="trailing-blank-line"),
        pytest.param("text\n\n" + SIG + "extra line\n", id="line-after-signatures"),
        pytest.param("text\n\n" + SIG.replace("\u2014", "-"), id="hyphen-not-em-dash"),
        pytest.param("text\n\n" + SIG.replace("\u2014 ", "\u2014"), id="no-space-after-dash"),
        pytest.param("text\n\n" + SIG.replace("\u2014 ", "\u2014  "), id="empty-name"),
        pytest.param("text\n\n" + SIG.replace("kp.test/BW", "kp+test"), id="plus-in-name"),
        pytest.param("text\n\n" + SIG.replace("kp.test/BW", "kp\u00a0test"), id="nbsp-in-name"),
        pytest.param(
            "text\n\n" + SIG.replace("kp.test/BW ", "kp.test/BW\n"), id="missing-signature"
        ),
        pytest.param("text\n\n" + SIG.replace("=\n", " \n"), id="space-in-base64"),
        pytest.param("text\n\n" + SIG.replace("=\n", "\n"), id="unpadded-base64"),
        pytest.param("text\n\n" + SIG.replace("/", "_"), id="urlsafe-base64"),
        pytest.param("text\n\n\u2014 kp.test/BW AQIDBA==\n", id="key-id-only"),
        pytest.param("text\n\n\u2014 kp.test/BW AQIDBAX=\n", id="non-canonical-base64"),
        pytest.param("\x01text\n\n" + SIG, id="control-in-text"),
        pytest.param("text\r\n\n" + SIG, id="cr-in-text"),
        pytest.param(
            "text\n\n" + SIG.replace("kp.test/BW", "kp.test/\x7fBW\x1b"), id="escape-in-name"
        ),
        pytest.param("te\ud800xt\n\n" + SIG, id="lone-surrogate"),
        pytest.param(b"\xfftext\n\n" + SIG.encode(), id="invalid-utf8-bytes"),
        pytest.param(b"text\n\n\xe2\x80" + SIG.encode()[3:], id="truncated-em-dash-bytes"),
    ],
)
def test_parse_note_rejects_malformed(note: str | bytes) -> None:
    with pytest.raises(NoteError) as info:
        parse_note(note)
    assert info.value.code == "note.malformed"


@pytest.mark.parametrize("count", [1, 16, MAX_SIGNATURES], ids=lambda n: f"{n}-signatures")
def test_parse_note_accepts_up_to_the_signature_limit(count: int) -> None:
    assert len(parse_note("text\n\n" + SIG * count).signatures) == count


def test_parse_note_rejects_too_many_signatures() -> None:
    with pytest.raises(NoteError) as info:
        parse_note("text\n\n" + SIG * (MAX_SIGNATURES + 1))
    assert info.value.code == "note.too_many_signatures"


@pytest.mark.parametrize(
    "note",
    [
        pytest.param("a" * MAX_NOTE_BYTES + "\n\n" + SIG, id="ascii"),
        # Fewer characters than the limit, more bytes: the bound is on UTF-8 bytes.
        pytest.param("\u00e9" * (MAX_NOTE_BYTES // 2) + "\n\n" + SIG, id="two-byte-chars"),
        pytest.param(("a" * MAX_NOTE_BYTES + "\n\n" + SIG).encode(), id="bytes"),
    ],
)
def test_parse_note_rejects_oversized(note: str | bytes) -> None:
    with pytest.raises(NoteError) as info:
        parse_note(note)
    assert info.value.code == "note.too_large"


# --- checkpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "checkpoint",
    [
        pytest.param(Checkpoint(ORIGIN, 42, ROOT), id="plain"),
        pytest.param(Checkpoint(ORIGIN, 0, bytes(32)), id="empty-tree"),
        pytest.param(Checkpoint(ORIGIN, 2**64 - 1, ROOT), id="max-uint64"),
        pytest.param(Checkpoint("go.sum database tree", 7, ROOT), id="origin-with-spaces"),
        pytest.param(Checkpoint(ORIGIN, 1, ROOT, ("ext one", "— ext two")), id="extensions"),
    ],
)
def test_checkpoint_round_trip(checkpoint: Checkpoint) -> None:
    text = checkpoint.to_text()
    assert text.endswith("\n")
    assert Checkpoint.parse(text) == checkpoint
    assert Checkpoint.parse(text).to_text() == text


def test_checkpoint_text_layout() -> None:
    text = Checkpoint(ORIGIN, 42, ROOT, ("x",)).to_text()
    assert text == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\nx\n"


B64_ROOT = base64.b64encode(ROOT).decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("", "checkpoint.malformed", id="empty"),
        pytest.param(f"{ORIGIN}\n42\n{B64_ROOT}", "checkpoint.malformed", id="no-final-newline"),
        pytest.param(f"{ORIGIN}\n42\n", "checkpoint.malformed", id="two-lines"),
        pytest.param(f"\n42\n{B64_ROOT}\n", "checkpoint.bad_origin", id="empty-origin"),
        pytest.param(f"kp\r\n42\n{B64_ROOT}\n", "checkpoint.bad_origin", id="cr-in-origin"),
        pytest.param(f"{ORIGIN}\n\n{B64_ROOT}\n", "checkpoint.bad_size", id="empty-size"),
        pytest.param(f"{ORIGIN}\n042\n{B64_ROOT}\n", "checkpoint.bad_size", id="leading-zero"),
        pytest.param(f"{ORIGIN}\n00\n{B64_ROOT}\n", "checkpoint.bad_size", id="double-zero"),
        pytest.param(f"{ORIGIN}\n+42\n{B64_ROOT}\n", "checkpoint.bad_size", id="plus-sign"),
        pytest.param(f"{ORIGIN}\n-1\n{B64_ROOT}\n", "checkpoint.bad_size", id="negative"),
        pytest.param(f"{ORIGIN}\n 42\n{B64_ROOT}\n", "checkpoint.bad_size", id="leading-space"),
        pytest.param(f"{ORIGIN}\n4_2\n{B64_ROOT}\n", "checkpoint.bad_size", id="underscore"),
        pytest.param(
            f"{ORIGIN}\n\u0664\u0662\n{B64_ROOT}\n", "checkpoint.bad_size", id="arabic-digits"
        ),
        pytest.param(f"{ORIGIN}\n0x2a\n{B64_ROOT}\n", "checkpoint.bad_size", id="hex"),
        pytest.param(
            f"{ORIGIN}\n{2**64}\n{B64_ROOT}\n", "checkpoint.bad_size", id="uint64-overflow"
        ),
        pytest.param(f"{ORIGIN}\n{'9' * 30}\n{B64_ROOT}\n", "checkpoint.bad_size", id="huge"),
        pytest.param(f"{ORIGIN}\n42\n\n", "checkpoint.bad_root", id="empty-root"),
        pytest.param(
            f"{ORIGIN}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n",
            "checkpoint.bad_root",
            id="root-31-bytes",
        ),
        pytest.param(
            f"{ORIGIN}\n42\n{base64.b64encode(ROOT + b'x').decode()}\n",
            "checkpoint.bad_root",
            id="root-33-bytes",
        ),
        pytest.param(f"{ORIGIN}\n42\n{B64_ROOT[:-1]}\n", "checkpoint.bad_root", id="root-unpadded"),
        pytest.param(
            f"{ORIGIN}\n42\n{B64_ROOT[:-2]}B=\n", "checkpoint.bad_root", id="root-non-canonical"
        ),
        pytest.param(f"{ORIGIN}\n42\n{URLSAFE_ROOT}\n", "checkpoint.bad_root", id="root-urlsafe"),
        pytest.param(
            f"{ORIGIN}\n42\n {B64_ROOT}\n", "checkpoint.bad_root", id="root-leading-space"
        ),
        pytest.param(
            f"{ORIGIN}\n42\n{B64_ROOT}\n\n", "checkpoint.bad_extension", id="empty-extension"
        ),
        pytest.param(
            f"{ORIGIN}\n42\n{B64_ROOT}\nok\n\nok\n",
            "checkpoint.bad_extension",
            id="empty-middle-extension",
        ),
        pytest.param(
            f"{ORIGIN}\n42\n{B64_ROOT}\nbell\x07\n",
            "checkpoint.bad_extension",
            id="control-in-extension",
        ),
    ],
)
def test_checkpoint_parse_rejects(text: str, code: str) -> None:
    with pytest.raises(CheckpointError) as info:
        Checkpoint.parse(text)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"origin": ""}, "checkpoint.bad_origin", id="empty-origin"),
        pytest.param({"origin": "a\nb"}, "checkpoint.bad_origin", id="newline-in-origin"),
        pytest.param({"size": -1}, "checkpoint.bad_size", id="negative-size"),
        pytest.param({"size": 2**64}, "checkpoint.bad_size", id="size-overflow"),
        pytest.param({"size": True}, "checkpoint.bad_size", id="bool-size"),
        pytest.param({"root": ROOT[:31]}, "checkpoint.bad_root", id="short-root"),
        pytest.param({"root": ROOT + b"\x00"}, "checkpoint.bad_root", id="long-root"),
        pytest.param({"extensions": ("",)}, "checkpoint.bad_extension", id="empty-extension"),
        pytest.param({"extensions": ("a\nb",)}, "checkpoint.bad_extension", id="newline-extension"),
    ],
)
def test_checkpoint_constructor_validates(kwargs: dict[str, object], code: str) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 1, "root": ROOT, "extensions": ()}
    fields.update(kwargs)
    with pytest.raises(CheckpointError) as info:
        Checkpoint(**fields)  # type: ignore[arg-type]
    assert info.value.code == code


_line_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, exclude_categories=("Cs",)), min_size=1, max_size=40
)


@given(
    origin=_line_text,
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line_text, max_size=3).map(tuple),
)
def test_checkpoint_parse_inverts_to_text(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    checkpoint = Checkpoint(origin, size, root, extensions)
    assert Checkpoint.parse(checkpoint.to_text()) == checkpoint


def test_verify_checkpoint(log: Party, checkpoint_note: str) -> None:
    assert verify_checkpoint(checkpoint_note, [log.vkey], origin=ORIGIN) == Checkpoint(
        ORIGIN, 42, ROOT
    )


def test_verify_checkpoint_rejects_other_origin(log: Party, checkpoint_note: str) -> None:
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(checkpoint_note, [log.vkey], origin="kp.test/IN")
    assert info.value.code == "checkpoint.wrong_origin"


def test_verify_checkpoint_rejects_non_checkpoint(log: Party) -> None:
    with pytest.raises(CheckpointError):
        verify_checkpoint(sign_note("hello\n", log.name, log.key), [log.vkey], origin=ORIGIN)


# --- cosignatures -------------------------------------------------------------------------------


def test_cosign_round_trip(checkpoint_note: str, make_party: MakeParty) -> None:
    witness = make_party("w1.example")
    note = cosign(checkpoint_note, witness.name, witness.key, TIME)
    assert note.startswith(checkpoint_note)
    assert verify_cosignature(note, witness.cosigner_vkey) == TIME


def test_cosignature_line_layout(checkpoint_note: str, make_party: MakeParty) -> None:
    witness = make_party("w1.example")
    line = parse_note(cosign(checkpoint_note, witness.name, witness.key, TIME)).signatures[-1]
    raw_pub = crypto.public_key_bytes(witness.key)
    # c2sp.org/tlog-cosignature: key ID with type 0x04; timestamp(8, big-endian) || sig(64).
    assert line.key_id == crypto.key_id(witness.name, 0x04, raw_pub)
    assert len(line.signature) == 72
    assert int.from_bytes(line.signature[:8], "big") == TIME
    message = f"cosignature/v1\ntime {TIME}\n{TEXT}".encode()
    assert crypto.verify(witness.key.public_key(), line.signature[8:], message)


def test_cosigned_checkpoint_still_verifies_with_log_key(
    log: Party, checkpoint_note: str, make_party: MakeParty
) -> None:
    witness = make_party("w1.example")
    note = cosign(checkpoint_note, witness.name, witness.key, TIME)
    assert verify_checkpoint(note, [log.vkey], origin=ORIGIN) == Checkpoint(ORIGIN, 42, ROOT)


@pytest.mark.parametrize("timestamp", [0, 2**63 - 1], ids=["zero", "max-int63"])
def test_cosign_timestamp_bounds_accepted(
    checkpoint_note: str, make_party: MakeParty, timestamp: int
) -> None:
    witness = make_party("w1.example")
    note = cosign(checkpoint_note, witness.name, witness.key, timestamp)
    assert verify_cosignature(note, witness.cosigner_vkey) == timestamp


@pytest.mark.parametrize("timestamp", [-1, 2**63, 2**64], ids=["negative", "2^63", "2^64"])
def test_cosign_timestamp_out_of_range(
    checkpoint_note: str, make_party: MakeParty, timestamp: int
) -> None:
    witness = make_party("w1.example")
    with pytest.raises(NoteError) as info:
        cosign(checkpoint_note, witness.name, witness.key, timestamp)
    assert info.value.code == "cosignature.bad_timestamp"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: replace(s, signature=_flip(s.signature, 8)), id="signature-bit"),
        pytest.param(lambda s: replace(s, signature=_flip(s.signature, 7)), id="timestamp-bit"),
        pytest.param(lambda s: replace(s, signature=s.signature[:-1]), id="truncated"),
        pytest.param(lambda s: replace(s, signature=s.signature + b"\x00"), id="extended"),
        pytest.param(lambda s: replace(s, signature=s.signature[8:]), id="no-timestamp"),
    ],
)
def test_tampered_cosignature_is_invalid(
    checkpoint_note: str, make_party: MakeParty, change: Callable[[NoteSignature], NoteSignature]
) -> None:
    witness = make_party("w1.example")
    note = _replace_signature(cosign(checkpoint_note, witness.name, witness.key, TIME), 1, change)
    with pytest.raises(NoteError) as info:
        verify_cosignature(note, witness.cosigner_vkey)
    assert info.value.code == "cosignature.invalid"


def test_cosignature_over_other_checkpoint_is_invalid(
    log: Party, checkpoint_note: str, make_party: MakeParty
) -> None:
    witness = make_party("w1.example")
    cosigned = parse_note(cosign(checkpoint_note, witness.name, witness.key, TIME))
    other_text = Checkpoint(ORIGIN, 43, ROOT).to_text()
    moved = SignedNote(other_text, cosigned.signatures).to_text()
    with pytest.raises(NoteError) as info:
        verify_cosignature(moved, witness.cosigner_vkey)
    assert info.value.code == "cosignature.invalid"


def test_cosignature_timestamp_above_int63_is_invalid(
    checkpoint_note: str, make_party: MakeParty
) -> None:
    # A correctly signed cosignature whose timestamp breaks the spec's 2^63 - 1 bound.
    witness = make_party("w1.example")
    timestamp = 2**63
    message = f"cosignature/v1\ntime {timestamp}\n{TEXT}".encode()
    kid = crypto.key_id(witness.name, 0x04, crypto.public_key_bytes(witness.key))
    line = NoteSignature(
        witness.name, kid, timestamp.to_bytes(8, "big") + witness.key.sign(message)
    )
    signed = parse_note(checkpoint_note)
    note = SignedNote(signed.text, (*signed.signatures, line)).to_text()
    with pytest.raises(NoteError) as info:
        verify_cosignature(note, witness.cosigner_vkey)
    assert info.value.code == "cosignature.invalid"


def test_missing_cosignature(checkpoint_note: str, make_party: MakeParty) -> None:
    witness = make_party("w1.example")
    with pytest.raises(NoteError) as info:
        verify_cosignature(checkpoint_note, witness.cosigner_vkey)
    assert info.value.code == "cosignature.missing"


def test_note_signature_is_not_a_cosignature(checkpoint_note: str, make_party: MakeParty) -> None:
    # A type-0x01 signature by the witness key has another key ID: it is not its cosignature.
    witness = make_party("w1.example")
    note = add_signature(checkpoint_note, witness.name, witness.key)
    with pytest.raises(NoteError) as info:
        verify_cosignature(note, witness.cosigner_vkey)
    assert info.value.code == "cosignature.missing"


def test_verify_cosignature_requires_cosigner_key(
    checkpoint_note: str, make_party: MakeParty
) -> None:
    witness = make_party("w1.example")
    note = cosign(checkpoint_note, witness.name, witness.key, TIME)
    with pytest.raises(KeyFormatError) as info:
        verify_cosignature(note, witness.vkey)
    assert info.value.code == "key.wrong_type"


def test_cosign_requires_a_checkpoint(log: Party, make_party: MakeParty) -> None:
    witness = make_party("w1.example")
    with pytest.raises(CheckpointError):
        cosign(sign_note("not a checkpoint\n", log.name, log.key), witness.name, witness.key, TIME)


def test_recosign_replaces_older_cosignature(checkpoint_note: str, make_party: MakeParty) -> None:
    witness = make_party("w1.example")
    once = cosign(checkpoint_note, witness.name, witness.key, TIME)
    twice = cosign(once, witness.name, witness.key, TIME + 60)
    assert len(parse_note(twice).signatures) == 2
    assert verify_cosignature(twice, witness.cosigner_vkey) == TIME + 60


def test_cosigners_reports_valid_cosignatures(checkpoint_note: str, make_party: MakeParty) -> None:
    w1, w2, w3 = make_party("w1.example"), make_party("w2.example"), make_party("w3.example")
    note = cosign(checkpoint_note, w1.name, w1.key, TIME)
    note = cosign(note, w2.name, w2.key, TIME + 1)
    keys = [w1.cosigner_vkey, w2.cosigner_vkey, w3.cosigner_vkey]
    assert cosigners(note, keys) == {"w1.example": TIME, "w2.example": TIME + 1}
    assert cosigners(note, []) == {}


def test_cosigners_raises_on_invalid_cosignature(
    checkpoint_note: str, make_party: MakeParty
) -> None:
    w1, w2 = make_party("w1.example"), make_party("w2.example")
    note = cosign(cosign(checkpoint_note, w1.name, w1.key, TIME), w2.name, w2.key, TIME)
    tampered = _replace_signature(note, 2, lambda s: replace(s, signature=_flip(s.signature, 20)))
    with pytest.raises(NoteError) as info:
        cosigners(tampered, [w1.cosigner_vkey, w2.cosigner_vkey])
    assert info.value.code == "cosignature.invalid"
    # A cosigner outside the policy is just unknown.
    assert cosigners(tampered, [w1.cosigner_vkey]) == {"w1.example": TIME}


def test_cosigners_refuses_duplicate_names(checkpoint_note: str, make_party: MakeParty) -> None:
    w1, w1_again = make_party("w1.example"), make_party("w1.example")
    with pytest.raises(NoteError) as info:
        cosigners(checkpoint_note, [w1.cosigner_vkey, w1_again.cosigner_vkey])
    assert info.value.code == "note.ambiguous_key"


def test_cosigners_refuses_note_keys(checkpoint_note: str, log: Party) -> None:
    with pytest.raises(KeyFormatError):
        cosigners(checkpoint_note, [log.vkey])


# --- SignedCheckpoint: the parsed form that travels through the node ----------------------------


def test_a_signed_checkpoint_parses_once_and_serialises_back_to_the_same_text(
    make_party: MakeParty,
) -> None:
    log, witness = make_party(ORIGIN), make_party("CA/witness")
    note = cosign(sign_note(TEXT, log.name, log.key), witness.name, witness.key, TIME)
    signed = SignedCheckpoint.parse(note)
    assert (signed.origin, signed.size, signed.root) == (ORIGIN, 42, ROOT)
    assert [s.name for s in signed.signatures] == [ORIGIN, "CA/witness"]
    assert signed.to_text() == note
    assert signed.verify([log.vkey], origin=ORIGIN) == [ORIGIN]
    assert signed.cosigners([witness.cosigner_vkey]) == {"CA/witness": TIME}
    bare = signed.origin_signed()
    assert bare.to_text() == sign_note(TEXT, log.name, log.key)
    assert bare.cosigners([witness.cosigner_vkey]) == {}


def test_a_signed_checkpoint_of_another_log_is_refused_even_when_validly_signed(
    make_party: MakeParty,
) -> None:
    log = make_party(ORIGIN)
    signed = SignedCheckpoint.parse(sign_note(TEXT, log.name, log.key))
    with pytest.raises(CheckpointError) as refused:
        signed.verify([log.vkey], origin="kp.test/CA")
    assert refused.value.code == "checkpoint.wrong_origin"
    with pytest.raises(NoteError) as unsigned:
        signed.verify([make_party(ORIGIN).vkey], origin=ORIGIN)
    assert unsigned.value.code == "note.no_verified_signature"


def test_a_signed_note_that_is_not_a_checkpoint_does_not_parse_as_one(
    make_party: MakeParty,
) -> None:
    log = make_party(ORIGIN)
    with pytest.raises(CheckpointError):
        SignedCheckpoint.parse(sign_note("hello\n", log.name, log.key))


def test_a_new_cosignature_replaces_the_same_witness_older_one(make_party: MakeParty) -> None:
    log, witness = make_party(ORIGIN), make_party("CA/witness")
    signed = SignedCheckpoint.parse(sign_note(TEXT, log.name, log.key))
    early = signed.with_signature(signed.cosignature(witness.name, witness.key, TIME))
    late = early.with_signature(early.cosignature(witness.name, witness.key, TIME + 5))
    assert len(late.signatures) == 2
    assert late.cosignature_time(witness.cosigner_vkey) == TIME + 5
    with pytest.raises(NoteError) as missing:
        signed.cosignature_time(witness.cosigner_vkey)
    assert missing.value.code == "cosignature.missing"
    with pytest.raises(NoteError) as bad_time:
        signed.cosignature(witness.name, witness.key, -1)
    assert bad_time.value.code == "cosignature.bad_timestamp"


def test_signature_lines_parse_on_their_own_as_a_witness_answers_them(
    make_party: MakeParty,
) -> None:
    log, witness = make_party(ORIGIN), make_party("CA/witness")
    signed = SignedCheckpoint.parse(sign_note(TEXT, log.name, log.key))
    line = signed.cosignature(witness.name, witness.key, TIME)
    assert parse_signature_lines(line.to_line()) == (line,)
    for hostile in ["", line.to_line().rstrip("\n"), "no dash here\n", "— CA/witness !!!\n"]:
        with pytest.raises(NoteError):
            parse_signature_lines(hostile)
    with pytest.raises(NoteError) as too_many:
        parse_signature_lines(line.to_line() * (MAX_SIGNATURES + 1))
    assert too_many.value.code == "note.too_many_signatures"
    with pytest.raises(NoteError) as too_large:
        parse_signature_lines("x" * (MAX_NOTE_BYTES + 1))
    assert too_large.value.code == "note.too_large"
