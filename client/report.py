"""The annual report of a participant (issue 18): its Annex III tables, charts and anomalies,
assembled from the statistics model (client/stats.py), and the checkpoints it was computed from.

Everything here is a pure function of the movements (node/core/movements.py), the checkpoints
that bound them, and the options: the same logs give the same report, byte for byte, whoever
computes it and whenever (decision 0046). So the report states, for each log, the size and the
root hash of the tree it counted, the day unconfirmed certificates were judged on (``as_of``),
and the command that recomputes it from the logs alone (``AnnualReport.command``).

The figures are those of ``compute_statistics`` — the period's, and each quarter's for the
quarterly chart, by the same function — never summed a second time here. A chart
(``Chart``) is the figures it draws, typed, so the HTML and PDF renderers (client/report_html.py,
client/report_pdf.py), the explorer's statistics page and a test read the same numbers; drawing
them is client/charts.py's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from client.anomalies import Anomaly, Thresholds
from client.stats import (
    ParticipantStats,
    Period,
    Statistics,
    StatTable,
    Tally,
    compute_statistics,
    parse_period,
)
from node.core.movements import Movement

__all__ = [
    "CHART_PARTNERS",
    "AnnualReport",
    "AnomalyEntry",
    "Chart",
    "LogPoint",
    "Quarter",
    "ReportAnomaly",
    "Series",
    "build_report",
    "quarters_of",
    "within",
]

_FLOWS = (("production", "production"), ("export", "exports"), ("import", "imports"))
CHART_PARTNERS = 12
"""Partners a chart names; the others are drawn together as one bar, ``others``."""


@dataclass(frozen=True, slots=True)
class LogPoint:
    """A log as a report counted it: its entries below ``size``, whose tree hash is ``root``."""

    log: str
    size: int
    root: bytes

    @property
    def argument(self) -> str:
        """As ``kp report annual --at`` takes it: ``LOG:SIZE:ROOT`` (hex)."""
        return f"{self.log}:{self.size}:{self.root.hex()}"

    def to_json(self) -> dict[str, Any]:
        return {"log": self.log, "size": self.size, "root": self.root.hex()}


@dataclass(frozen=True, slots=True)
class Series:
    """One bar series of a chart: a label and one figure per category (centicarats)."""

    label: str
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """A bar chart as figures: ``categories`` along one axis, one ``Series`` per flow.

    Attributes:
        name: a file name stem (``quarters``, ``partners``, ``hs_mix``).
        title: what it shows, with the period.
        categories: the labels of the groups of bars.
        series: the bars of each group, in centicarats.
    """

    name: str
    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]

    @property
    def empty(self) -> bool:
        return not self.categories or not any(v for s in self.series for v in s.values)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "unit": "centicarats",
            "categories": list(self.categories),
            "series": [{"label": s.label, "values": list(s.values)} for s in self.series],
        }


@dataclass(frozen=True, slots=True)
class AnomalyEntry:
    """An entry behind an anomaly, as its movement shows it."""

    hash: str
    log: str
    seq: int
    kind: str
    date: str
    recorded_on: str
    number: str | None
    centicarats: int

    def to_json(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "log": self.log,
            "seq": self.seq,
            "kind": self.kind,
            "date": self.date,
            "recorded_on": self.recorded_on,
            "number": self.number,
            "centicarats": self.centicarats,
        }


@dataclass(frozen=True, slots=True)
class ReportAnomaly:
    """An anomaly and the entries behind it, each with what it moved."""

    anomaly: Anomaly
    entries: tuple[AnomalyEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.anomaly.to_json(), "entries": [e.to_json() for e in self.entries]}


@dataclass(frozen=True, slots=True)
class Quarter:
    """A participant's production, exports and imports in one quarter of the period."""

    period: Period
    production: Tally
    exports: Tally
    imports: Tally

    @classmethod
    def of(cls, period: Period, statistics: Statistics) -> Quarter:
        [figures] = statistics.participants.values()
        return cls(period, figures.production, figures.exports, figures.imports)

    def flow(self, kind: str) -> Tally:
        return {"production": self.production, "export": self.exports, "import": self.imports}[kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period.to_json(),
            **{name: self.flow(kind).centicarats for kind, name in _FLOWS},
            "certificates": {name: self.flow(kind).count for kind, name in _FLOWS[1:]},
        }


@dataclass(frozen=True, slots=True)
class AnnualReport:
    """A participant's report over a period, and what it was computed from.

    Attributes:
        participant: whose figures.
        network: the network's name.
        period: the days counted (a year for ``kp report annual``).
        as_of: the day certificates awaiting confirmation were judged expired or not.
        statistics: the figures of the period (``compute_statistics``, this participant only;
            the tallies without their movements, which the report does not keep).
        quarters: the participant's flows in each quarter of the period.
        charts: the figures drawn (quarters, partners, HS mix).
        anomalies: the anomalies, each with the entries behind it.
        checkpoints: each log as counted: size and root hash.
        source: ``index`` (a node's statistics index, cross-checked) or ``replay`` (every
            entry downloaded and re-validated).
        thresholds: what the anomaly checks took as unusual.
        tolerance_ppm: the charter's mass tolerance the checks allowed.
    """

    participant: str
    network: str
    period: Period
    as_of: str
    statistics: Statistics
    quarters: tuple[Quarter, ...]
    charts: tuple[Chart, ...]
    anomalies: tuple[ReportAnomaly, ...]
    checkpoints: tuple[LogPoint, ...]
    source: str
    thresholds: Thresholds
    tolerance_ppm: int

    @property
    def figures(self) -> ParticipantStats:
        return self.statistics.participants[self.participant]

    @property
    def title(self) -> str:
        return f"KP annual report {self.period.label}: {self.participant}"

    def tables(self) -> list[StatTable]:
        """The Annex III tables of the period, as ``kp stats`` lays them out."""
        return self.statistics.tables()

    @property
    def command(self) -> str:
        """The command that recomputes this report from the logs, at these checkpoints."""
        parts = [
            "kp report annual",
            f"--participant {self.participant}",
            _period_option(self.period),
            f"--as-of {self.as_of}",
            "--replay",
        ]
        defaults = Thresholds()
        for option, name in (
            ("--change-percent", "change_percent"),
            ("--unit-value-factor", "unit_value_factor"),
            ("--late-days", "late_days"),
        ):
            if getattr(self.thresholds, name) != getattr(defaults, name):
                parts.append(f"{option} {getattr(self.thresholds, name)}")
        parts.extend(f"--at {point.argument}" for point in self.checkpoints)
        parts.append("-o report.json")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """Everything the report shows, in a stable order: what a recomputation compares."""
        figures = self.figures
        return {
            "report": "annual",
            "participant": self.participant,
            "network": self.network,
            "period": self.period.to_json(),
            "as_of": self.as_of,
            "source": self.source,
            "checkpoints": [p.to_json() for p in self.checkpoints],
            "command": self.command,
            "thresholds": {
                "change_percent": self.thresholds.change_percent,
                "unit_value_factor": self.thresholds.unit_value_factor,
                "min_unit_values": self.thresholds.min_unit_values,
                "late_days": self.thresholds.late_days,
                "mass_tolerance_ppm": self.tolerance_ppm,
            },
            "figures": figures.to_json(),
            "quarters": [q.to_json() for q in self.quarters],
            "charts": [c.to_json() for c in self.charts],
            "tables": [t.to_json() for t in self.tables()],
            "anomalies": [a.to_json() for a in self.anomalies],
        }


def within(moves: Iterable[Movement], checkpoints: Iterable[LogPoint]) -> list[Movement]:
    """The movements of the entries the checkpoints cover: seq below each log's size (a log
    with no checkpoint counts nothing)."""
    sizes = {p.log: p.size for p in checkpoints}
    return [m for m in moves if m.entry.seq < sizes.get(m.entry.log, 0)]


def quarters_of(period: Period) -> list[Period]:
    """The calendar quarters a preset period (a year, a half, a quarter) is made of."""
    label = period.label
    if re.fullmatch(r"\d{4}", label):
        return [parse_period(quarter=f"{label}Q{q}") for q in range(1, 5)]
    half = re.fullmatch(r"(\d{4})H([12])", label)
    if half:
        first = 2 * int(half[2]) - 1
        return [parse_period(quarter=f"{half[1]}Q{q}") for q in (first, first + 1)]
    if re.fullmatch(r"\d{4}Q[1-4]", label):
        return [period]
    raise ValueError(f"{label} is not a year, a half or a quarter")


def build_report(
    moves: Sequence[Movement],
    *,
    participant: str,
    period: Period,
    as_of: str,
    checkpoints: Sequence[LogPoint],
    network: str,
    source: str,
    tolerance_ppm: int = 0,
    thresholds: Thresholds | None = None,
) -> AnnualReport:
    """The report of ``participant`` over ``period`` from the movements the checkpoints cover.

    Args:
        moves: the movements of the logs (any beyond the checkpoints are left out here).
        participant: whose report.
        period: a year, a half-year or a quarter (the quarterly chart needs quarters).
        as_of: the day awaiting certificates are judged on.
        checkpoints: each log's size and root hash, as counted.
        network: the network's name.
        source: ``index`` or ``replay``.
        tolerance_ppm: the charter's mass tolerance.
        thresholds: the anomaly thresholds (None: the defaults).
    """
    limits = thresholds or Thresholds()
    points = tuple(sorted(checkpoints, key=lambda p: p.log))
    counted = within(moves, points)

    statistics = compute_statistics(
        counted,
        period,
        today=as_of,
        tolerance_ppm=tolerance_ppm,
        participants=[participant],
        thresholds=limits,
    )
    stats = statistics.participants[participant]
    # Each quarter's flows: the period's counted movements of that quarter (voids already taken
    # out) through the same function, so the quarters add up to the period by construction, at
    # a fraction of the cost of the whole ledger four more times.
    flows = [m for kind, _ in _FLOWS for m in stats.flow(kind).movements]
    quarters = tuple(
        Quarter.of(
            q,
            compute_statistics(
                [m for m in flows if q.start <= m.date <= q.end],
                q,
                today=as_of,
                participants=[participant],
            ),
        )
        for q in quarters_of(period)
    )
    behind = {h for a in statistics.anomalies for h in a.entries}
    by_hash = {m.entry.hash.hex(): m for m in counted if m.entry.hash.hex() in behind}
    anomalies = tuple(
        ReportAnomaly(a, tuple(_entry(by_hash[h]) for h in a.entries if h in by_hash))
        for a in statistics.anomalies
    )
    # The report keeps the figures, not the movements counted: the tables, charts and JSON
    # read none of them (an anomaly's entries are copied above), and a year of them held
    # through the drawing would add to the peak what matplotlib and fpdf2 need on top.
    return AnnualReport(
        participant=participant,
        network=network,
        period=period,
        as_of=as_of,
        statistics=dataclasses.replace(
            statistics,
            participants={p: _figures_only(s) for p, s in statistics.participants.items()},
            previous={p: _figures_only(s) for p, s in statistics.previous.items()},
        ),
        quarters=tuple(
            Quarter(q.period, *(_tally_only(q.flow(kind)) for kind, _ in _FLOWS)) for q in quarters
        ),
        charts=_charts(stats, quarters, period),
        anomalies=anomalies,
        checkpoints=points,
        source=source,
        thresholds=limits,
        tolerance_ppm=tolerance_ppm,
    )


def _tally_only(tally: Tally) -> Tally:
    return dataclasses.replace(tally, movements=())


def _figures_only(stats: ParticipantStats) -> ParticipantStats:
    return ParticipantStats(
        stats.participant,
        stats.opening_stock,
        _tally_only(stats.production),
        _tally_only(stats.exports),
        _tally_only(stats.imports),
    )


def _entry(move: Movement) -> AnomalyEntry:
    return AnomalyEntry(
        move.entry.hash.hex(),
        move.entry.log,
        move.entry.seq,
        move.kind,
        move.date,
        move.recorded_on,
        move.number,
        move.centicarats,
    )


def _charts(
    stats: ParticipantStats,
    quarters: tuple[Quarter, ...],
    period: Period,
) -> tuple[Chart, ...]:
    label = period.label
    by_quarter = Chart(
        "quarters",
        f"Production and trade by quarter, {label} (carats)",
        tuple(q.period.label for q in quarters),
        tuple(
            Series(name, tuple(q.flow(kind).centicarats for q in quarters)) for kind, name in _FLOWS
        ),
    )
    flows = (("exports to", stats.exports.by_partner), ("imports from", stats.imports.by_partner))
    traded = {
        p: sum(_amounts(amounts, [p])[0] for _, amounts in flows)
        for p in set(stats.exports.by_partner) | set(stats.imports.by_partner)
    }
    # The largest partners by name, the rest as one bar: a chart of sixty rows says nothing.
    named = sorted(sorted(traded, key=lambda p: (-traded[p], p))[:CHART_PARTNERS])
    others = sorted(set(traded) - set(named))
    by_partner = Chart(
        "partners",
        f"Trade by partner, {label} (carats)"
        + (f"; {len(others)} others together" if others else ""),
        (*named, *(("others",) if others else ())),
        tuple(
            Series(name, _amounts(amounts, named) + (_sum(amounts, others) if others else ()))
            for name, amounts in flows
        ),
    )
    codes = sorted({code for kind, _ in _FLOWS for code in stats.flow(kind).by_hs_code})
    hs_mix = Chart(
        "hs_mix",
        f"HS code mix, {label} (carats)",
        tuple(codes),
        tuple(Series(name, _amounts(stats.flow(kind).by_hs_code, codes)) for kind, name in _FLOWS),
    )
    return by_quarter, by_partner, hs_mix


def _amounts(amounts: Mapping[str, Any], keys: Sequence[str]) -> tuple[int, ...]:
    return tuple(amounts[k].centicarats if k in amounts else 0 for k in keys)


def _sum(amounts: Mapping[str, Any], keys: Sequence[str]) -> tuple[int]:
    return (sum(amounts[k].centicarats for k in keys if k in amounts),)


def _period_option(period: Period) -> str:
    label = period.label
    if re.fullmatch(r"\d{4}", label):
        return f"--year {label}"
    if re.fullmatch(r"\d{4}H[12]", label):
        return f"--half {label}"
    if re.fullmatch(r"\d{4}Q[1-4]", label):
        return f"--quarter {label}"
    return f"--from {period.start} --to {period.end}"
