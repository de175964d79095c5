"""Offline verification of bounded bundles (decision 0039) of a pooling hub's exports: VALID with
what was replayed and what rests on the witnesses, INVALID when a seed is false or unused, and
the same size whatever the hub's history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.verify import check_bundle
from node.core.bundle import Bundle
from node.core.records import EntryRef
from node.engine.bundling import build_bundle
from tests.support.hub import HUB, Hub
from tests.support.witnesses import cosign_latest
from tests.support.world import NETWORK, World


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    world = World(store=tmp_path_factory.mktemp("hub") / "store")
    hub = Hub.start(world)
    hub.run_to(6)
    cosign_latest(world)
    try:
        yield hub
    finally:
        world.close()


def _bundle(world: World, subject: EntryRef, depth: int | None = 1) -> Bundle:
    assert world.store is not None
    with world.store.read() as reader:
        return build_bundle(reader, NETWORK, subject, depth)


def _changed(bundle: Bundle, **seed: Any) -> Bundle:
    document = bundle.to_json()
    document["seeds"][0].update(seed)
    return Bundle.from_json(document)


def test_a_bounded_bundle_of_a_hub_export_is_valid_and_says_what_it_replayed(hub: Hub) -> None:
    last = hub.exports[-1]
    bundle = _bundle(hub.world, last.confirmation)
    verdict = check_bundle(bundle, hub.world.genesis_hash)
    assert verdict.status == "VALID", verdict.findings
    assert verdict.depth == 1
    [seed] = verdict.seeds
    assert (seed.log, seed.hash, seed.parcel) == (HUB, hub.merges[-1].hash.hex(), "EU-POOL-6")
    assert seed.origins == ("AE", "BW", "CA", "IN")
    assert verdict.origins == seed.origins  # where the chain starts
    # Every entry but the pool's merge, which made the seed: operators, adoptions, the split,
    # the certificate and its confirmation.
    assert verdict.replayed == len(bundle.entries)
    assert {s.type for s in verdict.chain} == {
        "parcel.transform",
        "certificate.issue",
        "certificate.confirm",
    }
    assert verdict.certificate is not None
    assert verdict.certificate.state == "confirmed"
    assert verdict.replayed_summary == (
        f"replayed {verdict.replayed} entries; the history behind 1 parcel (origins AE, BW, CA, "
        f"IN; {seed.centicarats / 100:,.2f} ct) rests on the witnesses"
    )
    assert verdict.to_json()["seeds"][0]["origins"] == ["AE", "BW", "CA", "IN"]


def test_at_depth_0_the_entry_that_made_the_seed_is_held_not_replayed(hub: Hub) -> None:
    last = hub.exports[-1]
    bundle = _bundle(hub.world, last.certificate, 0)
    held = {(item.log, item.seq) for item in bundle.entries}
    assert (last.split.log, last.split.seq) in held  # the certificate's date rule reads it
    verdict = check_bundle(bundle, hub.world.genesis_hash)
    assert verdict.status == "VALID", verdict.findings
    assert verdict.replayed == len(bundle.entries) - 1
    assert [s.parcel for s in verdict.seeds] == ["EU-EXP-6"]
    assert all(step.hash != last.split.hash.hex() for step in verdict.chain)


def test_without_the_entry_that_made_it_a_certificates_seed_cannot_be_judged(hub: Hub) -> None:
    last = hub.exports[-1]
    document = _bundle(hub.world, last.certificate, 0).to_json()
    document["entries"] = [e for e in document["entries"] if e["hash"] != last.split.hash.hex()]
    verdict = check_bundle(Bundle.from_json(document), hub.world.genesis_hash)
    assert verdict.status == "INVALID"
    assert "bundle.incomplete" in {f.code for f in verdict.findings}


def test_the_whole_dag_of_a_hub_export_is_valid_back_to_every_mine(hub: Hub) -> None:
    verdict = check_bundle(
        _bundle(hub.world, hub.exports[-1].confirmation, None), hub.world.genesis_hash
    )
    assert verdict.status == "VALID", verdict.findings
    assert verdict.seeds == ()
    assert verdict.depth is None
    assert sum(s.type == "parcel.produce" for s in verdict.chain) == hub.rounds + 1


@pytest.mark.parametrize(
    ("depth", "seed", "code"),
    [
        (1, {"origins": ["BW"]}, "origin.mismatch"),
        (1, {"origins": ["AE", "BW", "CA", "IN", "ZA"]}, "origin.mismatch"),
        (1, {"centicarats": 500, "basis": 500}, "mass.exceeds_inputs"),
        (0, {"centicarats": 1_100, "basis": 1_100}, "mass.mismatch"),
        (1, {"holder": "officer"}, "parcel.not_held"),
        (1, {"hs_code": "7102.21"}, "hs_code.transition"),
    ],
    ids=[
        "origins-dropped",
        "origin-added",
        "pool-lighter",
        "export-heavier",
        "other-holder",
        "other-hs",
    ],
)
def test_a_seed_the_replay_disagrees_with_makes_the_bundle_invalid(
    hub: Hub, depth: int, seed: dict[str, Any], code: str
) -> None:
    bundle = _changed(_bundle(hub.world, hub.exports[-1].confirmation, depth), **seed)
    verdict = check_bundle(bundle, hub.world.genesis_hash)
    assert verdict.status == "INVALID"
    codes = [f.code for f in verdict.findings]
    assert codes[0] == "bundle.seed_disagrees", verdict.findings
    assert code in codes
    assert "seeded parcels" in verdict.findings[0].detail


def test_a_seed_no_replayed_entry_consumes_makes_the_bundle_invalid(hub: Hub) -> None:
    bundle = _bundle(hub.world, hub.exports[-1].confirmation)
    document = bundle.to_json()
    extra = dict(document["seeds"][0], seq=hub.imports[0].seq, hash=hub.imports[0].hash.hex())
    document["seeds"].append(extra)
    verdict = check_bundle(Bundle.from_json(document), hub.world.genesis_hash)
    assert verdict.status == "INVALID"
    assert [f.code for f in verdict.findings] == ["bundle.seed_unused"]


def test_a_seed_naming_a_replayed_entry_with_another_hash_is_invalid(hub: Hub) -> None:
    last = hub.exports[-1]
    bundle = _changed(_bundle(hub.world, last.confirmation), seq=last.split.seq)
    verdict = check_bundle(bundle, hub.world.genesis_hash)
    assert verdict.status == "INVALID"
    assert "bundle.seed_disagrees" in {f.code for f in verdict.findings}


def test_a_bounded_bundle_does_not_grow_with_the_hubs_rounds(tmp_path: Path) -> None:
    world = World(store=tmp_path / "store")
    try:
        hub = Hub.start(world)
        sizes = {}
        for rounds in (20, 200):
            last = hub.run_to(rounds)
            cosign_latest(world)
            bundle = _bundle(world, last.confirmation)
            verdict = check_bundle(bundle, world.genesis_hash)
            assert verdict.status == "VALID", verdict.findings
            sizes[rounds] = (
                len(bundle.entries),
                len(bundle.seeds),
                verdict.replayed,
                len(bundle.to_bytes()),
            )
    finally:
        world.close()
    assert sizes[20][:3] == sizes[200][:3]
    # Only the inclusion proofs grow, by a hash per doubling of a log.
    assert sizes[200][3] < sizes[20][3] * 1.25
