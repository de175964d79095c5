"""The bundle's form (node/core/bundle.py): the bytes a node serves round-trip through ``Bundle``,
and every malformed document is refused with the code a verdict reports."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from node.core import merkle, notes
from node.core.bundle import (
    MAX_BUNDLE_BYTES,
    MAX_BUNDLE_ENTRIES,
    MAX_BUNDLE_SEEDS,
    Bundle,
    BundleEntry,
)
from node.core.errors import BundleError
from node.core.records import MAX_REFS

Document = dict[str, Any]

_KEY = Ed25519PrivateKey.generate()


def _bundle(network: str = "kp.test", raws: tuple[bytes, ...] = (b"entry 0", b"entry 1")) -> Bundle:
    """A bundle of one log's entries, each with its real tlog-proof to one signed checkpoint
    (the entries' bytes are opaque to the form, so any bytes do)."""
    leaves = [merkle.leaf_hash(raw) for raw in raws]
    text = notes.Checkpoint("kp.test/BW", len(raws), merkle.root(leaves)).to_text()
    note = notes.sign_note(text, "kp.test/BW", _KEY)
    entries = tuple(
        BundleEntry(
            "BW",
            seq,
            leaves[seq],
            raw,
            notes.TlogProof(seq, tuple(merkle.inclusion_proof(leaves, seq, len(raws))), note),
        )
        for seq, raw in enumerate(raws)
    )
    return Bundle(
        network=network,
        genesis=bytes(range(32)),
        subject=leaves[-1],
        charters=(b"\x82genesis", b"\x82version 2"),
        checkpoints={"BW": note},
        entries=entries,
    )


def _document() -> Document:
    return _bundle().to_json()


# --- round trip ----------------------------------------------------------------------------------


def test_the_bytes_are_the_compact_json_a_node_has_always_served() -> None:
    bundle = _bundle()
    served = json.dumps(
        bundle.to_json(), ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")
    assert bundle.to_bytes() == served
    assert list(bundle.to_json()) == [
        "media_type",
        "network",
        "genesis",
        "subject",
        "charters",
        "checkpoints",
        "entries",
    ]
    assert list(bundle.to_json()["entries"][0]) == ["log", "seq", "hash", "entry", "proof"]


def test_parse_gives_back_the_bundle_and_its_bytes() -> None:
    bundle = _bundle()
    data = bundle.to_bytes()
    assert Bundle.parse(data) == bundle
    assert Bundle.parse(data).to_bytes() == data
    assert Bundle.from_json(json.loads(data)) == bundle


def test_a_spaced_or_pretty_printed_file_parses_to_the_same_bundle() -> None:
    # ``kp bundle export`` writes the document indented; tests and tools use json.dumps' default.
    bundle = _bundle()
    assert Bundle.parse(json.dumps(bundle.to_json(), indent=2).encode()) == bundle
    assert Bundle.parse(json.dumps(bundle.to_json()).encode()) == bundle


@given(
    network=st.text(max_size=40),
    raws=st.lists(st.binary(max_size=64), min_size=1, max_size=9, unique=True).map(tuple),
)
def test_any_bundle_round_trips_through_its_bytes(network: str, raws: tuple[bytes, ...]) -> None:
    bundle = _bundle(network, raws)
    assert Bundle.parse(bundle.to_bytes()) == bundle


def test_the_checkpoints_are_read_only_and_keep_their_order() -> None:
    bundle = Bundle.from_json({**_document(), "checkpoints": {"EU": "b", "BW": "a"}})
    assert list(bundle.checkpoints) == ["EU", "BW"]
    with pytest.raises(TypeError):
        bundle.checkpoints["IN"] = "c"  # type: ignore[index]


def test_fields_of_a_later_version_are_ignored() -> None:
    assert Bundle.from_json({**_document(), "comment": [1, 2]}) == _bundle()


# --- hostile input -------------------------------------------------------------------------------


def _set(path: tuple[str | int, ...], value: object) -> Callable[[Document], object]:
    def edit(document: Document) -> object:
        *parents, last = path
        target: Any = document
        for key in parents:
            target = target[key]
        target[last] = value
        return document

    return edit


def _drop(name: str) -> Callable[[Document], object]:
    def edit(document: Document) -> object:
        del document[name]
        return document

    return edit


def _entry_twice(document: Document) -> object:
    document["entries"].append(copy.deepcopy(document["entries"][0]))
    return document


def _seq_of_another_entry(document: Document) -> object:
    document["entries"][1]["seq"] = 0  # another entry claiming BW/0
    return document


def _too_many_entries(document: Document) -> object:
    document["entries"] = [{}] * (MAX_BUNDLE_ENTRIES + 1)  # counted before any is read
    return document


def _proof_without_its_header(document: Document) -> object:
    proof = document["entries"][0]["proof"]
    document["entries"][0]["proof"] = proof.replace(notes.TLOG_PROOF_HEADER, "c2sp.org/x", 1)
    return document


HOSTILE: list[tuple[str, Callable[[Document], object], str]] = [
    ("not-an-object", lambda d: [d], "bundle.malformed"),
    ("no-media-type", _drop("media_type"), "bundle.malformed"),
    ("other-media-type", _set(("media_type",), "application/json"), "bundle.malformed"),
    ("no-charters", _drop("charters"), "bundle.malformed"),
    ("charters-an-object", _set(("charters",), {}), "bundle.malformed"),
    ("no-checkpoints", _drop("checkpoints"), "bundle.malformed"),
    ("checkpoints-a-list", _set(("checkpoints",), []), "bundle.malformed"),
    ("no-entries", _drop("entries"), "bundle.malformed"),
    ("entries-text", _set(("entries",), "[]"), "bundle.malformed"),
    ("too-many-entries", _too_many_entries, "bundle.malformed"),
    ("no-network", _drop("network"), "bundle.malformed"),
    ("network-a-number", _set(("network",), 7), "bundle.malformed"),
    ("no-genesis", _drop("genesis"), "bundle.malformed"),
    ("genesis-uppercase", _set(("genesis",), bytes(range(32)).hex().upper()), "bundle.malformed"),
    ("genesis-short", _set(("genesis",), "00" * 31), "bundle.malformed"),
    ("subject-a-number", _set(("subject",), 0), "bundle.malformed"),
    ("subject-not-hex", _set(("subject",), "g" * 64), "bundle.malformed"),
    ("charter-a-number", _set(("charters", 0), 1), "bundle.malformed"),
    ("charter-not-base64", _set(("charters", 0), "not base64!"), "bundle.malformed"),
    ("checkpoint-a-list", _set(("checkpoints", "BW"), ["note"]), "bundle.malformed"),
    ("entry-a-list", _set(("entries", 0), []), "bundle.malformed"),
    ("entry-without-log", _set(("entries", 0), {"seq": 0}), "bundle.malformed"),
    ("log-a-number", _set(("entries", 0, "log"), 1), "bundle.malformed"),
    ("seq-text", _set(("entries", 0, "seq"), "0"), "bundle.malformed"),
    ("seq-true", _set(("entries", 1, "seq"), True), "bundle.malformed"),
    ("seq-a-float", _set(("entries", 0, "seq"), 0.0), "bundle.malformed"),
    ("seq-negative", _set(("entries", 0, "seq"), -1), "bundle.malformed"),
    ("seq-past-any-log", _set(("entries", 0, "seq"), notes.MAX_TREE_SIZE), "bundle.malformed"),
    ("hash-short", _set(("entries", 0, "hash"), "ab"), "bundle.malformed"),
    ("entry-not-base64", _set(("entries", 0, "entry"), "***"), "bundle.malformed"),
    ("entry-missing", _set(("entries", 0, "entry"), None), "bundle.malformed"),
    ("proof-a-number", _set(("entries", 0, "proof"), 3), "bundle.malformed"),
    ("proof-malformed", _proof_without_its_header, "tlog_proof.malformed"),
    ("entry-twice", _entry_twice, "bundle.malformed"),
    ("two-entries-one-position", _seq_of_another_entry, "bundle.malformed"),
]


@pytest.mark.parametrize(
    ("edit", "code"), [(e, c) for _, e, c in HOSTILE], ids=[n for n, *_ in HOSTILE]
)
def test_a_malformed_bundle_is_refused_with_its_code(
    edit: Callable[[Document], object], code: str
) -> None:
    document = edit(_document())
    with pytest.raises(BundleError) as parsed:
        Bundle.parse(json.dumps(document).encode())
    assert parsed.value.code == code
    with pytest.raises(BundleError) as decoded:
        Bundle.from_json(document)
    assert decoded.value.code == code


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"{", id="cut-short"),
        pytest.param(b"\xff\xfe\x00", id="not-utf"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-past-the-stack"),
        pytest.param(b" " * (MAX_BUNDLE_BYTES + 1), id="over-the-size-bound"),
    ],
)
def test_bytes_that_are_no_bundle_are_refused(data: bytes) -> None:
    with pytest.raises(BundleError) as refused:
        Bundle.parse(data)
    assert refused.value.code == "bundle.malformed"


def test_the_size_bound_is_on_the_bytes_before_any_decoding() -> None:
    data = _bundle().to_bytes()
    padded = data + b" " * (MAX_BUNDLE_BYTES - len(data))
    assert Bundle.parse(padded) == _bundle()
    with pytest.raises(BundleError, match="too large"):
        Bundle.parse(padded + b" ")


# --- seeds of a bounded bundle (decision 0039) ------------------------------------------------


def _seed(**changes: object) -> Document:
    seed: Document = {
        "log": "BW",
        "seq": 3,
        "hash": "ab" * 32,
        "out": 1,
        "parcel": "BW-P-0001",
        "holder": "trader",
        "centicarats": 1_200,
        "hs_code": "7102.10",
        "origins": ["BW", "CA"],
        "basis": 1_200,
    }
    seed.update(changes)
    return {k: v for k, v in seed.items() if v is not _GONE}


_GONE = object()


def _bounded(*seeds: Document, depth: object = 1) -> Document:
    document = _document()
    document["depth"] = depth
    document["seeds"] = list(seeds)
    return document


def test_a_bounded_bundle_round_trips_its_depth_and_seeds() -> None:
    parsed = Bundle.from_json(_bounded(_seed()))
    assert parsed.depth == 1
    [seed] = parsed.seeds
    assert (seed.ref.log, seed.ref.seq, seed.ref.hash, seed.ref.out) == ("BW", 3, b"\xab" * 32, 1)
    assert (seed.holder, seed.centicarats, seed.origins, seed.basis) == (
        "trader",
        1_200,
        ("BW", "CA"),
        1_200,
    )
    assert seed.live
    assert seed.transfers == ()
    assert Bundle.parse(parsed.to_bytes()) == parsed
    assert json.loads(parsed.to_bytes())["seeds"] == [_seed()]


def test_a_bundle_of_the_whole_dag_has_no_depth_nor_seeds_in_its_bytes() -> None:
    whole = _bundle()
    assert (whole.depth, whole.seeds) == (None, ())
    assert "depth" not in whole.to_json()
    assert "seeds" not in whole.to_json()
    null = _document()
    null["depth"] = None
    assert Bundle.from_json(null) == whole


@pytest.mark.parametrize(
    "document",
    [
        _bounded(_seed(), depth=None),
        _bounded(_seed(), depth=-1),
        _bounded(depth="1"),
        _bounded(depth=True),
        _bounded(depth=1.0),
        {**_document(), "depth": 1, "seeds": {}},
        _bounded("BW/3/1"),
        _bounded(_seed(seq="3")),
        _bounded(_seed(seq=True)),
        _bounded(_seed(out=MAX_REFS)),
        _bounded(_seed(hash="AB" * 32)),
        _bounded(_seed(log="bw")),
        _bounded(_seed(parcel="")),
        _bounded(_seed(holder="a trader")),
        _bounded(_seed(centicarats=0, basis=0)),
        _bounded(_seed(centicarats=-5)),
        _bounded(_seed(basis=1_201)),
        _bounded(_seed(hs_code="7102.99")),
        _bounded(_seed(origins=[])),
        _bounded(_seed(origins=["CA", "BW"])),
        _bounded(_seed(origins=["BW", "BW"])),
        _bounded(_seed(origins="BW")),
        _bounded(_seed(basis=_GONE)),
        _bounded(_seed(consumed_by=None)),
        _bounded(_seed(), _seed(holder="mine")),
    ],
    ids=[
        "seeds-of-the-whole-dag",
        "negative-depth",
        "depth-as-text",
        "depth-true",
        "depth-a-float",
        "seeds-not-a-list",
        "seed-not-an-object",
        "seq-as-text",
        "seq-true",
        "out-past-the-outputs",
        "hash-in-uppercase",
        "log-not-a-participant-id",
        "empty-parcel-id",
        "holder-not-an-operator-id",
        "no-mass",
        "negative-mass",
        "basis-over-the-mass",
        "unknown-hs-code",
        "no-origins",
        "origins-unsorted",
        "origins-twice",
        "origins-as-text",
        "field-missing",
        "field-unknown",
        "parcel-seeded-twice",
    ],
)
def test_a_malformed_seed_is_refused(document: Document) -> None:
    with pytest.raises(BundleError) as refused:
        Bundle.from_json(document)
    assert refused.value.code == "bundle.malformed"


def test_more_seeds_than_the_bound_are_refused_before_any_is_read() -> None:
    document = _bounded(*(["not a seed"] * (MAX_BUNDLE_SEEDS + 1)))  # type: ignore[list-item]
    with pytest.raises(BundleError, match="more than"):
        Bundle.from_json(document)
    at_the_bound = _bounded(*(_seed(seq=seq) for seq in range(MAX_BUNDLE_SEEDS)))
    assert len(Bundle.from_json(at_the_bound).seeds) == MAX_BUNDLE_SEEDS
