"""Provenance: from any entry, the entries a verifier replays to judge it (DESIGN §9).

The DAG of an entry holds every entry it depends on: the certificate a confirmation confirms,
the parcels a certificate or transform consumed, the entry that created each of those parcels
and every transfer of it, down to ``parcel.produce`` entries. A pooling hub's exports depend on
its whole history, so the walk is bounded (decision 0039): ``depth`` levels of the entries that
made the parcels consumed, below the subject and the certificate it confirms, rejects or voids
(always taken). The parcels that the deepest replayed entries consumed are *seeds*: their state
just before they were consumed, which a verifier puts into its replay instead of replaying the
history behind them; the witness quorum vouches for that history (decision 0017). ``depth=None``
walks the whole DAG, as an audit does, and leaves no seed.

Beside the entries come what a verifier needs to check their signatures and roles: the
registration of every operator they name and every charter adoption of the logs they touch up to
the entries taken; and the *creators*: the entry that made each seeded parcel that a replayed
``certificate.issue`` consumes, not replayed, because the rule that a certificate is not dated
before its parcels came into the ledger reads that entry's date (node/core/rules.py
``certificate_issue``, ``date.before_parcels``). No other rule reads more of a consumed parcel
than its ``ParcelState``.

A consumed parcel never changes again (a transfer needs it live, a void releases new parcels at
its own entry), so its stored state with ``consumed_by`` cleared is its state just before it was
consumed: what the seed is.

Entries are listed in an order in which they can be replayed: each after everything it
references and after the earlier listed entries of its own log.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, replace

from node.core.errors import LogCorruptError, PendingError, RequestTooLargeError
from node.core.records import (
    LOG_SIGNER,
    MAX_REFS,
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
from node.core.state import LedgerView, ParcelState

__all__ = [
    "DEFAULT_DEPTH",
    "MAX_DAG_ENTRIES",
    "MAX_DEPTH",
    "MAX_SEEDS",
    "Provenance",
    "depth_text",
    "parse_depth",
    "provenance",
]

MAX_DAG_ENTRIES = 100_000  # a bound on the walk; real chains are tens to hundreds of entries
# The seeds of a bundle: a certificate of MAX_REFS parcels, each made by an entry of MAX_REFS
# inputs, is the default depth at its widest. A deeper walk wider than that is refused.
MAX_SEEDS = MAX_REFS * MAX_REFS
DEFAULT_DEPTH = 1  # the certificate and the step that made its parcels (decision 0039)
MAX_DEPTH = MAX_DAG_ENTRIES  # a depth past the longest walk is the whole DAG, spelled "all"


def parse_depth(text: str) -> int | None:
    """A depth as the API, ``kp`` and the SDK spell it: a count of levels, or ``all`` (None).

    Raises:
        ValueError: neither ``all`` nor a count from 0 to ``MAX_DEPTH`` in decimal digits.
    """
    if text == "all":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) > MAX_DEPTH:
        raise ValueError(f"depth {text[:20]!r} is neither 'all' nor a count from 0 to {MAX_DEPTH}")
    return int(text)


def depth_text(depth: int | None) -> str:
    """The spelling ``parse_depth`` reads back."""
    return "all" if depth is None else str(depth)


@dataclass(frozen=True, slots=True)
class Provenance:
    """The entries that judge ``subject``, and what is needed to check them.

    Attributes:
        subject: the entry whose history this is.
        depth: the levels of parcel-making entries walked below the subject and its
            certificate; None for the whole DAG.
        entries: the entries to replay, subject included, in replay order.
        seeds: the parcels replayed entries consume whose history is not replayed, each in its
            state just before it was consumed (``consumed_by`` cleared, no transfers); none for
            the whole DAG.
        creators: the entries, not replayed, that made a seeded parcel a replayed certificate
            consumes (the rules read their date).
        mines: the ``parcel.produce`` entries among ``entries``.
        operators: ``operator.register`` (and ``operator.revoke``) entries of every operator
            the replayed records are signed by or name.
        adoptions: every ``charter.adopt`` of each log of ``entries``, up to its last one.
        charters: the hashes of the charter versions those adoptions name.
    """

    subject: EntryRef
    entries: tuple[EntryRef, ...]
    mines: tuple[EntryRef, ...]
    operators: tuple[EntryRef, ...]
    adoptions: tuple[EntryRef, ...]
    charters: tuple[bytes, ...]
    depth: int | None = None
    seeds: tuple[ParcelState, ...] = ()
    creators: tuple[EntryRef, ...] = ()


def provenance(
    state: LedgerView, subject: EntryRef, depth: int | None = DEFAULT_DEPTH
) -> Provenance:
    """Walk from ``subject`` back ``depth`` levels of parcel-making entries (None: the mines).

    Level 0 is the subject with the certificate it confirms, rejects or voids (and a void's
    evidence); the entries that made the parcels a level-``k`` entry consumes, with every
    transfer of each, are level ``k + 1``. Each entry is taken at the lowest level it is
    reached at.

    Raises:
        ValueError: ``depth`` is negative.
        PendingError: the store does not hold an entry the walk references.
        LogCorruptError: a reference does not match the entry the store holds.
        RequestTooLargeError: the walk passes ``MAX_DAG_ENTRIES`` entries or ``MAX_SEEDS``
            seeds (``provenance.too_large``).
    """
    if depth is not None and depth < 0:
        raise ValueError("depth must be 0 or more, or None for the whole DAG")
    found: dict[EntryRef, Entry] = {}
    depends: dict[EntryRef, set[EntryRef]] = {}
    level_refs: list[EntryRef] = [subject]
    level = 0
    while level_refs:
        deeper: list[EntryRef] = []
        walk_inputs = depth is None or level < depth
        # Refs at this level are appended while it is walked: a confirmation's certificate, a
        # transfer's parcel history belong to the level of the entry that names them.
        i = 0
        while i < len(level_refs):
            ref = level_refs[i]
            i += 1
            if ref in found:
                continue
            _bound(found, subject)
            entry = _entry(state, ref)
            found[ref] = entry
            same, inputs = _references(state, entry)
            depends[ref] = set(same)
            level_refs.extend(r for r in same if r not in found)
            if walk_inputs:
                depends[ref].update(inputs)
                deeper.extend(r for r in inputs if r not in found)
        level_refs = deeper
        level += 1
    # A parcel whose creator was taken at some level must be replayed with every transfer of
    # it, or the consumer would not find it held by its signer.
    for ref in list(found):
        for parcel in _consumed(found[ref]):
            if parcel.entry in found:
                for transfer in _parcel_entries(state, parcel)[1:]:
                    if transfer not in found:
                        _bound(found, subject)
                        transfer_entry = _entry(state, transfer)
                        found[transfer] = transfer_entry
                        depends[transfer] = set(_references(state, transfer_entry)[0])
                depends[ref].update(_parcel_entries(state, parcel))
    seeds: dict[ParcelRef, ParcelState] = {}
    creators: set[EntryRef] = set()
    for entry in found.values():
        for parcel in _consumed(entry):
            if parcel.entry in found or parcel in seeds:
                continue
            seeds[parcel] = _seed(state, parcel)
            if isinstance(entry.signed.body, CertificateIssue):
                creators.add(parcel.entry)
            if len(seeds) > MAX_SEEDS:
                raise RequestTooLargeError(
                    f"provenance of {subject} at depth {depth} has more than {MAX_SEEDS} seeds",
                    code="provenance.too_large",
                )
    for creator in creators:
        _entry(state, creator)  # held, with the hash the parcel names

    order = _replay_order(found, depends)
    last_seq: dict[str, int] = {}
    for ref in order:
        last_seq[ref.log] = max(last_seq.get(ref.log, -1), ref.seq)
    operators: set[EntryRef] = set()
    named: set[tuple[str, str]] = set()
    for ref, entry in found.items():
        for operator in _operators_named(entry):
            if (ref.log, operator) in named:
                continue
            named.add((ref.log, operator))
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
        depth=depth,
        seeds=tuple(seeds[p] for p in sorted(seeds, key=lambda p: (p.log, p.seq, p.out))),
        creators=tuple(sorted(creators)),
    )


def _bound(found: dict[EntryRef, Entry], subject: EntryRef) -> None:
    if len(found) >= MAX_DAG_ENTRIES:
        raise RequestTooLargeError(
            f"provenance of {subject} exceeds {MAX_DAG_ENTRIES} entries",
            code="provenance.too_large",
        )


def _seed(state: LedgerView, parcel: ParcelRef) -> ParcelState:
    """A consumed parcel as it was just before it was consumed (the module docstring)."""
    known = state.parcel(parcel.log, parcel.seq, parcel.out)
    if known is None or known.ref != parcel:
        raise LogCorruptError(f"parcel {parcel.log}/{parcel.seq}/{parcel.out} is not held")
    return replace(known, consumed_by=None, transfers=())


def _consumed(entry: Entry) -> tuple[ParcelRef, ...]:
    body = entry.signed.body
    if isinstance(body, ParcelTransform):
        return body.inputs
    if isinstance(body, CertificateIssue):
        return body.parcels
    return ()


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


def _references(state: LedgerView, entry: Entry) -> tuple[list[EntryRef], list[EntryRef]]:
    """What one entry depends on (DESIGN §5 references): at its own level (a confirmation's
    certificate, a transfer's parcel history up to it), and one level deeper (the entries that
    made the parcels it consumes, with every transfer of each)."""
    body = entry.signed.body
    if isinstance(body, ParcelTransform | CertificateIssue):
        return [], [ref for parcel in _consumed(entry) for ref in _parcel_entries(state, parcel)]
    if isinstance(body, ParcelTransfer):
        # The transfer's own parcel history up to it; later transfers are not its dependencies.
        return [r for r in _parcel_entries(state, body.parcel) if r.seq < entry.seq], []
    if isinstance(body, CertificateConfirm | CertificateReject):
        return [body.certificate], []
    if isinstance(body, CertificateVoid):
        return [body.certificate, body.evidence], []
    return [], []


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
