"""Who may read which sealed field: the disclosure policy (DESIGN §5, decision 0040).

A record's sealed fields (decision 0013) are commercial secrets of the parties to it. This module
answers, as a pure function of the reader's standing and the record, whether one field may be
disclosed to one reader, and with which stable code it is refused:

- ``disclosure.suspended``: the reader's participant is suspended in the charter;
- ``disclosure.key_not_in_force``: the reader's operator key is revoked, past its
  ``valid_until``, or not registered (the same rule that judges a record's signers,
  ``rules.operator_in_force``);
- ``disclosure.aggregates_only``: the reader is an observer, which sees statistics, never one
  shipment's values;
- ``disclosure.not_sealed``: the record's type does not seal that field;
- ``disclosure.not_entitled``: the reader is none of those the table ``ENTITLED`` names.

The roles a reader may hold towards a record (``roles_of``):

- ``submitter``: an operator of the record's log that signed it;
- ``party``: an operator of the record's log its body names — a certificate's ``exporter``, a
  transfer's buyer ``to`` (an operator of the seller's own log: every transfer is domestic);
- ``authority``: the log key, or an ``authority``-kind operator, of the record's own participant;
- ``counterparty_authority``: the same, of the participant a certificate is issued to
  (``importing``). A transfer's buyer is of the seller's participant, so its authority is the
  record's ``authority``.

``recipients`` names the participants whose authorities are entitled to a record: the
participants its disclosures are to be encrypted to when they replicate (issue 16, part 2).
The node evaluates ``check_disclosure`` per field on every read (node/server/disclosures.py),
and ``check_access_record`` before it shows the record of reads to anyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from node.core.charter import Charter
from node.core.errors import DisclosureRefusedError, RuleError
from node.core.records import (
    LOG_SIGNER,
    SEALED_FIELDS,
    CertificateIssue,
    ParcelProduce,
    ParcelTransfer,
    SignedRecord,
)
from node.core.rules import operator_in_force
from node.core.state import LedgerView

__all__ = [
    "AGGREGATE_FIELDS",
    "ALLOWED",
    "ENTITLED",
    "ROLES",
    "STANDINGS",
    "Decision",
    "Reader",
    "Subject",
    "check_access_record",
    "check_aggregates",
    "check_disclosure",
    "reader_of",
    "recipients",
    "roles_of",
    "verify_disclosure",
]

ALLOWED = "disclosure.allowed"
"""The code of a decision that allows: recorded beside each refusal code in the access record."""

STANDINGS = ("in_force", "revoked", "expired", "unregistered")
"""What ``rules.operator_in_force`` says of an operator key today (a log key is in force while
the charter lists it: a request signed with another does not verify)."""

ROLES = ("submitter", "party", "authority", "counterparty_authority")

_EVERY_ROLE = frozenset(ROLES)

ENTITLED: Mapping[str, Mapping[str, frozenset[str]]] = {
    # KPCS Section IV: the importing authority checks the value, the names and the seal number
    # of the shipment it receives; the exporter named on the certificate reads its own values.
    "certificate.issue": {field: _EVERY_ROLE for field in SEALED_FIELDS["certificate.issue"]},
    # The invoice is the seller's and the buyer's; their authority is the log's own.
    "parcel.transfer": {"invoice": _EVERY_ROLE - {"counterparty_authority"}},
    # A production's value is the producer's (its signer and the holder it names) and its
    # authority's; no other participant is party to it (decision 0045).
    "parcel.produce": {"value_usd_cents": _EVERY_ROLE - {"counterparty_authority"}},
}
"""Per record type and sealed field, the roles that may read it (decision 0040's table)."""

AGGREGATE_FIELDS = frozenset({"value_usd_cents"})
"""The sealed fields KP statistics sum (per participant, period and HS code)."""


@dataclass(frozen=True, slots=True)
class Reader:
    """Whoever signed a member request, and their standing today.

    Attributes:
        participant: the charter member the key belongs to (``BW``).
        operator: the operator id (``officer``), or ``None`` for the participant's log key.
        kind: the member's charter kind, ``participant`` or ``observer``.
        status: the member's charter status, ``active`` or ``suspended``.
        operator_kind: the operator's registered kind (``authority``, ``mine``, ``trader``,
            ``manufacturer``); ``None`` for the log key or an unregistered operator.
        standing: one of ``STANDINGS``; always ``in_force`` for the log key.
    """

    participant: str
    operator: str | None
    kind: str
    status: str
    operator_kind: str | None = None
    standing: str = "in_force"

    @property
    def key_id(self) -> str:
        """``BW:officer``, or ``BW`` for the log key: the ``keyid`` of its requests."""
        return self.participant if self.operator is None else f"{self.participant}:{self.operator}"

    @property
    def is_authority(self) -> bool:
        """The log key, or an operator of kind ``authority``: the participant's KP authority."""
        return self.operator is None or self.operator_kind == "authority"


@dataclass(frozen=True, slots=True)
class Subject:
    """What the policy needs of a record: its type, log, signers and the parties it names.

    Attributes:
        type: the record type (``certificate.issue``).
        log: the participant whose log holds it.
        signers: the operator ids of that log that signed it (``@log`` left out: the log key is
            the authority anyway).
        parties: operator ids of that log the body names (exporter, buyer).
        importing: a certificate's importing participant; ``None`` for other types.
    """

    type: str
    log: str
    signers: tuple[str, ...] = ()
    parties: tuple[str, ...] = ()
    importing: str | None = None

    @classmethod
    def of(cls, signed: SignedRecord) -> Subject:
        """The subject of a parsed record."""
        body = signed.body
        parties: tuple[str, ...] = ()
        importing = None
        if isinstance(body, CertificateIssue):
            parties, importing = (body.exporter,), body.importing
        elif isinstance(body, ParcelTransfer):
            parties = (body.to,)
        elif isinstance(body, ParcelProduce):
            parties = (body.holder,)
        return cls(
            type=signed.type,
            log=signed.log,
            signers=tuple(s.by for s in signed.sigs if s.by != LOG_SIGNER),
            parties=parties,
            importing=importing,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one reader and one field (or the aggregates, or the access
    record): ``allowed``, and the stable ``code`` (``ALLOWED`` or the refusal's)."""

    allowed: bool
    code: str
    reason: str

    def verify(self) -> None:
        """Raises: DisclosureRefusedError with this decision's code, if it refuses."""
        if not self.allowed:
            raise DisclosureRefusedError(self.reason, code=self.code)


def reader_of(state: LedgerView, charter: Charter, key_id: str, today: str) -> Reader | None:
    """The standing of the key ``key_id`` (``BW`` or ``BW:officer``) on ``today``, under the
    charter the node adopted; ``None`` when the charter lists no such participant."""
    participant, _, operator = key_id.partition(":")
    member = charter.participants.get(participant)
    if member is None:
        return None
    if not operator:
        return Reader(participant, None, member.kind, member.status)
    registered = state.operator(participant, operator)
    if registered is None:
        return Reader(participant, operator, member.kind, member.status, None, "unregistered")
    try:
        operator_in_force(state, participant, operator, today)
    except RuleError as exc:  # operator.revoked, operator.expired
        standing = exc.code.removeprefix("operator.")
    else:
        standing = "in_force"
    return Reader(participant, operator, member.kind, member.status, registered.kind, standing)


def recipients(subject: Subject) -> tuple[str, ...]:
    """The participants whose authorities may read the record's sealed fields: its own, and a
    certificate's importing participant. Empty for a type that seals nothing."""
    if subject.type not in ENTITLED:
        return ()
    if subject.importing is not None and subject.importing != subject.log:
        return (subject.log, subject.importing)
    return (subject.log,)


def roles_of(reader: Reader, subject: Subject) -> frozenset[str]:
    """The roles ``reader`` holds towards the record (whatever its standing)."""
    roles: set[str] = set()
    if reader.participant == subject.log and reader.operator is not None:
        if reader.operator in subject.signers:
            roles.add("submitter")
        if reader.operator in subject.parties:
            roles.add("party")
    if reader.is_authority:
        if reader.participant == subject.log:
            roles.add("authority")
        elif reader.participant == subject.importing:
            roles.add("counterparty_authority")
    return frozenset(roles)


def check_disclosure(reader: Reader, subject: Subject, field: str) -> Decision:
    """Whether ``reader`` may read the sealed ``field`` of the record (decision 0040)."""
    entitled = ENTITLED.get(subject.type, {}).get(field)
    if entitled is None:
        return Decision(False, "disclosure.not_sealed", f"{subject.type} seals no {field}")
    refused = _standing(reader)
    if refused is not None:
        return refused
    if reader.kind == "observer":
        return Decision(
            False,
            "disclosure.aggregates_only",
            f"{reader.participant} is an observer: it reads statistics, not one record's values",
        )
    held = roles_of(reader, subject)
    if held & entitled:
        return Decision(True, ALLOWED, f"{reader.key_id} reads as {', '.join(sorted(held))}")
    return Decision(
        False,
        "disclosure.not_entitled",
        f"{reader.key_id} is not a party to this {subject.type} of {subject.log}, nor the "
        "authority of one",
    )


def verify_disclosure(reader: Reader, subject: Subject, field: str) -> None:
    """Raises: DisclosureRefusedError when ``check_disclosure`` refuses."""
    check_disclosure(reader, subject, field).verify()


def check_aggregates(reader: Reader) -> Decision:
    """Whether ``reader`` may read KP statistics aggregates of sealed values (sums of
    ``AGGREGATE_FIELDS`` per participant, period and HS code): every active participant's
    authority, and every active observer's (its log key or an ``authority`` operator)."""
    refused = _standing(reader)
    if refused is not None:
        return refused
    if reader.is_authority:
        return Decision(True, ALLOWED, f"{reader.key_id} is the authority of {reader.participant}")
    return Decision(
        False,
        "disclosure.not_entitled",
        f"{reader.key_id} is a {reader.operator_kind} operator: aggregates are for authorities",
    )


def check_access_record(reader: Reader, log: str) -> Decision:
    """Whether ``reader`` may read the record of who read the disclosures of ``log``'s
    entries: the authority of that log only."""
    refused = _standing(reader)
    if refused is not None:
        return refused
    if reader.participant == log and reader.is_authority:
        return Decision(True, ALLOWED, f"{reader.key_id} is the authority of {log}")
    return Decision(
        False,
        "disclosure.not_entitled",
        f"the reads of {log}'s disclosures are shown to {log}'s authority only",
    )


def _standing(reader: Reader) -> Decision | None:
    if reader.status != "active":
        return Decision(False, "disclosure.suspended", f"{reader.participant} is suspended")
    if reader.standing != "in_force":
        return Decision(
            False,
            "disclosure.key_not_in_force",
            f"{reader.key_id} is {reader.standing}: its key may not act today",
        )
    return None
