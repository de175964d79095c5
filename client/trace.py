"""Following parcels forward from one parcel: what consumed it, what that made, and so on.

``kp trace`` asks which entry consumed a parcel and which parcels that entry made — a split's
outputs, a certificate's confirmation at the importer, a void's release — down to the parcels
still live, bounded in depth and in parcels visited. Where a bound stops it, nothing is dropped
unsaid: a parcel whose consumer was not followed is ``truncated``, a step's outputs not visited
are its ``unfollowed``, and the trace's ``cursor`` lists them all, in the tree's order, so that
``trace_from(cursor)`` (``kp trace --from CURSOR``) goes on from exactly there — a pooling hub's
history is paged, not cut. ``trace`` returns the tree as ``TracedParcel`` and ``TraceStep``
values; ``to_json`` is the document ``kp trace --json`` prints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from client.errors import ClientError
from client.nodes import Nodes
from node.core.records import (
    CertificateConfirm,
    CertificateIssue,
    EntryRef,
    ParcelRef,
    ParcelTransform,
)
from node.core.rules import entry_date

__all__ = [
    "Trace",
    "TraceStep",
    "TracedParcel",
    "cursor_text",
    "parse_cursor",
    "trace",
    "trace_from",
]


_CURSOR_ITEM = re.compile(r"([A-Z]{2,8}):([0-9]{1,19}):([0-9a-f]{64}):([0-9]{1,2})")


@dataclass(frozen=True, slots=True)
class TracedParcel:
    """A parcel as the nodes know it, and the step that consumed it (``None`` while live, or
    where the trace was cut short: then ``truncated``)."""

    ref: ParcelRef
    parcel: str
    holder: str
    centicarats: int
    hs_code: str
    origins: tuple[str, ...]
    live: bool
    transfers: int
    next: TraceStep | None = None
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "ref": _ref_text(self.ref.entry, self.ref.out),
            "parcel": self.parcel,
            "holder": self.holder,
            "centicarats": self.centicarats,
            "hs_code": self.hs_code,
            "origins": list(self.origins),
            "live": self.live,
            "transfers": self.transfers,
            "next": None if self.next is None else self.next.to_json(),
        }
        if self.truncated:
            document["truncated"] = True
        return document


@dataclass(frozen=True, slots=True)
class TraceStep:
    """The entry that consumed a parcel, and the parcels it made.

    For a certificate: its number, the importing participant and its status; once confirmed,
    the confirmation (whose parcels follow), once voided, the void (which releases them).
    """

    entry: EntryRef
    type: str
    date: str
    parcels: tuple[TracedParcel, ...] = ()
    kind: str | None = None
    certificate: str | None = None
    importing: str | None = None
    status: str | None = None
    confirmation: EntryRef | None = None
    confirmed_on: str | None = None
    void: EntryRef | None = None
    unfollowed: tuple[ParcelRef, ...] = ()

    @property
    def truncated(self) -> bool:
        """Some of the parcels this step made were not visited (they are ``unfollowed``)."""
        return bool(self.unfollowed)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "entry": _ref_text(self.entry),
            "type": self.type,
            "date": self.date,
            "parcels": [p.to_json() for p in self.parcels],
        }
        if self.kind is not None:
            document["kind"] = self.kind
        if self.certificate is not None:
            document.update(
                certificate=self.certificate, importing=self.importing, status=self.status
            )
        if self.confirmation is not None:
            document["confirmation"] = _ref_text(self.confirmation)
            document["confirmed_on"] = self.confirmed_on
        if self.void is not None:
            document["void"] = _ref_text(self.void)
        if self.unfollowed:
            document["truncated"] = True
            document["unfollowed"] = [_ref_text(p.entry, p.out) for p in self.unfollowed]
        return document


@dataclass(frozen=True, slots=True)
class Trace:
    """Where parcels went: one tree per parcel the trace started from, how many parcels were
    read, and the cursor — every parcel a bound left unfollowed, empty when the trace is whole.
    """

    roots: tuple[TracedParcel, ...]
    visited: int
    cursor: tuple[ParcelRef, ...] = field(default=())

    @property
    def root(self) -> TracedParcel:
        return self.roots[0]

    @property
    def truncated(self) -> bool:
        return bool(self.cursor)

    def to_json(self) -> dict[str, Any]:
        """``trace``: the tree of the one parcel traced; from a cursor, ``traces``: one tree per
        parcel of it. ``cursor``: what ``kp trace --from`` takes to go on (null when whole)."""
        document: dict[str, Any] = {"status": "traced", "parcels": self.visited}
        if len(self.roots) == 1:
            document["trace"] = self.root.to_json()
        else:
            document["traces"] = [r.to_json() for r in self.roots]
        document["unfollowed"] = len(self.cursor)
        document["cursor"] = cursor_text(self.cursor) if self.cursor else None
        return document


def trace(nodes: Nodes, ref: ParcelRef, *, max_depth: int, max_parcels: int) -> Trace:
    """Follow ``ref`` forward through the nodes, at most ``max_depth`` steps deep and
    ``max_parcels`` parcels in all; the trace's ``cursor`` says where a bound stopped it.

    Raises:
        ProblemError: no node knows a parcel or entry on the way.
        NodeUnavailableError: no node answered.
        ClientError: a node's answer contradicts the chain (``trace.mismatch``), or is
            malformed (``client.malformed``).
    """
    return trace_from(nodes, [ref], max_depth=max_depth, max_parcels=max_parcels)


def trace_from(
    nodes: Nodes, cursor: Sequence[ParcelRef], *, max_depth: int, max_parcels: int
) -> Trace:
    """Go on from where a trace stopped: follow each parcel of ``cursor`` (a ``Trace.cursor``,
    or any parcels) as ``trace`` does, ``max_depth`` steps deep from each and ``max_parcels``
    parcels in all. A parcel the bound leaves unvisited goes into the new cursor unread.

    Raises:
        ClientError: as ``trace``; ``trace.cursor`` for an empty cursor.
    """
    if not cursor:
        raise ClientError("nothing to trace: the cursor is empty", code="trace.cursor")
    walk = _Walk(nodes, max_depth, max_parcels)
    roots: list[TracedParcel] = []
    for ref in cursor:
        if roots and walk.visited >= max_parcels:
            walk.cursor.append(ref)
            continue
        roots.append(walk.parcel(ref, 0))
    return Trace(tuple(roots), walk.visited, tuple(walk.cursor))


def cursor_text(cursor: Sequence[ParcelRef]) -> str:
    """A cursor as ``kp trace --from`` takes it: ``LOG:SEQ:HASH:OUT`` per parcel, by commas."""
    return ",".join(_ref_text(p.entry, p.out) for p in cursor)


def parse_cursor(text: str, *, max_parcels: int) -> list[ParcelRef]:
    """The parcels of a cursor's text (``cursor_text``), at most ``max_parcels`` of them.

    Raises:
        ClientError: ``trace.cursor``: empty, too long, or a parcel not ``LOG:SEQ:HASH:OUT``.
    """
    items = [item.strip() for item in text.split(",", max_parcels)] if text.strip() else []
    if not 1 <= len(items) <= max_parcels:
        raise ClientError(
            f"a cursor names 1 to {max_parcels} parcels, not {len(items)}", code="trace.cursor"
        )
    refs = []
    for item in items:
        found = _CURSOR_ITEM.fullmatch(item)
        if found is None or int(found[2]) >= 2**63 or int(found[4]) >= 64:
            raise ClientError(
                f"{item[:100]!r} in the cursor is not LOG:SEQ:HASH:OUT", code="trace.cursor"
            )
        refs.append(ParcelRef(found[1], int(found[2]), bytes.fromhex(found[3]), int(found[4])))
    return refs


@dataclass
class _Walk:
    nodes: Nodes
    max_depth: int
    max_parcels: int
    visited: int = 0
    cursor: list[ParcelRef] = field(default_factory=list)

    def parcel(self, ref: ParcelRef, depth: int) -> TracedParcel:
        state = self.nodes.first(lambda c: c.parcel(ref.log, ref.seq, ref.out))
        self.visited += 1
        found = TracedParcel(
            ref=ref,
            parcel=state.parcel,
            holder=state.holder,
            centicarats=state.centicarats,
            hs_code=state.hs_code,
            origins=state.origins,
            live=state.live,
            transfers=len(state.transfers),
        )
        if state.ref.hash != ref.hash:
            raise ClientError(
                f"parcel {ref.log}/{ref.seq}/{ref.out} has another hash", code="trace.mismatch"
            )
        if state.consumed_by is None:
            return found
        if depth >= self.max_depth or self.visited >= self.max_parcels:
            self.cursor.append(ref)  # read, but where it went is the next page's
            return replace(found, truncated=True)
        return replace(found, next=self._step(state.consumed_by.hash.hex(), depth))

    def _step(self, entry_hash: str, depth: int) -> TraceStep:
        entry = self.nodes.entry(entry_hash)
        body, log = entry.signed.body, entry.signed.log
        here = EntryRef(log, entry.seq, bytes.fromhex(entry_hash))
        step = TraceStep(here, entry.signed.type, entry_date(entry.time))
        made: list[ParcelRef] = []
        if isinstance(body, ParcelTransform):
            step = replace(step, kind=body.kind)
            made = [ParcelRef(log, entry.seq, here.hash, i) for i in range(len(body.outputs))]
        elif isinstance(body, CertificateIssue):
            certificate = self.nodes.first(lambda c: c.certificate(log, body.number))
            step = replace(
                step,
                certificate=body.number,
                importing=body.importing,
                status=certificate.status,
            )
            outcome, voided = certificate.outcome_ref, certificate.voided
            if certificate.status == "confirmed" and outcome is not None:
                confirmation = self.nodes.entry(outcome.hash.hex())
                if not isinstance(confirmation.signed.body, CertificateConfirm):
                    raise ClientError(
                        f"{outcome.hash.hex()} is no confirmation", code="trace.mismatch"
                    )
                step = replace(
                    step,
                    confirmation=outcome,
                    confirmed_on=confirmation.signed.body.received_on,
                )
                count = len(confirmation.signed.body.parcels)
                made = [ParcelRef(outcome.log, outcome.seq, outcome.hash, i) for i in range(count)]
            elif voided is not None:
                # A void releases the certificate's parcels to the exporter as new parcels.
                step = replace(step, void=voided)
                made = [
                    ParcelRef(voided.log, voided.seq, voided.hash, i)
                    for i in range(len(body.parcels))
                ]
        parcels: list[TracedParcel] = []
        unfollowed: list[ParcelRef] = []
        for ref in made:
            if self.visited >= self.max_parcels:
                unfollowed.append(ref)  # not read at all: the next page starts with it
                self.cursor.append(ref)
                continue
            parcels.append(self.parcel(ref, depth + 1))
        return replace(step, parcels=tuple(parcels), unfollowed=tuple(unfollowed))


def _ref_text(ref: EntryRef, out: int | None = None) -> str:
    text = f"{ref.log}:{ref.seq}:{ref.hash.hex()}"
    return text if out is None else f"{text}:{out}"
