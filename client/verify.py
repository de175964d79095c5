"""Verify a provenance bundle offline, against nothing but the trusted genesis hash (DESIGN §9).

``check_bundle`` returns a ``Verdict`` listing every finding; ``verify_bundle`` raises on the
first. The checks, in order: the bundle's form; the charter chain from the trusted genesis
(TUF rule); each log's checkpoint — the log key's signature and the witness quorum of cosignatures
from other members; each entry — its hash, and its c2sp.org/tlog-proof leading to that
checkpoint; then every rule of DESIGN §6 along the DAG, by replaying the bundle's entries through
the same ``rules.check`` every node runs (mass balance at each step, origins, addressing, expiry,
signatures and roles, status at the time). Nothing here reads the network or a disk.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from node import merkle, notes, rules
from node.bundle import BUNDLE_MEDIA_TYPE
from node.charter import Charter, SignedCharter, verify_chain
from node.errors import LedgerError, PendingError, RuleError
from node.records import (
    CertificateConfirm,
    CertificateIssue,
    Entry,
    EntryRef,
    ParcelProduce,
    ParcelTransform,
)
from node.state import LedgerState, MemoryKeyValue

__all__ = [
    "MAX_BUNDLE_BYTES",
    "Finding",
    "Step",
    "Verdict",
    "VerificationError",
    "check_bundle",
    "verify_bundle",
]

MAX_BUNDLE_BYTES = 32 * 1024 * 1024
MAX_BUNDLE_ENTRIES = 100_000
_INCOMPLETE = {"parcel.unknown", "certificate.unknown", "reference.unknown", "reference.mismatch"}


class VerificationError(LedgerError):
    code = "verify.invalid"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with a bundle: a stable code, where, and why."""

    code: str
    detail: str
    log: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of the chain from the mines to the subject, for people to read."""

    log: str
    seq: int
    hash: str
    type: str
    date: str
    certificate: str | None
    centicarats: int | None
    origins: tuple[str, ...]
    witnesses: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """``VALID`` when nothing was found, else ``INVALID`` with the findings."""

    subject: str
    network: str
    findings: tuple[Finding, ...]
    chain: tuple[Step, ...] = field(default=())
    origins: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.findings

    @property
    def status(self) -> str:
        return "VALID" if self.valid else "INVALID"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "subject": self.subject,
            "network": self.network,
            "origins": list(self.origins),
            "findings": [_fields_of(f) for f in self.findings],
            "chain": [_fields_of(s) for s in self.chain],
        }


def _fields_of(item: Finding | Step) -> dict[str, Any]:
    # JSON has no tuples: lists, so that a verdict survives a round trip through JSON.
    return {
        name: list(value) if isinstance(value := getattr(item, name), tuple) else value
        for name in item.__slots__
    }


def verify_bundle(bundle: bytes | dict[str, Any], genesis: bytes) -> Verdict:
    """Like ``check_bundle``, raising on the first finding.

    Raises:
        VerificationError: with the first finding's code.
    """
    verdict = check_bundle(bundle, genesis)
    if verdict.findings:
        first = verdict.findings[0]
        raise VerificationError(first.detail, code=first.code)
    return verdict


def check_bundle(bundle: bytes | dict[str, Any], genesis: bytes) -> Verdict:
    """Check every claim of a bundle against the trusted genesis hash; never raises for a bad
    bundle, it says so in the verdict."""
    findings: list[Finding] = []
    try:
        parsed = _parse(bundle)
    except VerificationError as exc:
        return Verdict("", "", (Finding(exc.code, exc.message),))
    subject = str(parsed.get("subject", ""))
    network = str(parsed.get("network", ""))
    charter = _check_charters(parsed, genesis, findings)
    if charter is None:
        return Verdict(subject, network, tuple(findings))
    checkpoints = _check_checkpoints(parsed, charter, findings)
    entries = _check_entries(parsed, checkpoints, findings)
    if not any(ref.hash.hex() == subject for ref in entries):
        findings.append(Finding("bundle.no_subject", "the subject is not among the entries"))
    replayed = _replay(parsed, charter, entries, findings)
    chain, origins = _summary(entries, checkpoints, replayed)
    if not any(step.type == "parcel.produce" for step in chain) and not findings:
        findings.append(Finding("bundle.no_mine", "the chain reaches no production"))
    return Verdict(subject, network, tuple(findings), tuple(chain), origins)


# --- form ----------------------------------------------------------------------------------------


def _parse(bundle: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(bundle, bytes | bytearray):
        if len(bundle) > MAX_BUNDLE_BYTES:
            raise VerificationError("bundle too large", code="bundle.malformed")
        try:
            bundle = json.loads(bundle)
        except ValueError as exc:
            raise VerificationError(f"not JSON: {exc}", code="bundle.malformed") from exc
    if not isinstance(bundle, dict) or bundle.get("media_type") != BUNDLE_MEDIA_TYPE:
        raise VerificationError(f"not a {BUNDLE_MEDIA_TYPE}", code="bundle.malformed")
    for name, kind in (("charters", list), ("checkpoints", dict), ("entries", list)):
        if not isinstance(bundle.get(name), kind):
            raise VerificationError(f"bundle has no {name}", code="bundle.malformed")
    if len(bundle["entries"]) > MAX_BUNDLE_ENTRIES:
        raise VerificationError("too many entries", code="bundle.malformed")
    return bundle


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise VerificationError("expected base64 text", code="bundle.malformed")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError("bad base64", code="bundle.malformed") from exc


# --- charter -------------------------------------------------------------------------------------


def _check_charters(
    bundle: dict[str, Any], genesis: bytes, findings: list[Finding]
) -> Charter | None:
    try:
        versions = [SignedCharter.parse(_b64(c)) for c in bundle["charters"]]
        if bundle.get("genesis") != genesis.hex():
            raise VerificationError(
                "the bundle is of another network than the trusted genesis",
                code="bundle.wrong_network",
            )
        return verify_chain(sorted(versions, key=lambda v: v.charter.version), genesis)
    except LedgerError as exc:
        findings.append(Finding(exc.code, exc.message))
        return None


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    checkpoint: notes.Checkpoint
    note: str
    witnesses: int


def _check_checkpoints(
    bundle: dict[str, Any], charter: Charter, findings: list[Finding]
) -> dict[str, _Checkpoint]:
    found: dict[str, _Checkpoint] = {}
    for log, note in bundle["checkpoints"].items():
        member = charter.participants.get(log)
        if member is None or not isinstance(note, str):
            findings.append(Finding("checkpoint.unknown_log", f"no member {log!r}", log=log))
            continue
        vkey = charter.log_verifier_key(log)
        try:
            text, _ = notes.verify_note(note, [vkey])
            checkpoint = notes.Checkpoint.parse(text)
            if checkpoint.origin != charter.origin(log):
                raise VerificationError(
                    "checkpoint of another origin", code="checkpoint.wrong_origin"
                )
            witnesses = notes.cosigners(note, charter.cosigner_keys(exclude=log))
        except LedgerError as exc:
            findings.append(Finding(exc.code, f"checkpoint of {log}: {exc.message}", log=log))
            continue
        if len(witnesses) < charter.policy.witness_quorum:
            findings.append(
                Finding(
                    "checkpoint.not_witnessed",
                    f"checkpoint of {log} has {len(witnesses)} cosignatures, "
                    f"the charter asks {charter.policy.witness_quorum}",
                    log=log,
                )
            )
        found[log] = _Checkpoint(checkpoint, note, len(witnesses))
    return found


# --- entries -------------------------------------------------------------------------------------


def _check_entries(
    bundle: dict[str, Any], checkpoints: dict[str, _Checkpoint], findings: list[Finding]
) -> dict[EntryRef, bytes]:
    entries: dict[EntryRef, bytes] = {}
    for item in bundle["entries"]:
        try:
            log, seq = str(item["log"]), int(item["seq"])
            raw = _b64(item["entry"])
            digest = merkle.leaf_hash(raw)
            if digest.hex() != item["hash"]:
                raise VerificationError(
                    f"entry {log}/{seq} does not hash to its hash", code="entry.hash_mismatch"
                )
            held = checkpoints.get(log)
            if held is None:
                raise VerificationError(f"no valid checkpoint of {log}", code="proof.no_checkpoint")
            proof = notes.TlogProof.parse(str(item["proof"]))
            if proof.index != seq:
                raise VerificationError("proof of another index", code="proof.invalid")
            merkle.verify_inclusion(
                digest, seq, held.checkpoint.size, list(proof.hashes), held.checkpoint.root
            )
            entries[EntryRef(log, seq, digest)] = raw
        except (KeyError, TypeError, ValueError) as exc:
            findings.append(Finding("bundle.malformed", f"malformed entry item: {exc}"))
        except LedgerError as exc:
            log_name = item.get("log") if isinstance(item, dict) else None
            findings.append(Finding(exc.code, exc.message, log=str(log_name)))
    return entries


# --- rules ---------------------------------------------------------------------------------------


class _PartialLogs(MemoryKeyValue):
    """The bundle's entries as the logs the rules look into: sparse, sized by the checkpoints."""

    def __init__(self, sizes: dict[str, int], entries: dict[EntryRef, bytes]) -> None:
        super().__init__()
        self.sizes = sizes
        self.by_position = {(ref.log, ref.seq): raw for ref, raw in entries.items()}

    def log_size(self, log: str) -> int:
        return self.sizes.get(log, 0)

    def entry_bytes(self, log: str, seq: int) -> bytes | None:
        return self.by_position.get((log, seq))


def _replay(
    bundle: dict[str, Any],
    charter: Charter,
    entries: dict[EntryRef, bytes],
    findings: list[Finding],
) -> set[EntryRef]:
    """Run every entry through the rules, each log in seq order, logs interleaved as their
    references require. Returns the entries that passed."""
    sizes = {log: c.checkpoint.size for log, c in _sizes(bundle, entries).items()}
    kv = _PartialLogs(sizes, entries)
    state = LedgerState(kv, kv)
    for raw in bundle["charters"]:
        state.put_charter(SignedCharter.parse(_b64(raw)))
    queues = {
        log: sorted((r for r in entries if r.log == log), key=lambda r: r.seq)
        for log in {r.log for r in entries}
    }
    passed: set[EntryRef] = set()
    stuck: dict[EntryRef, LedgerError] = {}
    progress = True
    while progress:
        progress = False
        for log, queue in queues.items():
            while queue:
                ref = queue[0]
                try:
                    entry = Entry.parse(entries[ref])
                    if entry.seq != ref.seq or entry.signed.log != ref.log:
                        raise RuleError("entry is not where its proof puts it", code="entry.order")
                    effects = rules.check(state, entry, ref.hash)
                except PendingError as waiting:
                    stuck[ref] = waiting
                    break
                except RuleError as broken:
                    if broken.code in _INCOMPLETE:
                        stuck[ref] = broken  # perhaps another log's entry comes first
                        break
                    findings.append(Finding(broken.code, broken.message, log=log, seq=ref.seq))
                    queue.pop(0)
                    progress = True
                    continue
                except LedgerError as broken:
                    findings.append(Finding(broken.code, broken.message, log=log, seq=ref.seq))
                    queue.pop(0)
                    progress = True
                    continue
                state.apply(log, effects)
                stuck.pop(ref, None)
                passed.add(ref)
                queue.pop(0)
                progress = True
    for ref, reason in stuck.items():
        findings.append(
            Finding(
                "bundle.incomplete",
                f"entry {ref.log}/{ref.seq} depends on what the bundle lacks: {reason.message}",
                log=ref.log,
                seq=ref.seq,
            )
        )
    return passed


def _sizes(bundle: dict[str, Any], entries: dict[EntryRef, bytes]) -> dict[str, _Checkpoint]:
    out: dict[str, _Checkpoint] = {}
    for log, note in bundle["checkpoints"].items():
        try:
            text = notes.parse_note(str(note)).text
            out[log] = _Checkpoint(notes.Checkpoint.parse(text), str(note), 0)
        except LedgerError:
            continue
    return out


# --- summary -------------------------------------------------------------------------------------


def _summary(
    entries: dict[EntryRef, bytes],
    checkpoints: dict[str, _Checkpoint],
    replayed: set[EntryRef],
) -> tuple[list[Step], tuple[str, ...]]:
    """The parcel-moving entries in time order, and the mining origins they start from."""
    steps = []
    for ref in sorted(replayed, key=lambda r: (r.log, r.seq)):
        entry = Entry.parse(entries[ref])
        body = entry.signed.body
        certificate = centicarats = None
        step_origins: tuple[str, ...] = ()
        if isinstance(body, ParcelProduce):
            centicarats, step_origins = body.centicarats, (ref.log,)
        elif isinstance(body, ParcelTransform):
            centicarats = sum(o.centicarats for o in body.outputs)
        elif isinstance(body, CertificateIssue):
            certificate, centicarats, step_origins = body.number, body.centicarats, body.origins
        elif isinstance(body, CertificateConfirm):
            centicarats = body.centicarats_received
        else:
            continue
        held = checkpoints.get(ref.log)
        steps.append(
            Step(
                log=ref.log,
                seq=ref.seq,
                hash=ref.hash.hex(),
                type=entry.signed.type,
                date=rules.entry_date(entry.time),
                certificate=certificate,
                centicarats=centicarats,
                origins=step_origins,
                witnesses=held.witnesses if held else 0,
            )
        )
    # Every parcel in the DAG descends from these productions: the subject's mining origins.
    origins = tuple(sorted({o for s in steps if s.type == "parcel.produce" for o in s.origins}))
    return _in_time_order(steps), origins


def _in_time_order(steps: list[Step]) -> list[Step]:
    return sorted(steps, key=lambda s: (s.date, s.log, s.seq))
