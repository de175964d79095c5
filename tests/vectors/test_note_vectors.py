"""C2SP signed-note, checkpoint and cosignature vectors from other implementations.

Sources (see ``note/`` in the vectors directory and its SOURCES.json): golang.org/x/mod
sumdb/note, the C2SP specification examples, transparency-dev/formats, and a real
sum.golang.org checkpoint. Every file in ``note/`` is used below; ``test_every_note_vector_file_is
_used`` fails when a new one appears unused.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from node.core import crypto
from node.core.errors import CheckpointError, KeyFormatError, NoteError
from node.core.notes import (
    Checkpoint,
    add_signature,
    parse_note,
    sign_note,
    verify_checkpoint,
    verify_cosignature,
    verify_note,
)
from tests.vectors import VECTORS_DIR

NOTE_DIR = VECTORS_DIR / "note"


def _json(name: str) -> Any:
    return json.loads((NOTE_DIR / name).read_text(encoding="utf-8"))


def _note_file(name: str) -> str:
    # newline="" keeps the bytes as they are: a note's newlines are part of what is signed.
    with (NOTE_DIR / name).open(encoding="utf-8", newline="") as f:
        return f.read()


XMOD = _json("x_mod_note_vectors.json")
C2SP = _json("c2sp_examples.json")
FORMATS = _json("transparency_dev_formats_checkpoints.json")

USED_FILES = {
    "c2sp_examples.json",
    "c2sp_signed_note_example_com_foo.note",
    "c2sp_tlog_checkpoint_example.note",
    "c2sp_tlog_cosignature_example.note",
    "sum_golang_org_checkpoint.note",
    "transparency_dev_formats_checkpoints.json",
    "x_mod_note_vectors.json",
    "x_mod_peterneumann.note",
    "x_mod_peterneumann_enochroot.note",
}


def test_every_note_vector_file_is_used() -> None:
    assert {p.name for p in NOTE_DIR.iterdir()} == USED_FILES


# --- golang.org/x/mod sumdb/note ----------------------------------------------------------------

PETER = XMOD["keys"]["PeterNeumann"]
ENOCH = XMOD["keys"]["EnochRoot"]
TEXT: str = XMOD["note_text"]
PETER_SIG = "\u2014 PeterNeumann " + XMOD["signatures"]["PeterNeumann"] + "\n"
ENOCH_SIG = "\u2014 EnochRoot " + XMOD["signatures"]["EnochRoot"] + "\n"


def _insert_abcd(signature_line: str) -> str:
    # x/mod note_test.go: sig[:60] + "ABCD" + sig[60:], where 60 is a *byte* offset in Go.
    raw = signature_line.encode("utf-8")
    return (raw[:60] + b"ABCD" + raw[60:]).decode("utf-8")


def test_xmod_sign_reproduces_peterneumann_note_byte_for_byte() -> None:
    name, key = crypto.parse_signer_key(PETER["skey"])
    note = sign_note(TEXT, name, key)
    assert note == XMOD["signed_note_single"]
    assert note == _note_file("x_mod_peterneumann.note")
    assert note.encode("utf-8") == (NOTE_DIR / "x_mod_peterneumann.note").read_bytes()


def test_xmod_key_strings_round_trip() -> None:
    name, key = crypto.parse_signer_key(PETER["skey"])
    assert name == "PeterNeumann"
    assert crypto.signer_key(name, key) == PETER["skey"]
    assert crypto.verifier_key(name, key.public_key()) == PETER["vkey"]


@pytest.mark.parametrize("who", ["PeterNeumann", "EnochRoot"])
def test_xmod_verifier_key_ids(who: str) -> None:
    keys = XMOD["keys"][who]
    verifier = crypto.parse_verifier_key(keys["vkey"])
    assert verifier.name == who
    assert verifier.key_type == crypto.ED25519_NOTE_KEY_TYPE
    assert verifier.key_id.hex() == keys["key_id_hex"]
    raw = crypto.public_key_bytes(verifier.public_key)
    assert crypto.key_id(who, 0x01, raw).hex() == keys["key_id_hex"]


def test_xmod_single_note_verifies() -> None:
    assert verify_note(XMOD["signed_note_single"], [PETER["vkey"]]) == (TEXT, ["PeterNeumann"])


def test_xmod_two_signer_note_file_matches() -> None:
    assert _note_file("x_mod_peterneumann_enochroot.note") == XMOD["signed_note_double"]
    assert XMOD["signed_note_double"] == TEXT + "\n" + PETER_SIG + ENOCH_SIG


def test_xmod_open_double_with_peter_only() -> None:
    # "ok; verified sigs=[PeterNeumann]; unverified=[EnochRoot]": EnochRoot is ignored.
    note = _note_file("x_mod_peterneumann_enochroot.note")
    assert verify_note(note, [PETER["vkey"]]) == (TEXT, ["PeterNeumann"])
    assert [s.name for s in parse_note(note).signatures] == ["PeterNeumann", "EnochRoot"]


def test_xmod_open_double_with_both_keys() -> None:
    # "ok; 2 verified sigs, in note order" — whatever the order of the key list.
    note = XMOD["signed_note_double"]
    expected = (TEXT, ["PeterNeumann", "EnochRoot"])
    assert verify_note(note, [PETER["vkey"], ENOCH["vkey"]]) == expected
    assert verify_note(note, [ENOCH["vkey"], PETER["vkey"]]) == expected


def test_xmod_open_double_with_no_keys() -> None:
    with pytest.raises(NoteError) as info:
        verify_note(XMOD["signed_note_double"], [])
    assert info.value.code == "note.no_verified_signature"


def test_xmod_ambiguous_key() -> None:
    with pytest.raises(NoteError) as info:
        verify_note(TEXT + "\n" + ENOCH_SIG, [ENOCH["vkey"], PETER["vkey"], ENOCH["vkey"]])
    assert info.value.code == "note.ambiguous_key"


def test_xmod_more_than_100_signatures() -> None:
    with pytest.raises(NoteError) as info:
        verify_note(TEXT + "\n" + PETER_SIG * 101, [PETER["vkey"]])
    assert info.value.code == "note.too_many_signatures"
    # The boundary itself is accepted (and the duplicates counted once).
    assert verify_note(TEXT + "\n" + PETER_SIG * 100, [PETER["vkey"]]) == (TEXT, ["PeterNeumann"])


def test_xmod_invalid_signature() -> None:
    with pytest.raises(NoteError) as info:
        verify_note(TEXT + "\n" + _insert_abcd(PETER_SIG), [PETER["vkey"]])
    assert info.value.code == "note.bad_signature"


def test_xmod_duplicate_verified_and_unverified_signatures() -> None:
    note = TEXT + "\n" + PETER_SIG * 2 + ENOCH_SIG * 2 + _insert_abcd(ENOCH_SIG)
    assert verify_note(note, [PETER["vkey"]]) == (TEXT, ["PeterNeumann"])


def _malformed_xmod_notes() -> list[Any]:
    cases = []
    for case in XMOD["malformed_notes_expect_error_malformed_note"]:
        msg = bytes.fromhex(case["msg_hex"]) if "msg_hex" in case else case["msg"]
        cases.append(pytest.param(msg, id=case["desc"]))
    return cases


@pytest.mark.parametrize("msg", _malformed_xmod_notes())
def test_xmod_malformed_note(msg: str | bytes) -> None:
    with pytest.raises(NoteError) as info:
        parse_note(msg)
    assert info.value.code == "note.malformed"
    # verify_note takes str; invalid UTF-8 reaches it as lone surrogates at worst.
    text = msg.decode("utf-8", "surrogateescape") if isinstance(msg, bytes) else msg
    with pytest.raises(NoteError) as info:
        verify_note(text, [PETER["vkey"]])
    assert info.value.code == "note.malformed"


@pytest.mark.parametrize(
    "case", [c for c in XMOD["invalid_vkeys"] if "+" in c["vkey"]], ids=lambda c: c["why"]
)
def test_xmod_invalid_vkey(case: dict[str, str]) -> None:
    with pytest.raises(KeyFormatError):
        crypto.parse_verifier_key(case["vkey"])


def _vkey_mutations() -> list[Any]:
    # x/mod TestNewVerifier: "any proper substring of the PeterNeumann vkey, or the vkey with any
    # single byte incremented" must fail. Substrings are taken as every prefix and every suffix.
    vkey: str = PETER["vkey"]
    cases = []
    for i in range(len(vkey)):
        cases.append(pytest.param(vkey[:i], id=f"prefix-{i}"))
        cases.append(pytest.param(vkey[i + 1 :], id=f"suffix-{i + 1}"))
        cases.append(pytest.param(vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :], id=f"inc-{i}"))
    return cases


@pytest.mark.parametrize("vkey", _vkey_mutations())
def test_xmod_mutated_vkey_rejected(vkey: str) -> None:
    with pytest.raises(KeyFormatError):
        crypto.parse_verifier_key(vkey)


# --- C2SP specification examples ----------------------------------------------------------------


def test_c2sp_signed_note_example_verifies() -> None:
    example = C2SP["signed_note_example"]
    note = _note_file("c2sp_signed_note_example_com_foo.note")
    assert note == example["note"]
    assert verify_note(note, [example["vkey"]]) == (
        "This is an example message.\n",
        ["example.com/foo"],
    )


def test_c2sp_signed_note_example_rejects_mutation() -> None:
    example = C2SP["signed_note_example"]
    with pytest.raises(NoteError) as info:
        verify_note(example["note"].replace("example", "exemple", 1), [example["vkey"]])
    assert info.value.code == "note.bad_signature"


def test_c2sp_intro_example_parses_with_blank_line_in_text() -> None:
    # No verifier key is published for this one: parse only, and it must not verify by default.
    note = C2SP["signed_note_intro_example_no_key"]["note"]
    signed = parse_note(note)
    assert signed.text == (
        "Ognuno sta solo sul cuor della terra\n"
        "trafitto da un raggio di sole:\n"
        "\n"
        "ed è subito sera.\n"
    )
    assert [s.name for s in signed.signatures] == ["quasimodo.example/salvatore"]
    assert signed.to_text() == note
    with pytest.raises(NoteError) as info:
        verify_note(note, [])
    assert info.value.code == "note.no_verified_signature"


def test_c2sp_checkpoint_example_parses() -> None:
    example = C2SP["checkpoint_example_no_key"]
    note = _note_file("c2sp_tlog_checkpoint_example.note")
    assert note == example["note"]
    signed = parse_note(note)
    assert Checkpoint.parse(signed.text) == Checkpoint(
        example["origin"], example["size"], base64.b64decode(example["root_b64"])
    )
    assert [s.name for s in signed.signatures] == [example["origin"]]
    assert len(signed.signatures[0].signature) == 64


def test_c2sp_cosignature_example_parses() -> None:
    example = C2SP["checkpoint_with_cosignature_example_no_key"]
    note = _note_file("c2sp_tlog_cosignature_example.note")
    assert note == example["note"]
    signed = parse_note(note)
    assert signed.text == parse_note(C2SP["checkpoint_example_no_key"]["note"]).text
    Checkpoint.parse(signed.text)
    log_line, cosignature = signed.signatures
    assert log_line.name == "example.com/behind-the-sofa"
    assert cosignature.name == "witness.example.com/w1"
    # keyid(4) || timestamp(8) || signature(64) = 76 bytes; the timestamp is the one of the
    # spec's example signed message ("time 1679315147").
    assert len(cosignature.key_id) + len(cosignature.signature) == 76
    assert int.from_bytes(cosignature.signature[:8], "big") == 1679315147


def test_c2sp_cosignature_example_needs_the_right_key() -> None:
    # Same name, other key: a different key ID, so the example's line is not "this" cosigner's.
    stranger = crypto.verifier_key(
        "witness.example.com/w1",
        crypto.generate_private_key().public_key(),
        key_type=crypto.ED25519_COSIGNATURE_KEY_TYPE,
    )
    with pytest.raises(NoteError) as info:
        verify_cosignature(C2SP["checkpoint_with_cosignature_example_no_key"]["note"], stranger)
    assert info.value.code == "cosignature.missing"


# --- transparency-dev/formats and sum.golang.org ------------------------------------------------

SUM = FORMATS["sum_golang_org"]


def test_sum_golang_org_checkpoint_verifies() -> None:
    note = _note_file("sum_golang_org_checkpoint.note")
    assert note == SUM["note"]
    checkpoint = verify_checkpoint(note, [SUM["vkey"]], origin=SUM["origin"])
    assert checkpoint == Checkpoint(SUM["origin"], SUM["size"], base64.b64decode(SUM["root_b64"]))
    assert verify_note(note, [SUM["vkey"]])[1] == ["sum.golang.org"]


def test_sum_golang_org_checkpoint_rejects_other_origin() -> None:
    with pytest.raises(CheckpointError) as info:
        verify_checkpoint(SUM["note"], [SUM["vkey"]], origin="sum.golang.org")
    assert info.value.code == "checkpoint.wrong_origin"


def test_sum_golang_org_checkpoint_rejects_other_size() -> None:
    tampered = SUM["note"].replace(str(SUM["size"]), str(SUM["size"] + 1))
    with pytest.raises(NoteError) as info:
        verify_checkpoint(tampered, [SUM["vkey"]], origin=SUM["origin"])
    assert info.value.code == "note.bad_signature"


KEYS = FORMATS["test_keys"]
KEY_PAIRS = [("log", "Log"), ("known1", "Known"), ("known2", "KnownAgain"), ("unknown", "Unknown")]


@pytest.mark.parametrize(("prefix", "name"), KEY_PAIRS, ids=[p for p, _ in KEY_PAIRS])
def test_formats_test_key_pairs_match(prefix: str, name: str) -> None:
    parsed_name, key = crypto.parse_signer_key(KEYS[f"{prefix}SK"])
    assert parsed_name == name
    assert crypto.signer_key(name, key) == KEYS[f"{prefix}SK"]
    assert crypto.verifier_key(name, key.public_key()) == KEYS[f"{prefix}VK"]


def test_formats_test_keys_sign_and_verify_checkpoint() -> None:
    checkpoint = Checkpoint("Log", 123, bytes(32))
    note = sign_note(checkpoint.to_text(), *crypto.parse_signer_key(KEYS["logSK"]))
    for prefix in ("known1", "unknown", "known2"):
        note = add_signature(note, *crypto.parse_signer_key(KEYS[f"{prefix}SK"]))
    known = [KEYS["known2VK"], KEYS["logVK"], KEYS["known1VK"]]
    assert verify_note(note, known) == (checkpoint.to_text(), ["Log", "Known", "KnownAgain"])
    assert verify_checkpoint(note, [KEYS["logVK"]], origin="Log") == checkpoint


# transparency-dev/formats checkpoint_test.go body cases. Where they disagree with C2SP, C2SP wins:
# - the "valid" cases carry root hashes of 7 bytes ("bananas") and 37 bytes; tlog-checkpoint says
#   the third line is "the base64 encoding of the root of the RFC 6962 Merkle hash tree", i.e. a
#   32-byte SHA-256 hash, so each of them is rejected as written. Their structure (origin, size,
#   extension lines) is still checked by substituting a 32-byte root.
# - "valid with trailing newlines" has empty extension lines; tlog-checkpoint: "Extension lines,
#   if any, MUST be non-empty", so it is rejected even with a 32-byte root.
SUBSTITUTE_ROOT = base64.b64encode(bytes(range(32))).decode()
BODY_CASES = FORMATS["checkpoint_body_cases_from_checkpoint_test_go"]


def _with_32_byte_root(body: str) -> str:
    parts = body.split("\n")
    if len(parts) >= 4:  # a newline-terminated third line exists
        parts[2] = SUBSTITUTE_ROOT
    return "\n".join(parts)


@pytest.mark.parametrize(
    "case", [c for c in BODY_CASES if not c.get("wantErr")], ids=lambda c: c["desc"]
)
def test_formats_valid_checkpoint_case(case: dict[str, Any]) -> None:
    body: str = case["body"]
    root_line = body.split("\n")[2]
    assert len(base64.b64decode(root_line)) != 32  # why the as-written body is refused
    with pytest.raises(CheckpointError) as info:
        Checkpoint.parse(body)
    assert info.value.code == "checkpoint.bad_root"

    fixed = _with_32_byte_root(body)
    extensions = tuple(case["rest"].split("\n")[:-1])
    if "" in extensions:
        with pytest.raises(CheckpointError) as info:
            Checkpoint.parse(fixed)
        assert info.value.code == "checkpoint.bad_extension"
        return
    checkpoint = Checkpoint.parse(fixed)
    assert checkpoint.origin == case.get("origin", "Log")
    if "size" in case:
        assert checkpoint.size == case["size"]
    assert checkpoint.extensions == extensions
    assert checkpoint.to_text() == fixed


@pytest.mark.parametrize(
    "case", [c for c in BODY_CASES if c.get("wantErr")], ids=lambda c: c["desc"]
)
def test_formats_invalid_checkpoint_case(case: dict[str, Any]) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse(case["body"])
    # With a valid root substituted (unless the root is the point of the case) it must still
    # fail, so each case is refused for its own reason and not for its odd-sized root.
    if "roothash" not in case["desc"]:
        with pytest.raises(CheckpointError):
            Checkpoint.parse(_with_32_byte_root(case["body"]))
