"""KP statistics over the multi-country scenario, replayed the way ``kp stats`` replays it."""

from __future__ import annotations

import pytest

from client.audit import replay_logs
from client.stats import Movement, Statistics, compute_statistics, movements
from node.core.records import EntryRef
from tests.support.scenario import Chain, run_scenario
from tests.support.world import World

MARCH = ("2026-03-01", "2026-03-31")


@pytest.fixture
def chain() -> Chain:
    return run_scenario(World())


def scenario_movements(world: World) -> list[Movement]:
    replay = replay_logs([world.genesis], world.genesis.hash, world.kv.logs)
    assert replay.findings == ()
    return movements((a.ref, a.entry) for a in replay.accepted)


def stats_of(
    moves: list[Movement],
    start: str,
    end: str,
    *,
    values: dict[str, int] | None = None,
    tolerance_ppm: int = 0,
) -> Statistics:
    return compute_statistics(moves, start, end, values=values, tolerance_ppm=tolerance_ppm)


def test_production_exports_and_imports_of_each_participant(chain: Chain) -> None:
    stats = stats_of(scenario_movements(chain.world), *MARCH)
    bw, ca, eu, ae, india = (stats.participants[p] for p in ("BW", "CA", "EU", "AE", "IN"))
    assert (bw.production.centicarats, bw.production.count) == (1_250_000, 1)
    assert set(bw.production.by_hs_code) == {"7102.10"}
    assert set(ca.production.by_hs_code) == {"7102.10"}
    assert bw.exports.by_partner["EU"].centicarats == 1_250_000
    assert eu.imports.centicarats == 1_250_000 + 830_000
    assert set(eu.imports.by_partner) == {"BW", "CA"}
    assert {k: v.centicarats for k, v in eu.exports.by_partner.items()} == {
        "IN": 1_000_000,
        "AE": 1_079_000,
    }
    assert eu.exports.by_origin["BW+CA"].count == 2
    assert {k: v.centicarats for k, v in eu.exports.by_hs_code.items()} == {
        "7102.31": 1_000_000,
        "7102.21": 1_079_000,
    }
    assert eu.closing_stock == 1_000  # the 10 ct the Antwerp sort lost
    assert (ae.imports.centicarats, ae.exports.centicarats) == (1_079_000, 1_079_000)
    assert (india.imports.centicarats, india.imports.count) == (2_079_000, 2)
    assert india.imports.by_origin["BW+CA"].centicarats == 2_079_000
    assert stats.anomalies == ()


def test_stock_from_before_the_period_is_opening_stock(chain: Chain) -> None:
    # Production was on 2026-03-02; the period starts after it, the exports fall inside it.
    stats = stats_of(scenario_movements(chain.world), "2026-03-03", "2026-03-31")
    bw = stats.participants["BW"]
    assert bw.production.count == 0
    assert bw.opening_stock == 1_250_000
    assert bw.exports.centicarats == 1_250_000
    assert stats.anomalies == ()


def test_a_period_before_anything_happened_is_empty(chain: Chain) -> None:
    stats = stats_of(scenario_movements(chain.world), "2026-01-01", "2026-01-31")
    for participant in stats.participants.values():
        assert participant.production.count == participant.exports.count == 0
        assert participant.opening_stock == 0


def test_exports_the_participant_never_held_are_an_anomaly(chain: Chain) -> None:
    # The UAE's import, left out: its re-export to India now comes from nowhere.
    moves = [
        m
        for m in scenario_movements(chain.world)
        if not (m.participant == "AE" and m.kind == "import")
    ]
    stats = stats_of(moves, *MARCH)
    exceeds, negative = stats.anomalies
    assert (exceeds.participant, exceeds.code) == ("AE", "stats.exports_exceed_supply")
    assert "10,790.00" in exceeds.detail
    # Its stock went negative the day it certified the re-export, named as the entry behind it.
    assert (negative.participant, negative.code) == ("AE", "stats.negative_stock")
    assert "-10,790.00" in negative.detail
    assert negative.entries == (chain.steps["ae_certificate_in"].hash.hex(),)


@pytest.mark.parametrize(
    ("produced", "exported", "tolerance_ppm", "anomalous"),
    [
        pytest.param(100_000, 100_000, 0, False, id="exactly-what-was-produced"),
        pytest.param(100_000, 100_001, 0, True, id="one-centicarat-too-many"),
        pytest.param(100_000, 100_100, 1_000, False, id="within-the-reweighing-tolerance"),
        pytest.param(100_000, 100_101, 1_000, True, id="beyond-the-tolerance"),
        pytest.param(0, 1, 1_000, True, id="nothing-produced"),
    ],
)
def test_the_anomaly_threshold(
    produced: int, exported: int, tolerance_ppm: int, anomalous: bool
) -> None:
    moves = [Movement("ZZ", "export", "2026-03-10", exported, ("7102.10",), partner="EU")]
    if produced:
        moves.append(Movement("ZZ", "production", "2026-03-01", produced, ("7102.10",)))
    stats = stats_of(moves, *MARCH, tolerance_ppm=tolerance_ppm)
    assert bool(stats.anomalies) is anomalous


def test_values_known_to_the_caller_are_summed_and_the_rest_stay_sealed(chain: Chain) -> None:
    steps = chain.steps
    values = {
        steps["eu_certificate_in"].hash.hex(): 150_000_00,
        steps["eu_certificate_ae"].hash.hex(): 161_850_00,
    }
    stats = stats_of(scenario_movements(chain.world), *MARCH, values=values)
    eu, india, bw = (stats.participants[p] for p in ("EU", "IN", "BW"))
    assert (eu.exports.value_usd_cents, eu.exports.sealed) == (311_850_00, 0)
    # India imported under both: the EU's value is known, the UAE's is not.
    assert (india.imports.value_usd_cents, india.imports.sealed) == (150_000_00, 1)
    assert (bw.exports.value_usd_cents, bw.exports.sealed) == (None, 1)
    document = stats.to_json()
    assert document["participants"]["BW"]["exports"]["value_usd_cents"] is None
    assert "value_usd_cents" not in document["participants"]["BW"]["production"]


def test_a_voided_certificate_is_no_export() -> None:
    world = World()
    world.setup_log("BW")
    world.setup_log("EU", mine=False)
    parcel = world.produce("BW", 40_000)
    world.transfer(parcel, "trader", by="mine")
    certificate = world.certify("BW", "BW-2026-0009", [parcel], "EU")
    rejection = world.append(
        "EU",
        "certificate.reject",
        {"certificate": certificate.to_value(), "reason": "seal tampered"},
        by="officer",
    )
    world.append(
        "BW",
        "certificate.void",
        {
            "certificate": certificate.to_value(),
            "reason": "rejected by the importer",
            "evidence": EntryRef("EU", rejection.seq, rejection.hash).to_value(),
        },
        by="officer",
    )
    moves = scenario_movements(world)
    assert [m.kind for m in moves] == ["production"]
    stats = stats_of(moves, *MARCH)
    assert stats.participants["BW"].closing_stock == 40_000


def _move(kind: str, date: str, centicarats: int, entry: str) -> Movement:
    return Movement("ZZ", kind, date, centicarats, ("7102.10",), entry=entry)


def test_closing_stock_below_zero_is_an_anomaly_with_the_entries_behind_it() -> None:
    # The lot: 1,000.00 ct mined, 1,012.02 ct exported after twelve reweighings.
    moves = [
        _move("production", "2026-03-02", 100_000, "mined"),
        _move("export", "2026-03-20", 101_202, "shipped"),
    ]
    stats = stats_of(moves, *MARCH, tolerance_ppm=1_000)
    assert stats.participants["ZZ"].closing_stock == -1_202
    negative = [a for a in stats.anomalies if a.code == "stats.negative_stock"]
    assert [(a.participant, a.entries) for a in negative] == [("ZZ", ("shipped",))]
    assert "-12.02 ct on 2026-03-20" in negative[0].detail
    assert stats.to_json()["anomalies"][-1]["entries"] == ["shipped"]


def test_stock_negative_on_a_day_of_the_period_is_an_anomaly_though_it_closes_positive() -> None:
    # Exported on the 10th what was only imported on the 20th: the period closes at zero.
    moves = [
        _move("export", "2026-03-10", 50_000, "early-export"),
        _move("import", "2026-03-20", 50_000, "late-import"),
    ]
    stats = stats_of(moves, *MARCH)
    assert stats.participants["ZZ"].closing_stock == 0
    [negative] = stats.anomalies
    assert negative.code == "stats.negative_stock"
    assert "-500.00 ct on 2026-03-10" in negative.detail
    assert negative.entries == ("early-export",)


def test_negative_opening_stock_is_an_anomaly_of_the_period() -> None:
    moves = [_move("export", "2026-02-10", 50_000, "february-export")]
    stats = stats_of(moves, *MARCH)
    [negative] = stats.anomalies
    assert negative.code == "stats.negative_stock"
    assert "-500.00 ct on 2026-03-01" in negative.detail
    assert negative.entries == ("february-export",)


@pytest.mark.parametrize(
    ("moves", "tolerance_ppm"),
    [
        pytest.param(
            [("production", "2026-03-02", 100_000), ("export", "2026-03-20", 100_100)],
            1_000,
            id="gain-within-the-tolerance",
        ),
        pytest.param(
            [("import", "2026-03-05", 50_000), ("export", "2026-03-05", 50_000)],
            0,
            id="imported-and-exported-the-same-day",
        ),
        pytest.param(
            [
                ("export", "2026-02-10", 50_000),
                ("production", "2026-02-12", 50_000),
                ("export", "2026-03-10", 10),
                ("production", "2026-03-10", 10),
            ],
            0,
            id="short-only-before-the-period",
        ),
    ],
)
def test_stock_that_never_goes_negative_in_the_period_is_no_anomaly(
    moves: list[tuple[str, str, int]], tolerance_ppm: int
) -> None:
    found = [_move(kind, date, mass, f"e{i}") for i, (kind, date, mass) in enumerate(moves)]
    stats = stats_of(found, *MARCH, tolerance_ppm=tolerance_ppm)
    assert [a.code for a in stats.anomalies] == []
