"""Each anomaly of ``client/anomalies.py`` on hand-built movements whose figures are known, with
the entries it names."""

from __future__ import annotations

import hashlib

import pytest

from client.anomalies import Thresholds
from client.stats import Statistics, compute_statistics, parse_period
from node.core.movements import Movement
from node.core.records import EntryRef

MARCH = parse_period(start="2026-03-01", end="2026-03-31")


def h(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def move(
    kind: str,
    date: str,
    centicarats: int,
    name: str,
    *,
    participant: str = "ZZ",
    partner: str | None = None,
    code: str = "7102.10",
    certificate: str | None = None,
    recorded_on: str | None = None,
    expires_on: str | None = None,
    seq: int = 0,
) -> Movement:
    """A movement whose entry hash is ``h(name)``; an export's certificate is its own entry."""
    if certificate is None and kind == "export":
        certificate = name
    return Movement(
        kind,
        participant,
        date,
        recorded_on or date,
        EntryRef(participant, seq or int.from_bytes(h(name)[:2], "big"), h(name)),
        ((code, centicarats),) if centicarats else (),
        partner=partner if partner or kind == "production" else "EU",
        origins=(participant,),
        certificate=None if certificate is None else h(certificate),
        number=f"{participant}-{name}" if kind == "export" else None,
        expires_on=expires_on or ("2026-12-31" if kind == "export" else None),
    )


def stats_of(
    moves: list[Movement],
    *,
    tolerance_ppm: int = 0,
    values: dict[str, int] | None = None,
    today: str = "2026-03-31",
    thresholds: Thresholds | None = None,
) -> Statistics:
    return compute_statistics(
        moves,
        MARCH,
        today=today,
        values=values,
        tolerance_ppm=tolerance_ppm,
        thresholds=thresholds,
    )


def codes(stats: Statistics) -> list[str]:
    return [a.code for a in stats.anomalies]


def only(stats: Statistics, code: str) -> tuple[str, ...]:
    [found] = [a for a in stats.anomalies if a.code == code]
    return found.entries


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
def test_exports_beyond_supply(
    produced: int, exported: int, tolerance_ppm: int, anomalous: bool
) -> None:
    moves = [move("export", "2026-03-10", exported, "shipped")]
    if produced:
        moves.append(move("production", "2026-03-01", produced, "mined"))
    stats = stats_of(moves, tolerance_ppm=tolerance_ppm)
    assert ("stats.exports_exceed_supply" in codes(stats)) is anomalous
    if anomalous:
        assert only(stats, "stats.exports_exceed_supply") == (h("shipped").hex(),)


def test_closing_stock_below_zero_is_an_anomaly_with_the_entries_behind_it() -> None:
    # The lot: 1,000.00 ct mined, 1,012.02 ct exported after twelve reweighings.
    moves = [
        move("production", "2026-03-02", 100_000, "mined"),
        move("export", "2026-03-20", 101_202, "shipped"),
    ]
    stats = stats_of(moves, tolerance_ppm=1_000)
    assert stats.participants["ZZ"].closing_stock == -1_202
    [negative] = [a for a in stats.anomalies if a.code == "stats.negative_stock"]
    assert negative.entries == (h("shipped").hex(),)
    assert "-12.02 ct on 2026-03-20" in negative.detail


def test_stock_negative_on_a_day_of_the_period_though_it_closes_at_zero() -> None:
    moves = [
        move("export", "2026-03-10", 50_000, "early-export"),
        move("import", "2026-03-20", 50_000, "late-import", partner="EU", certificate="c"),
    ]
    stats = stats_of(moves)
    assert stats.participants["ZZ"].closing_stock == 0
    assert codes(stats) == ["stats.negative_stock"]
    assert only(stats, "stats.negative_stock") == (h("early-export").hex(),)
    assert "-500.00 ct on 2026-03-10" in stats.anomalies[0].detail


def test_negative_opening_stock_is_an_anomaly_of_the_period() -> None:
    stats = stats_of([move("export", "2026-02-10", 50_000, "february-export")])
    [negative] = [a for a in stats.anomalies if a.code == "stats.negative_stock"]
    assert "-500.00 ct on 2026-03-01" in negative.detail
    assert negative.entries == (h("february-export").hex(),)


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
    ],
)
def test_stock_that_never_goes_negative_is_no_anomaly(
    moves: list[tuple[str, str, int]], tolerance_ppm: int
) -> None:
    found = [move(kind, date, mass, f"e{i}") for i, (kind, date, mass) in enumerate(moves)]
    assert codes(stats_of(found, tolerance_ppm=tolerance_ppm)) == []


@pytest.mark.parametrize(
    ("february", "march", "percent", "anomalous"),
    [
        pytest.param(100_000, 150_000, 50, False, id="up-exactly-the-threshold"),
        pytest.param(100_000, 150_001, 50, True, id="up-beyond"),
        pytest.param(100_000, 50_000, 50, False, id="down-exactly-the-threshold"),
        pytest.param(100_000, 49_999, 50, True, id="down-beyond"),
        pytest.param(100_000, 0, 50, True, id="down-to-nothing"),
        pytest.param(0, 100_000, 50, False, id="nothing-before-is-a-start-not-a-change"),
        pytest.param(100_000, 190_000, 100, False, id="a-wider-threshold"),
    ],
)
def test_period_over_period_change(
    february: int, march: int, percent: int, anomalous: bool
) -> None:
    # The period before March (31 days) is 2026-01-29 .. 2026-02-28.
    moves = []
    if february:
        moves.append(move("production", "2026-02-15", february, "feb"))
    if march:
        moves.append(move("production", "2026-03-15", march, "mar"))
    stats = stats_of(moves, thresholds=Thresholds(change_percent=percent))
    assert ("stats.period_change" in codes(stats)) is anomalous
    if anomalous:
        expected = (h("mar").hex(),) if march else ()
        assert only(stats, "stats.period_change") == expected
    assert stats.previous["ZZ"].production.centicarats == february


def test_unit_values_outside_the_participants_and_the_networks_range() -> None:
    # Four exports of ZZ at about 100 USD/ct, one at 1,000; YY's at 100 USD/ct make the network.
    moves, values = [], {}
    for n, usd_per_ct in enumerate((100, 110, 90, 105, 1_000)):
        name = f"zz{n}"
        moves.append(move("production", "2026-03-01", 10_000, f"p{name}", seq=100 + n))
        moves.append(move("export", "2026-03-10", 10_000, name, seq=n + 1))
        values[h(name).hex()] = usd_per_ct * 100 * 100  # 100 ct
    for n in range(3):
        name = f"yy{n}"
        moves.append(move("production", "2026-03-01", 10_000, f"p{name}", participant="YY"))
        moves.append(move("export", "2026-03-10", 10_000, name, participant="YY"))
        values[h(name).hex()] = 100 * 100 * 100
    stats = stats_of(moves, values=values)
    assert codes(stats) == ["stats.unit_value"]
    assert stats.anomalies[0].participant == "ZZ"
    assert only(stats, "stats.unit_value") == (h("zz4").hex(),)
    assert "7102.10" in stats.anomalies[0].detail


def test_unit_values_are_not_judged_without_values_or_on_too_few() -> None:
    moves = [
        move("production", "2026-03-01", 10_000, "p"),
        move("export", "2026-03-10", 5_000, "a", seq=1),
        move("export", "2026-03-10", 5_000, "b", seq=2),
    ]
    assert codes(stats_of(moves)) == []
    values = {h("a").hex(): 100, h("b").hex(): 10_000_000}  # wildly apart, but only two
    assert codes(stats_of(moves, values=values)) == []


def test_certificates_unconfirmed_past_expiry_and_those_awaiting() -> None:
    moves = [
        move("production", "2026-03-01", 30_000, "p"),
        move("export", "2026-03-02", 10_000, "expired", expires_on="2026-03-20", seq=1),
        move("export", "2026-03-03", 10_000, "usable", expires_on="2026-04-30", seq=2),
        move("export", "2026-03-04", 10_000, "confirmed", expires_on="2026-03-20", seq=3),
        move("import", "2026-03-05", 10_000, "in", participant="EU", certificate="confirmed"),
    ]
    stats = stats_of(moves, today="2026-03-25")
    assert only(stats, "stats.unconfirmed_expired") == (h("expired").hex(),)
    assert [(a.number, a.expired) for a in stats.awaiting] == [
        ("ZZ-expired", True),
        ("ZZ-usable", False),
    ]
    assert stats.to_json()["awaiting_confirmation"][1]["status"] == "usable"


def test_confirmations_recorded_long_after_receipt() -> None:
    moves = [
        move("import", "2026-03-01", 10_000, "on-time", recorded_on="2026-03-31", certificate="a"),
        move("import", "2026-03-01", 10_000, "late", recorded_on="2026-04-01", certificate="b"),
    ]
    stats = stats_of(moves, thresholds=Thresholds(late_days=30))
    assert only(stats, "stats.late_confirmation") == (h("late").hex(),)
    assert "up to 31 days" in stats.anomalies[0].detail
