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
   for what no log supplies is a finding, as is every entry the rules refuse.

Pure: no network, no disk, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from client.findings import Finding
from node import merkle, rules
from node.charter import SignedCharter, verify_chain
from node.errors import LedgerError, PendingError, RuleError
from node.records import Entry, EntryRef
from node.state import Effects, LedgerState, MemoryKeyValue

__all__ = ["Accepted", "Replay", "replay", "trusted_charters"]

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
    """

    state: LedgerState
    accepted: tuple[Accepted, ...]
    findings: tuple[Finding, ...]


class _ReplayedLogs(MemoryKeyValue):
    """The logs as the rules see them mid-replay: each holds what has been replayed of it.

    ``log_size`` is one past the last entry replayed, so a reference beyond it is pending, and a
    reference below it to an entry the replay does not have (a sparse log) is simply absent.
    """

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, dict[int, bytes]] = {}

    def log_size(self, log: str) -> int:
        held = self.held.get(log)
        return max(held) + 1 if held else 0

    def entry_bytes(self, log: str, seq: int) -> bytes | None:
        return self.held.get(log, {}).get(seq)


def replay(
    charters: Sequence[SignedCharter],
    logs: Mapping[str, Mapping[int, bytes]],
    *,
    waiting_code: str,
    sparse: bool = False,
    on_entry: Callable[[str, int], None] | None = None,
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
    """
    kv = _ReplayedLogs()
    state = LedgerState(kv, kv)
    for signed in charters:
        state.put_charter(signed)
    queues = {log: sorted(entries) for log, entries in logs.items()}
    accepted: list[Accepted] = []
    findings: list[Finding] = []
    waiting: dict[str, tuple[int, LedgerError]] = {}
    progress = True
    while progress:
        progress = False
        for log in sorted(queues):
            queue = queues[log]
            while queue:
                seq = queue[0]
                raw = logs[log][seq]
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
                kv.held.setdefault(log, {})[seq] = raw
                waiting.pop(log, None)
                queue.pop(0)
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
    return Replay(state, tuple(accepted), tuple(findings))
