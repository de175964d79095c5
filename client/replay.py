"""The one replay of entries through the rules, for every reader that judges logs it downloaded.

A verifier checking a bundle, an auditor checking whole logs, the statistics and the explorer
all decide the same question a replicating node decides: does each entry pass ``rules.check``
given what came before it? They answer it here, the same way:

1. ``trusted_charters``: the charter versions are verified as one chain from the trusted genesis
   (TUF rule, DESIGN §3), so that every entry can be judged under the version its own log had
   adopted — the genesis for entry 0 of the founding members, a later version for a participant
   admitted later or after any charter change. A version that does not chain is no version.
2. ``replay``: every log in seq order, the logs interleaved as their references require. A log
   may be whole (an audit) or sparse (a bundle holds only the entries a chain needs); either
   way the rules see a log as holding what has been replayed of it so far, so a reference to
   an entry not replayed yet waits (``PendingError``) instead of failing. An entry that waits
   for what no log supplies is a finding, as is every entry the rules refuse. A bounded bundle
   (decision 0039) adds its seeds, put into the state before anything is replayed, and the
   entries that made them, which the logs hold in their place without being judged.

Pure: no network, no disk, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from client.findings import Finding
from node.core import merkle, rules
from node.core.charter import Charter, SignedCharter, verify_chain
from node.core.errors import LedgerError, PendingError, RuleError
from node.core.records import (
    LOG_SIGNER,
    CertificateConfirm,
    CertificateIssue,
    CharterAdopt,
    Entry,
    EntryRef,
)
from node.core.state import Effects, LedgerState, MemoryKeyValue, ParcelState

__all__ = [
    "Accepted",
    "Replay",
    "Superseded",
    "history_notes",
    "replay",
    "superseded",
    "trusted_charters",
]

# What the rules say of a reference to an entry that a sparse log does not hold.
_LEFT_OUT = frozenset(
    {"parcel.unknown", "certificate.unknown", "reference.unknown", "reference.mismatch"}
)


def trusted_charters(versions: Iterable[SignedCharter], genesis: bytes) -> list[SignedCharter]:
    """The charter versions as one chain from the trusted genesis, oldest first.

    Duplicates (the same document twice) are dropped; anything else that does not chain — a
    gap, a second document of one version, a version not signed under the TUF rule — fails.

    Raises:
        CharterError: the first failure of the chain (``charter.empty_chain`` for none).
    """
    unique = {signed.hash: signed for signed in versions}
    chain = sorted(unique.values(), key=lambda signed: signed.charter.version)
    verify_chain(chain, genesis)
    return chain


@dataclass(frozen=True, slots=True)
class Accepted:
    """An entry the rules accepted, with what it changed."""

    ref: EntryRef
    entry: Entry
    effects: Effects


@dataclass(frozen=True, slots=True)
class Replay:
    """The outcome of a replay.

    Attributes:
        state: the ledger state after every accepted entry.
        accepted: the accepted entries, in the order they were replayed.
        findings: every entry the rules refused, and every entry left waiting.
        charters: the verified charter chain the entries were judged under.
    """

    state: LedgerState
    accepted: tuple[Accepted, ...]
    findings: tuple[Finding, ...]
    charters: tuple[SignedCharter, ...] = ()  # the chain the entries were judged under


class _ReplayedLogs(MemoryKeyValue):
    """The logs as the rules see them mid-replay: each holds what has been replayed of it.

    ``log_size`` is one past the last entry replayed, so a reference beyond it is pending, and a
    reference below it to an entry the replay does not have (a sparse log) is simply absent.
    """

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, dict[int, bytes]] = {}
        self._sizes: dict[str, int] = {}  # kept, not recomputed: the rules ask at every entry

    def hold(self, log: str, seq: int, raw: bytes) -> None:
        self.held.setdefault(log, {})[seq] = raw
        self._sizes[log] = max(self._sizes.get(log, 0), seq + 1)

    def log_size(self, log: str) -> int:
        return self._sizes.get(log, 0)

    def entry_bytes(self, log: str, seq: int) -> bytes | None:
        return self.held.get(log, {}).get(seq)


def replay(
    charters: Sequence[SignedCharter],
    logs: Mapping[str, Mapping[int, bytes]],
    *,
    waiting_code: str,
    sparse: bool = False,
    on_entry: Callable[[str, int], None] | None = None,
    seeds: Sequence[ParcelState] = (),
    unjudged: Mapping[str, Mapping[int, bytes]] | None = None,
) -> Replay:
    """Run the entries of ``logs`` through ``rules.check``, as a node replicating them would.

    Args:
        charters: the verified chain (``trusted_charters``); each entry is judged under the
            version its log adopted, which the rules look up among these.
        logs: for each log, its raw entries by seq (every seq of a whole log, or some).
        waiting_code: the finding code for an entry that waits for what no log supplies
            (``bundle.incomplete``, ``audit.incomplete``).
        sparse: the logs hold only some entries (a bundle): a reference to an entry left out
            is then a gap in what was supplied (``waiting_code``), not a rule broken.
        on_entry: called with ``(log, seq)`` after each entry is decided (progress).
        seeds: parcels put into the state before anything is replayed, as they were just
            before an entry of ``logs`` consumed them (a bounded bundle's seeds).
        unjudged: entries the logs hold in their place that are not judged (not in
            ``accepted``, no finding): the entries that made seeds, which a rule may read.
    """
    kv = _ReplayedLogs()
    state = LedgerState(kv, kv)
    for signed in charters:
        state.put_charter(signed)
    for seed in seeds:
        state.seed_parcel(seed)
    unjudged = unjudged or {}
    sources = {log: {**unjudged.get(log, {}), **logs.get(log, {})} for log in {*logs, *unjudged}}
    queues = {log: sorted(entries) for log, entries in sources.items()}
    heads = dict.fromkeys(queues, 0)  # the next of each queue: no pop from a list's front
    accepted: list[Accepted] = []
    findings: list[Finding] = []
    waiting: dict[str, tuple[int, LedgerError]] = {}
    progress = True
    while progress:
        progress = False
        for log in sorted(queues):
            queue = queues[log]
            while heads[log] < len(queue):
                seq = queue[heads[log]]
                raw = sources[log][seq]
                if seq in unjudged.get(log, {}) and seq not in logs.get(log, {}):
                    kv.hold(log, seq, raw)  # in its place for the rules to read, not judged
                    heads[log] += 1
                    progress = True
                    continue
                digest = merkle.leaf_hash(raw)
                try:
                    entry = Entry.parse(raw)
                    if entry.seq != seq or entry.signed.log != log:
                        raise RuleError(
                            f"entry at {log}/{seq} says it is {entry.signed.log}/{entry.seq}",
                            code="entry.order",
                        )
                    effects = rules.check(state, entry, digest)
                except PendingError as pending:
                    waiting[log] = (seq, pending)  # another log's entry must come first
                    break
                except LedgerError as broken:
                    code = broken.code
                    if sparse and code in _LEFT_OUT:
                        code = waiting_code
                    findings.append(Finding(code, broken.message, log=log, seq=seq))
                else:
                    state.apply(log, effects)
                    accepted.append(Accepted(EntryRef(log, seq, digest), entry, effects))
                # Refused entries stay in their log's place too, so that later seqs line up.
                kv.hold(log, seq, raw)
                waiting.pop(log, None)
                heads[log] += 1
                progress = True
                if on_entry is not None:
                    on_entry(log, seq)
    for log, (seq, reason) in sorted(waiting.items()):
        findings.append(
            Finding(
                waiting_code,
                f"{log}/{seq} and after wait for what no replayed log holds: {reason.message}",
                log=log,
                seq=seq,
            )
        )
    return Replay(state, tuple(accepted), tuple(findings), tuple(charters))


# --- notes: true, and breaking no rule -----------------------------------------------------------


def history_notes(replayed: Replay) -> list[Finding]:
    """What a reader of replayed history must be told that breaks no rule: entries judged under
    a charter version since superseded in a way that matters to them (``charter.superseded``,
    decision 0023), and confirmations recorded after expiry (``confirmation.late``). A verdict
    and an audit report the same notes of the same entries."""
    return [s.finding() for s in superseded(replayed)] + _late_confirmations(replayed)


@dataclass(frozen=True, slots=True)
class Superseded:
    """An entry accepted under charter version ``judged`` although version ``later``, which
    nothing shows came after it, suspends or removes ``suspended`` (the parties the entry
    involves, with their roles) or rotates away the log key that signed it (decision 0023)."""

    ref: EntryRef
    type: str
    judged: int
    later: int
    suspended: tuple[tuple[str, str], ...]  # (participant, "the issuer" | "the importer")
    key_rotated: bool

    def finding(self) -> Finding:
        reasons = [f"suspends {party}, {role}" for party, role in self.suspended]
        if self.key_rotated:
            reasons.append(f"rotates the log key of {self.ref.log}")
        return Finding(
            "charter.superseded",
            f"{self.ref.log}/{self.ref.seq} ({self.type}) was accepted under charter version "
            f"{self.judged}; version {self.later} " + " and ".join(reasons),
            log=self.ref.log,
            seq=self.ref.seq,
        )


def superseded(replayed: Replay) -> list[Superseded]:
    """Entries judged under a charter version the network has since superseded in a way that
    matters to them (decision 0023): valid history, which a reader must still be told about.

    An entry E of log L, judged under version K, is noted for the first later version M in which
    a participant E involves is suspended or gone (a certificate's issuer and importer), or in
    which L's log key was rotated away (an entry signed by the log key); unless every adoption of
    M the replay knows is later than E, which shows E came first.
    """
    adopted_at: dict[int, int] = {}
    for accepted in replayed.accepted:
        body = accepted.entry.signed.body
        if isinstance(body, CharterAdopt):
            earliest = adopted_at.get(body.version, accepted.entry.time)
            adopted_at[body.version] = min(earliest, accepted.entry.time)
    found: list[Superseded] = []
    for accepted in replayed.accepted:
        entry, ref = accepted.entry, accepted.ref
        body = entry.signed.body
        if isinstance(body, CharterAdopt):
            continue  # adopting is how a log catches up
        adoptions = [a for a in replayed.state.adoptions(ref.log) if a.entry.seq < ref.seq]
        if not adoptions:
            continue
        judged = replayed.charters[adoptions[-1].version - 1].charter
        involved: dict[str, str] = {}
        if isinstance(body, CertificateIssue):
            involved = {ref.log: "the issuer", body.importing: "the importer"}
        elif isinstance(body, CertificateConfirm):
            involved = {ref.log: "the importer", body.certificate.log: "the issuer"}
        by_log_key = any(sig.by == LOG_SIGNER for sig in entry.signed.sigs)
        for later in replayed.charters[judged.version :]:
            charter = later.charter
            suspended = tuple(
                (party, role)
                for party, role in involved.items()
                if (member := charter.participants.get(party)) is None or member.status != "active"
            )
            member = charter.participants.get(ref.log)
            rotated = by_log_key and (member is None or member.log_key != _log_key(judged, ref.log))
            if not suspended and not rotated:
                continue
            first_adopted = adopted_at.get(charter.version)
            if first_adopted is not None and first_adopted > entry.time:
                break  # a log adopted that version only after this entry: it came first
            found.append(
                Superseded(
                    ref, entry.signed.type, judged.version, charter.version, suspended, rotated
                )
            )
            break
    return found


def _log_key(charter: Charter, log: str) -> bytes | None:
    member = charter.participants.get(log)
    return None if member is None else member.log_key


def _late_confirmations(replayed: Replay) -> list[Finding]:
    """Confirmations recorded after the certificate expired (allowed within the void grace
    period when the goods were received in time), so a reader sees the delay."""
    found: list[Finding] = []
    for accepted in replayed.accepted:
        body = accepted.entry.signed.body
        if not isinstance(body, CertificateConfirm):
            continue
        certificate = replayed.state.certificate(body.certificate.log, body.certificate.seq)
        recorded = rules.entry_date(accepted.entry.time)
        if certificate is None or recorded <= certificate.expires_on:
            continue
        found.append(
            Finding(
                "confirmation.late",
                f"certificate {certificate.number} received {body.received_on}, expired "
                f"{certificate.expires_on}, confirmation recorded {recorded}",
                log=accepted.ref.log,
                seq=accepted.ref.seq,
            )
        )
    return found
