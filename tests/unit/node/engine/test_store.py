"""The LMDB store: stored complete subtrees give the same roots and proofs as the full leaf list."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.core import merkle
from node.core.errors import StoreError
from node.engine.store import MAX_READERS, Store


def _fill(store: Store, log: str, n: int, start: int = 0) -> list[bytes]:
    entries = [f"{log}-{i}".encode() for i in range(start, start + n)]
    with store.write() as w:
        writer = w.log(log)
        for e in entries:
            writer.append(e, hashlib.sha256(e).digest())
    return [merkle.leaf_hash(e) for e in entries]


@given(n=st.integers(1, 130), data=st.data())
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_stored_subtree_proofs_equal_list_proofs(
    tmp_path_factory: pytest.TempPathFactory, n: int, data: st.DataObject
) -> None:
    store = Store.open(tmp_path_factory.mktemp("store"), map_size=1 << 28)
    try:
        # Appends split over several transactions, as the sequencer's batches are.
        cut = data.draw(st.integers(0, n))
        leaves = _fill(store, "BW", cut) + _fill(store, "BW", n - cut, start=cut)
        with store.read() as r:
            log = r.log("BW")
            assert log.size() == n
            for size in range(1, n + 1):
                assert log.root(size) == merkle.root(leaves[:size])
            size = data.draw(st.integers(1, n))
            index = data.draw(st.integers(0, size - 1))
            assert log.inclusion_proof(index, size) == merkle.inclusion_proof(leaves, index, size)
            old = data.draw(st.integers(1, size))
            assert log.consistency_proof(old, size) == merkle.consistency_proof(leaves, old, size)
    finally:
        store.close()


def test_logs_with_shared_prefix_stay_apart(store: Store) -> None:
    bw = _fill(store, "BW", 5)
    bwx = _fill(store, "BWX", 3)
    _fill(store, "AB", 2)
    with store.read() as r:
        assert r.log("BW").size() == 5
        assert r.log("BWX").size() == 3
        assert r.log("CA").size() == 0
        assert r.log("BW").root(5) == merkle.root(bw)
        assert r.log("BWX").root(3) == merkle.root(bwx)
        assert list(r.log("BW").entries(3, 10)) == [b"BW-3", b"BW-4"]
        assert r.position(bwx[2]) == ("BWX", 2)


def test_aborted_write_leaves_nothing(store: Store) -> None:
    _fill(store, "BW", 2)

    def write_then_fail() -> None:
        with store.write() as w:
            w.log("BW").append(b"doomed", b"\x00" * 32)
            raise RuntimeError("fail after writing, before commit")

    with pytest.raises(RuntimeError):
        write_then_fail()
    with store.read() as r:
        assert r.log("BW").size() == 2
        assert r.position(merkle.leaf_hash(b"doomed")) is None
        assert r.entry_for_record(b"\x00" * 32) is None


def test_reopen_keeps_committed_state(tmp_path: object) -> None:
    path = f"{tmp_path}/s"
    first = Store.open(path, map_size=1 << 28)
    leaves = _fill(first, "BW", 7)
    with first.write() as w:
        w.log("BW").put_checkpoint(7, "note\n")
    first.close()
    again = Store.open(path, map_size=1 << 28)
    with again.read() as r:
        assert r.log("BW").root(7) == merkle.root(leaves)
        assert r.log("BW").latest_checkpoint() == (7, "note\n")
        assert r.logs() == ["BW"]
    again.close()


def test_checkpoint_lookup(store: Store) -> None:
    _fill(store, "BW", 10)
    with store.write() as w:
        for size in (3, 7, 10):
            w.log("BW").put_checkpoint(size, f"cp {size}\n")
    with store.read() as r:
        log = r.log("BW")
        assert log.checkpoint_covering(0) == (3, "cp 3\n")
        assert log.checkpoint_covering(3) == (7, "cp 7\n")
        assert log.checkpoint_covering(9) == (10, "cp 10\n")
        assert log.checkpoint_covering(10) is None
        assert log.checkpoint(7) == "cp 7\n"
        assert log.checkpoint(8) is None
        assert log.latest_checkpoint() == (10, "cp 10\n")
        assert r.log("CA").latest_checkpoint() is None


def test_proof_beyond_size_refused(store: Store) -> None:
    _fill(store, "BW", 4)
    with store.read() as r, pytest.raises(StoreError) as err:
        r.log("BW").inclusion_proof(0, 5)
    assert err.value.code == "store.beyond_size"


def test_open_failure_is_a_store_error(tmp_path: object) -> None:
    blocker = f"{tmp_path}/file"
    with open(blocker, "w") as f:
        f.write("not a directory")
    with pytest.raises(StoreError) as err:
        Store.open(blocker)
    assert err.value.code == "store.open"


def test_a_reader_kept_past_its_block_holds_no_reader_slot(tmp_path: Path) -> None:
    """py-lmdb frees a reader slot only with the transaction object; ``Store.read`` drops it
    at the block's end, so readers kept alive (by a traceback, say) cannot fill the table."""
    store = Store.open(tmp_path / "store")
    kept = []
    try:
        for _ in range(MAX_READERS + 10):
            with store.read() as reader:
                log = reader.log("BW")
                assert log.size() == 0
            kept.append((reader, log))
        with pytest.raises(StoreError, match="after its block"):
            kept[0][1].size()
    finally:
        store.close()
