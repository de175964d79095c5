"""Provenance: from any entry, the DAG of entries back to the mines (DESIGN §9).

The DAG holds every entry the subject depends on: the certificate a confirmation confirms, the
parcels a certificate or transform consumed, the entry that created each of those parcels and
every transfer of it, down to ``parcel.produce`` entries. Beside it come what a verifier needs to
check the DAG's signatures and roles: the registration of every operator the DAG names and every
charter adoption of the logs it touches up to the entries it holds.

Entries are listed in an order in which they can be replayed: each after everything it
references and after the earlier listed entries of its own log.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from node.core.errors import LogCorruptError, PendingError
from node.core.records import (
    LOG_SIGNER,
    CertificateConfirm,
    CertificateIssue,
    CertificateReject,
    CertificateVoid,
    Entry,
    EntryRef,
    ParcelProduce,
    ParcelRef,
    ParcelTransfer,
    ParcelTransform,
)
from node.core.state import LedgerView

__all__ = ["MAX_DAG_ENTRIES", "Provenance", "provenance"]

MAX_DAG_ENTRIES = 100_000  # a bound on the walk; real chains are tens to hundreds of entries


@dataclass(frozen=True, slots=True)
class Provenance:
    """The DAG of ``subject`` and what is needed to check it.

    Attributes:
        subject: the entry whose history this is.
        entries: the DAG, subject included, in replay order.
        mines: the ``parcel.produce`` entries the DAG reaches.
        operators: ``operator.register`` (and ``operator.revoke``) entries of every operator the
            DAG's records are signed by or name.
        adoptions: every ``charter.adopt`` of each log in the DAG, up to its last DAG entry.
        charters: the hashes of the charter versions those adoptions name.
    """

    subject: EntryRef
    entries: tuple[EntryRef, ...]
    mines: tuple[EntryRef, ...]
    operators: tuple[EntryRef, ...]
    adoptions: tuple[EntryRef, ...]
    charters: tuple[bytes, ...]


def provenance(state: LedgerView, subject: EntryRef) -> Provenance:
    """Walk from ``subject`` back to the mines.

    Raises:
        PendingError: the store does not hold an entry the DAG references.
        LogCorruptError: a reference does not match the entry the store holds.
    """
    found: dict[EntryRef, Entry] = {}
    depends: dict[EntryRef, set[EntryRef]] = {}
    stack = [subject]
    while stack:
        ref = stack.pop()
        if ref in found:
            continue
        if len(found) >= MAX_DAG_ENTRIES:
            raise LogCorruptError(f"provenance of {subject} exceeds {MAX_DAG_ENTRIES} entries")
        entry = _entry(state, ref)
        found[ref] = entry
        depends[ref] = set(_references(state, entry))
        # Filtered one by one: ``set - found.keys()`` walks every key found so far at each
        # step, which made a hub's DAG quadratic in its size.
        stack.extend(r for r in depends[ref] if r not in found)

    order = _replay_order(found, depends)
    last_seq: dict[str, int] = {}
    for ref in order:
        last_seq[ref.log] = max(last_seq.get(ref.log, -1), ref.seq)
    operators: set[EntryRef] = set()
    for ref, entry in found.items():
        for operator in _operators_named(entry):
            known = state.operator(ref.log, operator)
            if known is not None:
                # Every registration and revocation up to the DAG's entries: an id registered
                # again after a revocation signed under each registration in turn.
                operators.update(known.history)
    adoptions = [
        adoption
        for log in sorted(last_seq)
        for adoption in state.adoptions(log)
        if adoption.entry.seq <= last_seq[log]
    ]
    return Provenance(
        subject=subject,
        entries=tuple(order),
        mines=tuple(r for r in order if isinstance(found[r].signed.body, ParcelProduce)),
        operators=tuple(sorted(operators)),
        adoptions=tuple(a.entry for a in adoptions),
        charters=tuple(dict.fromkeys(a.charter for a in adoptions)),
    )


def _entry(state: LedgerView, ref: EntryRef) -> Entry:
    if ref.seq >= state.log_size(ref.log):
        raise PendingError(f"entry {ref.log}/{ref.seq} not held", code="reference.unknown")
    entry = state.entry(ref.log, ref.seq)
    if entry is None or entry.leaf_hash != ref.hash:
        raise LogCorruptError(f"entry {ref.log}/{ref.seq} does not have hash {ref.hash.hex()}")
    return entry


def _parcel_entries(state: LedgerView, parcel: ParcelRef) -> list[EntryRef]:
    """The entry that created a parcel, and every transfer of it."""
    known = state.parcel(parcel.log, parcel.seq, parcel.out)
    transfers = list(known.transfers) if known is not None else []
    return [parcel.entry, *transfers]


def _references(state: LedgerView, entry: Entry) -> list[EntryRef]:
    """What one entry depends on (DESIGN §5 references), with the transfers of each parcel."""
    body = entry.signed.body
    if isinstance(body, ParcelTransform | CertificateIssue):
        parcels = body.inputs if isinstance(body, ParcelTransform) else body.parcels
        return [ref for parcel in parcels for ref in _parcel_entries(state, parcel)]
    if isinstance(body, ParcelTransfer):
        # The transfer's own parcel history up to it; later transfers are not its dependencies.
        return [r for r in _parcel_entries(state, body.parcel) if r.seq < entry.seq]
    if isinstance(body, CertificateConfirm | CertificateReject):
        return [body.certificate]
    if isinstance(body, CertificateVoid):
        return [body.certificate, body.evidence]
    return []


def _operators_named(entry: Entry) -> set[str]:
    """Operators whose registration a verifier needs: the signers and those the body names."""
    names = {s.by for s in entry.signed.sigs if s.by != LOG_SIGNER}
    body = entry.signed.body
    if isinstance(body, ParcelProduce):
        names |= {body.mine, body.holder}
    elif isinstance(body, ParcelTransfer):
        names.add(body.to)
    elif isinstance(body, CertificateIssue):
        names.add(body.exporter)
    elif isinstance(body, CertificateConfirm):
        names.add(body.holder)
    return names


def _replay_order(
    found: dict[EntryRef, Entry], depends: dict[EntryRef, set[EntryRef]]
) -> list[EntryRef]:
    """Kahn's topological sort over references plus each log's own seq order; ties broken by
    (log, seq) so the order is the same on every node."""
    edges = {ref: set(deps) for ref, deps in depends.items()}
    by_log: dict[str, list[EntryRef]] = {}
    for ref in sorted(found):
        by_log.setdefault(ref.log, []).append(ref)
    for refs in by_log.values():
        for earlier, later in itertools.pairwise(refs):
            edges[later].add(earlier)
    waiting = {ref: len(deps) for ref, deps in edges.items()}
    dependents: dict[EntryRef, list[EntryRef]] = {ref: [] for ref in edges}
    for ref, deps in edges.items():
        for dep in deps:
            dependents[dep].append(ref)
    ready = [ref for ref, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[EntryRef] = []
    while ready:
        ref = heapq.heappop(ready)
        order.append(ref)
        for later in dependents[ref]:
            waiting[later] -= 1
            if waiting[later] == 0:
                heapq.heappush(ready, later)
    if len(order) != len(found):
        raise LogCorruptError("provenance references form a cycle")
    return order
