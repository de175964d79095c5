"""RFC 6962 / RFC 9162 Merkle trees over SHA-256: hashes, roots, proofs and their verification.

Two ways to build proofs share one algorithm (RFC 9162 §2.1.3.1 and §2.1.4.1):

* the list functions (``root``, ``inclusion_proof``, ``consistency_proof``) take every leaf hash and
  serve tests, tools and small trees;
* the ``*_from`` functions take a ``SubtreeHash`` callback that returns the hash of a *complete*
  subtree (2**level leaves starting at index * 2**level). The store answers it from LMDB with one
  read, so any root or proof for any (index, size) costs O(log n) reads.

The verifiers follow transparency-dev/merkle's ``proof/verify.go``: they check every size and
length before hashing and demand that the proof be consumed exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from node.core.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "SubtreeHash",
    "consistency_proof",
    "consistency_proof_from",
    "inclusion_proof",
    "inclusion_proof_from",
    "inclusion_proofs_from",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = HASH()

SubtreeHash = Callable[[int, int], bytes]
"""``(level, index) -> hash`` of the complete subtree of 2^level leaves from index·2^level."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x01 || MTH(left) || MTH(right))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- building from a complete-subtree source ---------------------------------------------------


def root_from(subtree: SubtreeHash, size: int) -> bytes:
    """The root of the first ``size`` leaves, from at most log2(size)+1 complete subtrees."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return EMPTY_ROOT if size == 0 else _range_hash(subtree, 0, size)


def inclusion_proof_from(subtree: SubtreeHash, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), from complete subtrees.

    Raises:
        ValueError: unless 0 <= index < size.
    """
    return inclusion_proofs_from(subtree, [index], size)[0]


def inclusion_proofs_from(
    subtree: SubtreeHash, indexes: Sequence[int], size: int
) -> list[list[bytes]]:
    """Inclusion proofs for several leaves of one tree, sharing the subtree hashes they have in
    common (a batch of neighbouring leaves shares nearly every level above the lowest few).

    Raises:
        ValueError: unless 0 <= index < size for every index.
    """
    memo: dict[tuple[int, int], bytes] = {}

    def range_hash(lo: int, hi: int) -> bytes:
        found = memo.get((lo, hi))
        if found is None:
            found = memo[(lo, hi)] = _range_hash(subtree, lo, hi)
        return found

    proofs: list[list[bytes]] = []
    for index in indexes:
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is not in a tree of size {size}")
        proof: list[bytes] = []
        lo, hi = 0, size
        # Walk down from the root, noting the sibling of each subtree that holds the leaf;
        # the proof lists siblings bottom-up.
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                proof.append(range_hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(range_hash(lo, lo + k))
                lo = lo + k
        proof.reverse()
        proofs.append(proof)
    return proofs


def consistency_proof_from(subtree: SubtreeHash, old: int, new: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old, D[0:new]), from complete subtrees.

    Raises:
        ValueError: unless 0 < old <= new.
    """
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    proof: list[bytes] = []
    lo, hi = 0, new
    m = old
    # SUBPROOF(m, D[lo:hi], b) unrolled; ``complete`` is b: whether D[lo:lo+m] is a subtree the
    # verifier already knows (true until the walk first turns right).
    complete = True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_range_hash(subtree, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_range_hash(subtree, lo, lo + k))
            lo, m = lo + k, m - k
            complete = False
    if not complete:
        proof.append(_range_hash(subtree, lo, hi))
    proof.reverse()
    return proof


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_hash(subtree: SubtreeHash, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for a range the RFC recursion produces: lo is aligned to a power of two
    at least hi - lo, so the range is a run of complete subtrees of decreasing size."""
    # Collect the complete subtrees left to right, then fold them right to left.
    parts: list[bytes] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1  # the largest complete subtree that fits
        parts.append(subtree(level, lo >> level))
        lo += 1 << level
    result = parts.pop()
    while parts:
        result = node_hash(parts.pop(), result)
    return result


# --- building from the full list of leaf hashes ------------------------------------------------


def _list_subtree(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    """A ``SubtreeHash`` computed from the leaves, for the list-based functions."""

    def subtree(level: int, index: int) -> bytes:
        width = 1 << level
        level_hashes = list(leaf_hashes[index * width : (index + 1) * width])
        if len(level_hashes) != width:
            raise ValueError(f"subtree ({level}, {index}) is not complete")
        while len(level_hashes) > 1:
            level_hashes = [
                node_hash(level_hashes[i], level_hashes[i + 1])
                for i in range(0, len(level_hashes), 2)
            ]
        return level_hashes[0]

    return subtree


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the given leaf hashes (RFC 9162 §2.1.1)."""
    return root_from(_list_subtree(leaf_hashes), len(leaf_hashes))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Inclusion proof for leaf ``index`` in the tree of the first ``size`` leaves."""
    if size > len(leaf_hashes):
        raise ValueError(f"tree size {size} exceeds the {len(leaf_hashes)} leaves given")
    return inclusion_proof_from(_list_subtree(leaf_hashes), index, size)


def consistency_proof(leaf_hashes: Sequence[bytes], old: int, new: int) -> list[bytes]:
    """Consistency proof between the trees of the first ``old`` and ``new`` leaves."""
    if new > len(leaf_hashes):
        raise ValueError(f"tree size {new} exceeds the {len(leaf_hashes)} leaves given")
    return consistency_proof_from(_list_subtree(leaf_hashes), old, new)


# --- verification (transparency-dev/merkle proof/verify.go) -------------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` sits at ``index`` in the tree of ``size`` leaves with ``root``.

    Raises:
        ProofError: on any malformed argument or a root mismatch.
    """
    _check_hash(root, "root")
    if root_from_inclusion_proof(leaf_hash, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the root", code="proof.root_mismatch")


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that an inclusion proof implies (RFC 9162 §2.1.3.2).

    Raises:
        ProofError: index outside the tree, a hash that is not 32 bytes, or a proof of the
            wrong length.
    """
    if not 0 <= index < size:
        raise ProofError(
            f"leaf index {index} is not in a tree of size {size}", code="proof.index_range"
        )
    _check_hash(leaf_hash, "leaf hash")
    for h in proof:
        _check_hash(h, "proof hash")
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes, want {inner + border}",
            code="proof.wrong_length",
        )
    result = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(result, proof[inner:])


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new`` leaves with ``new_root`` extends the one of ``old`` leaves.

    A consistency proof from the empty tree proves nothing, so ``old`` must be positive; equal
    sizes need an empty proof and equal roots (RFC 9162 §2.1.4.2).

    Raises:
        ProofError: on any malformed argument or a mismatch.
    """
    for h in proof:
        _check_hash(h, "proof hash")
    if not 0 < old <= new:
        raise ProofError(
            f"no consistency proof from size {old} to size {new}", code="proof.size_range"
        )
    if old == new:
        if proof:
            raise ProofError("equal sizes need an empty proof", code="proof.wrong_length")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots", code="proof.root_mismatch")
        return
    if not proof:
        raise ProofError("empty consistency proof", code="proof.wrong_length")
    # Checked only now: for equal sizes the roots are compared as given (as transparency-dev
    # does; its probes accept equal sizes with equal roots of any length).
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")

    inner, border = _decompose(old - 1, new)
    shift = (old & -old).bit_length() - 1  # trailing zeros of old
    inner -= shift
    # The proof starts with the hash of the 2**shift subtree holding leaf old-1, unless the old
    # tree is that very subtree, in which case the verifier already has it as old_root.
    if old == 1 << shift:
        seed, rest = old_root, proof
    else:
        seed, rest = proof[0], proof[1:]
    if len(rest) != inner + border:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes, want "
            f"{inner + border + (len(proof) - len(rest))}",
            code="proof.wrong_length",
        )
    mask = (old - 1) >> shift
    old_hash = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if old_hash != old_root:
        raise ProofError(
            "consistency proof does not match the old root", code="proof.root_mismatch"
        )
    new_hash = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if new_hash != new_root:
        raise ProofError(
            "consistency proof does not match the new root", code="proof.root_mismatch"
        )


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}", code="proof.hash_size")


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split an inclusion proof's length into its inner part (below the point where the paths
    to ``index`` and to the last leaf meet) and its border part (left siblings above it)."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed
