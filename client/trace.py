"""Following parcels forward from one parcel: what consumed it, what that made, and so on.

``kp trace`` asks which entry consumed a parcel and which parcels that entry made — a split's
outputs, a certificate's confirmation at the importer, a void's release — down to the parcels
still live, bounded in depth and in parcels visited (``truncated`` marks where it stopped).
``trace`` returns the tree as ``TracedParcel`` and ``TraceStep`` values; ``to_json`` is the
document ``kp trace --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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

__all__ = ["Trace", "TraceStep", "TracedParcel", "trace"]


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
    truncated: bool = False

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
        if self.truncated:
            document["truncated"] = True
        return document


@dataclass(frozen=True, slots=True)
class Trace:
    """Where a parcel went: the tree, how many parcels were read, whether a bound cut it."""

    root: TracedParcel
    visited: int
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {"status": "traced", "parcels": self.visited, "trace": self.root.to_json()}


def trace(nodes: Nodes, ref: ParcelRef, *, max_depth: int, max_parcels: int) -> Trace:
    """Follow ``ref`` forward through the nodes, at most ``max_depth`` steps deep and
    ``max_parcels`` parcels in all.

    Raises:
        ProblemError: no node knows a parcel or entry on the way.
        NodeUnavailableError: no node answered.
        ClientError: a node's answer contradicts the chain (``trace.mismatch``), or is
            malformed (``client.malformed``).
    """
    walk = _Walk(nodes, max_depth, max_parcels)
    root = walk.parcel(ref, 0)
    return Trace(root, walk.visited, walk.truncated)


@dataclass
class _Walk:
    nodes: Nodes
    max_depth: int
    max_parcels: int
    visited: int = 0
    truncated: bool = False

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
            self.truncated = True
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
        for ref in made:
            if self.visited >= self.max_parcels:
                step = replace(step, truncated=True)
                self.truncated = True
                break
            parcels.append(self.parcel(ref, depth + 1))
        return replace(step, parcels=tuple(parcels))


def _ref_text(ref: EntryRef, out: int | None = None) -> str:
    text = f"{ref.log}:{ref.seq}:{ref.hash.hex()}"
    return text if out is None else f"{text}:{out}"
