"""KP statistics tables over the multi-country scenario and hand-built histories, replayed the
way ``kp stats --replay`` replays them (the index gives the same movements:
tests/unit/node/engine/test_statistics.py)."""

from __future__ import annotations

import pytest

from client.audit import replay_logs
from client.stats import (
    Period,
    PeriodError,
    Statistics,
    compute_statistics,
    parse_period,
    replayed_movements,
)
from node.core.movements import Movement
from node.core.records import EntryRef
from tests.support.scenario import Chain, run_scenario
from tests.support.world import World

MARCH = parse_period(start="2026-03-01", end="2026-03-31")


@pytest.fixture
def chain() -> Chain:
    return run_scenario(World())


def world_movements(world: World) -> list[Movement]:
    replay = replay_logs([world.genesis], world.genesis.hash, world.kv.logs)
    assert replay.findings == ()
    return replayed_movements(replay.accepted, replay.state)


def stats_of(
    moves: list[Movement],
    period: Period = MARCH,
    *,
    values: dict[str, int] | None = None,
    tolerance_ppm: int = 0,
    today: str = "2026-03-31",
    participants: tuple[str, ...] = (),
) -> Statistics:
    return compute_statistics(
        moves,
        period,
        today=today,
        values=values,
        tolerance_ppm=tolerance_ppm,
        participants=participants,
    )


def table(stats: Statistics, name: str) -> list[tuple[object, ...]]:
    [found] = [t for t in stats.tables() if t.name == name]
    return list(found.rows)


def test_production_exports_and_imports_of_each_participant(chain: Chain) -> None:
    stats = stats_of(world_movements(chain.world))
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
    assert stats.awaiting == ()


def test_the_tables_a_renderer_reads(chain: Chain) -> None:
    stats = stats_of(world_movements(chain.world))
    names = [t.name for t in stats.tables()]
    assert names == [
        "summary",
        "production_by_hs_code",
        "production_by_mine",
        "exports_by_hs_code",
        "exports_by_partner",
        "exports_by_origin",
        "imports_by_hs_code",
        "imports_by_partner",
        "imports_by_origin",
        "anomalies",
        "awaiting_confirmation",
    ]
    summary = table(stats, "summary")
    # No imports: their value is 0 for every reader, not "sealed".
    assert ("BW", 0, 1_250_000, None, 1, 1_250_000, None, 1, 0, 0, 0, 0) in summary
    assert table(stats, "production_by_mine") == [
        ("BW", "mine", 1_250_000, None, 1),
        ("CA", "mine", 830_000, None, 1),
    ]
    assert ("IN", "AE", 1_079_000, None, 1) in table(stats, "imports_by_partner")
    document = stats.tables()[0].to_json()
    assert document["columns"][1] == {"name": "opening stock", "kind": "centicarats"}


def test_stock_from_before_the_period_is_opening_stock(chain: Chain) -> None:
    # Production was on 2026-03-02; the period starts after it, the exports fall inside it.
    stats = stats_of(
        world_movements(chain.world), parse_period(start="2026-03-03", end="2026-03-31")
    )
    bw = stats.participants["BW"]
    assert bw.production.count == 0
    assert bw.opening_stock == 1_250_000
    assert bw.exports.centicarats == 1_250_000
    # Both mines produced in the 29 days before and not in these: a fall of 100 %.
    assert {(a.participant, a.code) for a in stats.anomalies} == {
        ("BW", "stats.period_change"),
        ("CA", "stats.period_change"),
    }


def test_a_period_before_anything_happened_is_empty(chain: Chain) -> None:
    stats = stats_of(world_movements(chain.world), parse_period(quarter="2026Q1"))
    january = stats_of(
        world_movements(chain.world), parse_period(start="2026-01-01", end="2026-01-31")
    )
    for participant in january.participants.values():
        assert participant.production.count == participant.exports.count == 0
        assert participant.opening_stock == 0
    assert stats.participants["BW"].production.centicarats == 1_250_000  # March is in Q1


def test_one_participant_only(chain: Chain) -> None:
    stats = stats_of(world_movements(chain.world), participants=("EU",))
    assert list(stats.participants) == ["EU"]
    assert {row[0] for row in table(stats, "exports_by_partner")} == {"EU"}


def test_values_known_to_the_caller_are_summed_and_the_rest_stay_sealed(chain: Chain) -> None:
    steps = chain.steps
    values = {
        steps["eu_certificate_in"].hash.hex(): 150_000_00,
        steps["eu_certificate_ae"].hash.hex(): 161_850_00,
    }
    stats = stats_of(world_movements(chain.world), values=values)
    eu, india, bw = (stats.participants[p] for p in ("EU", "IN", "BW"))
    assert (eu.exports.value_usd_cents, eu.exports.sealed) == (311_850_00, 0)
    # India imported under both: the EU's value is known, the UAE's is not.
    assert (india.imports.value_usd_cents, india.imports.sealed) == (150_000_00, 1)
    assert (bw.exports.value_usd_cents, bw.exports.sealed) == (None, 1)
    document = stats.to_json()
    assert document["participants"]["BW"]["exports"]["value_usd_cents"] is None
    # The scenario's productions declare no value: none is sealed, none is missing.
    assert document["participants"]["BW"]["production"]["value_usd_cents"] is None
    assert document["participants"]["BW"]["production"]["sealed"] == 0
    assert document["participants"]["EU"]["exports"]["values_by_hs_code"] == {
        "7102.21": 161_850_00,
        "7102.31": 150_000_00,
    }


def mixed_world() -> tuple[World, EntryRef]:
    """BW certifies a 7102.21 parcel of 600 ct and a 7102.31 parcel of 400 ct to EU."""
    world = World()
    world.setup_log("BW")
    world.setup_log("EU", mine=False)
    parcels = [
        world.produce("BW", 60_000, hs_code="7102.21"),
        world.produce("BW", 40_000, hs_code="7102.31"),
    ]
    for parcel in parcels:
        world.transfer(parcel, "trader", by="mine")
    certificate = world.certify("BW", "BW-2026-0042", parcels, "EU")
    world.confirm("EU", certificate, [("EU-1", 60_000, "7102.21"), ("EU-2", 40_000, "7102.31")])
    return world, certificate


def test_a_mixed_certificate_counts_each_parcel_under_its_own_code() -> None:
    world, _ = mixed_world()
    stats = stats_of(world_movements(world), parse_period(year="2026"), today="2026-12-31")
    assert table(stats, "exports_by_hs_code") == [
        ("BW", "7102.21", 60_000, None, 1),
        ("BW", "7102.31", 40_000, None, 1),
    ]
    assert table(stats, "imports_by_hs_code") == [
        ("EU", "7102.21", 60_000, None, 1),
        ("EU", "7102.31", 40_000, None, 1),
    ]
    # The certificate counts once in the totals, whatever its codes.
    assert stats.participants["BW"].exports.count == 1
    assert not any("+" in str(row[1]) for row in table(stats, "exports_by_hs_code"))


def test_a_mixed_certificate_value_is_shared_by_mass() -> None:
    world, certificate = mixed_world()
    values = {certificate.hash.hex(): 1_000_001}  # a cent that does not divide
    stats = stats_of(
        world_movements(world), parse_period(year="2026"), values=values, today="2026-12-31"
    )
    by_hs = stats.participants["BW"].exports.by_hs_code
    assert (by_hs["7102.21"].value_usd_cents, by_hs["7102.31"].value_usd_cents) == (
        600_001,
        400_000,
    )
    assert stats.participants["BW"].exports.value_usd_cents == 1_000_001


def test_a_production_value_where_one_was_declared() -> None:
    world = World()
    world.setup_log("BW")
    declared = world.append(
        "BW",
        "parcel.produce",
        {
            "parcel": "BW-V-1",
            "mine": "mine",
            "produced_on": world.today,
            "centicarats": 20_000,
            "hs_code": "7102.10",
            "holder": "mine",
        },
        by="mine",
        sealed_values={"value_usd_cents": 3_000_000},
    )
    world.produce("BW", 10_000)  # an older kind of record: no value declared, none sealed
    moves = world_movements(world)
    assert [m.valued for m in moves] == [True, False]
    year = parse_period(year="2026")
    unread = stats_of(moves, year, today="2026-12-31").participants["BW"].production
    assert (unread.value_usd_cents, unread.sealed, unread.count) == (None, 1, 2)
    read = stats_of(moves, year, values={declared.hash.hex(): 3_000_000}, today="2026-12-31")
    production = read.participants["BW"].production
    assert (production.value_usd_cents, production.sealed) == (3_000_000, 0)
    assert table(read, "production_by_hs_code") == [("BW", "7102.10", 30_000, 3_000_000, 2)]


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
    moves = world_movements(world)
    assert [m.kind for m in moves] == ["production", "export", "reject", "void"]
    stats = stats_of(moves, parse_period(year="2026"), today="2026-12-31")
    assert stats.participants["BW"].exports.count == 0
    assert stats.participants["BW"].closing_stock == 40_000
    assert stats.awaiting == ()  # rejected and voided: nothing awaits
    assert [a.code for a in stats.anomalies] == []


# --- periods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "start", "end", "previous"),
    [
        pytest.param({"quarter": "2026Q3"}, "2026-07-01", "2026-09-30",
                     ("2026-04-01", "2026-06-30"),
                     id="q3"),
        pytest.param({"quarter": "2026Q1"}, "2026-01-01", "2026-03-31",
                     ("2025-10-01", "2025-12-31"),
                     id="q1"),
        pytest.param({"half": "2026H1"}, "2026-01-01", "2026-06-30", ("2025-07-01", "2025-12-31"),
                     id="h1"),
        pytest.param({"half": "2026H2"}, "2026-07-01", "2026-12-31", ("2026-01-01", "2026-06-30"),
                     id="h2"),
        pytest.param({"year": "2024"}, "2024-01-01", "2024-12-31", ("2023-01-01", "2023-12-31"),
                     id="leap-year"),
        pytest.param({"quarter": "2024Q1"}, "2024-01-01", "2024-03-31",
                     ("2023-10-01", "2023-12-31"),
                     id="leap-q1"),
        pytest.param(
            {"start": "2026-03-10", "end": "2026-03-19"},
            "2026-03-10",
            "2026-03-19",
            ("2026-02-28", "2026-03-09"),
            id="ten-days",
        ),
    ],
)  # fmt: skip
def test_periods_and_the_period_before(
    given: dict[str, str], start: str, end: str, previous: tuple[str, str]
) -> None:
    period = parse_period(**given)
    assert (period.start, period.end) == (start, end)
    before = period.previous()
    assert (before.start, before.end) == previous


@pytest.mark.parametrize(
    "given",
    [
        pytest.param({"quarter": "2026Q5"}, id="quarter-5"),
        pytest.param({"quarter": "2026Q0"}, id="quarter-0"),
        pytest.param({"quarter": "2026q3"}, id="lower-case"),
        pytest.param({"quarter": "26Q3"}, id="short-year"),
        pytest.param({"quarter": "2026Q3 "}, id="trailing-space"),
        pytest.param({"quarter": "٢٠٢٦Q3"}, id="other-digits"),
        pytest.param({"half": "2026H3"}, id="half-3"),
        pytest.param({"year": "1900"}, id="year-with-no-year-before"),
        pytest.param({"year": "0000"}, id="year-0"),
        pytest.param({"year": "12026"}, id="five-digits"),
        pytest.param({"year": "2026", "quarter": "2026Q1"}, id="two-presets"),
        pytest.param({}, id="none"),
        pytest.param({"start": "2026-03-01"}, id="from-without-to"),
        pytest.param({"start": "2026-03-10", "end": "2026-03-01"}, id="end-before-start"),
        pytest.param({"start": "2026-02-30", "end": "2026-03-01"}, id="february-30"),
        pytest.param({"start": "2026-3-1", "end": "2026-03-02"}, id="unpadded"),
        pytest.param({"start": "x" * 10_000, "end": "2026-03-02"}, id="huge"),
        pytest.param({"year": "2026", "start": "2026-01-01", "end": "2026-01-02"},
                     id="preset-and-range"),
    ],
)  # fmt: skip
def test_a_period_that_is_not_one_is_refused(given: dict[str, str]) -> None:
    with pytest.raises(PeriodError):
        parse_period(**given)
