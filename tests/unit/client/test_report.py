"""The annual report's figures: the same from a node's statistics index as from a full replay of
the same entries, equal to what the history holds, and the same bytes for the same inputs."""

from __future__ import annotations

import pytest

from client.audit import replay_logs
from client.report import (
    CHART_PARTNERS,
    AnnualReport,
    LogPoint,
    build_report,
    quarters_of,
    within,
)
from client.report_inputs import parse_at
from client.stats import parse_period, replayed_movements
from node.core import merkle
from node.core.movements import Movement
from node.core.records import EntryRef
from node.engine.statistics import movements as indexed_movements
from tests.support.scenario import Chain, run_scenario
from tests.support.world import World

YEAR = parse_period(year="2026")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """The README's chain in real LMDB (so the sequencers keep the statistics index), and a
    certificate from BW to the EU that expires unconfirmed."""
    chain = run_scenario(World(store=tmp_path_factory.mktemp("store")))
    world = chain.world
    world.advance(40)
    parcel = world.produce("BW", 5_000, hs_code="7102.21", holder="trader")
    chain.steps["bw_unconfirmed"] = world.certify("BW", "BW-2026-0900", [parcel], "EU", days=10)
    world.advance(20)
    return chain


def _logs(chain: Chain) -> dict[str, list[bytes]]:
    store = chain.world.store
    assert store is not None
    with store.read() as reader:
        return {
            log: list(reader.log(log).entries(0, reader.log_size(log))) for log in reader.logs()
        }


def _checkpoints(logs: dict[str, list[bytes]]) -> list[LogPoint]:
    return [
        LogPoint(log, len(entries), merkle.root([merkle.leaf_hash(e) for e in entries]))
        for log, entries in logs.items()
    ]


def _index(chain: Chain) -> list[Movement]:
    store = chain.world.store
    assert store is not None
    with store.read() as reader:
        return list(indexed_movements(reader))


def _replayed(chain: Chain) -> list[Movement]:
    world = chain.world
    replay = replay_logs([world.genesis], world.genesis.hash, _logs(chain))
    assert replay.findings == ()
    return replayed_movements(replay.accepted, replay.state)


def report_of(
    moves: list[Movement], checkpoints: list[LogPoint], participant: str = "EU", **options: str
) -> AnnualReport:
    return build_report(
        moves,
        participant=participant,
        period=YEAR,
        as_of=options.get("as_of", "2026-12-31"),
        checkpoints=checkpoints,
        network="kp.test",
        source=options.get("source", "index"),
        tolerance_ppm=1_000,
    )


def test_the_index_and_the_replay_give_the_same_report(history: Chain) -> None:
    points = _checkpoints(_logs(history))
    by_index = report_of(_index(history), points).to_json()
    by_replay = report_of(_replayed(history), points).to_json()
    assert by_index == by_replay
    assert by_index["tables"]
    assert by_index["anomalies"] == []


def test_the_figures_are_those_of_the_history(history: Chain) -> None:
    report = report_of(_index(history), _checkpoints(_logs(history)))
    eu = report.figures
    # The README's chain: the EU imports BW's 12,500 ct and Canada's 8,300 ct in March, sorts
    # them into 7102.31 and 7102.21 and exports to India and the UAE; the sort lost 10 ct.
    assert (eu.imports.centicarats, eu.imports.count) == (1_250_000 + 830_000, 2)
    assert {k: v.centicarats for k, v in eu.exports.by_partner.items()} == {
        "IN": 1_000_000,
        "AE": 1_079_000,
    }
    assert eu.closing_stock == 1_000
    quarters = {q["period"]["label"]: q for q in report.to_json()["quarters"]}
    assert quarters["2026Q1"]["imports"] == 2_080_000
    assert quarters["2026Q1"]["exports"] == 2_079_000
    assert all(quarters[f"2026Q{n}"]["imports"] == 0 for n in (2, 3, 4))
    charts = {c.name: c for c in report.charts}
    assert charts["quarters"].categories == ("2026Q1", "2026Q2", "2026Q3", "2026Q4")
    assert charts["quarters"].series[2].values == (2_080_000, 0, 0, 0)
    assert charts["partners"].categories == ("AE", "BW", "CA", "IN")
    partners = charts["partners"]
    exports_to = dict(zip(partners.categories, partners.series[0].values, strict=True))
    assert exports_to == {"AE": 1_079_000, "BW": 0, "CA": 0, "IN": 1_000_000}
    assert set(charts["hs_mix"].categories) == {"7102.10", "7102.21", "7102.31"}
    # The certificate BW sent later awaits the EU's confirmation, expired as of the year's end.
    [awaiting] = report.statistics.awaiting
    assert (awaiting.number, awaiting.expired) == ("BW-2026-0900", True)


def test_each_anomaly_names_the_entries_behind_it(history: Chain) -> None:
    report = report_of(_index(history), _checkpoints(_logs(history)), participant="BW")
    [expired] = report.anomalies
    assert expired.anomaly.code == "stats.unconfirmed_expired"
    [entry] = expired.entries
    step = history.steps["bw_unconfirmed"]
    assert (entry.log, entry.seq, entry.hash) == ("BW", step.seq, step.hash.hex())
    assert (entry.kind, entry.number, entry.centicarats) == ("export", "BW-2026-0900", 5_000)


def test_the_report_keeps_the_figures_not_the_movements(history: Chain) -> None:
    # A year of movements held through the drawing would add to the peak what matplotlib and
    # fpdf2 need on top: the report lets them go, its figures and anomalies intact.
    report = report_of(_index(history), _checkpoints(_logs(history)), participant="BW")
    stats = [*report.statistics.participants.values(), *report.statistics.previous.values()]
    tallies = [s.flow(k) for s in stats for k in ("production", "export", "import")]
    tallies += [q.flow(k) for q in report.quarters for k in ("production", "export", "import")]
    assert all(t.movements == () for t in tallies)
    assert report.figures.exports.count > 0
    assert report.anomalies[0].entries


def test_the_report_counts_only_what_its_checkpoints_cover(history: Chain) -> None:
    logs = _logs(history)
    step = history.steps["bw_unconfirmed"]
    # BW as it was before the late certificate: the anomaly is not there yet.
    earlier = [
        p if p.log != "BW" else _checkpoints({"BW": logs["BW"][: step.seq]})[0]
        for p in _checkpoints(logs)
    ]
    report = report_of(_index(history), earlier, participant="BW")
    assert report.anomalies == ()
    assert all(
        m.entry.seq < step.seq for m in within(_index(history), earlier) if m.participant == "BW"
    )
    assert f"--at BW:{step.seq}:" in report.command


def test_the_command_recomputes_at_the_same_checkpoints(history: Chain) -> None:
    points = _checkpoints(_logs(history))
    report = report_of(_index(history), points)
    command = report.command
    assert command.startswith("kp report annual --participant EU --year 2026 --as-of 2026-12-31")
    assert "--replay" in command
    given = {parse_at(word) for word in command.split() if word.count(":") == 2}
    assert given == {(p.log, p.size, p.root) for p in points}


def test_the_same_inputs_give_the_same_json(history: Chain) -> None:
    points = _checkpoints(_logs(history))
    first = report_of(_index(history), points)
    second = report_of(list(reversed(_index(history))), list(reversed(points)))
    assert first.to_json() == second.to_json()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        pytest.param("BW:12", ("BW", 12, None), id="size"),
        pytest.param("EU:0:" + "ab" * 32, ("EU", 0, bytes.fromhex("ab" * 32)), id="size-root"),
    ],
)
def test_at_arguments(text: str, parsed: tuple[str, int, bytes | None]) -> None:
    assert parse_at(text) == parsed


@pytest.mark.parametrize(
    "text", ["BW", "BW:x", ":12", "BW:12:abc", "BW:12:" + "zz" * 32, "BW:1:2:3", "BW:" + "9" * 20]
)
def test_malformed_at_arguments_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        parse_at(text)


@pytest.mark.parametrize(
    ("kind", "label", "quarters"),
    [
        pytest.param("year", "2026", ["2026Q1", "2026Q2", "2026Q3", "2026Q4"], id="year"),
        pytest.param("half", "2026H2", ["2026Q3", "2026Q4"], id="half"),
        pytest.param("quarter", "2026Q2", ["2026Q2"], id="quarter"),
    ],
)
def test_the_quarters_of_a_period(kind: str, label: str, quarters: list[str]) -> None:
    period = parse_period(**{kind: label})
    assert [q.label for q in quarters_of(period)] == quarters


def _export(seq: int, partner: str, centicarats: int) -> Movement:
    return Movement(
        "export",
        "ZZ",
        "2026-05-01",
        "2026-05-01",
        EntryRef("ZZ", seq, bytes([seq]) * 32),
        (("7102.10", centicarats),),
        partner=partner,
        origins=("ZZ",),
        certificate=bytes([seq]) * 32,
        number=f"ZZ-2026-{seq:04}",
        expires_on="2026-06-01",
    )


def test_the_partners_chart_names_the_largest_and_draws_the_rest_together() -> None:
    partners = [f"P{chr(65 + n)}" for n in range(CHART_PARTNERS + 3)]
    moves = [_export(n, p, 100 * (n + 1)) for n, p in enumerate(partners)]
    zz = LogPoint("ZZ", len(moves), bytes(32))
    report = report_of(moves, [zz], participant="ZZ")
    chart = next(c for c in report.charts if c.name == "partners")
    assert chart.categories[-1] == "others"
    assert len(chart.categories) == CHART_PARTNERS + 1
    assert set(chart.categories[:-1]) == set(partners[3:])  # the three smallest together
    exports = dict(zip(chart.categories, chart.series[0].values, strict=True))
    assert exports["others"] == 100 + 200 + 300
    assert sum(exports.values()) == report.figures.exports.centicarats
    assert "3 others together" in chart.title


def test_a_participant_with_nothing_in_the_period_has_empty_charts(history: Chain) -> None:
    report = report_of(_index(history), _checkpoints(_logs(history)), participant="CA")
    later = build_report(
        _index(history),
        participant="CA",
        period=parse_period(year="2027"),
        as_of="2027-12-31",
        checkpoints=_checkpoints(_logs(history)),
        network="kp.test",
        source="index",
    )
    assert not report.charts[0].empty
    assert all(chart.empty for chart in later.charts)
    assert later.figures.opening_stock == report.figures.closing_stock


@pytest.mark.parametrize("participant", ["BW", "CA", "EU", "AE", "IN"])
def test_the_quarters_add_up_to_the_year(history: Chain, participant: str) -> None:
    report = report_of(_index(history), _checkpoints(_logs(history)), participant=participant)
    for kind in ("production", "export", "import"):
        year = report.figures.flow(kind)
        quarters = [q.flow(kind) for q in report.quarters]
        assert sum(q.centicarats for q in quarters) == year.centicarats
        assert sum(q.count for q in quarters) == year.count
