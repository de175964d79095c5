"""Deep verification as a chain of bounded bundles (decision 0039): every request bounded, the
whole as strong as one replay of the DAG.

A bounded bundle replays the last steps of a chain and seeds the parcels behind them with their
state as the serving node holds it. Here each seed is verified in turn by the bounded bundle of
the last entry that changed it before it was consumed — the entry that made it, or its last
transfer (the node names its transfers in ``POST /v1/parcels/states``) — whose replay must make
the parcel exactly as it was seeded (id, holder, centicarats, HS code, origins and basis;
``bundle.seed_disagrees`` when not). That bundle's own seeds are verified the same way, down to
the mines. A node that omits a transfer or invents one gains nothing: the replayed holder then
differs from the seed's.

Every page is checked by ``client.verify.check_bundle_replay``, the one offline check. Across
pages, each parcel must be consumed by one entry only (``parcel.double_spent``): within a page
the rules see a second spend, across pages a seed hides the first one. No entry's bundle is
fetched twice, and a seed whose last change a page already replayed is read from that page.

The walk is bounded by pages fetched and entries replayed (``max_pages``, ``max_entries``).
Where a bound is reached, or no node serves a page, the walk stops there: the verdict keeps the
seeds it did not verify, whose history then rests on the witnesses as in any bounded verdict,
and a note says why (``deep.bounded``, ``deep.unavailable``) — never a silent VALID back to the
mines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import httpx

from client.answers import ParcelInfo
from client.errors import ClientError, ProblemError
from client.replay import Replay
from client.sdk import LedgerClient
from client.verify import Finding, SeededParcel, Step, Verdict, check_bundle_replay
from node.core.bundle import Bundle
from node.core.errors import BundleError
from node.core.provenance import MAX_DAG_ENTRIES
from node.core.records import CertificateIssue, EntryRef, ParcelRef, ParcelTransform
from node.core.state import ParcelState

__all__ = [
    "DEFAULT_PAGE_DEPTH",
    "MAX_ENTRIES",
    "MAX_PAGES",
    "DeepVerdict",
    "deepen",
    "verify_deep",
]

# Levels per page: at a pooling hub, about four rounds of its history (a merge and a split
# each, and the import the merge consumed).
DEFAULT_PAGE_DEPTH = 8
MAX_PAGES = 10_000  # bundles fetched for one verdict
MAX_ENTRIES = MAX_DAG_ENTRIES  # distinct entries replayed over all pages, as one full bundle


@dataclass(frozen=True, slots=True)
class DeepVerdict:
    """One verdict on the subject over every page of the chain.

    ``pages`` is the number of bundles checked; ``complete`` is true when every seed was
    verified by a page (the verdict then has no seeds and reaches the mines).
    """

    verdict: Verdict
    pages: int
    complete: bool


def verify_deep(
    urls: Sequence[str],
    subject: str,
    genesis: bytes,
    *,
    depth_per_page: int = DEFAULT_PAGE_DEPTH,
    max_pages: int = MAX_PAGES,
    max_entries: int = MAX_ENTRIES,
    today: str | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 10.0,
) -> DeepVerdict:
    """Verify ``subject`` back to the mines through bounded bundles, offline checks only (no
    node is cross-examined: ``client.online.verify_online(deep=True)`` does both).

    Args:
        urls: the nodes asked, in order; each bundle and state comes from the first that
            serves it.
        depth_per_page: the depth of each bundle (``LedgerClient.provenance``).
        max_pages: bundles fetched at most, the subject's included.
        max_entries: distinct entries replayed at most; checked before each fetch.
        today: the verifier's date that expiry is judged against.
    """
    clients = [LedgerClient(url, transport=transport, retries=1, timeout=timeout) for url in urls]
    try:
        first = _fetch(clients, subject, depth_per_page)
        if not isinstance(first, Bundle):
            return DeepVerdict(Verdict(subject, "", (first,)), 0, False)
        verdict, replayed = check_bundle_replay(first, genesis, today=today)
        return deepen(
            clients,
            first,
            verdict,
            replayed,
            genesis,
            depth_per_page=depth_per_page,
            max_pages=max_pages,
            max_entries=max_entries,
            today=today,
        )
    finally:
        for client in clients:
            client.close()


@dataclass
class _Page:
    subject: EntryRef
    verdict: Verdict
    replay: Replay | None
    accepted: frozenset[EntryRef]


@dataclass
class _Walk:
    clients: Sequence[LedgerClient]
    genesis: bytes
    depth: int
    today: str | None
    pages: list[_Page] = field(default_factory=list)
    replayed_in: dict[EntryRef, int] = field(default_factory=dict)  # the first page replaying it
    consumers: dict[ParcelRef, EntryRef] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    # Each seed as each page seeded it: a parcel seeded by two pages otherwise than the other
    # is checked both times, or the second page's replay could rest on an unchecked seed.
    queued: set[tuple[ParcelRef, tuple[object, ...]]] = field(default_factory=set)
    pending: list[ParcelState] = field(default_factory=list)
    unverified: list[ParcelState] = field(default_factory=list)

    def take(self, page: _Page, seeds: Sequence[ParcelState]) -> None:
        """Record what a page replayed and consumed, and queue its seeds."""
        index = len(self.pages)
        self.pages.append(page)
        accepted = page.replay.accepted if page.replay is not None else ()
        for item in accepted:
            self.replayed_in.setdefault(item.ref, index)
            body = item.entry.signed.body
            if isinstance(body, ParcelTransform):
                consumed = body.inputs
            elif isinstance(body, CertificateIssue):
                consumed = body.parcels
            else:
                continue
            for parcel in consumed:
                before = self.consumers.setdefault(parcel, item.ref)
                if before != item.ref:
                    self.findings.append(
                        Finding(
                            "parcel.double_spent",
                            f"parcel {_parcel(parcel)} is consumed by {_entry(before)} and by "
                            f"{_entry(item.ref)}",
                            log=parcel.log,
                            seq=parcel.seq,
                        )
                    )
        for seed in seeds:
            key = (seed.ref, _seeded_as(seed))
            if key not in self.queued:
                self.queued.add(key)
                self.pending.append(seed)


def deepen(
    clients: Sequence[LedgerClient],
    first: Bundle,
    verdict: Verdict,
    replayed: Replay | None,
    genesis: bytes,
    *,
    depth_per_page: int = DEFAULT_PAGE_DEPTH,
    max_pages: int = MAX_PAGES,
    max_entries: int = MAX_ENTRIES,
    today: str | None = None,
) -> DeepVerdict:
    """Verify the seeds of ``first``, already checked (``verdict``, ``replayed``: what
    ``check_bundle_replay`` returned), by bounded bundles fetched from ``clients``, and fold
    every page into one verdict on the subject (the module docstring)."""
    if replayed is None:  # nothing replayed: the first page's findings are the verdict
        return DeepVerdict(verdict, 1, False)
    walk = _Walk(clients, genesis, depth_per_page, today)
    accepted = frozenset(item.ref for item in replayed.accepted)
    subject = next(
        (ref for ref in accepted if ref.hash == first.subject), EntryRef("", 0, first.subject)
    )
    walk.take(_Page(subject, verdict, replayed, accepted), first.seeds)
    stopped: str | None = None
    while walk.pending:
        batch, walk.pending = walk.pending, []
        wanted: dict[EntryRef, list[ParcelState]] = {}
        for seed, info in zip(batch, _states(clients, [s.ref for s in batch]), strict=True):
            last = _last_change(walk, seed, info)
            known = walk.replayed_in.get(last)
            if known is not None and seed.ref.entry in walk.pages[known].accepted:
                _check_seed(walk, seed, walk.pages[known])
            else:
                wanted.setdefault(last, []).append(seed)
        for last, seeds in sorted(wanted.items(), key=lambda item: (item[0].log, item[0].seq)):
            if stopped is None and len(walk.pages) >= max_pages:
                stopped = f"{max_pages} bundles fetched (max_pages)"
            if stopped is None and len(walk.replayed_in) >= max_entries:
                stopped = f"{max_entries} entries replayed (max_entries)"
            if stopped is not None:
                walk.unverified.extend(seeds)
                continue
            page = _page(walk, last, seeds)
            if page is None:
                walk.unverified.extend(seeds)
                continue
            for seed in seeds:
                _check_seed(walk, seed, page)
    if stopped is not None:
        walk.notes.append(
            Finding(
                "deep.bounded",
                f"deep verification stopped at {stopped}: the history behind "
                f"{len(walk.unverified)} seeded parcel(s) was not replayed and rests on the "
                "witnesses",
            )
        )
    return DeepVerdict(_folded(walk, verdict), len(walk.pages), not walk.unverified)


def _last_change(walk: _Walk, seed: ParcelState, info: ParcelInfo | None) -> EntryRef:
    """The entry whose bundle must make ``seed`` as it was seeded: its last transfer, as the
    node names them, or the entry that made it. A consumer the node names otherwise than the
    chain is a second spend."""
    if info is None:
        return seed.ref.entry
    consumer = walk.consumers.get(seed.ref)
    if info.consumed_by is not None and consumer is not None and info.consumed_by != consumer:
        walk.findings.append(
            Finding(
                "parcel.double_spent",
                f"a node says parcel {_parcel(seed.ref)} went to {_entry(info.consumed_by)}, the "
                f"chain says {_entry(consumer)}",
                log=seed.ref.log,
                seq=seed.ref.seq,
            )
        )
    return info.transfers[-1] if info.transfers else seed.ref.entry


def _page(walk: _Walk, last: EntryRef, seeds: Sequence[ParcelState]) -> _Page | None:
    """The bounded bundle of ``last``, checked, its findings and notes named by where they came
    from; None (and a note) when no node serves it."""
    where = f"the bundle of {_entry(last)}"
    served = _fetch(walk.clients, last.hash.hex(), walk.depth)
    if isinstance(served, Finding) and served.code != "bundle.unavailable":
        walk.findings.append(replace(served, detail=f"{where}: {served.detail}"))
        return None
    if isinstance(served, Finding):
        walk.notes.append(
            Finding(
                "deep.unavailable",
                f"{where}, which must make the seeded parcels "
                f"{', '.join(_parcel(s.ref) for s in seeds)}, was not served: {served.detail}",
                log=last.log,
                seq=last.seq,
            )
        )
        return None
    verdict, replayed = check_bundle_replay(served, walk.genesis, today=walk.today)
    if served.subject != last.hash:
        walk.findings.append(
            Finding("deep.other_subject", f"{where} is of another entry", log=last.log)
        )
    walk.findings.extend(replace(f, detail=f"{where}: {f.detail}") for f in verdict.findings)
    walk.notes.extend(replace(n, detail=f"{where}: {n.detail}") for n in verdict.notes)
    accepted = frozenset(item.ref for item in replayed.accepted) if replayed else frozenset()
    page = _Page(last, verdict, replayed, accepted)
    walk.take(page, served.seeds if replayed is not None else ())
    return page


def _check_seed(walk: _Walk, seed: ParcelState, page: _Page) -> None:
    """The seed must be the parcel as the page's replay made it."""
    ref = seed.ref
    made = None
    if page.replay is not None and ref.entry in page.accepted:
        made = page.replay.state.parcel(ref.log, ref.seq, ref.out)
    if made is None or made.ref != ref:
        walk.findings.append(
            Finding(
                "bundle.seed_disagrees",
                f"the bundle of {_entry(page.subject)} does not replay the making of the seeded "
                f"parcel {_parcel(ref)}",
                log=ref.log,
                seq=ref.seq,
            )
        )
        return
    if _seeded_as(made) != _seeded_as(seed):
        walk.findings.append(
            Finding(
                "bundle.seed_disagrees",
                f"parcel {_parcel(ref)} was seeded as {_seeded_as(seed)}; replaying the bundle "
                f"of {_entry(page.subject)} makes it {_seeded_as(made)}",
                log=ref.log,
                seq=ref.seq,
            )
        )


def _folded(walk: _Walk, first: Verdict) -> Verdict:
    """One verdict on the subject: every page's findings and notes, every entry replayed once,
    the seeds not verified, the origins of the productions reached and of those seeds."""
    steps: dict[str, Step] = {}
    for page in walk.pages:
        for step in page.verdict.chain:
            steps.setdefault(step.hash, step)
    chain = sorted(steps.values(), key=lambda s: (s.date, s.log, s.seq))
    origins = {o for s in chain if s.type == "parcel.produce" for o in s.origins}
    origins |= {o for seed in walk.unverified for o in seed.origins}
    return replace(
        first,
        findings=(*first.findings, *walk.findings),
        notes=(*first.notes, *walk.notes),
        chain=tuple(chain),
        origins=tuple(sorted(origins)),
        replayed=len(walk.replayed_in),
        seeds=tuple(SeededParcel.of(seed) for seed in walk.unverified),
        depth=None if not walk.unverified else first.depth,
    )


def _fetch(clients: Sequence[LedgerClient], subject: str, depth: int) -> Bundle | Finding:
    """The bundle of ``subject`` from the first node that serves one, or why none did."""
    reasons: list[str] = []
    for client in clients:
        try:
            return client.provenance(subject, depth)
        except BundleError as exc:  # it answered, with no well-formed bundle: INVALID
            return Finding(exc.code, f"{client.url} served no well-formed bundle: {exc.message}")
        except ProblemError as exc:  # this node lacks it, or refuses it; another may not
            reasons.append(f"{client.url}: {exc.code}")
        except ClientError as exc:
            reasons.append(f"{client.url}: {exc}")
    return Finding("bundle.unavailable", "; ".join(reasons) or "no node to ask")


def _states(clients: Sequence[LedgerClient], refs: list[ParcelRef]) -> list[ParcelInfo | None]:
    """The parcels' states from the first node that answers (transfers, consumer), or none."""
    for client in clients:
        try:
            return client.parcel_states(refs)
        except ClientError:
            continue
    return [None] * len(refs)


def _seeded_as(parcel: ParcelState) -> tuple[str, str, int, str, tuple[str, ...], int]:
    return (
        parcel.parcel,
        parcel.holder,
        parcel.centicarats,
        parcel.hs_code,
        parcel.origins,
        parcel.basis,
    )


def _entry(ref: EntryRef) -> str:
    return f"{ref.log}/{ref.seq}"


def _parcel(ref: ParcelRef) -> str:
    return f"{ref.log}/{ref.seq}/{ref.out}"
