"""Properties of node.core.merkle against a literal transcription of RFC 9162 §2.1."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.core import merkle
from node.core.errors import ProofError


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# The RFC's recursive definitions, word for word, as an independent reference.
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return merkle.node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


def _flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    mutated = list(proof)
    h = bytearray(mutated[which])
    h[bit // 8] ^= 1 << (bit % 8)
    mutated[which] = bytes(h)
    return mutated


sizes = st.integers(min_value=1, max_value=300)


@given(size=sizes, data=st.data())
@settings(max_examples=200)
def test_inclusion_proofs_match_rfc_and_verify(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(leaves, index, size)
    assert proof == _path(index, leaves)
    root = merkle.root(leaves)
    assert root == _mth(leaves)
    merkle.verify_inclusion(leaves[index], index, size, proof, root)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[index], index, size, _flip(proof, which, bit), root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(_flip([leaves[index]], 0, 0)[0], index, size, proof, root)


@given(new=sizes, data=st.data())
@settings(max_examples=200)
def test_consistency_proofs_match_rfc_and_verify(new: int, data: st.DataObject) -> None:
    leaves = _leaves(new)
    old = data.draw(st.integers(1, new))
    proof = merkle.consistency_proof(leaves, old, new)
    assert proof == _subproof(old, leaves, True)
    old_root, new_root = _mth(leaves[:old]), _mth(leaves)
    merkle.verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, old_root, new_root, _flip(proof, which, bit))
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
        with pytest.raises(ProofError):
            merkle.verify_consistency(old, new, old_root, new_root, [*proof, proof[0]])


@pytest.mark.parametrize(
    ("index", "size"),
    [
        pytest.param(0, 0, id="empty-tree"),
        pytest.param(5, 5, id="index-at-size"),
        pytest.param(-1, 4, id="negative-index"),
    ],
)
def test_inclusion_outside_tree_rejected(index: int, size: int) -> None:
    with pytest.raises(ProofError) as err:
        merkle.verify_inclusion(_leaves(1)[0], index, size, [], merkle.EMPTY_ROOT)
    assert err.value.code == "proof.index_range"


def test_short_hash_in_proof_rejected() -> None:
    leaves = _leaves(4)
    proof = merkle.inclusion_proof(leaves, 1, 4)
    proof[0] = proof[0][:31]
    with pytest.raises(ProofError) as err:
        merkle.verify_inclusion(leaves[1], 1, 4, proof, merkle.root(leaves))
    assert err.value.code == "proof.hash_size"


def test_consistency_from_empty_tree_rejected() -> None:
    leaves = _leaves(3)
    with pytest.raises(ProofError) as err:
        merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, merkle.root(leaves), [])
    assert err.value.code == "proof.size_range"


def test_builders_refuse_impossible_ranges() -> None:
    leaves = _leaves(4)
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(leaves, 4, 4)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(leaves, 3, 2)
    with pytest.raises(ValueError, match="exceeds"):
        merkle.inclusion_proof(leaves, 0, 5)
