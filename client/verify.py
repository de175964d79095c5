"""Verify a provenance bundle offline, against nothing but the trusted genesis hash (DESIGN §9).

``check_bundle`` returns a ``Verdict`` listing every finding; ``verify_bundle`` raises on the
first. The checks, in order: the bundle's form (``Bundle.parse``, node/core/bundle.py); the charter
chain from the trusted genesis (TUF rule); each log's checkpoint — the log key's signature and the
witness quorum of cosignatures from other members; each entry — its hash, and its
c2sp.org/tlog-proof leading to that checkpoint; then every rule of DESIGN §6 along the DAG, by
replaying the bundle's entries through the same ``rules.check`` every node runs (``client.replay``:
mass balance at each step, origins, addressing, expiry, signatures and roles, status at the time);
and last the status of the subject's certificate — usable, confirmed, rejected, voided or expired —
with the entries that prove it, as of the checkpoints that vouch for it (DESIGN §9). Nothing here
reads the network or a disk; the verifier's date is passed in.

A bounded bundle (decision 0039) replays the last steps only: its seeds, the parcels the deepest
replayed entries consumed, go into the replay as the serving node holds them, and the entries that
made them are checked for inclusion but not replayed. Each seed must be consumed by a replayed
entry (``bundle.seed_unused``); an entry the rules refuse that rests on seeds is named with them
(``bundle.seed_disagrees``). The verdict says how many entries it replayed and which parcels'
history rests on the witnesses (``replayed``, ``seeds``); the chain starts at those seeds.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from typing import Any

from client.findings import Finding
from client.replay import Replay, history_notes, replay, superseded, trusted_charters
from node.core import clock, merkle, notes, rules
from node.core.bundle import MAX_BUNDLE_BYTES, Bundle
from node.core.charter import Charter, SignedCharter
from node.core.errors import BundleError, LedgerError
from node.core.records import (
    CertificateConfirm,
    CertificateIssue,
    CertificateReject,
    CertificateVoid,
    CharterAdopt,
    Entry,
    EntryRef,
    ParcelProduce,
    ParcelRef,
    ParcelTransfer,
    ParcelTransform,
)
from node.core.state import ParcelState

__all__ = [
    "MAX_BUNDLE_BYTES",
    "CertificateStatus",
    "Finding",
    "SeededParcel",
    "Step",
    "StepParcel",
    "Verdict",
    "VerificationError",
    "check_bundle",
    "check_bundle_replay",
    "verify_bundle",
]


class VerificationError(LedgerError):
    code = "verify.invalid"


@dataclass(frozen=True, slots=True)
class StepParcel:
    """A parcel a step drew on or made, as the replayed state holds it after the bundle."""

    log: str
    seq: int
    hash: str  # the entry hash of the entry that made it
    out: int
    parcel: str  # its human id
    centicarats: int
    hs_code: str
    origins: tuple[str, ...]

    @classmethod
    def of(cls, state: ParcelState) -> StepParcel:
        ref = state.ref
        return cls(
            ref.log,
            ref.seq,
            ref.hash.hex(),
            ref.out,
            state.parcel,
            state.centicarats,
            state.hs_code,
            state.origins,
        )


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of the chain from the mines to the subject, for people to read.

    ``date`` is the entry's date (when the log recorded it); ``stated_on`` the date the record
    itself states — a production's ``produced_on``, a certificate's ``issued_on``, a
    confirmation's ``received_on`` — and None for records that state none (transforms,
    transfers). ``inputs`` are the parcels it consumed (a transfer: the parcel it handed on),
    ``outputs`` those it made, each with its own mass, HS code and origins; ``sources`` the
    entry hashes it draws from (the makers of its inputs; for a confirmation, the
    certificate), so that a reader can draw the chain as a graph.
    """

    log: str
    seq: int
    hash: str
    type: str
    date: str
    certificate: str | None
    centicarats: int | None
    origins: tuple[str, ...]
    witnesses: int
    status: str | None = None  # a certificate's status, as the bundle proves it
    stated_on: str | None = None
    kind: str | None = None  # a transform's kind: split, merge, sort
    holder: str | None = None  # who holds what it made or handed on (operator id)
    inputs: tuple[StepParcel, ...] = ()
    outputs: tuple[StepParcel, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SeededParcel:
    """A parcel a bounded bundle seeded: the history behind it was not replayed, and rests on
    the witnesses that re-validated it (decisions 0017, 0039)."""

    log: str
    seq: int
    out: int
    hash: str  # the entry hash of the entry that made it
    parcel: str  # its human id
    holder: str
    centicarats: int
    origins: tuple[str, ...]
    hs_code: str = ""

    @classmethod
    def of(cls, seed: ParcelState) -> SeededParcel:
        ref = seed.ref
        return cls(
            ref.log,
            ref.seq,
            ref.out,
            ref.hash.hex(),
            seed.parcel,
            seed.holder,
            seed.centicarats,
            seed.origins,
            seed.hs_code,
        )


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    """What became of the subject's certificate, and the entries that prove it (DESIGN §9).

    ``state`` is one of ``STATES``: *usable* (issued, unexpired, neither confirmed, rejected nor
    voided), *confirmed*, *rejected*, *voided*, *expired*, *suspended* (otherwise usable, but
    the newest charter the verifier knows suspends or removes the issuer or the importer, so the
    KP does not let it trade) or *unissued* (judged on a date before its issue date). Only a
    usable certificate may be accepted for import. Absence of an outcome cannot be proven by a
    bundle: it holds as of the checkpoints of the importer's and the issuer's logs in it
    (``as_of``, the newest cosignature time they carry), which the witness quorum vouches for
    (decision 0017).
    """

    STATES = ("usable", "confirmed", "rejected", "voided", "expired", "suspended", "unissued")

    state: str
    number: str
    issuer: str
    importing: str
    entry: str  # the certificate's entry hash
    issued_on: str
    expires_on: str
    decided_by: str | None = None  # the entry hash that confirmed, rejected or voided it
    decided_on: str | None = None  # that entry's date
    received_on: str | None = None  # a confirmation's date of receipt
    as_of: str | None = None  # ISO time up to which the logs behind the status are witnessed
    as_of_sizes: tuple[tuple[str, int], ...] = ()
    suspended: tuple[str, ...] = ()  # the parties the newest charter suspends or removes
    charter_version: int | None = None  # that charter's version
    # When the certificate was accepted under this older version although ``charter_version``
    # already suspended a party, as far as the verifier can tell (decision 0023): it stays
    # unusable after a reinstatement.
    issued_under: int | None = None
    # Online: the importer's own node, where a confirmation would be recorded, did not answer,
    # so ``as_of`` is what its peers had replicated, not the moment of asking.
    importer_silent: bool = False
    judged_on: str | None = None  # the verifier's date, when it precedes the issue date

    @property
    def usable(self) -> bool:
        return self.state == "usable"

    @property
    def headline(self) -> str:
        """The status in words a border officer cannot misread."""
        if self.state == "confirmed":
            return (
                f"CONFIRMED by {self.importing} on {self.received_on}, not usable again"
                f" (recorded {self.decided_on})"
            )
        if self.state == "rejected":
            return f"REJECTED by {self.importing} on {self.decided_on}, not usable"
        if self.state == "voided":
            return f"VOIDED by {self.issuer} on {self.decided_on}, not usable"
        if self.state == "expired":
            return f"EXPIRED on {self.expires_on}, never confirmed, not usable"
        if self.state == "unissued":
            return f"NOT YET ISSUED on {self.judged_on} (issued {self.issued_on}), not usable then"
        if self.state == "suspended" and self.issued_under is not None:
            who = " and ".join(self.suspended)
            return (
                f"SUSPENDED WHEN ISSUED: accepted under charter version {self.issued_under}, but "
                f"version {self.charter_version} suspends {who} and nothing shows it was "
                f"issued first; not usable for import into {self.importing}"
            )
        if self.state == "suspended":
            who = " and ".join(self.suspended)
            return (
                f"SUSPENDED: charter version {self.charter_version} suspends {who}, "
                f"not usable for import into {self.importing}"
            )
        if self.importer_silent:  # as of its log's last witnessed checkpoint, not of asking
            as_of = (
                f" (as of {self.importing}'s log last witnessed, {self.as_of}; "
                f"{self.importing}'s own node did not answer)"
            )
        else:
            as_of = f" (as of {self.as_of})" if self.as_of else ""
        return f"USABLE for import into {self.importing} until {self.expires_on}{as_of}"

    def to_json(self) -> dict[str, Any]:
        document = _fields_of(self)
        document["as_of_sizes"] = dict(self.as_of_sizes)
        document["usable"] = self.usable
        document["headline"] = self.headline
        return document


@dataclass(frozen=True, slots=True)
class Verdict:
    """``VALID`` when nothing was found, else ``INVALID`` with the findings.

    ``certificate`` is the status of the subject's certificate (the subject itself, or the one
    it confirms, rejects or voids); a valid verdict on a certificate that is not usable never
    reads as a plain VALID (``headline``). ``notes`` are facts a reader must know that break no
    rule: an entry judged under a charter version the network has since superseded, a
    confirmation recorded late. ``replayed`` is how many entries were run through the rules;
    ``seeds`` the parcels of a bounded bundle whose history was not replayed and rests on the
    witnesses (none for a bundle of the whole DAG); ``depth`` the bundle's depth (None: all).
    """

    subject: str
    network: str
    findings: tuple[Finding, ...]
    chain: tuple[Step, ...] = field(default=())
    origins: tuple[str, ...] = ()
    certificate: CertificateStatus | None = None
    notes: tuple[Finding, ...] = ()
    replayed: int = 0
    seeds: tuple[SeededParcel, ...] = ()
    depth: int | None = None

    @property
    def valid(self) -> bool:
        return not self.findings

    @property
    def status(self) -> str:
        return "VALID" if self.valid else "INVALID"

    @property
    def usable(self) -> bool | None:
        """Whether the subject's certificate may be accepted now; None when there is none."""
        return None if self.certificate is None else self.valid and self.certificate.usable

    @property
    def replayed_summary(self) -> str:
        """What was replayed, and what rests on the witnesses (decision 0039), in one line."""
        replayed = f"replayed {self.replayed} entr{'y' if self.replayed == 1 else 'ies'}"
        if not self.seeds:
            return f"{replayed}, back to the mines"
        count = len(self.seeds)
        origins = ", ".join(sorted({o for seed in self.seeds for o in seed.origins}))
        mass = sum(seed.centicarats for seed in self.seeds)
        return (
            f"{replayed}; the history behind {count} parcel{'' if count == 1 else 's'} "
            f"(origins {origins}; {mass / 100:,.2f} ct) rests on the witnesses"
        )

    @property
    def headline(self) -> str:
        if not self.valid:
            return f"INVALID — {self.findings[0].code}: {self.findings[0].detail}"
        if self.certificate is None:
            return "VALID"
        return f"VALID — {self.certificate.headline}"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "headline": self.headline,
            "usable": self.usable,
            "subject": self.subject,
            "network": self.network,
            "certificate": None if self.certificate is None else self.certificate.to_json(),
            "origins": list(self.origins),
            "findings": [_fields_of(f) for f in self.findings],
            "notes": [_fields_of(n) for n in self.notes],
            "chain": [_fields_of(s) for s in self.chain],
            "replayed": self.replayed,
            "replayed_summary": self.replayed_summary,
            "depth": self.depth,
            "seeds": [_fields_of(s) for s in self.seeds],
        }


def _fields_of(
    item: Finding | Step | StepParcel | CertificateStatus | SeededParcel,
) -> dict[str, Any]:
    # JSON has no tuples: lists, so that a verdict survives a round trip through JSON.
    return {name: _json_of(getattr(item, name)) for name in item.__slots__}


def _json_of(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_of(v) for v in value]
    if isinstance(value, StepParcel):
        return _fields_of(value)
    return value


def verify_bundle(bundle: bytes | Bundle, genesis: bytes, *, today: str | None = None) -> Verdict:
    """Like ``check_bundle``, raising on the first finding.

    Raises:
        VerificationError: with the first finding's code.
    """
    verdict = check_bundle(bundle, genesis, today=today)
    if verdict.findings:
        first = verdict.findings[0]
        raise VerificationError(first.detail, code=first.code)
    return verdict


def check_bundle(bundle: bytes | Bundle, genesis: bytes, *, today: str | None = None) -> Verdict:
    """Check every claim of a bundle against the trusted genesis hash; never raises for a bad
    bundle, it says so in the verdict.

    Args:
        bundle: the bundle, as bytes (a file; parsed here) or parsed.
        genesis: the trusted genesis hash (the network id).
        today: the verifier's date (``YYYY-MM-DD``, UTC) that expiry is judged against; the
            system clock's when not given.
    """
    return check_bundle_replay(bundle, genesis, today=today)[0]


def check_bundle_replay(
    bundle: bytes | Bundle, genesis: bytes, *, today: str | None = None
) -> tuple[Verdict, Replay | None]:
    """``check_bundle``, with the replay its verdict rests on: the state after the bundle's
    entries, from which a chain of bounded bundles reads what each seed must equal
    (client/deep.py). The replay is None when none ran (the form or the charter chain failed).
    """
    today = today or clock.today()
    findings: list[Finding] = []
    try:
        parsed = bundle if isinstance(bundle, Bundle) else Bundle.parse(bundle)
    except BundleError as exc:  # the form: nothing else can be read from it
        return Verdict("", "", (Finding(exc.code, exc.message),)), None
    subject = parsed.subject.hex()
    network = parsed.network
    chain = _check_charters(parsed, genesis, findings)
    if not chain:
        return Verdict(subject, network, tuple(findings)), None
    checkpoints = _check_checkpoints(parsed, chain, findings)
    entries = _check_entries(parsed, checkpoints, findings)
    if not any(ref.hash.hex() == subject for ref in entries):
        findings.append(Finding("bundle.no_subject", "the subject is not among the entries"))
    # The entries that made a seed are not replayed (the replay starts from the seed); the
    # subject always is.
    made = {seed.ref.entry for seed in parsed.seeds}
    logs: dict[str, dict[int, bytes]] = {}
    unjudged: dict[str, dict[int, bytes]] = {}
    for ref, raw in entries.items():
        kept = unjudged if ref in made and ref.hash != parsed.subject else logs
        kept.setdefault(ref.log, {})[ref.seq] = raw
    findings.extend(_check_seeds(parsed, entries, logs))
    replayed = replay(
        chain,
        logs,
        waiting_code="bundle.incomplete",
        sparse=True,
        seeds=parsed.seeds,
        unjudged=unjudged,
    )
    findings.extend(_resting_on_seeds(parsed, entries, replayed))
    findings.extend(replayed.findings)
    steps, origins = _summary(entries, checkpoints, replayed, today, parsed.seeds)
    if not origins and not findings:
        findings.append(Finding("bundle.no_mine", "the chain reaches no production"))
    status = _status(subject, entries, checkpoints, replayed, chain[-1].charter, today)
    if status is not None:  # the chain's row says what the headline says (suspensions too)
        steps = [replace(s, status=status.state) if s.hash == status.entry else s for s in steps]
    notes_found = history_notes(replayed)
    verdict = Verdict(
        subject,
        network,
        tuple(findings),
        tuple(steps),
        origins,
        status,
        tuple(notes_found),
        replayed=sum(len(held) for held in logs.values()),
        seeds=tuple(SeededParcel.of(seed) for seed in parsed.seeds),
        depth=parsed.depth,
    )
    return verdict, replayed


# --- seeds ---------------------------------------------------------------------------------------


def _consumed_by(raw: bytes) -> tuple[ParcelRef, ...]:
    """The parcels an entry consumes, or none when it consumes none or does not decode (the
    replay reports that)."""
    try:
        body = Entry.parse(raw).signed.body
    except LedgerError:
        return ()
    if isinstance(body, ParcelTransform):
        return body.inputs
    if isinstance(body, CertificateIssue):
        return body.parcels
    return ()


def _check_seeds(
    bundle: Bundle, entries: dict[EntryRef, bytes], logs: dict[str, dict[int, bytes]]
) -> list[Finding]:
    """Each seed is consumed by an entry the bundle replays (decision 0039), and names the
    entry that made it as the bundle holds it."""
    consumed = {
        parcel for held in logs.values() for raw in held.values() for parcel in _consumed_by(raw)
    }
    by_position = {(ref.log, ref.seq): ref for ref in entries}
    found: list[Finding] = []
    for seed in bundle.seeds:
        ref = seed.ref
        where = f"seed {ref.log}/{ref.seq}/{ref.out} ({seed.parcel})"
        if ref not in consumed:
            found.append(
                Finding(
                    "bundle.seed_unused",
                    f"{where} is consumed by no entry the bundle replays",
                    log=ref.log,
                    seq=ref.seq,
                )
            )
        held = by_position.get((ref.log, ref.seq))
        if held is not None and held.hash != ref.hash:
            found.append(
                Finding(
                    "bundle.seed_disagrees",
                    f"{where} names entry {ref.log}/{ref.seq} with another hash than the "
                    "bundle's entry there",
                    log=ref.log,
                    seq=ref.seq,
                )
            )
    return found


def _resting_on_seeds(
    bundle: Bundle, entries: dict[EntryRef, bytes], replayed: Replay
) -> list[Finding]:
    """For each entry the rules refuse, the seeds it rests on (its inputs, theirs, back to the
    seeds). Every entry was re-validated against the true state by the witness quorum before
    it was cosigned, so a refusal over seeds says a seed disagrees with the history behind it
    (or that the quorum cosigned a lie, which ``kp verify --deep`` tells apart)."""
    if not bundle.seeds:
        return []
    seeds = {seed.ref: seed for seed in bundle.seeds}
    by_position = {(ref.log, ref.seq): raw for ref, raw in entries.items()}
    found: list[Finding] = []
    for refused in replayed.findings:
        if refused.log is None or refused.seq is None:
            continue
        start = by_position.get((refused.log, refused.seq))
        if start is None:
            continue
        behind: dict[ParcelRef, ParcelState] = {}
        stack, seen = [start], set()
        while stack:
            raw = stack.pop()
            parcels = list(_consumed_by(raw))
            try:
                body = Entry.parse(raw).signed.body
            except LedgerError:
                body = None
            if isinstance(body, CertificateConfirm | CertificateReject | CertificateVoid):
                certificate = by_position.get((body.certificate.log, body.certificate.seq))
                if certificate is not None:
                    stack.append(certificate)
            for parcel in parcels:
                if parcel in seeds:
                    behind[parcel] = seeds[parcel]
                elif parcel.entry not in seen:
                    seen.add(parcel.entry)
                    made = entries.get(parcel.entry)
                    if made is not None:
                        stack.append(made)
        if behind:
            listed = "; ".join(
                f"{p.log}/{p.seq}/{p.out} {s.parcel} (origins {', '.join(s.origins)}; "
                f"{s.centicarats / 100:.2f} ct)"
                for p, s in sorted(behind.items(), key=lambda item: (item[0].log, item[0].seq))
            )
            found.append(
                Finding(
                    "bundle.seed_disagrees",
                    f"the rules refuse {refused.log}/{refused.seq} ({refused.code}), which rests "
                    f"on the seeded parcels {listed}: a seed disagrees with the history the "
                    "witnesses vouch for, or they cosigned an entry that breaks a rule "
                    "(kp verify --deep replays it all)",
                    log=refused.log,
                    seq=refused.seq,
                )
            )
    return found


# --- charter -------------------------------------------------------------------------------------


def _check_charters(bundle: Bundle, genesis: bytes, findings: list[Finding]) -> list[SignedCharter]:
    """The bundle's charter versions as one chain from the trusted genesis, or ``[]``."""
    try:
        if bundle.genesis != genesis:
            raise VerificationError(
                f"the bundle is of the network {bundle.network!r} with genesis "
                f"{bundle.genesis.hex()}, not of the trusted genesis {genesis.hex()} "
                "(check --trust or KP_TRUST)",
                code="bundle.wrong_network",
            )
        return trusted_charters((SignedCharter.parse(c) for c in bundle.charters), genesis)
    except LedgerError as exc:
        findings.append(Finding(exc.code, exc.message))
        return []


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    signed: notes.SignedCheckpoint
    witnesses: int
    witnessed_at: int = 0  # the newest cosignature's timestamp (POSIX seconds)


def _check_checkpoints(
    bundle: Bundle, chain: list[SignedCharter], findings: list[Finding]
) -> dict[str, _Checkpoint]:
    """Each log's checkpoint, signed by the log key in force at its size and cosigned by the
    quorum of the newest charter's witnesses."""
    latest = chain[-1].charter
    adopted = _adopted_versions(bundle)
    found: dict[str, _Checkpoint] = {}
    for log, note in bundle.checkpoints.items():
        if log not in latest.participants:
            findings.append(Finding("checkpoint.unknown_log", f"no member {log!r}", log=log))
            continue
        try:
            signed = notes.SignedCheckpoint.parse(note)
            charter = _charter_at(chain, adopted.get(log, []), signed.size)
            signed.verify([charter.log_verifier_key(log)], origin=charter.origin(log))
            witnesses = signed.cosigners(latest.cosigner_keys(exclude=log))
        except LedgerError as exc:
            findings.append(Finding(exc.code, f"checkpoint of {log}: {exc.message}", log=log))
            continue
        if len(witnesses) < latest.policy.witness_quorum:
            findings.append(
                Finding(
                    "checkpoint.not_witnessed",
                    f"checkpoint of {log} has {len(witnesses)} cosignatures, "
                    f"the charter asks {latest.policy.witness_quorum}",
                    log=log,
                )
            )
        found[log] = _Checkpoint(signed, len(witnesses), max(witnesses.values(), default=0))
    return found


def _adopted_versions(bundle: Bundle) -> dict[str, list[tuple[int, int]]]:
    """``(seq, version)`` of every charter adoption the bundle claims, per log.

    Read before the entries are checked: a claim only chooses which log key a checkpoint must
    verify with. A false claim makes that check, or the adoption's own replay, fail.
    """
    claims: dict[str, list[tuple[int, int]]] = {}
    for item in bundle.entries:
        try:
            entry = Entry.parse(item.entry)
        except LedgerError:
            continue  # the entry checks report it
        if isinstance(entry.signed.body, CharterAdopt):
            claims.setdefault(entry.signed.log, []).append((entry.seq, entry.signed.body.version))
    return claims


def _charter_at(chain: list[SignedCharter], adoptions: list[tuple[int, int]], size: int) -> Charter:
    """The charter a log had adopted when it signed a checkpoint of ``size`` entries."""
    versions = [version for seq, version in adoptions if seq < size]
    if not versions:
        return chain[-1].charter
    version = max(versions)
    if not 1 <= version <= len(chain):
        raise VerificationError(
            f"a log adopted version {version}, which the bundle's chain lacks",
            code="bundle.incomplete",
        )
    return chain[version - 1].charter


# --- entries -------------------------------------------------------------------------------------


def _check_entries(
    bundle: Bundle, checkpoints: dict[str, _Checkpoint], findings: list[Finding]
) -> dict[EntryRef, bytes]:
    entries: dict[EntryRef, bytes] = {}
    # A bundle repeats each log's checkpoint in every proof: compare each distinct copy once.
    agreeing: set[tuple[str, str]] = set()
    for item in bundle.entries:
        log, seq, raw = item.log, item.seq, item.entry
        try:
            digest = merkle.leaf_hash(raw)
            if digest != item.hash:
                raise VerificationError(
                    f"entry {log}/{seq} does not hash to its hash", code="entry.hash_mismatch"
                )
            held = checkpoints.get(log)
            if held is None:
                raise VerificationError(f"no valid checkpoint of {log}", code="proof.no_checkpoint")
            proof = item.proof
            if proof.index != seq:
                raise VerificationError("proof of another index", code="proof.invalid")
            merkle.verify_inclusion(
                digest, seq, held.signed.size, list(proof.hashes), held.signed.root
            )
            # The proof's own copy of the checkpoint (origin-signed) must be the one checked
            # above, so that each tlog-proof, taken out of the bundle, says what was verified.
            if (log, proof.checkpoint) not in agreeing:
                if notes.parse_note(proof.checkpoint).text != held.signed.note.text:
                    raise VerificationError(
                        f"the proof of {log}/{seq} leads to another checkpoint than the bundle's",
                        code="proof.invalid",
                    )
                agreeing.add((log, proof.checkpoint))
            entries[EntryRef(log, seq, digest)] = raw  # each (log, seq) once: Bundle.parse
        except LedgerError as exc:
            findings.append(Finding(exc.code, exc.message, log=log))
    return entries


# --- status --------------------------------------------------------------------------------------


def _status(
    subject: str,
    entries: dict[EntryRef, bytes],
    checkpoints: dict[str, _Checkpoint],
    replayed: Replay,
    newest: Charter,
    today: str,
) -> CertificateStatus | None:
    """The status of the subject's certificate, from the replayed state (DESIGN §9), with the
    suspensions of the ``newest`` charter known: a certificate accepted under an earlier version
    is history, but no longer a shipment a border may let in while either party is suspended."""
    found = [a for a in replayed.accepted if a.ref.hash.hex() == subject]
    if not found:
        return None
    body = found[0].entry.signed.body
    if isinstance(body, CertificateConfirm | CertificateReject | CertificateVoid):
        ref = body.certificate
    elif isinstance(body, CertificateIssue):
        ref = found[0].ref
    else:
        return None
    certificate = replayed.state.certificate(ref.log, ref.seq)
    if certificate is None:
        return None
    state = certificate.status(today)
    suspended = tuple(
        party
        for party in sorted({ref.log, certificate.importing})
        if (member := newest.participants.get(party)) is None or member.status != "active"
    )
    issued_under, suspending = None, newest.version
    if today < certificate.issued_on:
        state = (
            "unissued"  # an auditor's --date before the certificate existed, whatever came after
        )
    elif state == "usable" and suspended:
        state = "suspended"
    elif state == "usable":
        # Reinstated since? A certificate issued by a log that lagged behind a suspension of
        # either party is still not a shipment a border may let in.
        for late in superseded(replayed):
            if late.ref == ref and late.suspended:
                state, issued_under, suspending = "suspended", late.judged, late.later
                suspended = tuple(party for party, _ in late.suspended)
                break
    decided = certificate.voided if state == "voided" else certificate.outcome_ref
    decided_entry = None if decided is None else entries.get(decided)
    decided_on = (
        None if decided_entry is None else rules.entry_date(Entry.parse(decided_entry).time)
    )
    vouching = [checkpoints[log] for log in (ref.log, certificate.importing) if log in checkpoints]
    witnessed_at = min((c.witnessed_at for c in vouching), default=0)
    return CertificateStatus(
        state=state,
        number=certificate.number,
        issuer=ref.log,
        importing=certificate.importing,
        entry=ref.hash.hex(),
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        decided_by=None if decided is None or state == "expired" else decided.hash.hex(),
        decided_on=decided_on,
        received_on=certificate.received_on,
        as_of=_iso(witnessed_at) if witnessed_at else None,
        as_of_sizes=tuple(
            (log, checkpoints[log].signed.size)
            for log in sorted({ref.log, certificate.importing})
            if log in checkpoints
        ),
        suspended=suspended if state == "suspended" else (),
        charter_version=suspending if state == "suspended" else None,
        issued_under=issued_under,
        judged_on=today if state == "unissued" else None,
    )


def _iso(seconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- summary -------------------------------------------------------------------------------------


def _summary(
    entries: dict[EntryRef, bytes],
    checkpoints: dict[str, _Checkpoint],
    replayed: Replay,
    today: str,
    seeds: tuple[ParcelState, ...] = (),
) -> tuple[list[Step], tuple[str, ...]]:
    """The parcel-moving entries in time order, and the mining origins they start from: the
    productions replayed, and the origins of the seeds where a bounded bundle starts."""
    steps = []
    state = replayed.state

    def parcels(refs: tuple[ParcelRef, ...]) -> tuple[StepParcel, ...]:
        found = (state.parcel(r.log, r.seq, r.out) for r in refs)
        return tuple(StepParcel.of(p) for p in found if p is not None)

    def made(ref: EntryRef, count: int) -> tuple[StepParcel, ...]:
        return parcels(tuple(ParcelRef(ref.log, ref.seq, ref.hash, out) for out in range(count)))

    for accepted in sorted(replayed.accepted, key=lambda a: (a.ref.log, a.ref.seq)):
        ref, entry = accepted.ref, accepted.entry
        body = entry.signed.body
        certificate = centicarats = status = stated_on = kind = holder = None
        step_origins: tuple[str, ...] = ()
        inputs: tuple[StepParcel, ...] = ()
        outputs: tuple[StepParcel, ...] = ()
        sources: tuple[bytes, ...] = ()
        if isinstance(body, ParcelProduce):
            centicarats, step_origins = body.centicarats, (ref.log,)
            stated_on, holder, outputs = body.produced_on, body.holder, made(ref, 1)
        elif isinstance(body, ParcelTransform):
            centicarats = sum(o.centicarats for o in body.outputs)
            kind, inputs = body.kind, parcels(body.inputs)
            outputs = made(ref, len(body.outputs))
            sources = tuple(p.hash for p in body.inputs)
        elif isinstance(body, ParcelTransfer):
            inputs, holder, sources = parcels((body.parcel,)), body.to, (body.parcel.hash,)
            centicarats = sum(p.centicarats for p in inputs) if inputs else None
        elif isinstance(body, CertificateIssue):
            certificate, centicarats, step_origins = body.number, body.centicarats, body.origins
            stated_on, inputs = body.issued_on, parcels(body.parcels)
            sources = tuple(p.hash for p in body.parcels)
            issued = state.certificate(ref.log, ref.seq)
            if issued is not None:
                status = issued.status(today)
        elif isinstance(body, CertificateConfirm):
            centicarats = body.centicarats_received
            stated_on, holder = body.received_on, body.holder
            outputs, sources = made(ref, len(body.parcels)), (body.certificate.hash,)
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
                status=status,
                stated_on=stated_on,
                kind=kind,
                holder=holder,
                inputs=inputs,
                outputs=outputs,
                sources=tuple(dict.fromkeys(h.hex() for h in sources)),
            )
        )
    # Every parcel in the DAG descends from these productions or seeds: the mining origins.
    origins = tuple(
        sorted(
            {o for s in steps if s.type == "parcel.produce" for o in s.origins}
            | {o for seed in seeds for o in seed.origins}
        )
    )
    return _in_time_order(steps), origins


def _in_time_order(steps: list[Step]) -> list[Step]:
    return sorted(steps, key=lambda s: (s.date, s.log, s.seq))
