"""KP statistics from replayed logs: production, exports and imports per participant.

The Kimberley Process publishes, per participant and period, what was mined, exported and
imported (KPCS Section V(c) and Annex III): carats, counts of certificates, by HS code, by
destination and origin, and values in US dollars. Here they are a pure function of the entries
the rules accepted (``client.audit.replay_logs``), so every number can be recomputed by anyone
holding the logs:

- production: each ``parcel.produce``, dated by its ``produced_on``;
- exports: each ``certificate.issue`` not voided later, dated by its ``issued_on``;
- imports: each ``certificate.confirm``, dated by its ``received_on``, from the certificate's
  issuer with the certificate's origins.

Values are sealed in the logs; a member who reads the disclosures passes them in as
``values`` (certificate hash to ``value_usd_cents``), and everything else is counted as sealed.

The anomalies the KP review missions look for first: a participant exporting more than it could
hold — more than its opening stock (production and imports less exports, before the period)
plus what it produced and imported in the period, beyond the charter's mass tolerance; and a
participant whose stock, counted day by day, is negative on some day of the period beyond that
tolerance (it exported before it had the goods), with the export entries behind it. The rules
bound every lineage's gain by the tolerance (decision 0020), so an honest ledger shows neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from node.core.records import (
    CertificateConfirm,
    CertificateIssue,
    CertificateVoid,
    Entry,
    EntryRef,
    ParcelProduce,
)
from node.core.rules import PPM

__all__ = [
    "KINDS",
    "Amount",
    "Anomaly",
    "Movement",
    "ParticipantStats",
    "Statistics",
    "Tally",
    "compute_statistics",
    "movements",
]

KINDS = ("production", "export", "import")


@dataclass(frozen=True, slots=True)
class Movement:
    """Diamonds entering or leaving a participant's stock.

    Attributes:
        participant: whose statistics it counts in.
        kind: ``production``, ``export`` or ``import``.
        date: ``YYYY-MM-DD`` (production, issue or receipt date).
        centicarats: the mass.
        hs_codes: the HS codes of the diamonds moved.
        partner: the importing participant of an export, the exporting one of an import.
        origins: the mining origins (a production's own participant).
        certificate: hex hash of the certificate.issue entry (exports and imports).
        number: the certificate number.
        entry: hex hash of the entry that records the movement (the production, the
            certificate, the confirmation).
    """

    participant: str
    kind: str
    date: str
    centicarats: int
    hs_codes: tuple[str, ...]
    partner: str | None = None
    origins: tuple[str, ...] = ()
    certificate: str | None = None
    number: str | None = None
    entry: str | None = None


def movements(entries: Iterable[tuple[EntryRef, Entry]]) -> list[Movement]:
    """The movements recorded by accepted entries, given in replay order (a certificate
    before its confirmation or void).

    A voided certificate's export is left out: its parcels came back to the exporter.
    """
    found: list[Movement] = []
    issued: dict[EntryRef, CertificateIssue] = {}
    voided: set[str] = set()
    for ref, entry in entries:
        body = entry.signed.body
        if isinstance(body, ParcelProduce):
            found.append(
                Movement(
                    ref.log,
                    "production",
                    body.produced_on,
                    body.centicarats,
                    (body.hs_code,),
                    origins=(ref.log,),
                    entry=ref.hash.hex(),
                )
            )
        elif isinstance(body, CertificateIssue):
            issued[ref] = body
            found.append(
                Movement(
                    ref.log,
                    "export",
                    body.issued_on,
                    body.centicarats,
                    body.hs_codes,
                    partner=body.importing,
                    origins=body.origins,
                    certificate=ref.hash.hex(),
                    number=body.number,
                    entry=ref.hash.hex(),
                )
            )
        elif isinstance(body, CertificateConfirm):
            certificate = issued.get(body.certificate)
            if certificate is None:
                continue  # its issuer's log was not replayed; nothing to attribute it to
            found.append(
                Movement(
                    ref.log,
                    "import",
                    body.received_on,
                    body.centicarats_received,
                    tuple(sorted({p.hs_code for p in body.parcels})),
                    partner=body.certificate.log,
                    origins=certificate.origins,
                    certificate=body.certificate.hash.hex(),
                    number=certificate.number,
                    entry=ref.hash.hex(),
                )
            )
        elif isinstance(body, CertificateVoid):
            voided.add(body.certificate.hash.hex())
    return [m for m in found if not (m.kind == "export" and m.certificate in voided)]


@dataclass(frozen=True, slots=True)
class Amount:
    centicarats: int = 0
    count: int = 0

    def plus(self, centicarats: int) -> Amount:
        return Amount(self.centicarats + centicarats, self.count + 1)

    def to_json(self) -> dict[str, int]:
        return {"centicarats": self.centicarats, "count": self.count}


@dataclass(frozen=True, slots=True)
class Tally:
    """One kind of movement of one participant in the period.

    ``by_partner`` is by destination for exports and by exporting participant for imports;
    ``by_origin`` keys mixed origins as ``BW+CA`` (a mixed parcel's mass cannot be split).
    ``value_usd_cents`` sums the values the caller could read (None when it read none), and
    ``sealed`` counts the certificates whose value stayed sealed.
    """

    amount: Amount = field(default_factory=Amount)
    by_hs_code: Mapping[str, Amount] = field(default_factory=dict)
    by_partner: Mapping[str, Amount] = field(default_factory=dict)
    by_origin: Mapping[str, Amount] = field(default_factory=dict)
    value_usd_cents: int | None = None
    sealed: int = 0

    @property
    def centicarats(self) -> int:
        return self.amount.centicarats

    @property
    def count(self) -> int:
        return self.amount.count

    def to_json(self, partner: str) -> dict[str, Any]:
        return {
            "centicarats": self.centicarats,
            "count": self.count,
            "by_hs_code": {k: v.to_json() for k, v in sorted(self.by_hs_code.items())},
            f"by_{partner}": {k: v.to_json() for k, v in sorted(self.by_partner.items())},
            "by_origin": {k: v.to_json() for k, v in sorted(self.by_origin.items())},
            "value_usd_cents": self.value_usd_cents,
            "sealed": self.sealed,
        }


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

    def to_json(self) -> dict[str, Any]:
        production = self.production.to_json("partner")
        for unused in ("by_partner", "by_origin", "value_usd_cents", "sealed"):
            production.pop(unused)
        return {
            "opening_stock": self.opening_stock,
            "production": production,
            "exports": self.exports.to_json("destination"),
            "imports": self.imports.to_json("source"),
            "closing_stock": self.closing_stock,
        }


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something in a participant's figures that the rules should have made impossible.

    ``entries`` are the hex hashes of the entries behind it, for an auditor to open.
    """

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


@dataclass(frozen=True, slots=True)
class Statistics:
    """The statistics of every participant over ``start .. end`` (both days included)."""

    start: str
    end: str
    participants: Mapping[str, ParticipantStats]
    anomalies: tuple[Anomaly, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "participants": {p: s.to_json() for p, s in sorted(self.participants.items())},
            "anomalies": [a.to_json() for a in self.anomalies],
        }


def compute_statistics(
    moves: Iterable[Movement],
    start: str,
    end: str,
    *,
    values: Mapping[str, int] | None = None,
    tolerance_ppm: int = 0,
) -> Statistics:
    """Per-participant statistics of the period ``start .. end`` and the anomalies they show.

    Args:
        moves: every movement of the ledger (those before ``start`` make the opening stock).
        start: first day of the period, ``YYYY-MM-DD``.
        end: last day of the period.
        values: ``value_usd_cents`` by certificate hash (hex), as far as the caller could read.
        tolerance_ppm: the mass tolerance of the charter: reweighing may add this much.
    """
    known = values or {}
    opening: dict[str, int] = {}
    period: dict[str, dict[str, list[Movement]]] = {}
    to_end: dict[str, list[Movement]] = {}
    for move in moves:
        period.setdefault(move.participant, {k: [] for k in KINDS})
        opening.setdefault(move.participant, 0)
        to_end.setdefault(move.participant, [])
        if move.date <= end:
            to_end[move.participant].append(move)
        if move.date < start:
            sign = -1 if move.kind == "export" else 1
            opening[move.participant] += sign * move.centicarats
        elif move.date <= end:
            period[move.participant][move.kind].append(move)
    participants = {
        p: ParticipantStats(
            p,
            opening[p],
            _tally(kinds["production"], known, valued=False),
            _tally(kinds["export"], known, valued=True),
            _tally(kinds["import"], known, valued=True),
        )
        for p, kinds in sorted(period.items())
    }
    anomalies = tuple(
        anomaly
        for stats in participants.values()
        for anomaly in (
            _exports_exceed_supply(stats, tolerance_ppm),
            _negative_stock(stats.participant, to_end[stats.participant], start, tolerance_ppm),
        )
        if anomaly is not None
    )
    return Statistics(start, end, participants, anomalies)


def _tally(moves: list[Movement], values: Mapping[str, int], *, valued: bool) -> Tally:
    amount = Amount()
    by_hs: dict[str, Amount] = {}
    by_partner: dict[str, Amount] = {}
    by_origin: dict[str, Amount] = {}
    total: int | None = None
    sealed = 0
    for move in moves:
        amount = amount.plus(move.centicarats)
        hs = "+".join(move.hs_codes)
        by_hs[hs] = by_hs.get(hs, Amount()).plus(move.centicarats)
        if move.partner is not None:
            by_partner[move.partner] = by_partner.get(move.partner, Amount()).plus(move.centicarats)
        origin = "+".join(move.origins)
        by_origin[origin] = by_origin.get(origin, Amount()).plus(move.centicarats)
        if not valued:
            continue
        value = values.get(move.certificate or "")
        if value is None:
            sealed += 1
        else:
            total = (total or 0) + value
    return Tally(amount, by_hs, by_partner, by_origin, total, sealed)


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
        behind.extend(m.entry for m in moved if m.kind == "export" and m.entry is not None)
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


def _carats(centicarats: int) -> str:
    return f"{centicarats / 100:,.2f}"
