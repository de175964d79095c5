"""The one validation function of DESIGN §6: may this entry stand in this log?

``check(state, entry, entry_hash)`` is used identically by the sequencer (before appending), by a
replica (re-validating another node's log) and by a verifier (auditing a chain). It reads the
ledger state as the log stood just before the entry, decides, and returns the ``Effects`` the
entry has on that state; it never writes. Every refusal is a ``RuleError`` with a stable code;
a reference to an entry or charter this store does not hold yet is a ``PendingError`` instead.

Decisions where DESIGN §6 is silent are in ``docs/decisions/0007`` to ``0010`` and ``0020`` to
``0022`` (mass along each lineage, HS-code transitions, parcel ids and certificate dates).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Container, Iterable, Sequence
from dataclasses import replace
from typing import Any

from node.core import crypto
from node.core.charter import Charter, chain_to, verify_chain, verify_successor
from node.core.clock import utc_date as entry_date  # the date of an entry is its UTC date
from node.core.errors import CharterError, PendingError, RuleError
from node.core.records import (
    HS_CODES,
    LOG_SIGNER,
    ROLES,
    CertificateConfirm,
    CertificateIssue,
    CertificateReject,
    CertificateVoid,
    CharterAdopt,
    Entry,
    EntryRef,
    OperatorRegister,
    OperatorRevoke,
    ParcelOutput,
    ParcelProduce,
    ParcelRef,
    ParcelTransfer,
    ParcelTransform,
    parse_certificate_number,
)
from node.core.state import (
    Adoption,
    CertificateState,
    Effects,
    Head,
    LedgerView,
    OperatorState,
    ParcelState,
)

__all__ = [
    "ISSUE_BACKDATE_DAYS",
    "KIND_ROLES",
    "PPM",
    "UNSORTED",
    "Verified",
    "allocate_basis",
    "check",
    "entry_date",
    "operator_in_force",
    "within_tolerance",
]

PPM = 1_000_000
UNSORTED = "7102.10"  # rough not yet sorted: the one code a sort may classify (decision 0021)
ISSUE_BACKDATE_DAYS = 7  # how long before its entry a certificate may be dated (decision 0022)

# Roles an operator kind may hold: certificates are an authority's act (KPCS Section IV(a)),
# production a mine's or an authority's; anyone registered may split, merge, sort and sell.
KIND_ROLES = {
    "authority": ROLES,
    "mine": frozenset({"parcel.produce", "parcel.transform", "parcel.transfer"}),
    "trader": frozenset({"parcel.transform", "parcel.transfer"}),
    "manufacturer": frozenset({"parcel.transform", "parcel.transfer"}),
}
_LOG_SIGNED = frozenset({"charter.adopt", "operator.register", "operator.revoke"})


def within_tolerance(measured: int, reference: int, tolerance_ppm: int) -> bool:
    """|measured − reference| <= reference × tolerance, in exact integer arithmetic."""
    return abs(measured - reference) * PPM <= reference * tolerance_ppm


def allocate_basis(total: int, masses: Sequence[int]) -> list[int]:
    """Share ``total`` among parcels in proportion to their ``masses`` (largest remainder).

    Exact integers: the shares add up to ``total``; each is the floor of its quota, and the
    centicarats left over go one each to the largest remainders, ties to the lower index, so
    every node computes the same shares (decision 0020).
    """
    weight = sum(masses)
    quotas = [divmod(total * mass, weight) for mass in masses]
    shares = [quota for quota, _ in quotas]
    left = total - sum(shares)
    by_remainder = sorted(range(len(masses)), key=lambda i: (-quotas[i][1], i))
    for index in by_remainder[:left]:
        shares[index] += 1
    return shares


Verified = Container[tuple[bytes, bytes, bytes]]
"""``(public key, signature, record hash)`` triples already known to verify: a replica checks
signatures in another process ahead of the rules, and the rules then skip exactly those."""


def check(
    state: LedgerView, entry: Entry, entry_hash: bytes, *, verified: Verified = ()
) -> Effects:
    """Decide whether ``entry`` may be appended to its log, given the state just before it.

    Args:
        state: the ledger state before the entry (every log this store holds).
        entry: the entry, with its seq, prev and time already assigned.
        entry_hash: its leaf hash (the entry hash).
        verified: signatures already verified with the very key, signature and payload the
            rules would check; any other signature is verified here.

    Returns:
        What the entry changes in the state.

    Raises:
        RuleError: the entry breaks a rule; ``code`` names it.
        PendingError: it references an entry or a charter this store does not hold yet.
    """
    signed = entry.signed
    log, body = signed.log, signed.body
    here = EntryRef(log, entry.seq, entry_hash)
    _check_chain(state, entry)
    head = Head(entry.seq, entry_hash, entry.time, _follows_every_entry(state, entry))
    if isinstance(body, CharterAdopt):
        return replace(_charter_adopt(state, entry, here, body, verified), head=head)
    charter = state.adopted_charter(log)
    if charter is None:
        raise RuleError(
            "the log's first entry must adopt the genesis charter", code="charter.not_adopted"
        )
    member = charter.participants.get(log)
    if member is None:
        raise RuleError(f"{log} is not a member of the adopted charter", code="participant.unknown")
    if member.kind == "observer" and signed.type not in _LOG_SIGNED:
        raise RuleError(
            f"{log} is an observer: it witnesses, and keeps no parcels or certificates",
            code="participant.observer",
        )
    signers = _check_signatures(state, charter, entry, verified)
    return replace(_judge(state, charter, entry, here, signers), head=head)


def _check_chain(state: LedgerView, entry: Entry) -> None:
    """The entry follows the last one applied from its log: next seq, chained, not earlier.

    A verifier replaying part of a log (a provenance DAG) sees gaps in seq; there it checks only
    that time does not go backwards, and relies on inclusion proofs for the chain.
    """
    head = state.head(entry.signed.log)
    if head is None:
        return  # entry 0 chains to the genesis hash, which its charter.adopt checks
    if entry.seq <= head.seq:
        raise RuleError(f"entry {entry.seq} does not follow entry {head.seq}", code="entry.order")
    if entry.seq == head.seq + 1 and entry.prev != head.hash:
        raise RuleError("entry does not chain to the previous entry", code="entry.chain")
    if entry.time < head.time:
        # Voids by expiry rely on a log's times never going backwards (decision 0009).
        raise RuleError("entry time is earlier than the previous entry's", code="entry.order")


def _follows_every_entry(state: LedgerView, entry: Entry) -> bool:
    """Every earlier entry of the entry's log was applied to ``state`` (on a node, a replica or
    in a full audit; not in a verifier replaying a provenance DAG, which skips entries)."""
    head = state.head(entry.signed.log)
    if head is None:
        return entry.seq == 0
    return head.complete and entry.seq == head.seq + 1


def _judge(
    state: LedgerView,
    charter: Charter,
    entry: Entry,
    here: EntryRef,
    signers: dict[str, OperatorState],
) -> Effects:
    judge = _JUDGES[type(entry.signed.body)]
    return judge(_Context(state, charter, entry, here, signers), entry.signed.body)


# --- signatures ------------------------------------------------------------------------------


def operator_in_force(state: LedgerView, log: str, operator: str, today: str) -> OperatorState:
    """The registration of ``log:operator`` if its key may act on ``today`` (``YYYY-MM-DD``).

    One rule for every use of an operator key — signing a record, or signing a member request
    to a node — so that a key refused in one place is refused in all of them.

    Raises:
        RuleError: ``operator.unknown``, ``operator.revoked`` or ``operator.expired``.
    """
    registered = state.operator(log, operator)
    if registered is None:
        raise RuleError(f"{log}:{operator} is not a registered operator", code="operator.unknown")
    if registered.revoked is not None:
        raise RuleError(f"{log}:{operator} has been revoked", code="operator.revoked")
    if registered.valid_until < today:
        raise RuleError(
            f"{log}:{operator}'s registration ended on {registered.valid_until}",
            code="operator.expired",
        )
    return registered


def _check_signatures(
    state: LedgerView, charter: Charter, entry: Entry, verified: Verified = ()
) -> dict[str, OperatorState]:
    """Verify every signature; return the operators among the signers.

    "@log" verifies with the participant's log key in the adopted charter; an operator id with
    the key it registered, if it is neither revoked nor past its ``valid_until`` at the entry's
    date.
    """
    signed = entry.signed
    log, payload, today = signed.log, signed.payload, entry_date(entry.time)
    operators: dict[str, OperatorState] = {}
    for sig in signed.sigs:
        if sig.by == LOG_SIGNER:
            key = charter.participants[log].log_key
        else:
            operator = operator_in_force(state, log, sig.by, today)
            key = operator.public_key
            operators[sig.by] = operator
        if (key, sig.sig, signed.record_hash) in verified:
            continue  # this exact signature under this exact key was verified already
        if not crypto.verify(crypto.load_public_key(key), sig.sig, payload):
            raise RuleError(f"signature by {sig.by} does not verify", code="signature.invalid")
    if signed.type in _LOG_SIGNED and LOG_SIGNER not in {s.by for s in signed.sigs}:
        raise RuleError(
            f"{signed.type} must be signed by the log key", code="operator.not_authorized"
        )
    return operators


# --- charter adoption ------------------------------------------------------------------------


def _charter_adopt(
    state: LedgerView, entry: Entry, here: EntryRef, body: CharterAdopt, verified: Verified
) -> Effects:
    """A log's first entry adopts the version in force when its participant joined: the genesis
    for a founder, version N for a participant admitted in N (decision 0024). That version is
    valid when the chain of published versions from the genesis (the entry's ``prev``) to it
    verifies under the TUF rule. Each later adoption is the next version, valid under the TUF
    rule against the current one."""
    log = entry.signed.log
    signed_charter = state.charter(body.charter)
    if signed_charter is None:
        raise PendingError("charter document not known to this store", code="charter.unknown")
    candidate = signed_charter.charter
    if candidate.version != body.version:
        raise RuleError(
            "adopted version differs from the document's", code="charter.version_mismatch"
        )
    current = state.adopted_charter(log)
    try:
        if current is None:
            if entry.seq != 0:
                raise RuleError(
                    "a log adopts its first charter in its first entry", code="charter.not_adopted"
                )
            verify_chain(chain_to(signed_charter, state.charter), entry.prev)
        else:
            verify_successor(current, signed_charter)
    except CharterError as exc:
        raise RuleError(exc.message, code=exc.code) from exc
    if log not in candidate.participants:
        raise RuleError(f"{log} is not a member of that charter", code="participant.unknown")
    # The first adoption is signed with the key it introduces; later ones with the key in force,
    # so a new log key is taken on only by a log already trusted.
    _check_signatures(state, current or candidate, entry, verified)
    return Effects(adoption=Adoption(body.version, body.charter, here))


# --- everything under an adopted charter -------------------------------------------------------


class _Context:
    """One entry being judged: the state before it, its charter, its verified signers."""

    def __init__(
        self,
        state: LedgerView,
        charter: Charter,
        entry: Entry,
        here: EntryRef,
        signers: dict[str, OperatorState],
    ) -> None:
        self.state = state
        self.charter = charter
        self.entry = entry
        self.here = here
        self.log = entry.signed.log
        self.signers = signers
        self.today = entry_date(entry.time)
        self.policy = charter.policy
        self.tolerance = charter.policy.mass_tolerance_ppm
        # The live parcel ids of this log are known only where every entry before was applied.
        self.ids_known = _follows_every_entry(state, entry)

    # operators -------------------------------------------------------------------------------

    def operator_register(self, body: OperatorRegister) -> Effects:
        existing = self.state.operator(self.log, body.operator)
        if existing is not None and existing.revoked is None:
            raise RuleError(
                f"{self.log}:{body.operator} is already registered", code="operator.exists"
            )
        not_allowed = sorted(set(body.roles) - KIND_ROLES[body.kind])
        if not_allowed:
            raise RuleError(
                f"{_a(body.kind)} may not hold the roles {not_allowed}",
                code="operator.role_not_allowed",
            )
        operator = OperatorState(
            log=self.log,
            operator=body.operator,
            kind=body.kind,
            roles=body.roles,
            public_key=body.public_key,
            valid_until=body.valid_until,
            licence=body.licence,
            registered=self.here,
            history=(*(existing.history if existing else ()), self.here),
        )
        return Effects(operators=(operator,))

    def operator_revoke(self, body: OperatorRevoke) -> Effects:
        existing = self._operator(body.operator)
        revoked = replace(existing, revoked=self.here, history=(*existing.history, self.here))
        return Effects(operators=(revoked,))

    # parcels ---------------------------------------------------------------------------------

    def parcel_produce(self, body: ParcelProduce) -> Effects:
        mine = self.state.operator(self.log, body.mine)
        if mine is None or mine.revoked is not None:
            raise RuleError(f"{self.log}:{body.mine} is not a registered mine", code="mine.unknown")
        if mine.kind != "mine":
            raise RuleError(
                f"{self.log}:{body.mine} is {_a(mine.kind)}, not a mine", code="mine.not_a_mine"
            )
        actor = self._actor("parcel.produce")
        if actor.operator != body.mine and actor.kind != "authority":
            raise RuleError(
                "production is recorded by the mine itself or by the authority",
                code="operator.not_authorized",
            )
        self._operator(body.holder)
        self._not_after_today(body.produced_on, "produced_on")
        self._ids_free((body.parcel,))
        # DESIGN §6: the origin of a produced parcel is this participant. Its lineage is entitled
        # to what the mine weighed (decision 0020).
        parcel = self._created(
            0, body, holder=body.holder, origins=(self.log,), basis=body.centicarats
        )
        return Effects(parcels=(parcel,))

    def parcel_transform(self, body: ParcelTransform) -> Effects:
        actor = self._actor("parcel.transform")
        if body.kind == "split" and len(body.inputs) != 1:
            raise RuleError("a split takes exactly one parcel", code="transform.kind_mismatch")
        if body.kind == "merge" and (len(body.inputs) < 2 or len(body.outputs) != 1):
            raise RuleError("a merge makes one parcel of several", code="transform.kind_mismatch")
        inputs = self._live_parcels(body.inputs, held_by=actor.operator)
        _check_hs_transition(body, inputs)
        # Decision 0020: the outputs may weigh what the inputs' lineages were weighed at, with
        # one tolerance in all; a loss is lost for good and a gain never compounds.
        basis_in = sum(p.basis for p in inputs)
        mass_out = sum(o.centicarats for o in body.outputs)
        if mass_out * PPM > basis_in * (PPM + self.tolerance):
            raise RuleError(
                f"outputs weigh {mass_out} ct/100; their lineage was weighed at {basis_in} "
                f"ct/100 at the mines or at import (inputs weigh "
                f"{sum(p.centicarats for p in inputs)} ct/100 now), more than the tolerance of "
                f"{self.tolerance} ppm allows",
                code="mass.exceeds_inputs",
            )
        self._ids_free([o.parcel for o in body.outputs], freed=[p.ref for p in inputs])
        origins = _union(p.origins for p in inputs)
        consumed = tuple(replace(p, consumed_by=self.here) for p in inputs)
        bases = allocate_basis(min(basis_in, mass_out), [o.centicarats for o in body.outputs])
        created = tuple(
            self._created(out, output, holder=actor.operator, origins=origins, basis=basis)
            for out, (output, basis) in enumerate(zip(body.outputs, bases, strict=True))
        )
        return Effects(parcels=consumed + created)

    def parcel_transfer(self, body: ParcelTransfer) -> Effects:
        actor = self._actor("parcel.transfer")
        [parcel] = self._live_parcels((body.parcel,), held_by=actor.operator)
        if not body.warranty:
            raise RuleError(
                "a transfer must affirm the System of Warranties statement",
                code="warranty.not_affirmed",
            )
        self._operator(body.to)
        if body.to == parcel.holder:
            raise RuleError("the parcel already belongs to that operator", code="transfer.to_self")
        moved = replace(parcel, holder=body.to, transfers=(*parcel.transfers, self.here))
        return Effects(parcels=(moved,))

    # certificates ----------------------------------------------------------------------------

    def certificate_issue(self, body: CertificateIssue) -> Effects:
        self._authority("certificate.issue")
        number = parse_certificate_number(body.number)
        if number.issuer != self.log:
            raise RuleError(
                f"certificate numbers of {self.log} start with {self.log}, not {number.issuer}",
                code="certificate.number_prefix",
            )
        # Unique by key, not by spelling: BW/2026/0005 is BW-2026-0005 (decision 0025).
        issued = self.state.certificate_by_number(self.log, number.key)
        if issued is not None:
            raise RuleError(
                f"certificate {issued.number} already issued"
                + ("" if issued.number == body.number else f", which {body.number} reads as"),
                code="certificate.number_used",
            )
        self._active(self.log)
        importer = self.charter.participants.get(body.importing)
        if importer is None or importer.kind != "participant" or body.importing == self.log:
            raise RuleError(
                f"{body.importing} cannot import from {self.log}",
                code="certificate.importer_invalid",
            )
        self._active(body.importing)
        self._operator(body.exporter)
        parcels = self._live_parcels(body.parcels, held_by=body.exporter)
        if body.parcel_count != len(parcels):
            raise RuleError(
                "parcel_count differs from the parcels listed", code="certificate.parcel_count"
            )
        if body.centicarats != sum(p.centicarats for p in parcels):
            raise RuleError("declared mass differs from the parcels' mass", code="mass.mismatch")
        if body.hs_codes != tuple(sorted({p.hs_code for p in parcels})):
            raise RuleError("declared HS codes differ from the parcels'", code="hs_code.mismatch")
        if body.origins != _union(p.origins for p in parcels):
            raise RuleError(
                "declared origins differ from the parcels' origins", code="origin.mismatch"
            )
        if not self.today >= body.issued_on:
            raise RuleError("issued_on is after the entry's date", code="date.in_future")
        # Decision 0022: a certificate is dated on or after its parcels came into the ledger,
        # and recorded within a few days of its date, so that no one can certify parcels
        # "before" they existed or slip a certificate into an earlier period.
        if _days(body.issued_on, self.today) > ISSUE_BACKDATE_DAYS:
            raise RuleError(
                f"issued_on {body.issued_on} is more than {ISSUE_BACKDATE_DAYS} days before the "
                f"entry's date {self.today}",
                code="date.backdated",
            )
        for parcel in parcels:
            created_on = entry_date(self._entry(parcel.ref.entry).time)
            if body.issued_on < created_on:
                raise RuleError(
                    f"issued_on {body.issued_on} is before parcel {parcel.parcel} came into the "
                    f"ledger on {created_on}",
                    code="date.before_parcels",
                )
        if body.expires_on <= body.issued_on:
            raise RuleError(
                f"expires_on {body.expires_on} is not after issued_on {body.issued_on}",
                code="certificate.validity",
            )
        validity = _days(body.issued_on, body.expires_on)
        if validity > self.policy.max_certificate_days:
            raise RuleError(
                f"valid {validity} days, more than {self.policy.max_certificate_days}",
                code="certificate.validity",
            )
        if body.expires_on < self.today:
            raise RuleError(
                f"expires_on {body.expires_on} is before the entry's date {self.today}: the "
                "certificate would be recorded already expired",
                code="certificate.expired",
            )
        certificate = CertificateState(
            ref=self.here,
            number=body.number,
            exporter=body.exporter,
            importing=body.importing,
            parcels=body.parcels,
            centicarats=body.centicarats,
            hs_codes=body.hs_codes,
            origins=body.origins,
            issued_on=body.issued_on,
            expires_on=body.expires_on,
            # Fixed now, under the issuer's policy: the importer's confirmation window and the
            # issuer's void-by-expiry must use the same day, whatever either adopts later.
            void_after=_add_days(body.expires_on, self.policy.void_grace_days),
            basis=sum(p.basis for p in parcels),
        )
        consumed = tuple(replace(p, consumed_by=self.here) for p in parcels)
        return Effects(parcels=consumed, certificates=(certificate,))

    def certificate_confirm(self, body: CertificateConfirm) -> Effects:
        self._authority("certificate.confirm")
        certificate = self._addressed_here(body.certificate)
        # KP: a suspended participant takes no rough diamonds in (decision 0023), and an
        # importing authority refuses certificates of a participant it holds suspended. Either
        # may still reject, which lets the issuer void and release the parcels.
        self._active(self.log)
        self._active(certificate.ref.log)
        self._not_issued_behind_a_suspension(certificate)
        self._not_after_today(body.received_on, "received_on")
        if body.received_on > certificate.expires_on or self.today > certificate.void_after:
            raise RuleError(
                f"certificate {certificate.number} has expired", code="certificate.expired"
            )
        if body.received_on < certificate.issued_on:
            raise RuleError("received before it was issued", code="date.before_issue")
        if not body.seal_intact:
            raise RuleError(
                "a shipment whose seal is broken is rejected, not confirmed",
                code="certificate.seal_broken",
            )
        received = body.centicarats_received
        if not within_tolerance(received, certificate.centicarats, self.tolerance):
            raise RuleError(
                f"received {received}, certified {certificate.centicarats}",
                code="mass.received_mismatch",
            )
        if received * PPM > certificate.basis * (PPM + self.tolerance):
            # The exporter's reweighings already used the tolerance (decision 0020).
            raise RuleError(
                f"received {received} ct/100; the certified parcels' lineage was weighed at "
                f"{certificate.basis} ct/100, more than the tolerance of {self.tolerance} ppm "
                "allows",
                code="mass.exceeds_inputs",
            )
        if any(p.hs_code not in certificate.hs_codes for p in body.parcels):
            raise RuleError(
                "an imported parcel has an HS code not certified", code="hs_code.mismatch"
            )
        self._check_received_by_hs_code(certificate, body.parcels)
        if sum(p.centicarats for p in body.parcels) != received:
            raise RuleError(
                "the new parcels do not add up to what was received", code="mass.mismatch"
            )
        self._operator(body.holder)
        self._ids_free([p.parcel for p in body.parcels])
        bases = allocate_basis(
            min(certificate.basis, received), [p.centicarats for p in body.parcels]
        )
        created = tuple(
            # Imported parcels inherit the certified origins.
            self._created(out, output, holder=body.holder, origins=certificate.origins, basis=basis)
            for out, (output, basis) in enumerate(zip(body.parcels, bases, strict=True))
        )
        outcome = replace(
            certificate,
            outcome="confirmed",
            outcome_ref=self.here,
            received_on=body.received_on,
            recorded_on=self.today,
        )
        return Effects(parcels=created, certificates=(outcome,))

    def certificate_reject(self, body: CertificateReject) -> Effects:
        self._authority("certificate.reject")
        certificate = self._addressed_here(body.certificate)
        outcome = replace(certificate, outcome="rejected", outcome_ref=self.here)
        return Effects(certificates=(outcome,))

    def certificate_void(self, body: CertificateVoid) -> Effects:
        self._authority("certificate.void")
        ref = body.certificate
        if ref.log != self.log:
            raise RuleError(
                "a certificate is voided by its issuer", code="certificate.not_issued_here"
            )
        certificate = self._certificate(ref)
        if certificate.voided is not None:
            raise RuleError(
                f"certificate {certificate.number} is already void", code="certificate.voided"
            )
        evidence = self._entry(body.evidence)
        if body.evidence.log != certificate.importing:
            raise RuleError(
                "void evidence must come from the importer's log", code="certificate.not_voidable"
            )
        outcome = certificate.outcome_ref
        if outcome is not None and outcome.seq <= body.evidence.seq:
            rejected = certificate.outcome == "rejected" and outcome == body.evidence
            if not rejected:
                raise RuleError(
                    f"certificate {certificate.number} was {certificate.outcome} by the importer",
                    code="certificate.not_voidable",
                )
        elif entry_date(evidence.time) <= certificate.void_after:
            # No outcome up to the evidence: the evidence must show the importer's log moved past
            # the last day a confirmation could have been appended.
            raise RuleError(
                "neither rejected nor expired past the grace period",
                code="certificate.not_voidable",
            )
        # Released parcels keep their basis, and their ids even if one was taken meanwhile:
        # releasing is the only way back for them and must never fail (decision 0022).
        released = tuple(
            self._created(
                out,
                parcel,
                holder=certificate.exporter,
                origins=parcel.origins,
                basis=parcel.basis,
            )
            for out, parcel in enumerate(self._parcel(r) for r in certificate.parcels)
        )
        voided = replace(certificate, voided=self.here)
        return Effects(parcels=released, certificates=(voided,))

    # shared checks ---------------------------------------------------------------------------

    def _created(
        self,
        out: int,
        source: ParcelProduce | ParcelOutput | ParcelState,
        *,
        holder: str,
        origins: tuple[str, ...],
        basis: int,
    ) -> ParcelState:
        """Output ``out`` of this entry: a new live parcel with ``source``'s id, mass and code."""
        return ParcelState(
            ref=ParcelRef(self.log, self.here.seq, self.here.hash, out),
            parcel=source.parcel,
            holder=holder,
            centicarats=source.centicarats,
            hs_code=source.hs_code,
            origins=origins,
            basis=basis,
        )

    def _ids_free(self, names: Sequence[str], *, freed: Collection[ParcelRef] = ()) -> None:
        """Decision 0022: the parcels this entry creates take ids no live parcel of this log
        has (but for the ``freed`` ones this entry consumes), each a different one."""
        if len(set(names)) != len(names):
            raise RuleError(
                "two parcels of one entry have the same parcel id", code="parcel.id_in_use"
            )
        if not self.ids_known:
            return  # a partial replay does not know every live parcel; the nodes decided it
        for name in names:
            if any(ref not in freed for ref in self.state.live_parcels_named(self.log, name)):
                raise RuleError(
                    f"a live parcel of {self.log} already has the id {name}",
                    code="parcel.id_in_use",
                )

    def _check_received_by_hs_code(
        self, certificate: CertificateState, parcels: Sequence[ParcelOutput]
    ) -> None:
        """What was received of each HS code is what was certified of it, within tolerance: an
        import may not relabel 7102.21 mass as 7102.31 (decision 0021)."""
        certified: dict[str, int] = {}
        for parcel in (self._parcel(r) for r in certificate.parcels):
            certified[parcel.hs_code] = certified.get(parcel.hs_code, 0) + parcel.centicarats
        for hs_code, mass in sorted(certified.items()):
            received = sum(p.centicarats for p in parcels if p.hs_code == hs_code)
            if not within_tolerance(received, mass, self.tolerance):
                raise RuleError(
                    f"received {received} ct/100 of {hs_code}, certified {mass} ct/100",
                    code="hs_code.received_mismatch",
                )

    def _actor(self, role: str) -> OperatorState:
        """The signing operator that holds ``role`` (the first such, in signature order)."""
        for operator in self.signers.values():
            if role in operator.roles:
                return operator
        raise RuleError(f"no signer holds the role {role}", code="operator.not_authorized")

    def _authority(self, role: str) -> OperatorState:
        actor = self._actor(role)
        if actor.kind != "authority":
            raise RuleError(f"{role} is an authority officer's act", code="operator.not_authorized")
        return actor

    def _operator(self, operator: str) -> OperatorState:
        found = self.state.operator(self.log, operator)
        if found is None or found.revoked is not None:
            raise RuleError(
                f"{self.log}:{operator} is not a registered operator", code="operator.unknown"
            )
        return found

    def _active(self, participant: str) -> None:
        member = self.charter.participants.get(participant)
        if member is None or member.status != "active":
            raise RuleError(f"{participant} is suspended", code="participant.suspended")

    def _not_issued_behind_a_suspension(self, certificate: CertificateState) -> None:
        """Decision 0023: a certificate issued by a log lagging behind a suspension of either
        party is not imported, even once the party is reinstated. The judge is this (the
        importer's) log: the version it had adopted when the certificate was entered — by the
        entries' own signed times — suspends the issuer or the importer, and the issuer was
        judged under an older version."""
        issued = self._entry(certificate.ref)
        in_force = None
        for adoption in self.state.adoptions(self.log):
            if adoption.entry.seq >= self.here.seq:
                break
            if self._entry(adoption.entry).time <= issued.time:
                in_force = adoption
        if in_force is None:
            return
        signed = self.state.charter(in_force.charter)
        if signed is None:
            raise PendingError(
                f"charter version {in_force.version} not held", code="charter.unknown"
            )
        issuer_version = max(
            (
                a.version
                for a in self.state.adoptions(certificate.ref.log)
                if a.entry.seq < certificate.ref.seq
            ),
            default=0,
        )
        if issuer_version >= in_force.version:
            return  # the issuer was judged under this version or a later one
        for party in (certificate.ref.log, self.log):
            member = signed.charter.participants.get(party)
            if member is None or member.status != "active":
                raise RuleError(
                    f"{certificate.ref.log} issued {certificate.number} under charter version "
                    f"{issuer_version} when this log had adopted version {in_force.version}, which "
                    f"suspends {party}: not importable, even after a reinstatement",
                    code="participant.suspended",
                )

    def _not_after_today(self, date: str, what: str) -> None:
        if date > self.today:
            raise RuleError(
                f"{what} {date} is after the entry's date {self.today}", code="date.in_future"
            )

    def _entry(self, ref: EntryRef) -> Entry:
        if ref.seq >= self.state.log_size(ref.log):
            raise PendingError(f"entry {ref.log}/{ref.seq} not held yet", code="reference.unknown")
        entry = self.state.entry(ref.log, ref.seq)
        if entry is None or entry.leaf_hash != ref.hash:
            raise RuleError(
                f"entry {ref.log}/{ref.seq} has another hash", code="reference.mismatch"
            )
        return entry

    def _certificate(self, ref: EntryRef) -> CertificateState:
        certificate = self.state.certificate(ref.log, ref.seq)
        if certificate is None:
            if ref.seq >= self.state.log_size(ref.log):
                raise PendingError(
                    f"entry {ref.log}/{ref.seq} not held yet", code="reference.unknown"
                )
            raise RuleError(f"{ref.log}/{ref.seq} is not a certificate", code="certificate.unknown")
        if certificate.ref.hash != ref.hash:
            raise RuleError(
                f"entry {ref.log}/{ref.seq} has another hash", code="reference.mismatch"
            )
        return certificate

    def _addressed_here(self, ref: EntryRef) -> CertificateState:
        certificate = self._certificate(ref)
        if certificate.importing != self.log:
            raise RuleError(
                f"certificate {certificate.number} is addressed to {certificate.importing}",
                code="certificate.not_addressed_here",
            )
        if certificate.outcome is not None:
            raise RuleError(
                f"certificate {certificate.number} was already {certificate.outcome}",
                code=f"certificate.already_{certificate.outcome}",
            )
        return certificate

    def _parcel(self, ref: ParcelRef) -> ParcelState:
        parcel = self.state.parcel(ref.log, ref.seq, ref.out)
        if parcel is None:
            if ref.seq >= self.state.log_size(ref.log):
                raise PendingError(
                    f"entry {ref.log}/{ref.seq} not held yet", code="reference.unknown"
                )
            raise RuleError(f"no parcel at {ref.log}/{ref.seq}/{ref.out}", code="parcel.unknown")
        if parcel.ref.hash != ref.hash:
            raise RuleError(
                f"entry {ref.log}/{ref.seq} has another hash", code="reference.mismatch"
            )
        return parcel

    def _live_parcels(self, refs: tuple[ParcelRef, ...], *, held_by: str) -> list[ParcelState]:
        """The parcels, each in this log, live, held by ``held_by`` and listed once."""
        if len(set(refs)) != len(refs):
            raise RuleError("a parcel is listed twice", code="parcel.duplicate")
        parcels = []
        for ref in refs:
            if ref.log != self.log:
                # DESIGN §1: a parcel is consumed only in the log of the participant holding it.
                raise RuleError(
                    f"parcel {ref.log}/{ref.seq}/{ref.out} is not in this log",
                    code="parcel.foreign",
                )
            parcel = self._parcel(ref)
            if not parcel.live:
                raise RuleError(
                    f"parcel {parcel.parcel} was already consumed", code="parcel.not_live"
                )
            if parcel.holder != held_by:
                raise RuleError(
                    f"parcel {parcel.parcel} is held by {parcel.holder}", code="parcel.not_held"
                )
            parcels.append(parcel)
        return parcels


def _check_hs_transition(body: ParcelTransform, inputs: Sequence[ParcelState]) -> None:
    """Decision 0021: only a sort classifies, and only unsorted rough.

    A split and a merge keep the one code of their inputs (a merge of mixed codes would make an
    unsorted lot that a sort could classify anew). A sort takes inputs of one code: unsorted
    inputs may become any rough code; sorted ones keep their class.
    """
    codes = {p.hs_code for p in inputs}
    if len(codes) != 1:
        raise RuleError(
            f"{_a(body.kind)} takes parcels of one HS code, not {sorted(codes)}; mixed goods "
            "travel as separate parcels",
            code="hs_code.transition",
        )
    [code] = codes
    allowed = HS_CODES if body.kind == "sort" and code == UNSORTED else frozenset({code})
    changed = sorted({o.hs_code for o in body.outputs} - allowed)
    if changed:
        what = "a sort of sorted goods" if body.kind == "sort" else _a(body.kind)
        raise RuleError(
            f"{what} keeps HS code {code}; it cannot make {changed} (only a sort classifies "
            f"{UNSORTED})",
            code="hs_code.transition",
        )


def _union(origin_sets: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(sorted({origin for origins in origin_sets for origin in origins}))


def _add_days(date: str, days: int) -> str:
    return (datetime.date.fromisoformat(date) + datetime.timedelta(days=days)).isoformat()


def _days(start: str, end: str) -> int:
    return (datetime.date.fromisoformat(end) - datetime.date.fromisoformat(start)).days


_JUDGES: dict[type, Callable[[_Context, Any], Effects]] = {
    OperatorRegister: _Context.operator_register,
    OperatorRevoke: _Context.operator_revoke,
    ParcelProduce: _Context.parcel_produce,
    ParcelTransform: _Context.parcel_transform,
    ParcelTransfer: _Context.parcel_transfer,
    CertificateIssue: _Context.certificate_issue,
    CertificateConfirm: _Context.certificate_confirm,
    CertificateReject: _Context.certificate_reject,
    CertificateVoid: _Context.certificate_void,
}
"""The rule for each record type but ``charter.adopt`` (judged before any charter is in force)."""


def _a(noun: str) -> str:
    """``noun`` with its indefinite article, for messages: "an authority", "a mine"."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"
