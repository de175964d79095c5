"""Which peers a new checkpoint is pushed to first (node/server/replication.py, decision 0037)."""

from __future__ import annotations

from collections import Counter

from node.dev.devnet import KP_PARTICIPANTS
from node.server.replication import first_witnesses

PEERS = {member: f"http://{member.lower()}.example" for member in KP_PARTICIPANTS}


def _peers_of(log: str) -> dict[str, str]:
    return {member: url for member, url in PEERS.items() if member != log}


def test_the_quorum_and_one_spare_are_asked_first() -> None:
    chosen = first_witnesses("BW", _peers_of("BW"), {}, quorum=2)
    assert len(chosen) == 3
    assert len(set(chosen)) == 3
    assert "BW" not in chosen
    assert first_witnesses("BW", _peers_of("BW"), {}, quorum=2) == chosen  # stable


def test_peers_whose_last_push_failed_come_last() -> None:
    chosen = first_witnesses("BW", _peers_of("BW"), {}, quorum=2)
    failing = dict.fromkeys(chosen[:2], 1)
    again = first_witnesses("BW", _peers_of("BW"), failing, quorum=2)
    assert set(again).isdisjoint(chosen[:2])
    assert chosen[2] in again


def test_a_small_network_asks_every_peer() -> None:
    peers = {"CA": "http://ca", "EU": "http://eu"}
    assert sorted(first_witnesses("BW", peers, {}, quorum=2)) == ["CA", "EU"]


def test_the_logs_of_a_network_spread_over_its_witnesses() -> None:
    load = Counter(
        peer for log in PEERS for peer in first_witnesses(log, _peers_of(log), {}, quorum=2)
    )
    # Sixty logs, three first witnesses each: no node is the first witness of most logs.
    assert sum(load.values()) == 3 * len(PEERS)
    assert max(load.values()) <= 12, load.most_common(3)
    assert len(load) >= len(PEERS) // 2
