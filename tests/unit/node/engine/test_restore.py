"""When a restore of a node's own log may end (node/engine/restore.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.engine import restore
from node.engine.store import Store


@pytest.mark.parametrize(
    ("peers", "quorum", "needed"),
    [
        (4, 2, 3),  # any 3 of 4 include one of the 2 that cosigned
        (4, 1, 4),
        (4, 4, 1),
        (59, 2, 58),
        (1, 1, 1),
        (2, 5, 1),  # a quorum beyond the peers cannot make fewer than one answer enough
    ],
)
def test_peers_needed_include_a_cosigner_of_any_quorum(
    peers: int, quorum: int, needed: int
) -> None:
    assert restore.peers_needed(peers, quorum) == needed


def test_a_restore_ends_at_the_largest_size_enough_peers_hold() -> None:
    assert not restore.complete(10, {"BW": 10, "EU": 12}, peers=4, witness_quorum=2)
    assert not restore.complete(12, {"BW": 10, "EU": 12}, peers=4, witness_quorum=2)  # 2 of 3
    assert not restore.complete(11, {"BW": 10, "EU": 12, "IN": 9}, peers=4, witness_quorum=2)
    assert restore.complete(12, {"BW": 10, "EU": 12, "IN": 9}, peers=4, witness_quorum=2)
    assert restore.complete(0, {"BW": 0, "EU": 0, "IN": 0}, peers=4, witness_quorum=2)


def test_the_mark_survives_reopening_keeps_its_first_start_and_goes_away_once(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "store", map_size=1 << 24)
    with store.write() as writer:
        assert restore.restoring_since(writer) is None
        restore.begin_restore(writer, now_ms=1_000)
    with store.write() as writer:
        restore.begin_restore(writer, now_ms=2_000)  # a second `kp-node restore`: no change
    store.close()
    store = Store.open(tmp_path / "store", map_size=1 << 24)  # as after a crash
    try:
        with store.read() as reader:
            assert restore.restoring_since(reader) == 1_000
        with store.write() as writer:
            restore.finish_restore(writer)
        with store.read() as reader:
            assert restore.restoring_since(reader) is None
    finally:
        store.close()
