"""Audit whole logs: the pure checks behind ``kp audit`` and ``kp stats`` (DESIGN §6, §8, §9).

An auditor downloads every entry of the logs it audits and trusts nothing the node says about
them. This module takes what was downloaded and decides; it reads no network and no disk:

- ``check_log``: the log's checkpoint verifies with the log key of the charter and names the
  log's origin; the downloaded entries hash to the checkpoint's root; entry 0 chains to the
  trusted genesis.
- ``compare_checkpoint``: another node's checkpoint of the same log agrees with those entries
  (same root at its size, or a consistency proof when it is ahead).
- ``replay_logs``: every entry of every log through ``node.rules.check`` over an in-memory
  ``LedgerState`` — the one validation function every node runs — each log in seq order, the logs
  interleaved as their references require (as ``client.verify`` replays a bundle). The result
  keeps the accepted entries, the final state and every parcel's chain of custody.

Findings reuse ``client.verify.Finding``: a stable code, the log and seq, and why.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from client.verify import Finding
from node import merkle, notes, rules
from node.charter import Charter, SignedCharter
from node.errors import LedgerError, PendingError, RuleError
from node.records import (
    CertificateConfirm,
    CertificateIssue,
    CertificateReject,
    CertificateVoid,
    Entry,
    EntryRef,
    ParcelRef,
    ParcelTransfer,
    ParcelTransform,
)
from node.state import Effects, LedgerState, MemoryKeyValue, ParcelState

__all__ = [
    "MAX_AUDIT_ENTRIES",
    "Accepted",
    "AuditReport",
    "CustodyEvent",
    "LogCheck",
    "ParcelCustody",
    "Replay",
    "check_log",
    "compare_checkpoint",
    "custody_of",
    "finding_rows",
    "referenced_logs",
    "replay_logs",
]

MAX_AUDIT_ENTRIES = 1_000_000
"""The most entries one audit downloads and replays (all logs together)."""


# --- one log against its checkpoint ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogCheck:
    """What ``check_log`` found of one log: its signed size and root, and how many members
    cosigned that checkpoint."""

    log: str
    size: int
    root: bytes
    witnesses: int
    findings: tuple[Finding, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "size": self.size,
            "root": self.root.hex(),
            "witnesses": self.witnesses,
            "findings": [_finding_json(f) for f in self.findings],
        }


def _verified_checkpoint(
    log: str, note: str, charter: Charter
) -> tuple[notes.Checkpoint, int] | Finding:
    """The checkpoint signed by ``log``'s key with its origin, and its cosignature count."""
    if log not in charter.participants:
        return Finding("checkpoint.unknown_log", f"{log} is not a member of the charter", log=log)
    try:
        text, _ = notes.verify_note(note, [charter.log_verifier_key(log)])
        checkpoint = notes.Checkpoint.parse(text)
        if checkpoint.origin != charter.origin(log):
            return Finding(
                "checkpoint.wrong_origin",
                f"checkpoint of {log} names the origin {checkpoint.origin!r}",
                log=log,
            )
        witnesses = len(notes.cosigners(note, charter.cosigner_keys(exclude=log)))
    except LedgerError as exc:
        return Finding(exc.code, f"checkpoint of {log}: {exc.message}", log=log)
    return checkpoint, witnesses


def check_log(
    log: str,
    note: str,
    entries: Sequence[bytes],
    charter: Charter,
    genesis: bytes | None = None,
) -> LogCheck:
    """Check a downloaded log against its checkpoint.

    Args:
        log: the participant whose log this is.
        note: its signed checkpoint (with whatever cosignatures it carries).
        entries: the raw entries ``0 .. size-1`` as downloaded.
        charter: the charter whose log keys verify the checkpoint.
        genesis: the trusted genesis hash: entry 0 must chain to it.

    Returns:
        The signed size and root, the cosignature count, and the findings (none when the
        checkpoint verifies and the entries are exactly the tree it signs).
    """
    verified = _verified_checkpoint(log, note, charter)
    if isinstance(verified, Finding):
        return LogCheck(log, len(entries), b"", 0, (verified,))
    checkpoint, witnesses = verified
    findings: list[Finding] = []
    if len(entries) != checkpoint.size:
        findings.append(
            Finding(
                "audit.size_mismatch",
                f"downloaded {len(entries)} entries of {log}, its checkpoint signs "
                f"{checkpoint.size}",
                log=log,
            )
        )
    elif entries and merkle.root([merkle.leaf_hash(e) for e in entries]) != checkpoint.root:
        findings.append(
            Finding(
                "audit.root_mismatch",
                f"the entries of {log} do not hash to the root its checkpoint signs",
                log=log,
            )
        )
    if genesis is not None and entries:
        try:
            first = Entry.parse(entries[0])
        except LedgerError:
            first = None  # the replay reports the malformed entry
        if first is not None and first.prev != genesis:
            findings.append(
                Finding(
                    "audit.wrong_network",
                    f"entry 0 of {log} chains to {first.prev.hex()}, not the trusted genesis",
                    log=log,
                    seq=0,
                )
            )
    return LogCheck(log, checkpoint.size, checkpoint.root, witnesses, tuple(findings))


def compare_checkpoint(
    log: str,
    node: str,
    note: str,
    leaf_hashes: Sequence[bytes],
    charter: Charter,
    proof: Sequence[bytes] | None = None,
) -> list[Finding]:
    """Does ``node``'s checkpoint of ``log`` agree with the audited entries?

    At a size the audit covers, the node's signed root must be the root of that many audited
    entries; ahead of it, ``proof`` (a consistency proof from the audited size to the node's)
    must show the node's tree extends the audited one. Two checkpoints of one size with different
    roots, both signed by the log key, are proof of a fork.

    Returns:
        Findings; empty when the node agrees.
    """
    verified = _verified_checkpoint(log, note, charter)
    if isinstance(verified, Finding):
        return [Finding(verified.code, f"{node}: {verified.detail}", log=log)]
    theirs, _ = verified
    if theirs.size == 0:
        return []
    if theirs.size <= len(leaf_hashes):
        if merkle.root(leaf_hashes[: theirs.size]) != theirs.root:
            return [
                Finding(
                    "node.fork",
                    f"{node} signs a {log} of {theirs.size} entries with another root",
                    log=log,
                )
            ]
        return []
    if not leaf_hashes:
        return []
    try:
        merkle.verify_consistency(
            len(leaf_hashes), theirs.size, merkle.root(leaf_hashes), theirs.root, proof or []
        )
    except LedgerError as exc:
        return [
            Finding(
                "node.fork",
                f"{node}'s {log} of {theirs.size} entries does not extend the audited "
                f"{len(leaf_hashes)}: {exc.message}",
                log=log,
            )
        ]
    return []


# --- replay ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accepted:
    """An entry the rules accepted, with what it changed."""

    ref: EntryRef
    entry: Entry
    effects: Effects


@dataclass(frozen=True, slots=True)
class CustodyEvent:
    """A parcel changed hands or ended: created, transferred or consumed by an entry."""

    entry: EntryRef
    type: str
    date: str
    event: str  # "created" | "transferred" | "consumed"
    holder: str


@dataclass(frozen=True, slots=True)
class ParcelCustody:
    """One parcel and every holder it had, in order."""

    ref: ParcelRef
    parcel: str
    centicarats: int
    hs_code: str
    origins: tuple[str, ...]
    events: tuple[CustodyEvent, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": _parcel_text(self.ref),
            "parcel": self.parcel,
            "centicarats": self.centicarats,
            "hs_code": self.hs_code,
            "origins": list(self.origins),
            "events": [
                {
                    "entry": _entry_text(e.entry),
                    "type": e.type,
                    "date": e.date,
                    "event": e.event,
                    "holder": e.holder,
                }
                for e in self.events
            ],
        }


@dataclass(frozen=True, slots=True)
class Replay:
    """The outcome of replaying whole logs.

    Attributes:
        state: the ledger state after every accepted entry.
        accepted: the accepted entries in the order they were replayed.
        findings: every entry the rules refused, and every entry left waiting for a reference
            no audited log holds.
        custody: each parcel's holders, from its creation to its consumption.
    """

    state: LedgerState
    accepted: tuple[Accepted, ...]
    findings: tuple[Finding, ...]
    custody: Mapping[ParcelRef, tuple[CustodyEvent, ...]] = field(default_factory=dict)


def replay_logs(
    charters: Iterable[SignedCharter],
    logs: Mapping[str, Sequence[bytes]],
    *,
    on_entry: Callable[[str, int], None] | None = None,
) -> Replay:
    """Run every entry of ``logs`` through ``rules.check``, as a node replicating them would.

    Each log is replayed in seq order; the logs are interleaved so that an entry waits
    (``PendingError``) until the entry of another log it references has been replayed. An
    entry the rules refuse is a finding, and stays in its log's place so later seqs line up.

    Args:
        charters: the charter documents the logs adopt (published before the replay).
        logs: each log's raw entries, ``0 .. size-1``.
        on_entry: called with ``(log, seq)`` after each entry is decided (progress).
    """
    kv = MemoryKeyValue()
    state = LedgerState(kv, kv)
    for signed in charters:
        state.put_charter(signed)
    for log in logs:
        kv.logs[log] = []
    accepted: list[Accepted] = []
    findings: list[Finding] = []
    parcels: dict[ParcelRef, ParcelState] = {}
    custody: dict[ParcelRef, list[CustodyEvent]] = {}
    waiting: dict[str, LedgerError] = {}
    progress = True
    while progress:
        progress = False
        for log in sorted(logs):
            queue, held = logs[log], kv.logs[log]
            while len(held) < len(queue):
                seq = len(held)
                raw = queue[seq]
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
                    waiting[log] = pending  # another log's entry must come first
                    break
                except LedgerError as broken:
                    findings.append(Finding(broken.code, broken.message, log=log, seq=seq))
                else:
                    ref = EntryRef(log, seq, digest)
                    state.apply(log, effects)
                    accepted.append(Accepted(ref, entry, effects))
                    _record_custody(ref, entry, effects, parcels, custody)
                waiting.pop(log, None)
                held.append(raw)
                progress = True
                if on_entry is not None:
                    on_entry(log, seq)
    for log, reason in sorted(waiting.items()):
        findings.append(
            Finding(
                "audit.incomplete",
                f"{log}/{len(kv.logs[log])} and after wait for what no audited log holds: "
                f"{reason.message}",
                log=log,
                seq=len(kv.logs[log]),
            )
        )
    return Replay(
        state,
        tuple(accepted),
        tuple(findings),
        {ref: tuple(events) for ref, events in custody.items()},
    )


def _record_custody(
    ref: EntryRef,
    entry: Entry,
    effects: Effects,
    parcels: dict[ParcelRef, ParcelState],
    custody: dict[ParcelRef, list[CustodyEvent]],
) -> None:
    date = rules.entry_date(entry.time)
    for parcel in effects.parcels:
        before = parcels.get(parcel.ref)
        if before is None:
            event = "created"
        elif parcel.holder != before.holder:
            event = "transferred"
        elif parcel.consumed_by is not None and before.consumed_by is None:
            event = "consumed"
        else:
            continue
        parcels[parcel.ref] = parcel
        custody.setdefault(parcel.ref, []).append(
            CustodyEvent(ref, entry.signed.type, date, event, parcel.holder)
        )


def custody_of(replay: Replay, log: str, operator: str) -> list[ParcelCustody]:
    """Every parcel of ``log`` that ``operator`` held at some point, with all its holders."""
    found = []
    for ref, events in sorted(replay.custody.items()):
        if ref.log != log or not any(e.holder == operator for e in events):
            continue
        state = replay.state.parcel(ref.log, ref.seq, ref.out)
        if state is None:
            continue
        found.append(
            ParcelCustody(
                ref, state.parcel, state.centicarats, state.hs_code, state.origins, events
            )
        )
    return found


def referenced_logs(entries: Iterable[bytes]) -> set[str]:
    """The logs that entries point into (certificates, parcels, void evidence): an audit of a
    log must replay these too, or its confirmations and voids cannot be judged."""
    found: set[str] = set()
    for raw in entries:
        try:
            body = Entry.parse(raw).signed.body
        except LedgerError:
            continue  # the replay reports it
        if isinstance(body, ParcelTransform):
            found.update(p.log for p in body.inputs)
        elif isinstance(body, ParcelTransfer):
            found.add(body.parcel.log)
        elif isinstance(body, CertificateIssue):
            found.update(p.log for p in body.parcels)
        elif isinstance(body, CertificateConfirm | CertificateReject):
            found.add(body.certificate.log)
        elif isinstance(body, CertificateVoid):
            found.update((body.certificate.log, body.evidence.log))
    return found


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Everything ``kp audit`` found, as written to ``--report`` and ``--csv``."""

    network: str
    genesis: str
    nodes: tuple[str, ...]
    logs: tuple[LogCheck, ...]
    entries: int
    accepted: int
    findings: tuple[Finding, ...]
    custody: tuple[ParcelCustody, ...] = ()
    member: str | None = None
    generated: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    )

    @property
    def passed(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "status": "PASS" if self.passed else "FAIL",
            "generated": self.generated,
            "network": self.network,
            "genesis": self.genesis,
            "nodes": list(self.nodes),
            "logs": [c.to_json() for c in self.logs],
            "entries": self.entries,
            "accepted": self.accepted,
            "findings": [_finding_json(f) for f in self.findings],
        }
        if self.member is not None:
            report["member"] = self.member
            report["custody"] = [c.to_json() for c in self.custody]
        return report


def finding_rows(findings: Iterable[Finding]) -> list[list[str]]:
    """``[log, seq, code, detail]`` rows for a CSV file, header first."""
    rows = [["log", "seq", "code", "detail"]]
    for f in findings:
        rows.append(["" if f.log is None else f.log, "" if f.seq is None else str(f.seq)])
        rows[-1] += [f.code, f.detail]
    return rows


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {"code": finding.code, "detail": finding.detail, "log": finding.log, "seq": finding.seq}


def _entry_text(ref: EntryRef) -> str:
    return f"{ref.log}:{ref.seq}:{ref.hash.hex()}"


def _parcel_text(ref: ParcelRef) -> str:
    return f"{ref.log}:{ref.seq}:{ref.hash.hex()}:{ref.out}"
