"""KP statistics (KPCS Section V and Annex III) from the movements of the logs.

A movement (node/core/movements.py) is one entry's production, export, import, rejection or void,
with the mass of its parcels per HS code. The figures here are a pure function of the movements,
which are a pure function of the logs: whether they come from a node's statistics index
(``client/annex.py`` fetches and cross-checks them, decision 0045) or from a full replay
(``replayed_movements``), the same logs give the same tables.

- production: each ``parcel.produce``, dated by its ``produced_on``, by HS code and by mine;
- exports: each ``certificate.issue`` not voided, dated by its ``issued_on``;
- imports: each ``certificate.confirm``, dated by its ``received_on``, from the certificate's
  issuer with the certificate's origins.

A certificate of parcels of several HS codes counts each parcel's mass under its own code, and
once in the certificate count of each code it carries (so the per-code counts of mixed
certificates add up to more than the certificate count, as in the KP's own tables). Values are
sealed in the logs; a member who reads the disclosures passes them in as ``values`` (by
``value_key``: the certificate's hash, or a production's own entry hash, for a production that
declared one); a mixed certificate's one value is shared among its codes in proportion to mass.
What was not read is counted as sealed.

The anomalies (``client/anomalies.py``) are checked over the same movements. ``Statistics``
holds the figures as typed values; ``Statistics.tables()`` lays them out as ``StatTable`` rows
for any renderer (the terminal, CSV, XLSX, a report): docs/statistics.md describes the model.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from client.anomalies import Anomaly, Thresholds, find_anomalies
from client.replay import Accepted
from node.core.movements import Movement, movement
from node.core.state import LedgerView

__all__ = [
    "FLOWS",
    "Amount",
    "Awaiting",
    "Column",
    "ParticipantStats",
    "Period",
    "PeriodError",
    "StatTable",
    "Statistics",
    "Tally",
    "compute_statistics",
    "effective",
    "parse_period",
    "replayed_movements",
    "value_key",
]

FLOWS = ("production", "export", "import")
_FIRST_YEAR, _LAST_YEAR = 1900, 9999


# --- periods -------------------------------------------------------------------------------------


class PeriodError(ValueError):
    """A period that is not one: a malformed preset, an impossible date, an end before start."""


@dataclass(frozen=True, slots=True)
class Period:
    """The days ``start .. end`` (both included), ``YYYY-MM-DD``, and how to name them."""

    start: str
    end: str
    label: str

    @property
    def days(self) -> int:
        return (_day(self.end) - _day(self.start)).days + 1

    def previous(self) -> Period:
        """The period of the same length just before: the previous quarter, half or year for a
        preset, otherwise as many days ending the day before ``start``."""
        quarter = re.fullmatch(r"([0-9]{4})Q([1-4])", self.label)
        half = re.fullmatch(r"([0-9]{4})H([12])", self.label)
        year = re.fullmatch(r"[0-9]{4}", self.label)
        if quarter:
            y, q = int(quarter[1]), int(quarter[2])
            return parse_period(quarter=f"{y - 1}Q4" if q == 1 else f"{y}Q{q - 1}")
        if half:
            y, h = int(half[1]), int(half[2])
            return parse_period(half=f"{y - 1}H2" if h == 1 else f"{y}H1")
        if year:
            return parse_period(year=str(int(self.label) - 1))
        end = _day(self.start) - datetime.timedelta(days=1)
        start = end - datetime.timedelta(days=self.days - 1)
        return parse_period(start=start.isoformat(), end=end.isoformat())

    def to_json(self) -> dict[str, str]:
        return {"from": self.start, "to": self.end, "label": self.label}


def parse_period(
    *,
    quarter: str | None = None,
    half: str | None = None,
    year: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Period:
    """One period from exactly one way of naming it: ``quarter="2026Q3"``, ``half="2026H1"``,
    ``year="2026"``, or ``start`` and ``end`` (``YYYY-MM-DD``, both included).

    Raises:
        PeriodError: none or several given, a malformed or out-of-range one, end before start.
    """
    given = [n for n, v in (("quarter", quarter), ("half", half), ("year", year)) if v is not None]
    ranged = start is not None or end is not None
    if len(given) + ranged != 1:
        raise PeriodError("give one of --quarter, --half, --year, or --from with --to")
    if quarter is not None:
        match = re.fullmatch(r"([0-9]{4})Q([1-4])", quarter)
        if match is None:
            raise PeriodError(f"{quarter[:20]!r} is not a quarter like 2026Q3")
        y, q = _year(match[1]), int(match[2])
        first = datetime.date(y, 3 * q - 2, 1)
        last = _month_end(y, 3 * q)
        return Period(first.isoformat(), last.isoformat(), f"{y:04d}Q{q}")
    if half is not None:
        match = re.fullmatch(r"([0-9]{4})H([12])", half)
        if match is None:
            raise PeriodError(f"{half[:20]!r} is not a half-year like 2026H1")
        y, h = _year(match[1]), int(match[2])
        first = datetime.date(y, 6 * h - 5, 1)
        return Period(first.isoformat(), _month_end(y, 6 * h).isoformat(), f"{y:04d}H{h}")
    if year is not None:
        if re.fullmatch(r"[0-9]{4}", year) is None:
            raise PeriodError(f"{year[:20]!r} is not a year like 2026")
        y = _year(year)
        return Period(f"{y:04d}-01-01", f"{y:04d}-12-31", f"{y:04d}")
    if start is None or end is None:
        raise PeriodError("--from and --to go together")
    first, last = _date(start), _date(end)
    if first > last:
        raise PeriodError(f"the period ends ({end}) before it starts ({start})")
    return Period(first.isoformat(), last.isoformat(), f"{first.isoformat()}..{last.isoformat()}")


def _year(text: str) -> int:
    year = int(text)
    if not _FIRST_YEAR < year <= _LAST_YEAR:  # the previous period must exist too
        raise PeriodError(f"year {text} is outside {_FIRST_YEAR + 1}..{_LAST_YEAR}")
    return year


def _date(text: str) -> datetime.date:
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) is None:
        raise PeriodError(f"{text[:20]!r} is not a date like 2026-07-01")
    try:
        found = datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise PeriodError(f"{text} is not a date: {exc}") from exc
    _year(text[:4])
    return found


def _day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def _month_end(year: int, month: int) -> datetime.date:
    following = datetime.date(year + (month == 12), month % 12 + 1, 1)
    return following - datetime.timedelta(days=1)


# --- movements -----------------------------------------------------------------------------------


def replayed_movements(accepted: Iterable[Accepted], state: LedgerView) -> list[Movement]:
    """The movements of a full replay (``client.replay.Replay``: its ``accepted`` entries and
    final ``state``): what a node's index holds for the same logs."""
    found = (movement(a.ref, a.entry, state) for a in accepted)
    return [m for m in found if m is not None]


def effective(moves: Iterable[Movement]) -> list[Movement]:
    """The movements that count in stocks and flows: productions, imports, and exports whose
    certificate was not voided (a void gives the parcels back to the exporter)."""
    listed = list(moves)
    voided = {m.certificate for m in listed if m.kind == "void"}
    return [
        m
        for m in listed
        if m.kind in FLOWS and not (m.kind == "export" and m.certificate in voided)
    ]


# --- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Amount:
    """Mass, how many movements (certificates, productions), and the value the caller read.

    ``value_usd_cents`` is None when no value was read; ``sealed`` counts the movements whose
    value stayed sealed (always 0 for production, which has no value in the logs yet).
    """

    centicarats: int = 0
    count: int = 0
    value_usd_cents: int | None = None
    sealed: int = 0

    def to_json(self) -> dict[str, int | None]:
        return {"centicarats": self.centicarats, "count": self.count}


@dataclass(frozen=True, slots=True)
class Tally:
    """One flow of one participant in the period.

    ``by_hs_code`` splits each movement by its parcels' codes; ``by_partner`` is by destination
    for exports and by exporting participant for imports; ``by_origin`` keys mixed origins as
    ``BW+CA`` (a mixed parcel's mass cannot be split by origin); ``by_mine`` is production's.
    ``movements`` are the entries counted, for an auditor to open.
    """

    amount: Amount = field(default_factory=Amount)
    by_hs_code: Mapping[str, Amount] = field(default_factory=dict)
    by_partner: Mapping[str, Amount] = field(default_factory=dict)
    by_origin: Mapping[str, Amount] = field(default_factory=dict)
    by_mine: Mapping[str, Amount] = field(default_factory=dict)
    movements: tuple[Movement, ...] = ()

    @property
    def centicarats(self) -> int:
        return self.amount.centicarats

    @property
    def count(self) -> int:
        return self.amount.count

    @property
    def value_usd_cents(self) -> int | None:
        return self.amount.value_usd_cents

    @property
    def sealed(self) -> int:
        return self.amount.sealed

    def to_json(self, partner: str | None) -> dict[str, Any]:
        def part(amounts: Mapping[str, Amount]) -> dict[str, Any]:
            return {k: v.to_json() for k, v in sorted(amounts.items())}

        document: dict[str, Any] = {
            "centicarats": self.centicarats,
            "count": self.count,
            "by_hs_code": part(self.by_hs_code),
        }
        if partner is None:
            document["by_mine"] = part(self.by_mine)
            document["value_usd_cents"] = self.value_usd_cents
            document["sealed"] = self.sealed
            return document
        document[f"by_{partner}"] = part(self.by_partner)
        document["by_origin"] = part(self.by_origin)
        document["value_usd_cents"] = self.value_usd_cents
        document["sealed"] = self.sealed
        document["values_by_hs_code"] = {
            k: v.value_usd_cents for k, v in sorted(self.by_hs_code.items())
        }
        return document


@dataclass(frozen=True, slots=True)
class ParticipantStats:
    participant: str
    opening_stock: int
    production: Tally
    exports: Tally
    imports: Tally

    @property
    def closing_stock(self) -> int:
        return (
            self.opening_stock
            + self.production.centicarats
            + self.imports.centicarats
            - self.exports.centicarats
        )

    def flow(self, kind: str) -> Tally:
        return {"production": self.production, "export": self.exports, "import": self.imports}[kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "opening_stock": self.opening_stock,
            "production": self.production.to_json(None),
            "exports": self.exports.to_json("destination"),
            "imports": self.imports.to_json("source"),
            "closing_stock": self.closing_stock,
        }


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a ``StatTable``: its name and what its cells hold — ``text``, ``date``,
    ``centicarats`` (an int: render as carats with two decimals), ``usd_cents`` (an int or
    None: sealed), ``count`` (an int) or ``entries`` (a list of hex entry hashes)."""

    name: str
    kind: str = "text"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class StatTable:
    """One Annex III table, rendered alike by every output: a name (a sheet or file name), a
    title, typed columns, and rows of plain cells (str, int, None, or a list for ``entries``)."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": [c.to_json() for c in self.columns],
            "rows": [list(r) for r in self.rows],
        }


@dataclass(frozen=True, slots=True)
class Awaiting:
    """A certificate issued and neither confirmed, rejected nor voided (as of ``today``)."""

    number: str
    exporter: str
    importing: str
    issued_on: str
    expires_on: str
    centicarats: int
    entry: str  # hex hash of the certificate.issue entry
    expired: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "exporter": self.exporter,
            "importing": self.importing,
            "issued_on": self.issued_on,
            "expires_on": self.expires_on,
            "centicarats": self.centicarats,
            "entry": self.entry,
            "status": "expired" if self.expired else "usable",
        }


@dataclass(frozen=True, slots=True)
class Statistics:
    """The statistics of the participants over ``period``, the previous period's, the anomalies
    and the certificates awaiting confirmation (issued up to the period's end)."""

    period: Period
    participants: Mapping[str, ParticipantStats]
    previous: Mapping[str, ParticipantStats]
    anomalies: tuple[Anomaly, ...]
    awaiting: tuple[Awaiting, ...]
    today: str

    @property
    def start(self) -> str:
        return self.period.start

    @property
    def end(self) -> str:
        return self.period.end

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "period": self.period.to_json(),
            "previous": self.period.previous().to_json(),
            "today": self.today,
            "participants": {p: s.to_json() for p, s in sorted(self.participants.items())},
            "anomalies": [a.to_json() for a in self.anomalies],
            "awaiting_confirmation": [a.to_json() for a in self.awaiting],
        }

    def tables(self) -> list[StatTable]:
        """The Annex III tables, in the order a report prints them."""
        return _tables(self)


def compute_statistics(
    moves: Iterable[Movement],
    period: Period,
    *,
    today: str,
    values: Mapping[str, int] | None = None,
    tolerance_ppm: int = 0,
    participants: Sequence[str] = (),
    thresholds: Thresholds | None = None,
) -> Statistics:
    """The statistics of ``period`` and the anomalies they show.

    Args:
        moves: every movement of the ledger (those before the period make the opening stock;
            rejections, voids and later imports decide what awaits confirmation).
        period: the days counted.
        today: the day the awaiting and expired certificates are judged on.
        values: ``value_usd_cents`` by certificate hash (hex), as far as the caller could read.
        tolerance_ppm: the charter's mass tolerance: reweighing may add this much.
        participants: only these participants' figures and anomalies (none: every one).
        thresholds: ``client.anomalies.Thresholds`` (None: the defaults).
    """
    listed = list(moves)
    counted = effective(listed)
    known = values or {}
    wanted = set(participants)
    everyone = sorted({m.participant for m in counted} | wanted)
    shown = [p for p in everyone if not wanted or p in wanted]
    current = _figures(counted, period, known, shown)
    before = _figures(counted, period.previous(), known, shown)
    awaiting = _awaiting(listed, period.end, today, wanted)
    statistics = Statistics(period, current, before, (), awaiting, today)
    found = find_anomalies(
        statistics,
        listed,
        counted,
        known,
        tolerance_ppm=tolerance_ppm,
        thresholds=thresholds or Thresholds(),
    )
    return Statistics(period, current, before, tuple(found), awaiting, today)


def _figures(
    counted: list[Movement], period: Period, values: Mapping[str, int], shown: list[str]
) -> dict[str, ParticipantStats]:
    opening = dict.fromkeys(shown, 0)
    flows: dict[str, dict[str, list[Movement]]] = {p: {k: [] for k in FLOWS} for p in shown}
    for move in counted:
        if move.participant not in flows:
            continue
        if move.date < period.start:
            sign = -1 if move.kind == "export" else 1
            opening[move.participant] += sign * move.centicarats
        elif move.date <= period.end:
            flows[move.participant][move.kind].append(move)
    return {
        p: ParticipantStats(
            p,
            opening[p],
            _tally(flows[p]["production"], values, valued=False),
            _tally(flows[p]["export"], values, valued=True),
            _tally(flows[p]["import"], values, valued=True),
        )
        for p in shown
    }


class _Sum:
    """A mutable ``Amount`` while a tally is counted (one object per key, not one per row)."""

    __slots__ = ("centicarats", "count", "sealed", "value")

    def __init__(self) -> None:
        self.centicarats = self.count = self.sealed = 0
        self.value: int | None = None

    def add(self, centicarats: int, value: int | None, valued: bool) -> None:
        self.centicarats += centicarats
        self.count += 1
        if value is not None:
            self.value = (self.value or 0) + value
        elif valued:
            self.sealed += 1

    def amount(self) -> Amount:
        # Nothing moved is worth nothing, known to every reader: 0, not "sealed".
        value = 0 if self.count == 0 else self.value
        return Amount(self.centicarats, self.count, value, self.sealed)


def _tally(moves: list[Movement], values: Mapping[str, int], *, valued: bool) -> Tally:
    total = _Sum()
    tables: dict[str, dict[str, _Sum]] = {"hs": {}, "partner": {}, "origin": {}, "mine": {}}

    def add(table: str, key: str, cc: int, value: int | None, sealed: bool) -> None:
        found = tables[table].get(key)
        if found is None:
            found = tables[table][key] = _Sum()
        found.add(cc, value, sealed)

    moves = sorted(moves, key=lambda m: (m.date, m.entry.log, m.entry.seq))
    for move in moves:
        has_value = valued or move.valued  # a certificate always seals one; a production may
        value = values.get(value_key(move)) if has_value else None
        total.add(move.centicarats, value, has_value)
        for code, (cc, share) in _split_value(move, value).items():
            add("hs", code, cc, share, has_value)
        if move.partner is not None and move.kind != "production":
            add("partner", move.partner, move.centicarats, value, has_value)
        add("origin", "+".join(move.origins), move.centicarats, value, has_value)
        if move.mine is not None:
            add("mine", move.mine, move.centicarats, value, has_value)

    def done(table: str) -> dict[str, Amount]:
        return {k: v.amount() for k, v in tables[table].items()}

    return Tally(
        total.amount(), done("hs"), done("partner"), done("origin"), done("mine"), tuple(moves)
    )


def value_key(move: Movement) -> str:
    """Whose sealed ``value_usd_cents`` a movement counts: its certificate's (hex hash of the
    certificate.issue entry), or a production's own entry's."""
    if move.certificate is not None:
        return move.certificate.hex()
    return move.entry.hash.hex()


def _split_value(move: Movement, value: int | None) -> dict[str, tuple[int, int | None]]:
    """Each HS code's mass and its share of the movement's value, in proportion to mass, the
    cents left by rounding down given to the largest codes first so the shares add up."""
    if value is None or move.centicarats == 0:
        return {code: (cc, None) for code, cc in move.by_hs_code}
    shares = {code: value * cc // move.centicarats for code, cc in move.by_hs_code}
    left = value - sum(shares.values())
    for code, _ in sorted(move.by_hs_code, key=lambda p: (-p[1], p[0]))[:left]:
        shares[code] += 1
    return {code: (cc, shares[code]) for code, cc in move.by_hs_code}


def _awaiting(
    listed: list[Movement], end: str, today: str, wanted: set[str]
) -> tuple[Awaiting, ...]:
    settled = {m.certificate for m in listed if m.kind in ("import", "reject", "void")}
    found = [
        Awaiting(
            m.number or "",
            m.participant,
            m.partner or "",
            m.date,
            m.expires_on or "",
            m.centicarats,
            m.entry.hash.hex(),
            expired=today > (m.expires_on or ""),
        )
        for m in listed
        if m.kind == "export"
        and m.certificate not in settled
        and m.date <= end
        and (not wanted or m.participant in wanted or m.partner in wanted)
    ]
    return tuple(sorted(found, key=lambda a: (a.issued_on, a.number)))


# --- tables --------------------------------------------------------------------------------------

_CT, _USD, _N = (
    Column("carats", "centicarats"),
    Column("value", "usd_cents"),
    Column("count", "count"),
)


def _tables(statistics: Statistics) -> list[StatTable]:
    label = statistics.period.label
    summary_columns = (
        Column("participant"),
        Column("opening stock", "centicarats"),
        Column("production", "centicarats"),
        Column("production value", "usd_cents"),
        Column("productions", "count"),
        Column("exports", "centicarats"),
        Column("export value", "usd_cents"),
        Column("certificates out", "count"),
        Column("imports", "centicarats"),
        Column("import value", "usd_cents"),
        Column("certificates in", "count"),
        Column("closing stock", "centicarats"),
    )
    summary = tuple(
        (
            p,
            s.opening_stock,
            s.production.centicarats,
            s.production.value_usd_cents,
            s.production.count,
            s.exports.centicarats,
            s.exports.value_usd_cents,
            s.exports.count,
            s.imports.centicarats,
            s.imports.value_usd_cents,
            s.imports.count,
            s.closing_stock,
        )
        for p, s in sorted(statistics.participants.items())
    )
    tables = [StatTable("summary", f"KP statistics {label}", summary_columns, summary)]
    breakdowns = (
        ("production", "by_hs_code", "HS code", "production by HS code"),
        ("production", "by_mine", "mine", "production by mine"),
        ("export", "by_hs_code", "HS code", "exports by HS code"),
        ("export", "by_partner", "destination", "exports by destination"),
        ("export", "by_origin", "mining origin", "exports by mining origin"),
        ("import", "by_hs_code", "HS code", "imports by HS code"),
        ("import", "by_partner", "source", "imports by source"),
        ("import", "by_origin", "mining origin", "imports by mining origin"),
    )
    for kind, attribute, key, title in breakdowns:
        table_name = f"{title.split()[0]}_{attribute}"  # production_by_hs_code, exports_by_partner
        columns = (Column("participant"), Column(key), _CT, _USD, _N)
        rows = []
        for p, s in sorted(statistics.participants.items()):
            for name, amount in sorted(getattr(s.flow(kind), attribute).items()):
                rows.append((p, name, amount.centicarats, amount.value_usd_cents, amount.count))
        tables.append(StatTable(table_name, f"{title} {label}", columns, tuple(rows)))
    tables.append(
        StatTable(
            "anomalies",
            f"anomalies {label}",
            (Column("participant"), Column("code"), Column("detail"), Column("entries", "entries")),
            tuple((a.participant, a.code, a.detail, list(a.entries)) for a in statistics.anomalies),
        )
    )
    tables.append(
        StatTable(
            "awaiting_confirmation",
            f"certificates awaiting confirmation, as of {statistics.today}",
            (
                Column("number"),
                Column("exporter"),
                Column("importing"),
                Column("issued on", "date"),
                Column("expires on", "date"),
                _CT,
                Column("status"),
                Column("entry"),
            ),
            tuple(
                (
                    a.number,
                    a.exporter,
                    a.importing,
                    a.issued_on,
                    a.expires_on,
                    a.centicarats,
                    "expired" if a.expired else "usable",
                    a.entry,
                )
                for a in statistics.awaiting
            ),
        )
    )
    return tables
