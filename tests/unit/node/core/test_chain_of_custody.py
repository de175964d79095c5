"""The multi-country chain of custody (``node.dev.scenario.chain_of_custody``, on a test world
by tests/support/scenario.py), through the real rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.core.provenance import provenance
from tests.support.scenario import Chain, run_scenario
from tests.support.world import World


@pytest.fixture(params=["memory", "store"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    world = World(store=tmp_path / "store" if request.param == "store" else None)
    try:
        yield run_scenario(world)
    finally:
        world.close()


def test_origins_follow_every_sort_and_merge(chain: Chain) -> None:
    state = chain.world.parcel_state
    p = chain.parcels
    assert state(p["eu_bw"]).origins == ("BW",)
    assert state(p["eu_ca"]).origins == ("CA",)
    assert state(p["antwerp_mix"]).origins == ("BW", "CA")
    assert state(p["to_india"]).origins == ("BW", "CA")
    assert state(p["in_2"]).origins == ("BW", "CA")


def test_mass_balance_at_each_step(chain: Chain) -> None:
    state = chain.world.parcel_state
    p = chain.parcels
    assert state(p["antwerp_mix"]).centicarats == 1_250_000 + 830_000
    # The sort lost 1,000 centicarats (10 ct) to cleaning: allowed, never the other way.
    assert state(p["to_india"]).centicarats + state(p["to_uae"]).centicarats == 2_079_000
    for consumed in ("bw_run", "ca_run", "eu_bw", "eu_ca", "antwerp_mix", "to_india", "ae_1"):
        assert not state(p[consumed]).live, consumed
    for live in ("in_1", "in_2"):
        assert state(p[live]).live
    assert state(p["in_1"]).holder == "trader"


def test_provenance_of_the_last_confirmation_reaches_both_mines(chain: Chain) -> None:
    world, steps = chain.world, chain.steps
    subject = steps["in_confirms_ae"]
    if world.store is None:
        dag = provenance(world.state, subject, depth=None)
    else:
        with world.read_state() as state:
            dag = provenance(state, subject, depth=None)
    mines = {(m.log, m.seq) for m in dag.mines}
    assert mines == {
        (chain.parcels["bw_run"].log, chain.parcels["bw_run"].seq),
        (chain.parcels["ca_run"].log, chain.parcels["ca_run"].seq),
    }
    assert dag.entries[-1] == subject
    for step in ("bw_certificate", "ca_certificate", "eu_certificate_ae", "ae_certificate_in"):
        assert steps[step] in dag.entries
    # The India-bound branch is not in the UAE chain's history.
    assert steps["eu_certificate_in"] not in dag.entries
    # Every entry comes after what it references and after its log's earlier entries.
    position = {ref: i for i, ref in enumerate(dag.entries)}
    for log in {r.log for r in dag.entries}:
        seqs = [r.seq for r in dag.entries if r.log == log]
        assert seqs == sorted(seqs)
    assert position[steps["bw_certificate"]] < position[steps["eu_certificate_ae"]]
    assert dag.charters == (world.genesis_hash,)
    assert {a.log for a in dag.adoptions} == {"BW", "CA", "EU", "AE", "IN"}
    assert len(dag.operators) >= 5
