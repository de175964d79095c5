"""RFC 6962 vectors: transparency-dev/merkle probes, the RFC 8-leaf set and the CT Python suite."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from node.core import merkle
from node.core.errors import ProofError
from tests.vectors import VECTORS_DIR

MERKLE = VECTORS_DIR / "merkle"
PROBES = MERKLE / "transparency-dev-merkle" / "testdata"


def _probes(kind: str) -> list[Any]:
    files = sorted((PROBES / kind).rglob("*.json"))
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(PROBES))) for f in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b64(h) for h in value or []]


def test_probe_count() -> None:
    # The vector README promises 196 probes; a silently missing directory must not pass.
    assert len(list(PROBES.rglob("*.json"))) == 196


@pytest.mark.parametrize("probe", _probes("inclusion"))
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    args = (
        _b64(probe["leafHash"]),
        probe["leafIdx"],
        probe["treeSize"],
        _proof(probe["proof"]),
        _b64(probe["root"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("probe", _probes("consistency"))
def test_consistency_probe(probe: dict[str, Any]) -> None:
    args = (
        probe["size1"],
        probe["size2"],
        _b64(probe["root1"]),
        _b64(probe["root2"]),
        _proof(probe["proof"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


RFC = json.loads((MERKLE / "rfc6962_8leaves.json").read_text()) if MERKLE.is_dir() else {}


def _rfc_leaf_hashes() -> list[bytes]:
    return [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in RFC["leaves_hex"]]


def test_rfc_leaf_and_node_hashes() -> None:
    levels = RFC["node_hashes_by_level"]
    assert [h.hex() for h in _rfc_leaf_hashes()] == levels["level0_leaf_hashes"]
    assert merkle.root([]).hex() == merkle.EMPTY_ROOT.hex()


def test_rfc_roots_for_every_size() -> None:
    leaves = _rfc_leaf_hashes()
    roots = RFC["roots_by_size"]
    assert len(roots) >= 8
    for size, want in roots.items():
        assert merkle.root(leaves[: int(size)]).hex() == want, size


def _rfc_cases(name: str) -> list[Any]:
    cases = RFC.get(name, [])
    return [pytest.param(c, id=f"{name}-{i}") for i, c in enumerate(cases)]


@pytest.mark.parametrize("case", _rfc_cases("inclusion_proofs"))
def test_rfc_inclusion_proofs(case: dict[str, Any]) -> None:
    leaves = _rfc_leaf_hashes()
    index, size = case["leaf_index"], case["tree_size"]
    want = [bytes.fromhex(h) for h in case["proof"]]
    assert merkle.inclusion_proof(leaves, index, size) == want
    merkle.verify_inclusion(leaves[index], index, size, want, merkle.root(leaves[:size]))


@pytest.mark.parametrize("case", _rfc_cases("consistency_proofs"))
def test_rfc_consistency_proofs(case: dict[str, Any]) -> None:
    leaves = _rfc_leaf_hashes()
    old, new = case["size1"], case["size2"]
    want = [bytes.fromhex(h) for h in case["proof"]]
    assert merkle.consistency_proof(leaves, old, new) == want
    merkle.verify_consistency(old, new, merkle.root(leaves[:old]), merkle.root(leaves[:new]), want)


CT = json.loads((MERKLE / "ct_python_merkle_test.json").read_text()) if MERKLE.is_dir() else {}


def test_ct_hash_vectors() -> None:
    assert merkle.EMPTY_ROOT.hex() == CT["empty_tree_hash"]
    for v in CT["leaf_hash_vectors"]:
        assert merkle.leaf_hash(bytes.fromhex(v["leaf_hex"])).hex() == v["leaf_hash"]
    for v in CT["node_hash_vectors"]:
        got = merkle.node_hash(bytes.fromhex(v["left"]), bytes.fromhex(v["right"]))
        assert got.hex() == v["node_hash"]


def test_ct_roots_and_consistency_proofs() -> None:
    leaves = _rfc_leaf_hashes()
    for size, want in CT["roots_for_sizes_1_to_8_of_standard_leaves"].items():
        assert merkle.root(leaves[: int(size)]).hex() == want
    assert CT["consistency_proofs"]
    for case in CT["consistency_proofs"]:
        proof = [bytes.fromhex(h) for h in case["proof"]]
        old, new = case["size1"], case["size2"]
        assert merkle.consistency_proof(leaves, old, new) == proof
        merkle.verify_consistency(
            old, new, bytes.fromhex(case["root1"]), bytes.fromhex(case["root2"]), proof
        )


def test_ct_real_log_inclusion_proof() -> None:
    case = CT["real_ct_log_inclusion_proof"]
    leaf = merkle.leaf_hash(bytes.fromhex(case["leaf_input_hex"]))
    proof = [bytes.fromhex(h) for h in case["audit_path"]]
    root = bytes.fromhex(case["root"])
    assert leaf.hex() == case["leaf_hash"]
    merkle.verify_inclusion(leaf, case["leaf_index"], case["tree_size"], proof, root)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaf, case["leaf_index"] + 1, case["tree_size"], proof, root)


def test_vector_files_present() -> None:
    assert Path(MERKLE / "rfc6962_8leaves.json").is_file(), f"no vectors at {VECTORS_DIR}"
