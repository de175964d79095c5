"""The pure checks of ``kp audit``: logs against their checkpoints, and whole-log replays."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.audit import (
    check_log,
    compare_checkpoint,
    custody_of,
    finding_rows,
    referenced_logs,
    replay_logs,
)
from node.core import merkle
from tests.support.scenario import Chain, run_scenario
from tests.support.witnesses import cosign_latest
from tests.support.world import World


@pytest.fixture
def chain() -> Chain:
    return run_scenario(World())


def test_the_scenario_replays_without_findings(chain: Chain) -> None:
    logs = chain.world.kv.logs
    replay = replay_logs([chain.world.genesis], chain.world.genesis.hash, logs)
    assert replay.findings == ()
    assert len(replay.accepted) == sum(len(entries) for entries in logs.values())
    in_2 = chain.parcels["in_2"]
    assert replay.state.parcel(in_2.log, in_2.seq, in_2.out) == chain.world.parcel_state(in_2)


def test_a_log_replayed_without_the_logs_it_references_is_incomplete(chain: Chain) -> None:
    eu = chain.world.kv.logs["EU"]
    assert referenced_logs(eu) == {"BW", "CA", "EU"}
    replay = replay_logs([chain.world.genesis], chain.world.genesis.hash, {"EU": eu})
    [finding] = replay.findings
    assert (finding.code, finding.log) == ("audit.incomplete", "EU")


def test_entries_out_of_order_are_findings(chain: Chain) -> None:
    logs = dict(chain.world.kv.logs)
    bw = list(logs["BW"])
    bw[-1], bw[-2] = bw[-2], bw[-1]
    logs["BW"] = bw
    replay = replay_logs([chain.world.genesis], chain.world.genesis.hash, logs)
    codes = {(f.log, f.code) for f in replay.findings}
    assert ("BW", "entry.order") in codes


@pytest.mark.parametrize(
    ("position", "seq", "code"),
    [
        # Inside the signed record: the signature no longer verifies.
        pytest.param(0.6, 4, "signature.invalid", id="signed-record"),
        # The entry time is the node's, not signed; the next entry's prev no longer chains.
        pytest.param(-2, 5, "entry.chain", id="unsigned-entry-time"),
    ],
)
def test_a_mutated_entry_is_a_finding(chain: Chain, position: float, seq: int, code: str) -> None:
    logs = dict(chain.world.kv.logs)
    ca = list(logs["CA"])
    mutated = bytearray(ca[4])
    mutated[int(position * len(mutated)) if position > 0 else int(position)] ^= 0x01
    ca[4] = bytes(mutated)
    logs["CA"] = ca
    replay = replay_logs([chain.world.genesis], chain.world.genesis.hash, logs)
    assert ("CA", seq, code) in {(f.log, f.seq, f.code) for f in replay.findings}


def test_custody_lists_every_parcel_an_operator_held(chain: Chain) -> None:
    replay = replay_logs([chain.world.genesis], chain.world.genesis.hash, chain.world.kv.logs)
    [held] = custody_of(replay, "BW", "mine")
    assert held.parcel == "BW-JW-0001"
    assert [(e.event, e.holder) for e in held.events] == [
        ("created", "mine"),
        ("transferred", "trader"),
        ("consumed", "trader"),
    ]
    assert {p.parcel for p in custody_of(replay, "EU", "trader")} == {
        "EU-BW-1",
        "EU-CA-1",
        "ANT-MIX-1",
        "ANT-IN-1",
        "ANT-AE-1",
    }


def test_logs_against_their_signed_checkpoints(tmp_path: Path) -> None:
    world = World(store=tmp_path / "store")
    run_scenario(world)
    cosign_latest(world)
    charter = world.genesis.charter
    assert world.store is not None
    with world.store.read() as reader:
        latest = reader.log("BW").latest_checkpoint()
        assert latest is not None
        size, note = latest
        entries = list(reader.log("BW").entries(0, size))
    check = check_log("BW", note, entries, charter, world.genesis_hash)
    assert check.findings == ()
    assert (check.size, check.witnesses) == (size, 2)

    assert check_log("BW", note, entries[:-1], charter).findings[0].code == "audit.size_mismatch"
    mutated = [*entries[:-1], entries[-1][:-1] + bytes([entries[-1][-1] ^ 1])]
    assert check_log("BW", note, mutated, charter).findings[0].code == "audit.root_mismatch"
    wrong = check_log("BW", note, entries, charter, b"\x01" * 32)
    assert [f.code for f in wrong.findings] == ["audit.wrong_network"]
    forged = note.replace("BW", "CA", 1)
    assert check_log("BW", forged, entries, charter).findings

    leaves = [merkle.leaf_hash(e) for e in entries]
    assert compare_checkpoint("BW", "other", note, leaves, charter) == []
    older = leaves[:-1]
    proof = merkle.consistency_proof(leaves, len(older), len(leaves))
    assert compare_checkpoint("BW", "other", note, older, charter, proof) == []
    lying = [*leaves[:-2], merkle.leaf_hash(b"another"), leaves[-1]]
    [fork] = compare_checkpoint("BW", "other", note, lying, charter)
    assert fork.code == "node.fork"
    world.close()


def test_finding_rows_have_a_header() -> None:
    assert finding_rows([]) == [["log", "seq", "code", "detail"]]
