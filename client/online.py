"""Online verification: the offline checks, plus what only several nodes can tell (DESIGN §9).

A node could serve a valid-looking bundle of a forked log, or hide that a parcel in the chain was
spent twice. So the verifier asks every node it is given: each must hold every log of the chain
consistently with the bundle's checkpoints, hold no evidence against those logs, and name the
same spender for every parcel the chain consumed. A node that disagrees is named in the findings.

Each node is asked in a number of requests that does not grow with the chain (decision 0039):
its logs, a consistency proof for each of the chain's logs it holds beyond the bundle's
checkpoint, its evidence, the certificate's status, and the states of every parcel asked about
in one ``POST /v1/parcels/states`` per 256 parcels. With ``deep=True`` the seeds of the
subject's bundle are then verified by bounded bundles of their own, down to the mines
(client/deep.py).

The status of the subject's certificate is what every queried node agrees on (DESIGN §9): a node
that knows of a confirmation, rejection or void the bundle lacks must prove it with a bundle of
its own, which then decides; a node that holds the deciding entry's log but reports otherwise is
named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import httpx

from client.answers import ParcelInfo
from client.deep import MAX_PAGES, deepen
from client.errors import ClientError, NodeBehindError, ProblemError
from client.sdk import LedgerClient
from client.verify import CertificateStatus, Finding, Verdict, check_bundle, check_bundle_replay
from node.core import clock, merkle, notes
from node.core.bundle import Bundle
from node.core.errors import BundleError, LedgerError
from node.core.provenance import DEFAULT_DEPTH
from node.core.records import CertificateIssue, Entry, EntryRef, ParcelRef, ParcelTransform
from node.core.state import ParcelState

__all__ = ["NodeBehindError", "OnlineVerdict", "verify_online"]


@dataclass(frozen=True, slots=True)
class OnlineVerdict:
    """The offline verdict with the nodes' findings merged in.

    ``unreachable`` lists the nodes that did not answer or had not replicated the chain's logs
    yet; they decide nothing. ``decided`` is false when no node could be asked: exit 2.
    ``pages`` is how many bundles the verdict checked: one, or the chain of a deep verification
    (client/deep.py); none when no node served one.
    """

    verdict: Verdict
    asked: tuple[str, ...]
    unreachable: tuple[str, ...] = field(default=())
    pages: int = 0

    @property
    def decided(self) -> bool:
        return bool(set(self.asked) - set(self.unreachable))


def verify_online(
    urls: list[str],
    subject: str,
    genesis: bytes,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 10.0,
    today: str | None = None,
    depth: int | None = DEFAULT_DEPTH,
    deep: bool = False,
    max_pages: int = MAX_PAGES,
) -> OnlineVerdict:
    """Fetch the subject's bundle from the first node that serves it, verify it offline, then
    cross-examine every node in ``urls``.

    Args:
        today: the verifier's date that expiry is judged against (the system clock's if not
            given).
        depth: the bundle asked for (``LedgerClient.provenance``): bounded by default, None
            for the whole DAG in one bundle.
        deep: verify every seed of that bundle by a bundle of its own, down to the mines
            (``client.deep.deepen``, ``kp verify --deep``); ``depth`` is then each page's, and
            ``max_pages`` bounds their number.
    """
    clients = {
        url: LedgerClient(url, transport=transport, retries=1, timeout=timeout) for url in urls
    }
    try:
        return _verify(clients, subject, genesis, today, depth, max_pages if deep else 0)
    finally:
        for client in clients.values():
            client.close()


def _verify(
    clients: dict[str, LedgerClient],
    subject: str,
    genesis: bytes,
    today: str | None,
    depth: int | None = DEFAULT_DEPTH,
    max_pages: int = 0,
) -> OnlineVerdict:
    """``verify_online``; ``max_pages`` above 0 verifies the seeds by that many bundles at
    most (deep verification), 0 leaves them resting on the witnesses."""
    served: Bundle | BundleError | None = None
    unreachable: list[str] = []
    refusals: set[str] = set()
    serving: LedgerClient | None = None
    for url, client in clients.items():
        try:
            served = client.provenance(subject, depth)
            serving = client
            break
        except BundleError as exc:  # it answered, with no well-formed bundle
            served = exc
            break
        except ProblemError as exc:
            refusals.add(exc.code)  # this node lacks the entry; another may hold it
        except ClientError:
            unreachable.append(url)
    if served is None:
        # Every node that answered holds no such entry: as likely forged as an unknown number.
        unknown = refusals == {"entry.unknown"}
        empty = Verdict(
            subject,
            "",
            (
                Finding("entry.unknown", "no node that answered holds an entry with this hash")
                if unknown
                else Finding("bundle.unavailable", "no node served it"),
            ),
        )
        return OnlineVerdict(empty, tuple(clients), tuple(unreachable))
    pages = 1
    if isinstance(served, Bundle):
        verdict, replayed = check_bundle_replay(served, genesis, today=today)
        if max_pages and depth is not None and serving is not None:
            # The node that served the first page first, then the others, for every page.
            ordered = [serving, *(c for c in clients.values() if c is not serving)]
            deep = deepen(
                ordered,
                served,
                verdict,
                replayed,
                genesis,
                depth_per_page=depth,
                max_pages=max_pages,
                today=today,
            )
            verdict, pages = deep.verdict, deep.pages
        consumers, checkpoints = _consumed(served), _checkpoints(served)
        asked = _parcels_to_ask(served, consumers)
        seeds = {seed.ref: seed for seed in served.seeds}
    else:  # INVALID with the parse's finding, as the same answer would be offline
        verdict = Verdict("", "", (Finding(served.code, served.message),))
        consumers, checkpoints, asked, seeds = {}, {}, [], {}
    reachable = [url for url in clients if url not in unreachable]
    verdict = _agreed_status(clients, reachable, verdict, genesis, today)
    findings = list(verdict.findings)
    for url, client in clients.items():
        if url in unreachable:
            continue
        try:
            findings.extend(_examine(url, client, checkpoints, consumers, asked, seeds))
        except ClientError:  # unreachable, or behind: it decides nothing either way
            unreachable.append(url)
    verdict = replace(verdict, findings=tuple(findings))
    status = verdict.certificate
    if status is not None and status.usable:
        reachable = [url for url in clients if url not in unreachable]
        verdict = _usable_as_of(clients, reachable, verdict, status)
    # An unreachable node is named in ``unreachable`` but decides nothing by itself.
    return OnlineVerdict(verdict, tuple(clients), tuple(unreachable), pages)


def _usable_as_of(
    clients: Mapping[str, LedgerClient],
    reachable: list[str],
    verdict: Verdict,
    status: CertificateStatus,
) -> Verdict:
    """A usable certificate holds as of now when the importer's own node — where a
    confirmation or rejection would be recorded — was among those that just agreed on its
    status: then the sizes are what that node holds now. Without it, it holds only as of the
    witnessed checkpoints, and the verdict says the importer's node was silent."""
    for url in reachable:
        try:
            if clients[url].network().participant != status.importing:
                continue
            held = {item.log: item.size for item in clients[url].logs()}
        except ClientError:
            continue
        sizes = tuple(
            (log, size)
            for log in sorted({status.issuer, status.importing})
            if (size := held.get(log)) is not None
        )
        now = clock.timestamp()
        return replace(
            verdict,
            certificate=replace(status, as_of=now.replace("+00:00", "Z"), as_of_sizes=sizes),
        )
    silent = Finding(
        "status.importer_silent",
        f"{status.importing}'s own node did not answer: a confirmation or rejection recorded "
        f"there after {status.as_of or 'the bundle'} may not have reached the nodes asked",
        log=status.importing,
    )
    return replace(
        verdict,
        certificate=replace(status, importer_silent=True),
        notes=(*verdict.notes, silent),
    )


def _consumed(bundle: Bundle) -> dict[ParcelRef, str]:
    """Every parcel an entry of the bundle consumed, with that entry's hash."""
    consumers: dict[ParcelRef, str] = {}
    for item in bundle.entries:
        try:
            entry = Entry.parse(item.entry)
        except LedgerError:
            continue  # the offline check already reported it
        body = entry.signed.body
        if isinstance(body, ParcelTransform):
            parcels = body.inputs
        elif isinstance(body, CertificateIssue):
            parcels = body.parcels
        else:
            continue
        for parcel in parcels:
            consumers[parcel] = item.hash.hex()
    return consumers


def _parcels_to_ask(bundle: Bundle, consumers: Mapping[ParcelRef, str]) -> list[ParcelRef]:
    """Every parcel each node is asked the state of, in one batch: each parcel the chain
    consumed (the node must name the same consumer), and each seed of a bounded bundle
    (decision 0039: the node must hold it as the bundle seeded it). A seed is consumed by a
    replayed entry, so it is usually among the consumed already."""
    return list(dict.fromkeys([*consumers, *(seed.ref for seed in bundle.seeds)]))


def _checkpoints(bundle: Bundle) -> dict[str, notes.SignedCheckpoint]:
    found = {}
    for log, note in bundle.checkpoints.items():
        try:
            found[log] = notes.SignedCheckpoint.parse(note)
        except LedgerError:
            continue
    return found


_DECIDED = ("confirmed", "rejected", "voided")


def _agreed_status(
    clients: Mapping[str, LedgerClient],
    reachable: list[str],
    verdict: Verdict,
    genesis: bytes,
    today: str | None,
) -> Verdict:
    """The verdict whose certificate status every node agrees on, or with the disagreement.

    A decided status (confirmed, rejected, voided) is final and proven by an entry; a node that
    reports one the bundle lacks is asked for its own bundle, whose proof then decides; two
    different decided statuses are a dispute. A node reporting less than the bundle proves may
    just not have replicated the deciding entry yet: a note, not a finding.
    """
    status = verdict.certificate
    if status is None or not verdict.valid:
        return verdict
    findings: list[Finding] = []
    notes_found: list[Finding] = []
    for url in reachable:
        client = clients[url]
        try:
            theirs = client.certificate(status.issuer, status.number).status
        except ClientError:
            continue  # not replicated there yet, or unreachable: it decides nothing
        if theirs == status.state or (theirs not in _DECIDED and status.state not in _DECIDED):
            continue
        if theirs in _DECIDED and status.state not in _DECIDED:
            try:
                proven = check_bundle(client.provenance(verdict.subject), genesis, today=today)
            except (ClientError, BundleError):
                proven = None
            if proven is not None and proven.certificate and proven.certificate.state == theirs:
                return _agreed_status(clients, reachable, proven, genesis, today)
            findings.append(
                Finding(
                    "status.unproven",
                    f"{url} says certificate {status.number} is {theirs} but proves no such entry",
                    log=status.issuer,
                )
            )
            continue
        if theirs in _DECIDED:
            findings.append(
                Finding(
                    "status.disputed",
                    f"{url} says certificate {status.number} is {theirs}; the bundle proves "
                    f"{status.state}",
                    log=status.issuer,
                )
            )
            continue
        notes_found.append(
            Finding(
                "status.behind",
                f"{url} reports certificate {status.number} {theirs}; the bundle proves "
                f"{status.state} (that node may not have replicated it yet)",
                log=status.issuer,
            )
        )
    return replace(
        verdict,
        findings=(*verdict.findings, *findings),
        notes=(*verdict.notes, *notes_found),
    )


def _examine(
    url: str,
    client: LedgerClient,
    checkpoints: dict[str, notes.SignedCheckpoint],
    consumers: Mapping[ParcelRef, str],
    asked: Sequence[ParcelRef],
    seeds: Mapping[ParcelRef, ParcelState],
) -> list[Finding]:
    """What one node says against the bundle: a fork of one of its logs, evidence against
    one, a parcel it does not know or knows consumed by another entry, a seed it holds
    otherwise than the bundle seeded it.

    Raises:
        NodeBehindError: the node holds a log of the chain not yet up to its checkpoint.
        ClientError: the node did not answer, or refused the batch of parcel states.
    """
    findings = []
    held = {item.log: item for item in client.logs()}
    for log, checkpoint in checkpoints.items():
        mine = held.get(log)
        if mine is None or mine.size < checkpoint.size:
            # Not yet replicated: this node can neither confirm nor contradict the bundle.
            raise NodeBehindError(f"{url} does not hold {log} up to {checkpoint.size}")
        try:
            proof = (
                client.consistency_proof(log, checkpoint.size, mine.size)
                if mine.size > checkpoint.size
                else []
            )
            merkle.verify_consistency(checkpoint.size, mine.size, checkpoint.root, mine.root, proof)
        except (LedgerError, ClientError) as exc:
            findings.append(
                Finding(
                    "node.fork",
                    f"{url} holds a {log} inconsistent with the bundle's checkpoint: {exc}",
                    log=log,
                )
            )
    for evidence in client.evidence():
        if evidence.log in checkpoints:
            findings.append(
                Finding(
                    "log.evidence",
                    f"{url} holds evidence against {evidence.log}: {evidence.code}",
                    log=evidence.log,
                )
            )
    for parcel, state in zip(asked, client.parcel_states(asked), strict=True):
        if state is None:
            findings.append(
                Finding(
                    "node.disagrees",
                    f"{url} does not know parcel {parcel.log}/{parcel.seq}/{parcel.out}",
                    log=parcel.log,
                    seq=parcel.seq,
                )
            )
            continue
        seed = seeds.get(parcel)
        if seed is not None and _seeded_as(seed) != _seeded_as(state):
            findings.append(
                Finding(
                    "node.disagrees",
                    f"{url} holds parcel {parcel.log}/{parcel.seq}/{parcel.out} as "
                    f"{_seeded_as(state)}, the bundle seeded it as {_seeded_as(seed)}",
                    log=parcel.log,
                    seq=parcel.seq,
                )
            )
        consumer = consumers.get(parcel)
        if consumer is None:
            continue
        spent = state.consumed_by
        if spent is None or spent.hash.hex() != consumer:
            findings.append(
                Finding(
                    "parcel.double_spent",
                    f"{url} says parcel "
                    f"{parcel.log}/{parcel.seq}/{parcel.out} went to "
                    f"{_ref_list(spent)}, the chain says {consumer}",
                    log=parcel.log,
                    seq=parcel.seq,
                )
            )
    return findings


def _seeded_as(parcel: ParcelState | ParcelInfo) -> tuple[str, str, int, str, tuple[str, ...]]:
    """What a seed says of its parcel that a node's answer says too."""
    return (parcel.parcel, parcel.holder, parcel.centicarats, parcel.hs_code, parcel.origins)


def _ref_list(ref: EntryRef | None) -> list[object] | None:
    """A reference as the node sent it, ``[log, seq, hash]``, to name it in a finding."""
    return None if ref is None else [ref.log, ref.seq, ref.hash.hex()]
