"""The anomaly checks of KP statistics analysis, over the movements of the logs.

Each anomaly names the entries behind it (hex entry hashes), for an auditor to open:

- ``stats.exports_exceed_supply``: a participant exported more than its opening stock plus what
  it produced and imported in the period, beyond the charter's mass tolerance;
- ``stats.negative_stock``: its stock, counted day by day, is negative on a day of the period
  (it exported before it had the goods), beyond that tolerance;
- ``stats.period_change``: production, exports or imports changed by more than
  ``Thresholds.change_percent`` against the previous period of the same length (a flow that
  was nothing the period before is a start, not a change);
- ``stats.unit_value``: a certificate's value per carat for an HS code is outside
  ``1/unit_value_factor .. unit_value_factor`` times the participant's median, or the network's,
  for that code (only where the reader could read values, and with ``min_unit_values``);
- ``stats.unconfirmed_expired``: the participant's certificates that expired with no
  confirmation, rejection or void;
- ``stats.late_confirmation``: imports recorded more than ``late_days`` after their receipt.

The rules bound every lineage's gain by the tolerance (decision 0020) and refuse what breaks
it, so an honest ledger shows neither of the first two, and no accepted history can show a
cumulative gain along a lineage: that one is ``kp audit``'s to find, in a log that broke it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from statistics import median
from typing import TYPE_CHECKING, Any

from node.core.movements import Movement
from node.core.rules import PPM

if TYPE_CHECKING:  # client.stats calls these checks with its figures
    from client.stats import ParticipantStats, Statistics

__all__ = ["Anomaly", "Thresholds", "find_anomalies"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What the checks take as unusual (``kp stats`` options of the same names)."""

    change_percent: int = 50
    unit_value_factor: int = 3
    min_unit_values: int = 3
    late_days: int = 30


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something in a participant's figures for an auditor to look at, with the entries behind
    it (hex hashes)."""

    participant: str
    code: str
    detail: str
    entries: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "participant": self.participant,
            "code": self.code,
            "detail": self.detail,
            "entries": list(self.entries),
        }


def find_anomalies(
    statistics: Statistics,
    listed: list[Movement],
    counted: list[Movement],
    values: Mapping[str, int],
    *,
    tolerance_ppm: int,
    thresholds: Thresholds,
) -> list[Anomaly]:
    """Every anomaly of the participants ``statistics`` (``client.stats.Statistics``) shows.

    Args:
        statistics: the figures of the period and of the previous one.
        listed: every movement (rejections and voids included).
        counted: the movements that count in stocks (``client.stats.effective``).
        values: value by certificate hash, as far as the reader could read.
        tolerance_ppm: the charter's mass tolerance.
        thresholds: what counts as unusual.
    """
    period = statistics.period
    found: list[Anomaly] = []
    by_participant: dict[str, list[Movement]] = {}
    for move in counted:
        if move.date <= period.end:
            by_participant.setdefault(move.participant, []).append(move)
    network_units = _unit_values(
        [m for m in counted if period.start <= m.date <= period.end], values
    )
    for participant, stats in statistics.participants.items():
        checks = (
            _exports_exceed_supply(stats, tolerance_ppm),
            _negative_stock(
                participant, by_participant.get(participant, []), period.start, tolerance_ppm
            ),
            *_period_changes(stats, statistics.previous[participant], thresholds),
            *_unit_value_outliers(stats, network_units, values, thresholds),
            _unconfirmed_expired(participant, listed, period.end, statistics.today),
            _late_confirmations(stats, thresholds),
        )
        found.extend(a for a in checks if a is not None)
    return found


def _exports_exceed_supply(stats: ParticipantStats, tolerance_ppm: int) -> Anomaly | None:
    supply = stats.opening_stock + stats.production.centicarats + stats.imports.centicarats
    exported = stats.exports.centicarats
    if exported * PPM <= max(supply, 0) * (PPM + tolerance_ppm):
        return None
    return Anomaly(
        stats.participant,
        "stats.exports_exceed_supply",
        f"{stats.participant} exported {_carats(exported)} ct, more than its opening stock "
        f"{_carats(stats.opening_stock)} ct, production {_carats(stats.production.centicarats)} "
        f"ct and imports {_carats(stats.imports.centicarats)} ct",
        _hashes(stats.exports.movements),
    )


def _negative_stock(
    participant: str, moves: list[Movement], start: str, tolerance_ppm: int
) -> Anomaly | None:
    """The participant's stock at the end of each day up to the period's end, from its first
    movement: negative on a day of the period (or at its opening) beyond the tolerance of what it
    had produced and imported by then is an anomaly. Named behind it: the exports of the days
    of the negative spells that reach into the period."""
    stock = supply = 0
    lowest: tuple[int, str] | None = None
    behind: list[str] = []

    def short() -> bool:
        return stock < 0 and -stock * PPM > supply * tolerance_ppm

    opened = False
    for date, day in groupby(sorted(moves, key=lambda m: m.date), key=lambda m: m.date):
        if date >= start and not opened:
            opened = True
            if short():  # the opening stock is already negative
                lowest = (stock, start)
        moved = list(day)
        for move in moved:
            if move.kind == "export":
                stock -= move.centicarats
            else:
                stock += move.centicarats
                supply += move.centicarats
        if not short():
            if date < start:
                behind = []  # a spell over before the period is not this period's anomaly
            continue
        behind.extend(m.entry.hash.hex() for m in moved if m.kind == "export")
        if date >= start and (lowest is None or stock < lowest[0]):
            lowest = (stock, date)
    if not opened and short():
        lowest = (stock, start)  # negative before the period and nothing moved since
    if lowest is None:
        return None
    amount, date = lowest
    return Anomaly(
        participant,
        "stats.negative_stock",
        f"{participant}'s stock was {_carats(amount)} ct on {date}: it had exported more than "
        f"it produced and imported by then",
        tuple(dict.fromkeys(behind)),
    )


def _period_changes(
    stats: ParticipantStats, before: ParticipantStats, thresholds: Thresholds
) -> list[Anomaly]:
    found = []
    limit = thresholds.change_percent
    for kind, name in (("production", "production"), ("export", "exports"), ("import", "imports")):
        now, then = stats.flow(kind).centicarats, before.flow(kind).centicarats
        # Nothing the period before is a start, not a change: a percentage of it means nothing.
        if then == 0 or abs(now - then) * 100 <= then * limit:
            continue
        change = f"{(now - then) * 100 / then:+.0f} %"
        found.append(
            Anomaly(
                stats.participant,
                "stats.period_change",
                f"{stats.participant}'s {name} {_carats(now)} ct against {_carats(then)} ct the "
                f"period before: {change}, beyond ±{limit} %",
                _hashes(stats.flow(kind).movements),
            )
        )
    return found


def _unit_values(
    moves: Iterable[Movement], values: Mapping[str, int]
) -> dict[tuple[str, str], list[tuple[float, Movement]]]:
    """USD per carat by (flow, HS code), each with its movement; mixed certificates' values
    shared in proportion to mass."""
    found: dict[tuple[str, str], list[tuple[float, Movement]]] = {}
    for move in moves:
        value = values.get(move.certificate.hex()) if move.certificate else None
        if value is None or move.kind == "production" or not move.centicarats:
            continue
        for code, cc in move.by_hs_code:
            if cc:
                unit = (value * cc / move.centicarats) / cc  # cents per centicarat = USD per ct
                found.setdefault((move.kind, code), []).append((unit, move))
    return found


def _unit_value_outliers(
    stats: ParticipantStats,
    network: dict[tuple[str, str], list[tuple[float, Movement]]],
    values: Mapping[str, int],
    thresholds: Thresholds,
) -> list[Anomaly]:
    if not values:
        return []
    own = _unit_values((*stats.exports.movements, *stats.imports.movements), values)
    factor = thresholds.unit_value_factor
    found = []
    for (kind, code), units in sorted(own.items(), key=lambda item: item[0]):
        ranges = [
            (scope, median(u for u, _ in sample))
            for scope, sample in (
                ("its own", units),
                ("the network's", network.get((kind, code), [])),
            )
            if len(sample) >= thresholds.min_unit_values
        ]
        outside = [
            (unit, move, scope, median)
            for unit, move in units
            for scope, median in ranges
            if not median / factor <= unit <= median * factor
        ]
        if not outside:
            continue
        scopes = sorted({f"{scope} median {median:,.2f}" for _, _, scope, median in outside})
        found.append(
            Anomaly(
                stats.participant,
                "stats.unit_value",
                f"{stats.participant}: {len({id(m) for _, m, _, _ in outside})} {kind}s of "
                f"{code} valued outside 1/{factor}..{factor}× USD/ct of {', '.join(scopes)}",
                tuple(dict.fromkeys(m.entry.hash.hex() for _, m, _, _ in outside)),
            )
        )
    return found


def _unconfirmed_expired(
    participant: str, listed: list[Movement], end: str, today: str
) -> Anomaly | None:
    settled = {m.certificate for m in listed if m.kind in ("import", "reject", "void")}
    expired = [
        m
        for m in listed
        if m.kind == "export"
        and m.participant == participant
        and m.date <= end
        and m.certificate not in settled
        and (m.expires_on or "") < today
    ]
    if not expired:
        return None
    return Anomaly(
        participant,
        "stats.unconfirmed_expired",
        f"{len(expired)} of {participant}'s certificates expired with no confirmation, "
        f"rejection or void: {', '.join(sorted(m.number or '?' for m in expired)[:10])}"
        + (" …" if len(expired) > 10 else ""),
        _hashes(expired),
    )


def _late_confirmations(stats: ParticipantStats, thresholds: Thresholds) -> Anomaly | None:
    late = [
        m
        for m in stats.imports.movements
        if (_day(m.recorded_on) - _day(m.date)).days > thresholds.late_days
    ]
    if not late:
        return None
    worst = max((_day(m.recorded_on) - _day(m.date)).days for m in late)
    return Anomaly(
        stats.participant,
        "stats.late_confirmation",
        f"{len(late)} of {stats.participant}'s imports were recorded more than "
        f"{thresholds.late_days} days after receipt (up to {worst} days)",
        _hashes(late),
    )


def _hashes(moves: Iterable[Movement]) -> tuple[str, ...]:
    return tuple(m.entry.hash.hex() for m in moves)


def _day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def _carats(centicarats: int) -> str:
    return f"{centicarats / 100:,.2f}"
