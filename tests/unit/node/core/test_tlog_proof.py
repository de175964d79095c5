"""c2sp.org/tlog-proof: round trip with a real signed checkpoint, and malformed proofs refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto, merkle, notes
from node.core.errors import NoteError


def _proof() -> tuple[notes.TlogProof, str, list[bytes]]:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(11)]
    key = Ed25519PrivateKey.generate()
    checkpoint = notes.Checkpoint("kp.test/BW", 11, merkle.root(leaves)).to_text()
    note = notes.sign_note(checkpoint, "kp.test/BW", key)
    proof = notes.TlogProof(7, tuple(merkle.inclusion_proof(leaves, 7, 11)), note)
    return proof, crypto.verifier_key("kp.test/BW", key.public_key()), leaves


@pytest.mark.parametrize("extra", [None, b"", b"application data"])
def test_round_trip_and_verify(extra: bytes | None) -> None:
    proof, vkey, leaves = _proof()
    proof = notes.TlogProof(proof.index, proof.hashes, proof.checkpoint, extra)
    text = proof.to_text()
    assert text.startswith("c2sp.org/tlog-proof@v1\n")
    parsed = notes.TlogProof.parse(text)
    assert parsed == proof
    body, _ = notes.verify_note(parsed.checkpoint, [vkey])
    checkpoint = notes.Checkpoint.parse(body)
    merkle.verify_inclusion(
        leaves[parsed.index], parsed.index, checkpoint.size, list(parsed.hashes), checkpoint.root
    )


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(
            lambda t: t.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
            id="wrong-header",
        ),
        pytest.param(lambda t: t.replace("index 7", "index 07"), id="leading-zero"),
        pytest.param(lambda t: t.replace("index 7", "index -7"), id="negative"),
        pytest.param(lambda t: t.replace("index 7", "idx 7"), id="no-index"),
        pytest.param(lambda t: t.replace("index 7\n", "index 7\nnot base64!\n"), id="bad-hash"),
        pytest.param(lambda t: t.replace("index 7\n", "index 7\nAAAA\n"), id="short-hash"),
        pytest.param(lambda t: t.replace("\n\n", "\n", 1), id="no-blank-line"),
        pytest.param(lambda t: t.replace("index 7", "extra !!\nindex 7"), id="bad-extra"),
        pytest.param(lambda t: "x" * (notes.MAX_NOTE_BYTES + 1), id="too-large"),
    ],
)
def test_malformed_proofs_refused(mutate: object) -> None:
    proof, _, _ = _proof()
    with pytest.raises(NoteError) as err:
        notes.TlogProof.parse(mutate(proof.to_text()))  # type: ignore[operator]
    assert err.value.code == "tlog_proof.malformed"
