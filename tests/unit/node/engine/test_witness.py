"""Collected cosignatures: one per witness key, the newest; a replay changes nothing."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto, notes
from node.core.crypto import ED25519_COSIGNATURE_KEY_TYPE
from node.core.errors import NoteError
from node.engine.store import Store
from node.engine.witness import Merged, add_cosignatures, merge_cosignatures, witnessed
from node.server.replication import note_digest

ORIGIN = "kp.test/BW"
SIZE = 7
WITNESSES = ("CA/witness", "IN/witness")


@pytest.fixture(scope="module")
def witness_keys() -> dict[str, Ed25519PrivateKey]:
    return {name: Ed25519PrivateKey.generate() for name in WITNESSES}


@pytest.fixture(scope="module")
def cosigner_keys(witness_keys: dict[str, Ed25519PrivateKey]) -> list[str]:
    return [
        crypto.verifier_key(name, key.public_key(), key_type=ED25519_COSIGNATURE_KEY_TYPE)
        for name, key in witness_keys.items()
    ]


@pytest.fixture(scope="module")
def signed(log_key: Ed25519PrivateKey) -> str:
    text = notes.Checkpoint(ORIGIN, SIZE, bytes(range(32))).to_text()
    return notes.sign_note(text, ORIGIN, log_key)


@pytest.fixture
def stored(store: Store, signed: str) -> Store:
    with store.write() as writer:
        writer.log("BW").put_checkpoint(SIZE, signed)
    return store


def _line(signed: str, key: Ed25519PrivateKey, name: str, timestamp: int) -> notes.NoteSignature:
    return notes.SignedCheckpoint.parse(signed).cosignature(name, key, timestamp)


def _merge(note: str, lines: list[notes.NoteSignature], keys: list[str]) -> Merged:
    return merge_cosignatures(notes.SignedCheckpoint.parse(note), lines, keys)


def _add(store: Store, lines: list[notes.NoteSignature], keys: list[str]) -> int:
    with store.write() as writer:
        return add_cosignatures(writer, "BW", SIZE, lines, keys, quorum=2)


def _served(store: Store) -> str:
    with store.read() as reader:
        note = reader.log("BW").checkpoint(SIZE)
    assert note is not None
    return note


def _names(note: str) -> list[str]:
    return [s.name for s in notes.parse_note(note).signatures]


def test_a_newer_cosignature_replaces_the_older_one(
    stored: Store, signed: str, witness_keys: dict[str, Ed25519PrivateKey], cosigner_keys: list[str]
) -> None:
    ca = witness_keys["CA/witness"]
    assert _add(stored, [_line(signed, ca, "CA/witness", 100)], cosigner_keys) == 1
    assert _add(stored, [_line(signed, ca, "CA/witness", 200)], cosigner_keys) == 1
    note = _served(stored)
    assert _names(note) == [ORIGIN, "CA/witness"]
    assert notes.cosigners(note, cosigner_keys) == {"CA/witness": 200}


def test_an_older_cosignature_is_ignored(
    stored: Store, signed: str, witness_keys: dict[str, Ed25519PrivateKey], cosigner_keys: list[str]
) -> None:
    ca = witness_keys["CA/witness"]
    _add(stored, [_line(signed, ca, "CA/witness", 200)], cosigner_keys)
    before = _served(stored)
    _add(stored, [_line(signed, ca, "CA/witness", 100)], cosigner_keys)
    assert _served(stored) == before


def test_a_replay_changes_nothing_and_writes_nothing(
    stored: Store, signed: str, witness_keys: dict[str, Ed25519PrivateKey], cosigner_keys: list[str]
) -> None:
    lines = [_line(signed, key, name, 300) for name, key in witness_keys.items()]
    assert _add(stored, lines, cosigner_keys) == 2
    before = _served(stored)
    # Replayed as a peer might serve it: the same lines, and an older cosigning among them.
    lines.append(_line(signed, witness_keys["CA/witness"], "CA/witness", 100))
    with stored.write() as writer:
        log = writer.log("BW")
        put = log.put_checkpoint
        writes: list[str] = []
        log.put_checkpoint = lambda size, note: (writes.append(note), put(size, note))  # type: ignore[method-assign]
        writer.log = lambda name: log  # type: ignore[method-assign]
        assert add_cosignatures(writer, "BW", SIZE, lines, cosigner_keys, quorum=2) == 2
    assert writes == []
    assert _served(stored) == before
    with stored.read() as reader:
        assert witnessed(reader, "BW") == SIZE


def test_one_line_per_witness_whatever_the_arrival_order(
    stored: Store, signed: str, witness_keys: dict[str, Ed25519PrivateKey], cosigner_keys: list[str]
) -> None:
    ca, india = witness_keys["CA/witness"], witness_keys["IN/witness"]
    _add(stored, [_line(signed, india, "IN/witness", 5)], cosigner_keys)
    _add(
        stored,
        [_line(signed, ca, "CA/witness", t) for t in (3, 9, 4)]
        + [_line(signed, india, "IN/witness", 2)],
        cosigner_keys,
    )
    note = _served(stored)
    assert _names(note) == [ORIGIN, "CA/witness", "IN/witness"]
    assert notes.cosigners(note, cosigner_keys) == {"CA/witness": 9, "IN/witness": 5}


def test_lines_already_held_are_not_verified_again(
    signed: str, witness_keys: dict[str, Ed25519PrivateKey], cosigner_keys: list[str]
) -> None:
    lines = [_line(signed, key, name, 300) for name, key in witness_keys.items()]
    first = _merge(signed, lines, cosigner_keys)
    assert (first.cosigners, first.verified) == (2, 2)
    # Anti-entropy offers the same lines again, and an older cosigning: nothing to check.
    older = _line(signed, witness_keys["CA/witness"], "CA/witness", 100)
    again = _merge(first.note, [*lines, older], cosigner_keys)
    assert again == Merged(note=first.note, cosigners=2, verified=0)


def test_a_newer_line_is_verified_and_a_forged_one_refused(
    signed: str, witness_keys: dict[str, Ed25519PrivateKey], cosigner_keys: list[str]
) -> None:
    ca = witness_keys["CA/witness"]
    held = _merge(signed, [_line(signed, ca, "CA/witness", 100)], cosigner_keys)
    newer = _merge(held.note, [_line(signed, ca, "CA/witness", 200)], cosigner_keys)
    assert newer.verified == 1
    assert notes.cosigners(newer.note, cosigner_keys) == {"CA/witness": 200}
    # A line claiming a newer timestamp under another key's signature must verify to count.
    forged = _line(signed, Ed25519PrivateKey.generate(), "CA/witness", 900)
    real_id = notes.parse_note(newer.note).signatures[1].key_id
    with pytest.raises(NoteError) as refused:
        _merge(
            newer.note,
            [notes.NoteSignature(forged.name, real_id, forged.signature)],
            cosigner_keys,
        )
    assert refused.value.code == "cosignature.invalid"


def test_the_listing_digest_ignores_cosignature_timestamps_not_signers(
    signed: str, witness_keys: dict[str, Ed25519PrivateKey]
) -> None:
    """Two copies holding one witness's cosignatures of different times look alike to
    anti-entropy (decision 0033); a copy with another witness's, or none, does not."""
    ca, in_ = witness_keys["CA/witness"], witness_keys["IN/witness"]
    early = notes.cosign(signed, "CA/witness", ca, 1_000)
    late = notes.cosign(signed, "CA/witness", ca, 2_000)
    assert early != late
    assert note_digest(early) == note_digest(late)
    assert note_digest(early) != note_digest(signed)
    assert note_digest(early) != note_digest(notes.cosign(signed, "IN/witness", in_, 1_000))
    both = notes.cosign(early, "IN/witness", in_, 1_000)
    assert note_digest(both) == note_digest(notes.cosign(late, "IN/witness", in_, 3_000))
    assert note_digest(both) != note_digest(early)
