"""Bounded provenance (decision 0039): ``provenance(state, subject, depth)`` on hand-built
histories — a pooling hub and the multi-country scenario — through the real rules in memory."""

from __future__ import annotations

import pytest

from node.core.provenance import (
    DEFAULT_DEPTH,
    MAX_DEPTH,
    depth_text,
    parse_depth,
    provenance,
)
from node.core.records import EntryRef
from tests.support.hub import Hub
from tests.support.scenario import run_scenario
from tests.support.world import World


@pytest.fixture(scope="module")
def hub() -> Hub:
    world = World()
    hub = Hub.start(world)
    hub.run_to(20)
    return hub


def _walked(hub: Hub, depth: int | None) -> set[EntryRef]:
    """The parcel-moving entries replayed: the walk without operators and adoptions."""
    return set(provenance(hub.world.state, hub.exports[-1].confirmation, depth).entries)


def test_depth_0_is_the_subject_and_its_certificate_with_its_parcels_seeded(hub: Hub) -> None:
    last = hub.exports[-1]
    dag = provenance(hub.world.state, last.confirmation, 0)
    assert set(dag.entries) == {last.confirmation, last.certificate}
    assert [seed.ref for seed in dag.seeds] == [last.parcel]
    # The certificate's date rule reads the entry that made its parcel: along, not replayed.
    assert dag.creators == (last.split,)
    assert dag.mines == ()
    [seed] = dag.seeds
    assert seed.live
    assert seed.transfers == ()
    assert seed.origins == ("AE", "BW", "CA", "IN")
    assert (seed.centicarats, seed.holder) == (1_000, "trader")


def test_depth_1_is_the_default_and_adds_the_split_off_the_pool(hub: Hub) -> None:
    last = hub.exports[-1]
    assert DEFAULT_DEPTH == 1
    dag = provenance(hub.world.state, last.confirmation)
    assert dag.depth == 1
    assert set(dag.entries) == {last.confirmation, last.certificate, last.split}
    [seed] = dag.seeds
    assert seed.ref.entry == hub.merges[-1]  # the pool the split took
    assert dag.creators == ()  # a transform reads nothing of its inputs but their state
    assert set(dag.entries) == _walked(hub, 1)


def test_depth_2_adds_the_merge_and_seeds_its_inputs(hub: Hub) -> None:
    last = hub.exports[-1]
    dag = provenance(hub.world.state, last.confirmation, 2)
    assert set(dag.entries) == {last.confirmation, last.certificate, last.split, hub.merges[-1]}
    assert {seed.ref.entry for seed in dag.seeds} == {hub.exports[-2].split, hub.imports[-1]}


def test_a_confirmation_comes_with_its_certificate_at_its_level(hub: Hub) -> None:
    dag = provenance(hub.world.state, hub.exports[-1].confirmation, 3)
    assert hub.imports[-1] in dag.entries
    certificate = hub.world.state.certificate  # the import's certificate, in the supplier's log
    imported = hub.world.state.entry(hub.imports[-1].log, hub.imports[-1].seq)
    assert imported is not None
    issued = imported.signed.body.certificate  # type: ignore[union-attr]
    assert issued in dag.entries
    assert certificate(issued.log, issued.seq) is not None
    # The supplier's production is seeded, and its entry comes along for the date rule.
    produced = [seed for seed in dag.seeds if seed.ref.log == issued.log]
    assert [seed.ref.entry for seed in produced] == list(dag.creators)


def test_all_is_the_whole_dag_back_to_every_mine_with_no_seed(hub: Hub) -> None:
    dag = provenance(hub.world.state, hub.exports[-1].confirmation, None)
    assert dag.seeds == ()
    assert dag.creators == ()
    assert len(dag.mines) == hub.rounds + 1  # every import, and the first stock
    assert set(dag.entries) > _walked(hub, 3) > _walked(hub, 2) > _walked(hub, 1)


def test_the_bounded_walk_does_not_grow_with_the_hubs_history() -> None:
    world = World()
    hub = Hub.start(world)
    sizes = {}
    for rounds in (5, 40):
        last = hub.run_to(rounds)
        dag = provenance(world.state, last.confirmation)
        sizes[rounds] = (len(dag.entries), len(dag.seeds), len(dag.operators), len(dag.adoptions))
    assert sizes[5] == sizes[40]


def test_the_scenario_at_each_depth_stops_where_it_should() -> None:
    world = World()
    chain = run_scenario(world)
    subject = chain.parcels["in_2"].entry
    steps = chain.steps
    shallow = provenance(world.state, subject, 0)
    assert steps["ae_certificate_in"] in shallow.entries
    assert steps["eu_certificate_ae"] not in shallow.entries
    one = provenance(world.state, subject, 1)
    assert steps["eu_certificate_ae"] in one.entries  # the UAE's import, with the EU's certificate
    assert all(seed.ref.log == "EU" for seed in one.seeds)
    whole = provenance(world.state, subject, None)
    assert {m.log for m in whole.mines} == {"BW", "CA"}
    # Replay order holds at every depth: each log's entries in seq order.
    for dag in (shallow, one, whole):
        for log in {r.log for r in dag.entries}:
            seqs = [r.seq for r in dag.entries if r.log == log]
            assert seqs == sorted(seqs)


def test_a_negative_depth_is_refused() -> None:
    world = World()
    hub = Hub.start(world)
    with pytest.raises(ValueError, match="depth must be 0 or more"):
        provenance(world.state, hub.imports[0], -1)


@pytest.mark.parametrize(
    ("text", "depth"),
    [("all", None), ("0", 0), ("1", 1), ("12", 12), (str(MAX_DEPTH), MAX_DEPTH)],
)
def test_a_depth_is_spelled_as_a_count_or_all(text: str, depth: int | None) -> None:
    assert parse_depth(text) == depth
    assert depth_text(depth) == text


@pytest.mark.parametrize("text", ["", "-1", "ALL", "1.0", " 1", "٣", str(MAX_DEPTH + 1), "9" * 50])
def test_anything_else_is_no_depth(text: str) -> None:
    with pytest.raises(ValueError, match="neither 'all' nor a count"):
        parse_depth(text)
