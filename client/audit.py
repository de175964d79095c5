"""Audit whole logs: the pure checks behind ``kp audit`` and ``kp stats`` (DESIGN §6, §8, §9).

An auditor downloads every entry of the logs it audits and trusts nothing the node says about
them. This module takes what was downloaded and decides; it reads no network and no disk:

- ``check_log``: the log's checkpoint verifies with the log key of the charter and names the
  log's origin; the downloaded entries hash to the checkpoint's root; entry 0 chains to the
  trusted genesis.
- ``compare_checkpoint``: another node's checkpoint of the same log agrees with those entries
  (same root at its size, or a consistency proof when it is ahead).
- ``replay_logs``: every entry of every log through the one replay (``client.replay``, the same
  that verifies a bundle) under the charter chain verified from the trusted genesis, each entry
  judged under the version its log had adopted; ``custody_of`` reads each parcel's chain of
  custody from what it accepted.

Findings reuse ``client.verify.Finding``: a stable code, the log and seq, and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from client.findings import Finding
from client.replay import Replay, replay, trusted_charters
from node.core import clock, merkle, notes, rules
from node.core.charter import Charter, SignedCharter
from node.core.errors import LedgerError
from node.core.records import (
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
from node.core.state import Effects, ParcelState

__all__ = [
    "MAX_AUDIT_ENTRIES",
    "AuditReport",
    "CustodyEvent",
    "LogCheck",
    "ParcelCustody",
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
        signed = notes.SignedCheckpoint.parse(note)
        signed.verify([charter.log_verifier_key(log)], origin=charter.origin(log))
        witnesses = len(signed.cosigners(charter.cosigner_keys(exclude=log)))
    except LedgerError as exc:
        return Finding(exc.code, f"checkpoint of {log}: {exc.message}", log=log)
    return signed.checkpoint, witnesses


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


def replay_logs(
    charters: Iterable[SignedCharter],
    genesis: bytes,
    logs: Mapping[str, Sequence[bytes]],
    *,
    on_entry: Callable[[str, int], None] | None = None,
) -> Replay:
    """Run every entry of whole ``logs`` through the one replay (``client.replay``).

    Args:
        charters: every charter version the node serves (``GET /v1/charters``): they must form
            one chain from ``genesis``, and each entry is judged under the version its log had
            adopted.
        genesis: the trusted genesis hash.
        logs: each log's raw entries, ``0 .. size-1``.
        on_entry: called with ``(log, seq)`` after each entry is decided (progress).

    Raises:
        CharterError: the versions do not chain from the trusted genesis.
    """
    chain = trusted_charters(charters, genesis)
    whole = {log: dict(enumerate(entries)) for log, entries in logs.items()}
    return replay(chain, whole, waiting_code="audit.incomplete", on_entry=on_entry)


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
    parcels: dict[ParcelRef, ParcelState] = {}
    custody: dict[ParcelRef, list[CustodyEvent]] = {}
    for accepted in replay.accepted:
        if accepted.ref.log == log:
            _record_custody(accepted.ref, accepted.entry, accepted.effects, parcels, custody)
    found = []
    for ref, events in sorted(custody.items()):
        if ref.log != log or not any(e.holder == operator for e in events):
            continue
        state = replay.state.parcel(ref.log, ref.seq, ref.out)
        if state is None:
            continue
        found.append(
            ParcelCustody(
                ref, state.parcel, state.centicarats, state.hs_code, state.origins, tuple(events)
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
    notes: tuple[Finding, ...] = ()  # true of valid history, and breaking no rule
    generated: str = field(default_factory=clock.timestamp)

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
            "notes": [_finding_json(n) for n in self.notes],
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
