"""The witness's decision on an add-checkpoint request (node/engine/witness.py), without a server.

Each outcome of c2sp.org/tlog-witness that node/server/witnessing.py maps to HTTP is reached
here from real signed checkpoints of a real charter: the route adds only the store reads, the
catch-up and the cosignature.
"""

from __future__ import annotations

import pytest

from node.core import merkle, notes
from node.core.charter import Charter
from node.engine.witness import (
    AddCheckpoint,
    Cosigned,
    Judgement,
    Outcome,
    Subject,
    judge,
    subject_of,
)
from tests.support.world import World

LEAVES = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(12)]


@pytest.fixture(scope="module")
def world() -> World:
    return World(("BW", "CA", "EU"))


@pytest.fixture(scope="module")
def charter(world: World) -> Charter:
    return world.genesis.charter


def _note(world: World, charter: Charter, size: int, *, log: str = "BW", root: bytes = b"") -> str:
    root = root or merkle.root(LEAVES[:size])
    text = notes.Checkpoint(charter.origin(log), size, root).to_text()
    return notes.sign_note(text, charter.origin(log), world.members[log].log_key)


def _subject(request: AddCheckpoint, charter: Charter) -> Subject:
    subject = subject_of(request, charter, "EU")
    assert isinstance(subject, Subject), subject
    return subject


def _cosigned(world: World, charter: Charter, size: int) -> Cosigned:
    return Cosigned(size, merkle.root(LEAVES[:size]), _note(world, charter, size))


def test_a_checkpoint_of_a_member_log_signed_by_its_key_proceeds(
    world: World, charter: Charter
) -> None:
    request = AddCheckpoint(0, (), _note(world, charter, 5))
    subject = _subject(request, charter)
    assert (subject.log, subject.signed.size) == ("BW", 5)
    assert judge(request, subject, None, quarantined=False) == Judgement(Outcome.PROCEED)


@pytest.mark.parametrize(
    ("note", "outcome", "code"),
    [
        ("not a note\n", Outcome.MALFORMED, "note.malformed"),
        ("own", Outcome.UNKNOWN_ORIGIN, ""),
        ("stranger", Outcome.UNKNOWN_ORIGIN, ""),
        ("wrong key", Outcome.BAD_SIGNATURE, ""),
    ],
)
def test_requests_refused_before_the_store_is_read(
    world: World, charter: Charter, note: str, outcome: Outcome, code: str
) -> None:
    if note == "own":  # a witness does not cosign its own log
        note = _note(world, charter, 5, log="EU")
    elif note == "stranger":
        text = notes.Checkpoint("kp.elsewhere/BW", 5, merkle.root(LEAVES[:5])).to_text()
        note = notes.sign_note(text, "kp.elsewhere/BW", world.members["BW"].log_key)
    elif note == "wrong key":
        text = notes.Checkpoint(charter.origin("BW"), 5, merkle.root(LEAVES[:5])).to_text()
        note = notes.sign_note(text, charter.origin("BW"), world.members["CA"].log_key)
    judgement = subject_of(AddCheckpoint(0, (), note), charter, "EU")
    assert isinstance(judgement, Judgement)
    assert judgement.outcome is outcome
    if code:
        assert judgement.code.startswith(code.split(".")[0])


def test_an_old_size_beyond_the_checkpoint_is_malformed(world: World, charter: Charter) -> None:
    judgement = subject_of(AddCheckpoint(6, (), _note(world, charter, 5)), charter, "EU")
    assert isinstance(judgement, Judgement)
    assert judgement.outcome is Outcome.MALFORMED


def test_a_wrong_idea_of_what_was_cosigned_is_stale_with_the_size_cosigned(
    world: World, charter: Charter
) -> None:
    request = AddCheckpoint(3, (), _note(world, charter, 8))
    judgement = judge(
        request, _subject(request, charter), _cosigned(world, charter, 5), quarantined=False
    )
    assert (judgement.outcome, judgement.known) == (Outcome.STALE, 5)
    first = AddCheckpoint(2, (), _note(world, charter, 8))
    assert judge(first, _subject(first, charter), None, quarantined=False).outcome is Outcome.STALE


def test_a_consistent_extension_proceeds(world: World, charter: Charter) -> None:
    proof = tuple(merkle.consistency_proof(LEAVES, 5, 9))
    request = AddCheckpoint(5, proof, _note(world, charter, 9))
    judgement = judge(
        request, _subject(request, charter), _cosigned(world, charter, 5), quarantined=False
    )
    assert (judgement.outcome, judgement.known) == (Outcome.PROCEED, 5)


def test_a_proof_that_does_not_lead_from_what_was_cosigned_is_inconsistent(
    world: World, charter: Charter
) -> None:
    other = [merkle.leaf_hash(b"rewritten"), *LEAVES[1:9]]
    proof = tuple(merkle.consistency_proof(other, 5, 9))
    request = AddCheckpoint(5, proof, _note(world, charter, 9, root=merkle.root(other)))
    judgement = judge(
        request, _subject(request, charter), _cosigned(world, charter, 5), quarantined=False
    )
    assert judgement.outcome is Outcome.INCONSISTENT


def test_the_same_size_with_another_root_is_a_fork(world: World, charter: Charter) -> None:
    request = AddCheckpoint(5, (), _note(world, charter, 5, root=bytes(32)))
    judgement = judge(
        request, _subject(request, charter), _cosigned(world, charter, 5), quarantined=False
    )
    assert judgement.outcome is Outcome.FORK
    same = AddCheckpoint(5, (), _note(world, charter, 5))
    again = judge(same, _subject(same, charter), _cosigned(world, charter, 5), quarantined=False)
    assert again.outcome is Outcome.PROCEED  # the same checkpoint again: cosigned again


def test_a_proof_from_size_zero_must_be_empty(world: World, charter: Charter) -> None:
    request = AddCheckpoint(0, (bytes(32),), _note(world, charter, 5))
    assert judge(request, _subject(request, charter), None, quarantined=False).outcome is (
        Outcome.MALFORMED
    )


def test_a_quarantined_log_is_refused_whatever_it_sends(world: World, charter: Charter) -> None:
    request = AddCheckpoint(0, (), _note(world, charter, 5))
    judgement = judge(request, _subject(request, charter), None, quarantined=True)
    assert judgement.outcome is Outcome.QUARANTINED
