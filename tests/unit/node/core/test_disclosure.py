"""The disclosure policy (decision 0040), as a table: every reader × record type × sealed field,
allowed or refused with its code; then the aggregates, the access record, and the readers and
subjects the node builds from its state and its entries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client.sdk import Operator
from node.core import crypto
from node.core.charter import Charter, Participant, Policy, make_genesis
from node.core.disclosure import (
    ALLOWED,
    ENTITLED,
    Decision,
    Reader,
    Subject,
    check_access_record,
    check_aggregates,
    check_disclosure,
    reader_of,
    recipients,
    roles_of,
    verify_disclosure,
)
from node.core.errors import DisclosureRefusedError
from node.core.records import OPTIONAL_SEALED_FIELDS, RECORD_TYPES, SEALED_FIELDS, EntryRef
from node.core.state import OperatorState

FIELDS = sorted({f for fields in SEALED_FIELDS.values() for f in fields})

# BW issues a certificate to EU, signed by its officer, of goods its trader exported; in BW's
# log, its mine sells a parcel to its trader. ZA is a third participant, WDC an observer.
CERTIFICATE = Subject(
    "certificate.issue", "BW", signers=("officer",), parties=("trader",), importing="EU"
)
TRANSFER = Subject("parcel.transfer", "BW", signers=("mine",), parties=("trader",))


def _reader(key_id: str, operator_kind: str | None = None, **standing: str) -> Reader:
    participant, _, operator = key_id.partition(":")
    kind = "observer" if participant == "WDC" else "participant"
    return Reader(
        participant,
        operator or None,
        standing.get("kind", kind),
        standing.get("status", "active"),
        operator_kind,
        standing.get("standing", "in_force"),
    )


OK, NOT = ALLOWED, "disclosure.not_entitled"
OBSERVER, SUSPENDED, NOT_IN_FORCE = (
    "disclosure.aggregates_only",
    "disclosure.suspended",
    "disclosure.key_not_in_force",
)

GONE, OFF = (NOT_IN_FORCE, NOT_IN_FORCE), (SUSPENDED, SUSPENDED)

# (reader, its standing, the code for each field of the certificate, for the transfer's invoice)
TABLE: list[tuple[str, Reader, str, str]] = [
    ("BW log key", _reader("BW"), OK, OK),
    ("BW officer who signed the certificate", _reader("BW:officer", "authority"), OK, OK),
    ("BW another authority officer", _reader("BW:chief", "authority"), OK, OK),
    ("BW mine that sold the parcel", _reader("BW:mine", "mine"), NOT, OK),
    ("BW trader: exporter and buyer", _reader("BW:trader", "trader"), OK, OK),
    ("BW another trader", _reader("BW:broker", "trader"), NOT, NOT),
    ("EU log key: importing", _reader("EU"), OK, NOT),
    ("EU authority officer: importing", _reader("EU:officer", "authority"), OK, NOT),
    ("EU trader", _reader("EU:trader", "trader"), NOT, NOT),
    ("EU operator named like BW's signer", _reader("EU:mine", "mine"), NOT, NOT),
    ("ZA log key: a third participant", _reader("ZA"), NOT, NOT),
    ("ZA authority officer", _reader("ZA:officer", "authority"), NOT, NOT),
    ("WDC observer's log key", _reader("WDC"), OBSERVER, OBSERVER),
    ("WDC observer's own trader", _reader("WDC:trader", "trader"), OBSERVER, OBSERVER),
    ("BW officer revoked", _reader("BW:officer", "authority", standing="revoked"), *GONE),
    ("BW officer expired", _reader("BW:officer", "authority", standing="expired"), *GONE),
    ("BW unregistered key id", _reader("BW:ghost", standing="unregistered"), *GONE),
    ("EU log key suspended", _reader("EU", status="suspended"), SUSPENDED, SUSPENDED),
    ("EU officer suspended", _reader("EU:officer", "authority", status="suspended"), *OFF),
    ("BW mine suspended, revoked", _reader("BW:mine", "mine", status="suspended",
                                           standing="revoked"), *OFF),
    ("WDC observer suspended", _reader("WDC", status="suspended"), SUSPENDED, SUSPENDED),
]  # fmt: skip


def _cases() -> list[Any]:
    cases = []
    for name, reader, certificate, invoice in TABLE:
        for record_type in sorted(RECORD_TYPES):
            subject = {
                "certificate.issue": CERTIFICATE,
                "parcel.transfer": TRANSFER,
                # The mine produces for the trader: the same roles as the transfer's.
                "parcel.produce": replace(TRANSFER, type="parcel.produce"),
            }.get(record_type, Subject(record_type, "BW", signers=("mine",)))
            for field in FIELDS:
                sealable = {
                    *SEALED_FIELDS.get(record_type, ()),
                    *OPTIONAL_SEALED_FIELDS.get(record_type, ()),
                }
                if field not in sealable:
                    expected = "disclosure.not_sealed"
                elif record_type == "certificate.issue":
                    expected = certificate
                else:
                    expected = invoice
                cases.append(
                    pytest.param(
                        reader, subject, field, expected, id=f"{name}-{record_type}-{field}"
                    )
                )
    return cases


@pytest.mark.parametrize(("reader", "subject", "field", "expected"), _cases())
def test_the_policy_table(reader: Reader, subject: Subject, field: str, expected: str) -> None:
    decision = check_disclosure(reader, subject, field)
    assert (decision.allowed, decision.code) == (expected == ALLOWED, expected)
    assert decision.reason
    if decision.allowed:
        verify_disclosure(reader, subject, field)
    else:
        with pytest.raises(DisclosureRefusedError) as refused:
            verify_disclosure(reader, subject, field)
        assert refused.value.code == expected


def test_every_sealed_field_has_its_entitled_roles() -> None:
    sealable = {t: set(f) for t, f in SEALED_FIELDS.items()}
    for t, fields in OPTIONAL_SEALED_FIELDS.items():
        sealable.setdefault(t, set()).update(fields)
    assert {t: set(fields) for t, fields in ENTITLED.items()} == sealable


def test_a_domestic_transfer_needs_no_second_authority() -> None:
    # A transfer's buyer is an operator of the seller's log: its authority is the log's own.
    assert recipients(TRANSFER) == ("BW",)
    assert recipients(CERTIFICATE) == ("BW", "EU")
    assert recipients(Subject("parcel.transform", "BW")) == ()  # it seals nothing
    assert recipients(Subject("parcel.produce", "BW")) == ("BW",)  # a declared value: its own
    assert roles_of(_reader("EU:officer", "authority"), TRANSFER) == frozenset()
    assert roles_of(_reader("BW:trader", "trader"), TRANSFER) == {"party"}
    assert roles_of(_reader("BW:officer", "authority"), CERTIFICATE) == {"submitter", "authority"}
    assert roles_of(_reader("EU"), CERTIFICATE) == {"counterparty_authority"}


AGGREGATES: list[tuple[str, Reader, str]] = [
    ("participant log key", _reader("EU"), OK),
    ("participant authority officer", _reader("ZA:officer", "authority"), OK),
    ("participant trader", _reader("BW:trader", "trader"), NOT),
    ("participant mine", _reader("BW:mine", "mine"), NOT),
    ("observer log key", _reader("WDC"), OK),
    ("observer authority", _reader("WDC:staff", "authority"), OK),
    ("observer's own trader", _reader("WDC:trader", "trader"), NOT),
    ("suspended participant", _reader("ZA", status="suspended"), SUSPENDED),
    ("revoked officer", _reader("EU:officer", "authority", standing="revoked"), NOT_IN_FORCE),
    ("expired officer", _reader("EU:officer", "authority", standing="expired"), NOT_IN_FORCE),
]


@pytest.mark.parametrize(
    ("reader", "expected"), [a[1:] for a in AGGREGATES], ids=[a[0] for a in AGGREGATES]
)
def test_who_reads_statistics_aggregates(reader: Reader, expected: str) -> None:
    assert check_aggregates(reader).code == expected


ACCESS: list[tuple[str, Reader, str]] = [
    ("the log key", _reader("BW"), OK),
    ("an authority officer", _reader("BW:chief", "authority"), OK),
    ("the log's trader", _reader("BW:trader", "trader"), NOT),
    ("the importing authority", _reader("EU:officer", "authority"), NOT),
    ("an observer", _reader("WDC"), NOT),
    ("the log key, suspended", _reader("BW", status="suspended"), SUSPENDED),
    ("a revoked officer", _reader("BW:chief", "authority", standing="revoked"), NOT_IN_FORCE),
]


@pytest.mark.parametrize(
    ("reader", "expected"), [a[1:] for a in ACCESS], ids=[a[0] for a in ACCESS]
)
def test_the_access_record_of_a_log_is_its_authoritys(reader: Reader, expected: str) -> None:
    assert check_access_record(reader, "BW").code == expected


def test_a_decision_that_refuses_raises_with_its_code() -> None:
    Decision(True, ALLOWED, "fine").verify()
    with pytest.raises(DisclosureRefusedError) as refused:
        Decision(False, "disclosure.suspended", "ZA is suspended").verify()
    assert (refused.value.code, refused.value.message) == (
        "disclosure.suspended",
        "ZA is suspended",
    )


# --- what the node builds: readers from its state, subjects from entries -------------------------


@dataclass
class _State:
    """The one read ``reader_of`` makes of the ledger state: an operator's registration."""

    operators: dict[tuple[str, str], OperatorState]

    def operator(self, log: str, operator: str) -> OperatorState | None:
        return self.operators.get((log, operator))


def _registered(
    operator: str, kind: str, valid_until: str, *, revoked: bool = False
) -> OperatorState:
    ref = EntryRef("BW", 1, bytes(32))
    return OperatorState(
        log="BW",
        operator=operator,
        kind=kind,
        roles=(),
        public_key=bytes(32),
        valid_until=valid_until,
        licence="L",
        registered=ref,
        revoked=ref if revoked else None,
    )


@pytest.fixture
def charter() -> Charter:
    def key() -> bytes:
        return crypto.public_key_bytes(Ed25519PrivateKey.generate())

    members = [
        Participant(member, member, kind, "active", key(), key(), key())
        for member, kind in (("BW", "participant"), ("WDC", "observer"))
    ]
    return make_genesis("kp.test", members, Policy(1, 0, 5_000, 60, 14))


def test_a_reader_has_the_standing_the_rules_give_its_key(charter: Charter) -> None:
    state = _State(
        {
            ("BW", "officer"): _registered("officer", "authority", "2027-01-01"),
            ("BW", "lapsed"): _registered("lapsed", "trader", "2026-01-01"),
            ("BW", "former"): _registered("former", "mine", "2027-01-01", revoked=True),
        }
    )
    day = "2026-06-01"

    def standing(key_id: str) -> tuple[str | None, str] | None:
        reader = reader_of(state, charter, key_id, day)  # type: ignore[arg-type]
        return None if reader is None else (reader.operator_kind, reader.standing)

    assert standing("BW") == (None, "in_force")
    assert standing("BW:officer") == ("authority", "in_force")
    assert standing("BW:lapsed") == ("trader", "expired")
    assert standing("BW:former") == ("mine", "revoked")
    assert standing("BW:ghost") == (None, "unregistered")
    assert standing("XX") is None
    observer = reader_of(state, charter, "WDC", day)  # type: ignore[arg-type]
    assert observer is not None
    assert observer.kind == "observer"
    reader = reader_of(state, charter, "BW:officer", day)  # type: ignore[arg-type]
    assert reader is not None
    assert (reader.key_id, reader.is_authority) == ("BW:officer", True)


def test_the_subject_of_a_record_names_its_signers_and_parties() -> None:
    officer = Operator("BW", "officer", Ed25519PrivateKey.generate())
    signed, _ = officer.certify(
        "BW-2026-0001",
        exporter="trader",
        importing="EU",
        parcels=[["BW", 0, bytes(32), 0]],
        centicarats=1_000,
        hs_codes=["7102.10"],
        origins=["BW"],
        issued_on="2026-11-20",
        expires_on="2026-12-20",
        value_usd_cents=1,
        exporter_name="x",
        importer_name="y",
        seal_number="z",
    )
    assert Subject.of(signed) == CERTIFICATE
    mine = Operator("BW", "mine", Ed25519PrivateKey.generate())
    transfer, _ = mine.transfer(["BW", 0, bytes(32), 0], "trader", invoice="INV-1")
    assert Subject.of(transfer) == TRANSFER
    produced, _ = Operator("BW", "@log", Ed25519PrivateKey.generate()).produce(
        "P", centicarats=1, hs_code="7102.10", produced_on="2026-11-20", mine="mine", holder="mine"
    )
    # The holder a production names is party to its value (decision 0045).
    assert Subject.of(produced) == Subject("parcel.produce", "BW", parties=("mine",))
