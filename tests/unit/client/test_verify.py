"""Offline verification of a real bundle of the multi-country scenario."""

from __future__ import annotations

from pathlib import Path

from client.verify import check_bundle, verify_bundle
from node.core.records import EntryRef
from node.engine.bundling import build_bundle
from tests.support.scenario import run_scenario
from tests.support.witnesses import cosign_latest
from tests.support.world import World


def test_the_scenario_bundle_is_valid_and_reaches_both_mines(tmp_path: Path) -> None:
    world = World(store=tmp_path / "store")
    chain = run_scenario(world)
    cosign_latest(world)
    subject = chain.parcels["in_2"].entry
    assert world.store is not None
    with world.store.read() as reader:
        bundle = build_bundle(reader, "kp.test", EntryRef(subject.log, subject.seq, subject.hash))
    encoded = bundle.to_bytes()
    verdict = verify_bundle(encoded, world.genesis_hash)
    assert verdict.status == "VALID", verdict.findings
    assert verdict.origins == ("BW", "CA")
    assert {s.certificate for s in verdict.chain if s.certificate} == {
        "BW-2026-0001",
        "CA-2026-0001",
        "EU-2026-0102",
        "AE-2026-0007",
    }
    assert all(step.witnesses >= 2 for step in verdict.chain)
    other = World()
    assert check_bundle(encoded, other.genesis_hash).findings[0].code == "bundle.wrong_network"
    world.close()
