"""The rules of DESIGN §6 (node/core/rules.py): every refusal code, the void paths, and the attacks.

The table ``RULE_CASES`` holds one row per way a rule can be broken. Each row builds a small world
up to the record under test and hands back that last step; ``bad`` picks the broken variant or the
valid one, so every row is run twice: once refused with its code (leaving the state and logs
exactly as they were), once appended. Named tests below replay the issue list's attacks, through
the in-memory rules and through real sequencers on LMDB.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto, rules
from node.core.charter import Charter, SignedCharter, make_successor, with_status
from node.core.encoding import Value, encode
from node.core.errors import DisclosureError, PendingError, RuleError
from node.core.merkle import leaf_hash
from node.core.receipt import Receipt
from node.core.records import LOG_SIGNER, Entry, EntryRef, ParcelRef
from node.core.sealing import encode_disclosures
from node.core.state import Effects, LedgerState
from node.engine.sequencer import Submission
from tests.support.world import DEFAULT_POLICY, Member, World, digest

MASS = 100_000  # 1,000 ct; the default tolerance (1,000 ppm) of it is 100 centicarats
TOLERANCE = MASS * DEFAULT_POLICY.mass_tolerance_ppm // rules.PPM
GRACE = DEFAULT_POLICY.void_grace_days
HS = "7102.10"

Step = Callable[[], object]
Scenario = Callable[[World, bool], Step]


# --- factories ------------------------------------------------------------------------------


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    """Worlds in memory (default) or on a real store; closed after the test."""
    worlds: list[World] = []

    def make(*, store: bool = False, observers: tuple[str, ...] = ()) -> World:
        path = tmp_path / f"store-{len(worlds)}" if store else None
        world = World(store=path, observers=observers)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


@pytest.fixture(params=["memory", "store"])
def world(request: pytest.FixtureRequest, make_world: Callable[..., World]) -> World:
    """One world, judged by the pure rules in memory or by real sequencers on LMDB."""
    return make_world(store=request.param == "store")


def _produce_body(world: World, **changes: Value) -> dict[str, Value]:
    body: dict[str, Value] = {
        "parcel": "BW-JW-0001",
        "mine": "mine",
        "produced_on": world.today,
        "centicarats": MASS,
        "hs_code": HS,
        "holder": "trader",
    }
    body.update(changes)
    return body


def _transfer_body(parcel: ParcelRef, to: str, *, warranty: bool = True) -> dict[str, Value]:
    return {"parcel": parcel.to_value(), "to": to, "warranty": warranty}


def _register_body(operator: str, kind: str, key: Ed25519PrivateKey) -> dict[str, Value]:
    return {
        "operator": operator,
        "kind": kind,
        "licence": f"LIC-{operator}",
        "public_key": crypto.public_key_bytes(key),
        "roles": ["parcel.transfer"],
        "valid_until": "2030-12-31",
    }


def _revoke(world: World, log: str, operator: str) -> EntryRef:
    body: dict[str, Value] = {"operator": operator, "reason": "licence withdrawn"}
    return world.append(log, "operator.revoke", body, by=LOG_SIGNER)


def _reject(world: World, certificate: EntryRef, log: str = "EU") -> EntryRef:
    body: dict[str, Value] = {"certificate": certificate.to_value(), "reason": "seal differs"}
    return world.append(log, "certificate.reject", body, by="officer")


def _void(
    world: World,
    certificate: EntryRef,
    evidence: EntryRef,
    *,
    log: str = "BW",
    reason: str = "void",
) -> EntryRef:
    body: dict[str, Value] = {
        "certificate": certificate.to_value(),
        "reason": reason,
        "evidence": evidence.to_value(),
    }
    return world.append(log, "certificate.void", body, by="officer")


def _exporting(world: World, importer: str = "EU") -> ParcelRef:
    """BW (with a mine) and an importer set up; a 1,000 ct parcel held by BW's trader."""
    world.setup_log("BW")
    world.setup_log(importer, mine=False)
    return world.produce("BW", MASS, holder="trader")


def _issued(world: World, *, days: int = 30, importer: str = "EU") -> EntryRef:
    """A certificate BW-2026-0001 from BW to the importer over one 1,000 ct parcel."""
    parcel = _exporting(world, importer)
    return world.certify("BW", "BW-2026-0001", [parcel], importer, days=days)


def _receive(world: World, certificate: EntryRef, *, log: str = "EU", **changes: Any) -> Step:
    """The importer's confirmation of the whole shipment, as one parcel, unless changed."""
    parcels = changes.pop("parcels", [("EU-0001", MASS, HS)])
    return lambda: world.confirm(log, certificate, parcels, **changes)


def _successor(
    world: World,
    *,
    suspend: tuple[str, ...] = (),
    grace: int | None = None,
    signers: tuple[str, ...] | None = None,
) -> SignedCharter:
    """Version 2 of the charter, signed by ``signers`` (every member unless given) and published
    (not yet adopted)."""
    current = world.genesis.charter
    if signers is None:
        signers = tuple(world.members)
    participants = dict(current.participants)
    for member in suspend:
        participants = with_status(participants, member, "suspended")
    policy = None if grace is None else dataclasses.replace(current.policy, void_grace_days=grace)
    signed = world.sign(make_successor(current, participants=participants, policy=policy), signers)
    world.publish(signed)
    return signed


def _admitting(
    world: World,
    *,
    current: SignedCharter | None = None,
    signers: tuple[str, ...] = ("BW", "CA", "EU", "AE", "IN"),
    publish: bool = True,
) -> SignedCharter:
    """The version after ``current`` (the genesis unless given) admitting ZA, signed by
    ``signers`` and published unless told not to."""
    base = (current or world.genesis).charter
    world.members.setdefault("ZA", Member("ZA"))
    participants = {**base.participants, "ZA": world.members["ZA"].participant()}
    signed = world.sign(make_successor(base, participants=participants), signers)
    if publish:
        world.publish(signed)
    return signed


def _later(world: World, current: SignedCharter, *, version: int | None = None) -> SignedCharter:
    """A version after ``current`` that changes only policy, signed by every member of
    ``current`` and published; ``version`` other than the next makes a document with a gap."""
    charter = current.charter
    policy = dataclasses.replace(charter.policy, void_grace_days=charter.policy.void_grace_days + 1)
    later = Charter(
        network=charter.network,
        version=charter.version + 1 if version is None else version,
        previous=charter.hash,
        participants=charter.participants,
        policy=policy,
    )
    signed = world.sign(later, [m for m in charter.participants if m in world.members])
    world.publish(signed)
    return signed


def _memory_snapshot(world: World) -> tuple[dict[str, dict[bytes, bytes]], dict[str, list[bytes]]]:
    # The harness creates an empty list for a log on its first attempt: no entry, no trace.
    logs = {log: list(entries) for log, entries in world.kv.logs.items() if entries}
    return copy.deepcopy(world.kv.tables), logs


# --- the table: for every rule, a refused variant and a valid one ---------------------------


@dataclass(frozen=True)
class RuleCase:
    name: str
    code: str
    scenario: Scenario
    observers: tuple[str, ...] = ()
    pending: bool = False


RULE_CASES: list[RuleCase] = []


def rule_case(
    code: str, name: str, *, observers: tuple[str, ...] = (), pending: bool = False
) -> Callable[[Scenario], Scenario]:
    def register(scenario: Scenario) -> Scenario:
        RULE_CASES.append(RuleCase(name, code, scenario, observers, pending))
        return scenario

    return register


# charter --------------------------------------------------------------------------------------


@rule_case("charter.not_adopted", "first_entry_is_not_an_adoption")
def _first_entry_not_adoption(w: World, bad: bool) -> Step:
    if not bad:
        w.adopt("BW")
    return lambda: w.register("BW", "officer", "authority")


@rule_case("charter.unknown", "adopting_an_unpublished_charter", pending=True)
def _unpublished_charter(w: World, bad: bool) -> Step:
    charter = digest("never published") if bad else w.genesis_hash
    body: dict[str, Value] = {"version": 1, "charter": charter}
    return lambda: w.append("BW", "charter.adopt", body, by=LOG_SIGNER)


@rule_case("charter.version_mismatch", "adoption_names_another_version")
def _adoption_version_mismatch(w: World, bad: bool) -> Step:
    body: dict[str, Value] = {"version": 2 if bad else 1, "charter": w.genesis_hash}
    return lambda: w.append("BW", "charter.adopt", body, by=LOG_SIGNER)


@rule_case("participant.unknown", "admitted_participant_adopts_the_genesis")
def _admitted_adopts_genesis(w: World, bad: bool) -> Step:
    admission = _admitting(w)
    return lambda: w.adopt("ZA", w.genesis if bad else admission)


@rule_case("charter.unknown", "admission_chain_not_published", pending=True)
def _admission_chain_unpublished(w: World, bad: bool) -> Step:
    later = _later(w, _admitting(w, publish=not bad))
    return lambda: w.adopt("ZA", later)


@rule_case("charter.threshold_not_met", "admission_chain_holds_an_invalid_version")
def _admission_chain_invalid(w: World, bad: bool) -> Step:
    later = _later(w, _admitting(w, signers=("BW", "CA") if bad else ("BW", "CA", "EU")))
    return lambda: w.adopt("ZA", later)


@rule_case("charter.version_gap", "admission_chain_skips_a_version")
def _admission_chain_gap(w: World, bad: bool) -> Step:
    later = _later(w, _admitting(w), version=4 if bad else 3)
    return lambda: w.adopt("ZA", later)


@rule_case("charter.wrong_network", "admission_chain_from_another_genesis")
def _admission_chain_elsewhere(w: World, bad: bool) -> Step:
    other = dataclasses.replace(w.genesis.charter, network="kp.other")
    genesis = w.sign(other, w.members) if bad else w.genesis
    w.publish(genesis)
    admission = _admitting(w, current=genesis)
    return lambda: w.adopt("ZA", admission)


@rule_case("charter.version_gap", "genesis_adopted_twice")
def _genesis_adopted_twice(w: World, bad: bool) -> Step:
    w.adopt("BW")
    successor = _successor(w)
    return lambda: w.adopt("BW", w.genesis if bad else successor)


@rule_case("charter.threshold_not_met", "successor_signed_by_too_few_governors")
def _successor_too_few_signatures(w: World, bad: bool) -> Step:
    w.adopt("BW")
    successor = _successor(w, signers=("CA", "EU") if bad else ("CA", "EU", "AE"))
    return lambda: w.adopt("BW", successor)


@rule_case("participant.unknown", "log_not_in_the_charter")
def _log_not_in_charter(w: World, bad: bool) -> Step:
    body: dict[str, Value] = {"version": 1, "charter": w.genesis_hash}
    log, key = ("ZA", Ed25519PrivateKey.generate()) if bad else ("BW", None)
    return lambda: w.append(log, "charter.adopt", body, by=LOG_SIGNER, key=key)


# signatures and operators ---------------------------------------------------------------------


@rule_case("signature.invalid", "adoption_signed_with_another_key")
def _adoption_wrong_key(w: World, bad: bool) -> Step:
    body: dict[str, Value] = {"version": 1, "charter": w.genesis_hash}
    key = Ed25519PrivateKey.generate() if bad else None
    return lambda: w.append("BW", "charter.adopt", body, by=LOG_SIGNER, key=key)


@rule_case("signature.invalid", "log_signature_made_with_another_key")
def _log_signature_wrong_key(w: World, bad: bool) -> Step:
    w.adopt("BW")
    body = _register_body("dealer", "trader", Ed25519PrivateKey.generate())
    key = Ed25519PrivateKey.generate() if bad else None
    return lambda: w.append("BW", "operator.register", body, by=LOG_SIGNER, key=key)


@rule_case("signature.invalid", "operator_signature_made_with_another_key")
def _operator_signature_wrong_key(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    key = Ed25519PrivateKey.generate() if bad else None
    return lambda: w.append("BW", "parcel.produce", _produce_body(w), by="mine", key=key)


@rule_case("operator.unknown", "signer_not_registered")
def _signer_not_registered(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    w.operator_keys[("BW", "ghost")] = Ed25519PrivateKey.generate()
    signer = "ghost" if bad else "mine"
    return lambda: w.append("BW", "parcel.produce", _produce_body(w), by=signer)


@rule_case("operator.unknown", "production_for_an_unregistered_holder")
def _produce_for_unregistered_holder(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    body = _produce_body(w, holder="ghost" if bad else "trader")
    return lambda: w.append("BW", "parcel.produce", body, by="mine")


@rule_case("operator.unknown", "transfer_to_an_unregistered_operator")
def _transfer_to_unregistered(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS)
    return lambda: w.transfer(parcel, "ghost" if bad else "trader", by="mine")


@rule_case("operator.unknown", "transfer_to_a_revoked_operator")
def _transfer_to_revoked(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    w.register("BW", "dealer", "trader")
    if bad:
        _revoke(w, "BW", "dealer")
    parcel = w.produce("BW", MASS)
    return lambda: w.transfer(parcel, "dealer", by="mine")


@rule_case("operator.unknown", "certificate_for_an_unregistered_exporter")
def _unregistered_exporter(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    exporter = "ghost" if bad else "trader"
    return lambda: w.certify("BW", "BW-2026-0001", [parcel], "EU", exporter=exporter)


@rule_case("operator.unknown", "imported_parcels_for_an_unregistered_holder")
def _imported_for_unregistered_holder(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, certificate, holder="ghost" if bad else "trader")


@rule_case("operator.unknown", "revoking_an_unregistered_operator")
def _revoke_unregistered(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    return lambda: _revoke(w, "BW", "ghost" if bad else "trader")


@rule_case("operator.revoked", "signer_revoked")
def _signer_revoked(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS, holder="trader")
    if bad:
        _revoke(w, "BW", "trader")
    return lambda: w.transfer(parcel, "mine", by="trader")


@rule_case("operator.expired", "signer_past_its_valid_until")
def _signer_expired(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    w.register("BW", "dealer", "trader", valid_until=w.today)
    parcel = w.produce("BW", MASS, holder="dealer")
    w.advance(1 if bad else 0.5)  # the valid variant signs later on the last valid day
    return lambda: w.transfer(parcel, "trader", by="dealer")


@rule_case("operator.not_authorized", "signer_lacks_the_role")
def _signer_lacks_role(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    roles = ["parcel.transfer"] if bad else ["parcel.transfer", "parcel.transform"]
    w.register("BW", "dealer", "trader", roles)
    parcel = w.produce("BW", MASS, holder="dealer")
    return lambda: w.transform("BW", [parcel], [("BW-S-1", MASS, HS)], "split", by="dealer")


@rule_case("operator.not_authorized", "admin_record_not_signed_by_the_log_key")
def _admin_record_by_operator(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    body = _register_body("dealer", "trader", Ed25519PrivateKey.generate())
    signer = "officer" if bad else LOG_SIGNER
    return lambda: w.append("BW", "operator.register", body, by=signer)


@rule_case("operator.not_authorized", "production_signed_by_a_trader")
def _production_by_trader(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    return lambda: w.produce("BW", MASS, by="trader" if bad else "mine")


@rule_case("operator.not_authorized", "production_signed_by_another_mine")
def _production_by_other_mine(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    w.register("BW", "mine2", "mine")
    return lambda: w.produce("BW", MASS, by="mine2" if bad else "officer")


@rule_case("operator.not_authorized", "certificate_issued_by_a_trader")
def _certificate_by_trader(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    signer = "trader" if bad else "officer"
    return lambda: w.certify("BW", "BW-2026-0001", [parcel], "EU", by=signer)


@rule_case("operator.not_authorized", "confirmation_signed_by_a_trader")
def _confirmation_by_trader(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, certificate, by="trader" if bad else "officer")


@rule_case("operator.exists", "operator_id_in_use")
def _operator_exists(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    if not bad:
        _revoke(w, "BW", "trader")  # a revoked id may be registered again (DESIGN §6)
    return lambda: w.register("BW", "trader", "trader")


@rule_case("operator.role_not_allowed", "trader_given_certificate_issue")
def _trader_with_certificate_role(w: World, bad: bool) -> Step:
    w.adopt("BW")
    kind = "trader" if bad else "authority"
    return lambda: w.register("BW", "dealer", kind, ["certificate.issue", "parcel.transfer"])


@rule_case("operator.role_not_allowed", "mine_given_certificate_confirm")
def _mine_with_confirm_role(w: World, bad: bool) -> Step:
    w.adopt("BW")
    kind = "mine" if bad else "authority"
    return lambda: w.register("BW", "dealer", kind, ["certificate.confirm", "parcel.produce"])


# production -----------------------------------------------------------------------------------


@rule_case("mine.unknown", "mine_not_registered")
def _mine_not_registered(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    body = _produce_body(w, mine="ghost" if bad else "mine")
    return lambda: w.append("BW", "parcel.produce", body, by="officer")


@rule_case("mine.unknown", "mine_revoked")
def _mine_revoked(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    if bad:
        _revoke(w, "BW", "mine")
    return lambda: w.append("BW", "parcel.produce", _produce_body(w), by="officer")


@rule_case("mine.not_a_mine", "trader_named_as_the_mine")
def _mine_not_a_mine(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    body = _produce_body(w, mine="trader" if bad else "mine")
    return lambda: w.append("BW", "parcel.produce", body, by="officer")


@rule_case("date.in_future", "produced_tomorrow")
def _produced_tomorrow(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    body = _produce_body(w, produced_on=w.date(1) if bad else w.today)
    return lambda: w.append("BW", "parcel.produce", body, by="mine")


@rule_case("date.in_future", "certificate_issued_tomorrow")
def _issued_tomorrow(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    issued_on = w.date(1) if bad else w.today
    return lambda: w.certify("BW", "BW-2026-0001", [parcel], "EU", issued_on=issued_on)


@rule_case("date.in_future", "shipment_received_tomorrow")
def _received_tomorrow(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, certificate, received_on=w.date(1) if bad else w.today)


@rule_case("date.in_future", "shipment_received_after_expiry_and_in_the_future")
def _received_after_expiry_in_future(w: World, bad: bool) -> Step:
    # A future date is the error, not the expiry it happens to lie beyond.
    certificate = _issued(w, days=10)
    return _receive(w, certificate, received_on=w.date(40) if bad else w.today)


@rule_case("date.backdated", "certificate_dated_beyond_the_backdating_bound")
def _certificate_backdated(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    w.advance(30)
    issued_on = w.date(-(rules.ISSUE_BACKDATE_DAYS + (1 if bad else 0)))
    return lambda: w.certify("BW", "BW-2026-0001", [parcel], "EU", issued_on=issued_on)


@rule_case("date.before_parcels", "certificate_dated_before_its_parcels_existed")
def _certificate_before_parcels(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    w.advance(2)
    issued_on = w.date(-3 if bad else -2)
    return lambda: w.certify("BW", "BW-2026-0001", [parcel], "EU", issued_on=issued_on)


# parcels --------------------------------------------------------------------------------------


@rule_case("parcel.unknown", "reference_to_an_entry_without_parcels")
def _ref_to_entry_without_parcels(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    registration = w.register("BW", "dealer", "trader")
    parcel = w.produce("BW", MASS, holder="trader")
    target = ParcelRef(registration.log, registration.seq, registration.hash, 0) if bad else parcel
    return lambda: w.transfer(target, "mine", by="trader")


@rule_case("parcel.unknown", "output_beyond_the_entry_outputs")
def _output_beyond_outputs(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS, holder="trader")
    target = dataclasses.replace(parcel, out=1) if bad else parcel
    return lambda: w.transfer(target, "mine", by="trader")


@rule_case("parcel.foreign", "parcel_of_another_log")
def _foreign_parcel(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    w.setup_log("CA")
    canadian = w.produce("CA", MASS, holder="trader")
    botswanan = w.produce("BW", MASS, holder="trader")
    body = _transfer_body(canadian if bad else botswanan, "mine")
    return lambda: w.append("BW", "parcel.transfer", body, by="trader")


@rule_case("parcel.not_live", "transfer_after_a_split")
def _transfer_after_split(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS, holder="trader")
    [piece] = w.transform("BW", [parcel], [("BW-S-1", MASS, HS)], "split")
    return lambda: w.transfer(parcel if bad else piece, "mine", by="trader")


@rule_case("parcel.not_live", "split_after_certification")
def _split_after_certification(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    w.certify("BW", "BW-2026-0001", [parcel], "EU")
    other = w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    target = parcel if bad else other
    return lambda: w.transform("BW", [target], [("BW-S-1", MASS, HS)], "split")


@rule_case("parcel.not_held", "seller_is_not_the_holder")
def _seller_not_holder(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS)  # held by the mine
    return lambda: w.transfer(parcel, "officer", by="trader" if bad else "mine")


@rule_case("parcel.not_held", "exporter_is_not_the_holder")
def _exporter_not_holder(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    exporter = "mine" if bad else "trader"
    return lambda: w.certify("BW", "BW-2026-0001", [parcel], "EU", exporter=exporter)


@rule_case("parcel.duplicate", "merge_lists_a_parcel_twice")
def _merge_duplicate(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    first = w.produce("BW", MASS, holder="trader")
    second = w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    inputs = [first, first] if bad else [first, second]
    return lambda: w.transform("BW", inputs, [("BW-M-1", 2 * MASS, HS)], "merge")


@rule_case("parcel.duplicate", "certificate_lists_a_parcel_twice")
def _certificate_duplicate(w: World, bad: bool) -> Step:
    first = _exporting(w)
    second = w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    body = w.certificate_body("BW-2026-0001", [first, second], "EU")
    if bad:
        body["parcels"] = [first.to_value(), first.to_value()]
    return lambda: w.append("BW", "certificate.issue", body, by="officer")


@rule_case("reference.mismatch", "parcel_ref_with_another_hash")
def _parcel_ref_wrong_hash(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS, holder="trader")
    target = dataclasses.replace(parcel, hash=digest("forged")) if bad else parcel
    return lambda: w.transfer(target, "mine", by="trader")


@rule_case("reference.mismatch", "certificate_ref_with_another_hash")
def _certificate_ref_wrong_hash(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    target = dataclasses.replace(certificate, hash=digest("forged")) if bad else certificate
    return _receive(w, target)


@rule_case("reference.mismatch", "void_evidence_with_another_hash")
def _evidence_wrong_hash(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    rejection = _reject(w, certificate)
    evidence = dataclasses.replace(rejection, hash=digest("forged")) if bad else rejection
    return lambda: _void(w, certificate, evidence)


@rule_case("reference.unknown", "parcel_beyond_the_log", pending=True)
def _parcel_beyond_log(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS, holder="trader")
    target = dataclasses.replace(parcel, seq=999) if bad else parcel
    return lambda: w.transfer(target, "mine", by="trader")


@rule_case("reference.unknown", "certificate_beyond_the_log", pending=True)
def _certificate_beyond_log(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, dataclasses.replace(certificate, seq=999) if bad else certificate)


@rule_case("reference.unknown", "void_evidence_beyond_the_log", pending=True)
def _evidence_beyond_log(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    rejection = _reject(w, certificate)
    evidence = dataclasses.replace(rejection, seq=999) if bad else rejection
    return lambda: _void(w, certificate, evidence)


# transforms and transfers ---------------------------------------------------------------------


def _two_parcels(w: World) -> tuple[ParcelRef, ParcelRef]:
    w.setup_log("BW")
    return (
        w.produce("BW", MASS, holder="trader"),
        w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002"),
    )


@rule_case("transform.kind_mismatch", "split_of_two_parcels")
def _split_of_two(w: World, bad: bool) -> Step:
    inputs = list(_two_parcels(w))
    kind = "split" if bad else "merge"
    return lambda: w.transform("BW", inputs, [("BW-M-1", 2 * MASS, HS)], kind)


@rule_case("transform.kind_mismatch", "merge_of_one_parcel")
def _merge_of_one(w: World, bad: bool) -> Step:
    first, _ = _two_parcels(w)
    kind = "merge" if bad else "split"
    return lambda: w.transform("BW", [first], [("BW-S-1", MASS, HS)], kind)


@rule_case("transform.kind_mismatch", "merge_into_two_parcels")
def _merge_into_two(w: World, bad: bool) -> Step:
    inputs = list(_two_parcels(w))
    outputs = [("BW-X-1", MASS, "7102.21"), ("BW-X-2", MASS, "7102.31")]
    kind = "merge" if bad else "sort"
    return lambda: w.transform("BW", inputs, outputs, kind)


@rule_case("mass.exceeds_inputs", "split_one_centicarat_over_the_tolerance")
def _split_over_tolerance(w: World, bad: bool) -> Step:
    first, _ = _two_parcels(w)
    # Exactly at the tolerance passes; one centicarat more does not.
    outputs = [("BW-S-1", 60_000, HS), ("BW-S-2", 40_000 + TOLERANCE + bad, HS)]
    return lambda: w.transform("BW", [first], outputs, "split")


@rule_case("mass.exceeds_inputs", "merge_one_centicarat_over_the_tolerance")
def _merge_over_tolerance(w: World, bad: bool) -> Step:
    inputs = list(_two_parcels(w))
    outputs = [("BW-M-1", 2 * (MASS + TOLERANCE) + bad, HS)]
    return lambda: w.transform("BW", inputs, outputs, "merge")


@rule_case("mass.exceeds_inputs", "second_sort_gains_past_the_lineage_tolerance")
def _gains_compound(w: World, bad: bool) -> Step:
    # The first sort uses the whole tolerance; one centicarat more later is within the tolerance
    # of that step, but not of what the mine weighed (decision 0020).
    w.setup_log("BW")
    parcel = w.produce("BW", MASS, holder="trader")
    [gained] = w.transform("BW", [parcel], [("BW-S-1", MASS + TOLERANCE, HS)], "sort")
    outputs = [("BW-S-2", MASS + TOLERANCE + bad, HS)]
    return lambda: w.transform("BW", [gained], outputs, "sort")


@rule_case("mass.exceeds_inputs", "import_heavier_than_the_lineage_allows")
def _import_beyond_lineage(w: World, bad: bool) -> Step:
    # The exporter's sort used the tolerance; received within tolerance of the declared mass,
    # the import may still not gain on top of it.
    parcel = _exporting(w)
    [gained] = w.transform("BW", [parcel], [("BW-S-1", MASS + TOLERANCE, HS)], "sort")
    certificate = w.certify("BW", "BW-2026-0001", [gained], "EU")
    return _receive(w, certificate, parcels=[("EU-0001", MASS + TOLERANCE + bad, HS)])


# HS codes (decision 0021) ---------------------------------------------------------------------


def _produced(w: World, *codes: str) -> list[ParcelRef]:
    w.setup_log("BW")
    return [
        w.produce("BW", MASS, holder="trader", parcel=f"BW-JW-{i:04}", hs_code=code)
        for i, code in enumerate(codes)
    ]


@rule_case("hs_code.transition", "split_relabels_industrial_as_gem_quality")
def _split_relabels(w: World, bad: bool) -> Step:
    [parcel] = _produced(w, "7102.21")
    outputs = [("BW-S-1", MASS, "7102.31" if bad else "7102.21")]
    return lambda: w.transform("BW", [parcel], outputs, "split")


@rule_case("hs_code.transition", "merge_of_mixed_codes")
def _merge_mixed(w: World, bad: bool) -> Step:
    inputs = _produced(w, HS, "7102.21" if bad else HS)
    return lambda: w.transform("BW", inputs, [("BW-M-1", 2 * MASS, HS)], "merge")


@rule_case("hs_code.transition", "merge_changes_the_code")
def _merge_relabels(w: World, bad: bool) -> Step:
    inputs = _produced(w, HS, HS)
    outputs = [("BW-M-1", 2 * MASS, "7102.31" if bad else HS)]
    return lambda: w.transform("BW", inputs, outputs, "merge")


@rule_case("hs_code.transition", "sort_reclassifies_sorted_goods")
def _sort_reclassifies(w: World, bad: bool) -> Step:
    [parcel] = _produced(w, "7102.21")
    outputs = [
        ("BW-S-1", MASS // 2, "7102.21"),
        ("BW-S-2", MASS // 2, "7102.31" if bad else "7102.21"),
    ]
    return lambda: w.transform("BW", [parcel], outputs, "sort")


@rule_case("hs_code.transition", "sort_back_to_unsorted")
def _sort_unsorts(w: World, bad: bool) -> Step:
    [parcel] = _produced(w, "7102.31")
    outputs = [("BW-S-1", MASS, HS if bad else "7102.31")]
    return lambda: w.transform("BW", [parcel], outputs, "sort")


@rule_case("hs_code.transition", "sort_of_unsorted_and_sorted_goods")
def _sort_mixed(w: World, bad: bool) -> Step:
    inputs = _produced(w, HS, "7102.21" if bad else HS)
    outputs = [("BW-S-1", MASS, "7102.21"), ("BW-S-2", MASS, "7102.31")]
    return lambda: w.transform("BW", inputs, outputs, "sort")


# parcel ids (decision 0022) -------------------------------------------------------------------


@rule_case("parcel.id_in_use", "produced_twice_under_one_id")
def _produced_twice(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    w.produce("BW", MASS, parcel="BW-JW-0001")
    return lambda: w.produce("BW", MASS, parcel="BW-JW-0001" if bad else "BW-JW-0002")


@rule_case("parcel.id_in_use", "produced_under_the_id_of_a_live_parcel_not_a_consumed_one")
def _id_of_consumed_parcel(w: World, bad: bool) -> Step:
    # An id is unique while its parcel is live; once consumed it may be used again.
    w.setup_log("BW")
    first = w.produce("BW", MASS, holder="trader", parcel="BW-JW-0001")
    w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    w.transform("BW", [first], [("BW-S-1", MASS, HS)], "split")
    return lambda: w.produce("BW", MASS, parcel="BW-JW-0002" if bad else "BW-JW-0001")


@rule_case("parcel.id_in_use", "outputs_of_one_transform_share_an_id")
def _outputs_share_id(w: World, bad: bool) -> Step:
    [parcel] = _produced(w, HS)
    outputs = [("BW-S-1", MASS // 2, HS), ("BW-S-1" if bad else "BW-S-2", MASS // 2, HS)]
    return lambda: w.transform("BW", [parcel], outputs, "split")


@rule_case("parcel.id_in_use", "output_takes_the_id_of_another_live_parcel")
def _output_takes_live_id(w: World, bad: bool) -> Step:
    # Keeping the input's own id is fine: the input stops being live in that very entry.
    first, _ = _produced(w, HS, HS)
    outputs = [("BW-JW-0001" if bad else "BW-JW-0000", MASS, HS)]
    return lambda: w.transform("BW", [first], outputs, "split")


@rule_case("parcel.id_in_use", "imported_under_the_id_of_a_live_parcel")
def _import_takes_live_id(w: World, bad: bool) -> Step:
    first = _issued(w)
    w.confirm("EU", first, [("EU-0001", MASS, HS)])
    parcel = w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    second = w.certify("BW", "BW-2026-0002", [parcel], "EU")
    return _receive(w, second, parcels=[("EU-0001" if bad else "EU-0002", MASS, HS)])


@rule_case("warranty.not_affirmed", "transfer_without_the_warranty")
def _transfer_without_warranty(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS)
    body = _transfer_body(parcel, "trader", warranty=not bad)
    return lambda: w.append("BW", "parcel.transfer", body, by="mine")


@rule_case("transfer.to_self", "transfer_to_the_holder")
def _transfer_to_self(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    parcel = w.produce("BW", MASS)
    return lambda: w.transfer(parcel, "mine" if bad else "trader", by="mine")


# certificate.issue ----------------------------------------------------------------------------


def _certify(w: World, parcel: ParcelRef, importing: str = "EU", **changes: Any) -> Step:
    number = changes.pop("number", "BW-2026-0001")
    return lambda: w.certify("BW", number, [parcel], importing, **changes)


@rule_case("certificate.number_prefix", "number_of_another_participant")
def _number_prefix(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), number="CA-2026-0001" if bad else "BW-2026-0001")


@rule_case("certificate.number_prefix", "number_of_a_longer_participant_id")
def _number_of_longer_id(w: World, bad: bool) -> Step:
    # BWA-2026-0001 begins with "BW" but is a number of participant BWA.
    return _certify(w, _exporting(w), number="BWA-2026-0001" if bad else "BW-A-2026-0001")


@rule_case("certificate.number_used", "number_issued_before_written_otherwise")
def _number_read_alike(w: World, bad: bool) -> Step:
    first = _exporting(w)
    w.certify("BW", "BW/2026/0001", [first], "EU")
    second = w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    return _certify(w, second, number="BW20260001" if bad else "BW-2026-0011")


@rule_case("certificate.number_used", "number_issued_before")
def _number_used(w: World, bad: bool) -> Step:
    first = _exporting(w)
    w.certify("BW", "BW-2026-0001", [first], "EU")
    second = w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    return _certify(w, second, number="BW-2026-0001" if bad else "BW-2026-0002")


@rule_case("certificate.importer_invalid", "importing_itself")
def _importing_itself(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), "BW" if bad else "EU")


@rule_case("certificate.importer_invalid", "importing_an_observer", observers=("WDC",))
def _importing_observer(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), "WDC" if bad else "EU")


@rule_case("certificate.importer_invalid", "importing_a_non_member")
def _importing_non_member(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), "ZA" if bad else "EU")


@rule_case("participant.suspended", "issuer_suspended_in_its_own_charter")
def _issuer_suspended(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    w.adopt("BW", _successor(w, suspend=("BW",) if bad else ("CA",)))
    return _certify(w, parcel)


@rule_case("participant.suspended", "importer_suspended")
def _importer_suspended(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    w.adopt("BW", _successor(w, suspend=("EU",) if bad else ("CA",)))
    return _certify(w, parcel)


@rule_case("participant.suspended", "importer_suspended_in_its_own_charter_confirms")
def _importer_suspended_confirms(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    w.adopt("EU", _successor(w, suspend=("EU",) if bad else ("CA",)))
    return _receive(w, certificate)


@rule_case("participant.suspended", "importer_charter_suspends_the_issuer")
def _importer_holds_issuer_suspended(w: World, bad: bool) -> Step:
    certificate = _issued(w)  # BW's own charter still has it active
    w.adopt("EU", _successor(w, suspend=("BW",) if bad else ("CA",)))
    return _receive(w, certificate)


@rule_case("participant.suspended", "issued_by_a_log_behind_the_importers_suspension")
def _issued_behind_a_suspension(w: World, bad: bool) -> Step:
    # EU adopts v2 (suspending EU, or CA), BW lags at the genesis and issues; v3 reinstates and
    # EU adopts it. The certificate was issued behind EU's suspension: not importable.
    parcel = _exporting(w)
    v2 = _successor(w, suspend=("EU",) if bad else ("CA",))
    w.adopt("EU", v2)
    w.advance(0.01)
    certificate = w.certify("BW", "BW-2026-0001", [parcel], "EU")
    w.advance(0.01)
    v3 = w.sign(
        make_successor(v2.charter, participants=w.genesis.charter.participants),
        [m for m in w.members if m != "EU"] if bad else list(w.members),
    )
    w.publish(v3)
    w.adopt("EU", v3)
    return _receive(w, certificate)


@rule_case("certificate.parcel_count", "count_differs_from_the_parcels")
def _parcel_count(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), parcel_count=2 if bad else 1)


@rule_case("mass.mismatch", "certificate_mass_differs_from_the_parcels")
def _certificate_mass(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), centicarats=MASS + bad)


@rule_case("hs_code.mismatch", "hs_code_not_the_parcels")
def _hs_code(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), hs_codes=["7102.31" if bad else HS])


@rule_case("origin.mismatch", "origin_not_the_parcels")
def _origin_other(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), origins=["CA" if bad else "BW"])


@rule_case("origin.mismatch", "origins_beyond_the_parcels")
def _origin_superset(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), origins=["BW", "CA"] if bad else ["BW"])


@rule_case("certificate.validity", "longer_than_the_policy_allows")
def _validity_too_long(w: World, bad: bool) -> Step:
    longest = DEFAULT_POLICY.max_certificate_days
    return _certify(w, _exporting(w), days=longest + 1 if bad else longest)


@rule_case("certificate.validity", "expires_before_issue")
def _expires_before_issue(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), days=-1 if bad else 1)


@rule_case("certificate.validity", "expires_on_its_issue_day")
def _expires_on_issue_day(w: World, bad: bool) -> Step:
    return _certify(w, _exporting(w), days=0 if bad else 1)


@rule_case("certificate.expired", "recorded_already_expired")
def _recorded_already_expired(w: World, bad: bool) -> Step:
    # Issued five days ago for four (bad) or five days: it expired yesterday or expires today.
    parcel = _exporting(w)
    w.advance(6)
    return _certify(w, parcel, issued_on=w.date(-5), days=-1 if bad else 0)


# certificate.confirm --------------------------------------------------------------------------


@rule_case("certificate.not_addressed_here", "confirmed_by_another_participant")
def _not_addressed_here(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    w.setup_log("IN", mine=False)
    return _receive(w, certificate, log="IN" if bad else "EU")


@rule_case("certificate.already_confirmed", "confirmed_twice")
def _confirmed_twice(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    if bad:
        w.confirm("EU", certificate, [("EU-FIRST", MASS, HS)])
    return _receive(w, certificate)


@rule_case("certificate.already_rejected", "confirmed_after_rejection")
def _confirmed_after_rejection(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    if bad:
        _reject(w, certificate)
    return _receive(w, certificate)


@rule_case("certificate.already_rejected", "rejected_twice")
def _rejected_twice(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    if bad:
        _reject(w, certificate)
    return lambda: _reject(w, certificate)


@rule_case("certificate.not_addressed_here", "rejected_by_another_participant")
def _rejected_elsewhere(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    w.setup_log("IN", mine=False)
    return lambda: _reject(w, certificate, log="IN" if bad else "EU")


@rule_case("certificate.expired", "received_after_expiry")
def _received_after_expiry(w: World, bad: bool) -> Step:
    certificate = _issued(w, days=10)
    w.advance(11 if bad else 10)
    return _receive(w, certificate)


@rule_case("certificate.expired", "confirmed_after_the_grace_period")
def _confirmed_after_grace(w: World, bad: bool) -> Step:
    certificate = _issued(w, days=10)
    expires_on = w.date(10)
    w.advance(10 + GRACE + (1 if bad else 0))
    return _receive(w, certificate, received_on=expires_on)


@rule_case("date.before_issue", "received_before_issue")
def _received_before_issue(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, certificate, received_on=w.date(-1) if bad else w.today)


@rule_case("certificate.seal_broken", "seal_broken")
def _seal_broken(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, certificate, seal_intact=not bad)


@rule_case("mass.received_mismatch", "received_one_centicarat_over_the_tolerance")
def _received_over(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, certificate, parcels=[("EU-0001", MASS + TOLERANCE + bad, HS)])


@rule_case("mass.received_mismatch", "received_one_centicarat_under_the_tolerance")
def _received_under(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, certificate, parcels=[("EU-0001", MASS - TOLERANCE - bad, HS)])


@rule_case("mass.mismatch", "confirmed_parcels_do_not_add_up")
def _confirmed_parcels_sum(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    parcels = [("EU-0001", MASS // 2, HS), ("EU-0002", MASS // 2 - bad, HS)]
    return _receive(w, certificate, parcels=parcels, centicarats_received=MASS)


@rule_case("certificate.unknown", "confirmation_of_a_production_entry")
def _confirm_non_certificate(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    certificate = w.certify("BW", "BW-2026-0001", [parcel], "EU")
    return _receive(w, parcel.entry if bad else certificate)


@rule_case("hs_code.received_mismatch", "import_relabels_industrial_as_gem_quality")
def _import_relabels(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    w.setup_log("EU", mine=False)
    parcels = [
        w.produce("BW", MASS, holder="trader", parcel="BW-JW-0001", hs_code="7102.21"),
        w.produce("BW", MASS, holder="trader", parcel="BW-JW-0002", hs_code="7102.31"),
    ]
    certificate = w.certify("BW", "BW-2026-0001", parcels, "EU")
    received = (
        [("EU-0001", 2 * MASS, "7102.31")]
        if bad
        else [("EU-0001", MASS, "7102.21"), ("EU-0002", MASS, "7102.31")]
    )
    return _receive(w, certificate, parcels=received)


@rule_case("hs_code.mismatch", "imported_parcel_with_an_uncertified_hs_code")
def _imported_hs_code(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    return _receive(w, certificate, parcels=[("EU-0001", MASS, "7102.31" if bad else HS)])


# logs -----------------------------------------------------------------------------------------


@rule_case("participant.observer", "observer_producing_parcels", observers=("WDC",))
def _observer_produces(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    w.adopt("WDC")
    w.register("WDC", "mine", "mine")  # an observer may keep operators, for its own staff
    return lambda: w.produce("WDC" if bad else "BW", MASS)


@rule_case("entry.order", "entry_time_going_backwards")
def _time_backwards(w: World, bad: bool) -> Step:
    w.setup_log("BW")
    if bad:
        w.time -= 1
    return lambda: w.produce("BW", MASS)


# certificate.void -----------------------------------------------------------------------------


@rule_case("certificate.unknown", "void_of_a_production_entry")
def _void_non_certificate(w: World, bad: bool) -> Step:
    parcel = _exporting(w)
    certificate = w.certify("BW", "BW-2026-0001", [parcel], "EU")
    rejection = _reject(w, certificate)
    return lambda: _void(w, parcel.entry if bad else certificate, rejection)


@rule_case("certificate.not_issued_here", "void_by_the_importer")
def _void_by_importer(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    rejection = _reject(w, certificate)
    return lambda: _void(w, certificate, rejection, log="EU" if bad else "BW")


@rule_case("certificate.voided", "voided_twice")
def _voided_twice(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    rejection = _reject(w, certificate)
    if bad:
        _void(w, certificate, rejection, reason="first void")
    return lambda: _void(w, certificate, rejection)


@rule_case("certificate.not_voidable", "evidence_not_from_the_importer")
def _evidence_not_importer(w: World, bad: bool) -> Step:
    certificate = _issued(w, days=10)
    w.advance(10 + GRACE + 1)
    exporter_entry = w.register("BW", "dealer", "trader")
    importer_entry = w.register("EU", "dealer", "trader")
    evidence = exporter_entry if bad else importer_entry
    return lambda: _void(w, certificate, evidence)


@rule_case("certificate.not_voidable", "certificate_confirmed")
def _void_confirmed(w: World, bad: bool) -> Step:
    certificate = _issued(w)
    if bad:
        [imported] = w.confirm("EU", certificate, [("EU-0001", MASS, HS)])
        evidence = imported.entry
    else:
        evidence = _reject(w, certificate)
    return lambda: _void(w, certificate, evidence)


@rule_case("certificate.not_voidable", "neither_rejected_nor_past_the_grace_period")
def _void_too_early(w: World, bad: bool) -> Step:
    certificate = _issued(w, days=10)
    w.advance(10 + GRACE + (0 if bad else 1))
    evidence = w.register("EU", "dealer", "trader")
    return lambda: _void(w, certificate, evidence)


def _case_id(case: RuleCase) -> str:
    return f"{case.code}-{case.name}"


@pytest.mark.parametrize("case", RULE_CASES, ids=_case_id)
def test_rule_refuses_with_its_code_and_leaves_no_trace(
    make_world: Callable[..., World], case: RuleCase
) -> None:
    world = make_world(observers=case.observers)
    step = case.scenario(world, True)
    before = _memory_snapshot(world)
    with pytest.raises(RuleError) as refused:
        step()
    assert refused.value.code == case.code
    assert isinstance(refused.value, PendingError) is case.pending
    assert _memory_snapshot(world) == before


@pytest.mark.parametrize("case", RULE_CASES, ids=_case_id)
def test_rule_admits_the_valid_variant(make_world: Callable[..., World], case: RuleCase) -> None:
    world = make_world(observers=case.observers)
    step = case.scenario(world, False)
    entries = sum(len(log) for log in world.kv.logs.values())
    step()
    assert sum(len(log) for log in world.kv.logs.values()) == entries + 1


# Codes only a hand-made entry can reach (World always chains correctly): tested below.
_TESTED_APART = {"entry.chain"}


def test_every_code_of_the_rules_has_a_case() -> None:
    source = inspect.getsource(rules)
    raised = set(re.findall(r'code="([a-z_]+\.[a-z_]+)"', source))
    raised |= {"certificate.already_confirmed", "certificate.already_rejected"}  # an f-string
    assert raised - _TESTED_APART <= {case.code for case in RULE_CASES}


@pytest.mark.parametrize(
    ("seq_shift", "prev", "code"),
    [
        pytest.param(0, b"\x07" * 32, "entry.chain", id="wrong-prev"),
        pytest.param(-1, None, "entry.order", id="seq-repeated"),
    ],
)
def test_entry_must_follow_the_last_one_applied(
    seq_shift: int, prev: bytes | None, code: str
) -> None:
    world = World()
    world.setup_log("BW")
    last = world.kv.logs["BW"][-1]
    signed, _ = world.signed_record(
        "BW", "operator.revoke", {"operator": "trader", "reason": "x"}, by=LOG_SIGNER
    )
    entry = Entry(
        seq=len(world.kv.logs["BW"]) + seq_shift,
        prev=prev if prev is not None else leaf_hash(last),
        time=world.time,
        signed=signed,
    )
    with pytest.raises(RuleError) as refused:
        rules.check(world.state, entry, leaf_hash(entry.encode()))
    assert refused.value.code == code


def test_within_tolerance_is_exact_at_the_boundary() -> None:
    ppm = DEFAULT_POLICY.mass_tolerance_ppm
    assert rules.within_tolerance(MASS + TOLERANCE, MASS, ppm)
    assert rules.within_tolerance(MASS - TOLERANCE, MASS, ppm)
    assert not rules.within_tolerance(MASS + TOLERANCE + 1, MASS, ppm)
    assert not rules.within_tolerance(MASS - TOLERANCE - 1, MASS, ppm)
    assert rules.within_tolerance(MASS, MASS, 0)
    assert not rules.within_tolerance(MASS + 1, MASS, 0)


# --- void: what it releases ------------------------------------------------------------------


def test_void_after_rejection_releases_new_parcels_to_the_exporter(world: World) -> None:
    world.setup_log("BW")
    world.setup_log("CA")
    world.setup_log("EU", mine=False)
    botswanan = world.produce("BW", MASS, holder="trader")
    canadian = world.produce("CA", 2 * MASS, holder="trader")
    certificate = world.certify("CA", "CA-2026-0001", [canadian], "BW")
    [imported] = world.confirm("BW", certificate, [("BW-IMP-1", 2 * MASS, HS)])
    [mixed] = world.transform("BW", [botswanan, imported], [("BW-MIX", 3 * MASS, HS)], "merge")
    second = world.produce("BW", MASS, holder="trader", parcel="BW-JW-0002", hs_code="7102.21")
    originals = [mixed, second]
    export = world.certify("BW", "BW-2026-0001", originals, "EU")
    rejection = _reject(world, export)

    void = _void(world, export, rejection)

    for out, original in enumerate(originals):
        before = world.parcel_state(original)
        released = world.parcel_state(ParcelRef("BW", void.seq, void.hash, out))
        assert released.live
        assert released.holder == "trader"  # the certificate's exporter
        assert (released.parcel, released.centicarats, released.hs_code, released.origins) == (
            before.parcel,
            before.centicarats,
            before.hs_code,
            before.origins,
        )
        assert before.consumed_by == export  # the original stays consumed by the certificate
    assert world.parcel_state(ParcelRef("BW", void.seq, void.hash, 0)).origins == ("BW", "CA")
    assert world.parcel_state(ParcelRef("BW", void.seq, void.hash, 2)) is None
    # A released parcel is an ordinary live parcel: it can be sold on or certified again.
    world.transfer(ParcelRef("BW", void.seq, void.hash, 1), "mine", by="trader")


def test_void_after_expiry_and_grace_releases_and_closes_confirmation(world: World) -> None:
    parcel = _exporting(world)
    certificate = world.certify("BW", "BW-2026-0001", [parcel], "EU", days=10)
    expires_on = world.date(10)
    world.advance(10 + GRACE + 1)
    evidence = world.register("EU", "dealer", "trader")

    void = _void(world, certificate, evidence)

    released = world.parcel_state(ParcelRef("BW", void.seq, void.hash, 0))
    assert released.live
    assert (released.holder, released.centicarats, released.origins) == ("trader", MASS, ("BW",))
    assert not world.parcel_state(parcel).live
    with pytest.raises(RuleError) as refused:
        world.confirm("EU", certificate, [("EU-0001", MASS, HS)], received_on=expires_on)
    assert refused.value.code == "certificate.expired"


# --- attacks from the issue list ----------------------------------------------------------------


def _split_record(world: World, parcel: ParcelRef, name: str) -> bytes:
    body: dict[str, Value] = {
        "inputs": [parcel.to_value()],
        "outputs": [{"parcel": name, "centicarats": MASS, "hs_code": HS}],
        "kind": "split",
    }
    signed, _ = world.signed_record("BW", "parcel.transform", body, by="trader")
    return signed.raw


def _read(world: World, read: Callable[[LedgerState], Any]) -> Any:
    """Read the ledger state, in memory or in a read transaction of the store."""
    if world.store is None:
        return read(world.state)
    with world.read_state() as state:
        return read(state)


def _log_size(world: World, log: str) -> int:
    return int(_read(world, lambda state: state.log_size(log)))


def test_double_spend_in_one_batch_is_refused(make_world: Callable[..., World]) -> None:
    world = make_world(store=True)
    world.setup_log("BW")
    parcel = world.produce("BW", MASS, holder="trader")
    size = _log_size(world, "BW")
    first = _split_record(world, parcel, "BW-A")
    second = _split_record(world, parcel, "BW-B")

    accepted, refused = world.sequencer("BW").append_batch([first, second])

    assert isinstance(accepted, Receipt)
    assert accepted.seq == size
    assert isinstance(refused, RuleError)
    assert refused.code == "parcel.not_live"
    assert _log_size(world, "BW") == size + 1
    with world.read_state() as state:
        assert state.entry("BW", size).signed.raw == first
    assert world.parcel_state(parcel).consumed_by == EntryRef("BW", size, accepted.entry_hash)


def test_double_spend_across_batches_is_refused(world: World) -> None:
    parcel = _exporting(world)
    world.transform("BW", [parcel], [("BW-S-1", MASS, HS)], "split")
    for attempt in (
        lambda: world.certify("BW", "BW-2026-0001", [parcel], "EU"),
        lambda: world.transform("BW", [parcel], [("BW-S-2", MASS, HS)], "split"),
        lambda: world.transfer(parcel, "mine", by="trader"),
    ):
        with pytest.raises(RuleError) as refused:
            attempt()
        assert refused.value.code == "parcel.not_live"


def test_confirming_a_certificate_addressed_to_another_participant_is_refused(
    world: World,
) -> None:
    certificate = _issued(world, importer="EU")
    world.setup_log("IN", mine=False)
    with pytest.raises(RuleError) as refused:
        world.confirm("IN", certificate, [("IN-0001", MASS, HS)])
    assert refused.value.code == "certificate.not_addressed_here"


def test_confirming_a_certificate_twice_is_refused(world: World) -> None:
    certificate = _issued(world)
    [first] = world.confirm("EU", certificate, [("EU-0001", MASS, HS)])
    with pytest.raises(RuleError) as refused:
        world.confirm("EU", certificate, [("EU-0002", MASS, HS)])
    assert refused.value.code == "certificate.already_confirmed"
    assert world.parcel_state(first).live
    assert world.parcel_state(ParcelRef("EU", first.seq + 1, first.hash, 0)) is None


@pytest.mark.parametrize(
    ("kind", "outputs"),
    [
        ("split", [("BW-S-1", MASS, HS), ("BW-S-2", MASS, HS)]),
        ("sort", [("BW-S-1", MASS + TOLERANCE + 1, "7102.31")]),
        ("split", [("BW-S-1", 10 * MASS, HS)]),
    ],
    ids=["split_doubles_the_mass", "sort_gains_past_tolerance", "split_tenfold"],
)
def test_inflating_mass_in_a_transform_is_refused(
    world: World, kind: str, outputs: list[tuple[str, int, str]]
) -> None:
    world.setup_log("BW")
    parcel = world.produce("BW", MASS, holder="trader")
    with pytest.raises(RuleError) as refused:
        world.transform("BW", [parcel], outputs, kind)
    assert refused.value.code == "mass.exceeds_inputs"
    assert world.parcel_state(parcel).live


def test_declaring_a_false_origin_on_a_certificate_is_refused(world: World) -> None:
    # Canadian rough passes through Antwerp; the EU may not certify it onward as Botswanan.
    world.setup_log("CA")
    world.setup_log("EU", mine=False)
    world.setup_log("IN", mine=False)
    canadian = world.produce("CA", MASS, holder="trader")
    certificate = world.certify("CA", "CA-2026-0001", [canadian], "EU")
    [antwerp] = world.confirm("EU", certificate, [("EU-0001", MASS, HS)])
    for origins in (["BW"], ["BW", "CA"]):
        with pytest.raises(RuleError) as refused:
            world.certify("EU", "EU-2026-0001", [antwerp], "IN", origins=origins)
        assert refused.value.code == "origin.mismatch"
    world.certify("EU", "EU-2026-0001", [antwerp], "IN", origins=["CA"])


def test_an_expired_certificate_cannot_be_confirmed(world: World) -> None:
    certificate = _issued(world, days=10)
    expires_on = world.date(10)
    world.advance(11)
    with pytest.raises(RuleError) as late:
        world.confirm("EU", certificate, [("EU-0001", MASS, HS)])
    assert late.value.code == "certificate.expired"
    # Backdating the receipt does not help once the grace period is over either.
    world.advance(GRACE)
    with pytest.raises(RuleError) as backdated:
        world.confirm("EU", certificate, [("EU-0001", MASS, HS)], received_on=expires_on)
    assert backdated.value.code == "certificate.expired"


def test_a_certificate_from_a_suspended_participant_is_refused(world: World) -> None:
    parcel = _exporting(world)
    certificate = world.certify("BW", "BW-2026-0001", [parcel], "EU")
    suspension = _successor(world, suspend=("BW",))
    world.adopt("EU", suspension)
    with pytest.raises(RuleError) as importing:
        world.confirm("EU", certificate, [("EU-0001", MASS, HS)])
    assert importing.value.code == "participant.suspended"
    # Once BW adopts the suspension itself, it cannot issue at all.
    world.adopt("BW", suspension)
    other = world.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    with pytest.raises(RuleError) as issuing:
        world.certify("BW", "BW-2026-0002", [other], "EU")
    assert issuing.value.code == "participant.suspended"


def test_importer_may_reject_a_certificate_of_a_suspended_issuer(world: World) -> None:
    # DESIGN §6: a rejection follows only "the same addressing and once-only rules"; an
    # importer holding the issuer suspended must still be able to refuse its certificate.
    certificate = _issued(world)
    world.adopt("EU", _successor(world, suspend=("BW",)))
    rejection = _reject(world, certificate)
    void = _void(world, certificate, rejection)
    assert world.parcel_state(ParcelRef("BW", void.seq, void.hash, 0)).live


def test_a_record_signed_by_a_revoked_operator_is_refused(world: World) -> None:
    world.setup_log("BW")
    parcel = world.produce("BW", MASS, holder="trader")
    _revoke(world, "BW", "trader")
    with pytest.raises(RuleError) as refused:
        world.transfer(parcel, "mine", by="trader")
    assert refused.value.code == "operator.revoked"
    # Re-registering the id gives it a new key; the revoked key stays refused.
    old_key = world.operator_keys[("BW", "trader")]
    world.register("BW", "trader", "trader")
    with pytest.raises(RuleError) as old:
        world.append(
            "BW", "parcel.transfer", _transfer_body(parcel, "mine"), by="trader", key=old_key
        )
    assert old.value.code == "signature.invalid"


def test_a_record_signed_by_an_operator_lacking_the_role_is_refused(world: World) -> None:
    parcel = _exporting(world)
    world.register("BW", "clerk", "authority", ["certificate.confirm"])
    for signer in ("trader", "mine", "clerk"):
        with pytest.raises(RuleError) as refused:
            world.certify("BW", "BW-2026-0001", [parcel], "EU", by=signer)
        assert refused.value.code == "operator.not_authorized", signer
    with pytest.raises(RuleError) as produce:
        world.produce("BW", MASS, by="trader")
    assert produce.value.code == "operator.not_authorized"


def test_a_charter_version_with_too_few_signatures_cannot_be_adopted(world: World) -> None:
    world.setup_log("BW")
    threshold = DEFAULT_POLICY.charter_threshold
    short = _successor(world, suspend=("CA",), signers=("EU", "AE", "IN")[: threshold - 1])
    with pytest.raises(RuleError) as refused:
        world.adopt("BW", short)
    assert refused.value.code == "charter.threshold_not_met"
    # Signatures of members that do not govern (here the suspended CA) do not make up the count.
    padded = _successor(world, suspend=("CA",), signers=("CA", "EU", "AE"))
    with pytest.raises(RuleError) as still_short:
        world.adopt("BW", padded)
    assert still_short.value.code == "charter.threshold_not_met"
    assert [a.version for a in _read(world, lambda state: state.adoptions("BW"))] == [1]


def _issue_submission(world: World, parcel: ParcelRef) -> tuple[bytes, dict[str, Any]]:
    body = world.certificate_body("BW-2026-0001", [parcel], "EU")
    signed, disclosures = world.signed_record("BW", "certificate.issue", body, by="officer")
    return signed.raw, dict(disclosures)


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda d: d.update(value_usd_cents=(d["value_usd_cents"][0], 1)), "disclosure.mismatch"),
        (lambda d: d.update(seal_number=(bytes(16), d["seal_number"][1])), "disclosure.mismatch"),
        (lambda d: d.pop("importer_name"), "disclosure.missing"),
        (lambda d: d.update(invoice=(bytes(16), "INV-1")), "disclosure.unexpected"),
    ],
    ids=["other_value", "other_salt", "field_missing", "field_not_sealed"],
)
def test_a_disclosure_that_does_not_open_its_commitment_is_refused(
    make_world: Callable[..., World], tamper: Callable[[dict[str, Any]], object], code: str
) -> None:
    world = make_world(store=True)
    parcel = _exporting(world)
    raw, disclosures = _issue_submission(world, parcel)
    tamper(disclosures)
    size = _log_size(world, "BW")
    [result] = world.sequencer("BW").append_batch(
        [Submission(raw, encode_disclosures(disclosures))]
    )
    assert isinstance(result, DisclosureError)
    assert result.code == code
    assert _log_size(world, "BW") == size
    assert world.parcel_state(parcel).live


def test_a_record_with_sealed_fields_and_no_disclosures_is_refused(
    make_world: Callable[..., World],
) -> None:
    world = make_world(store=True)
    parcel = _exporting(world)
    raw, disclosures = _issue_submission(world, parcel)
    size = _log_size(world, "BW")
    [result] = world.sequencer("BW").append_batch([Submission(raw, None)])
    assert isinstance(result, DisclosureError)
    assert result.code == "disclosure.missing"
    assert _log_size(world, "BW") == size
    # The same record with its disclosures goes in.
    [accepted] = world.sequencer("BW").append_batch(
        [Submission(raw, encode_disclosures(disclosures))]
    )
    assert isinstance(accepted, Receipt)
    assert not world.parcel_state(parcel).live


# --- a refused record leaves no trace -----------------------------------------------------------


@dataclass
class Ledger:
    parcels: list[ParcelRef]
    certificate: EntryRef


def _observe(world: World, ledger: Ledger) -> dict[str, object]:
    def read(state: LedgerState) -> dict[str, object]:
        return {
            "sizes": {log: state.log_size(log) for log in world.members},
            "parcels": [state.parcel(p.log, p.seq, p.out) for p in ledger.parcels],
            "certificate": state.certificate(ledger.certificate.log, ledger.certificate.seq),
            "number": state.certificate_by_number("BW", "BW-2026-0002"),
            "adoptions": {log: state.adoptions(log) for log in world.members},
        }

    observed: dict[str, object] = _read(world, read)
    if world.store is None:
        return observed
    with world.store.read() as reader:  # a refused batch signs no new checkpoint either
        observed["checkpoints"] = {
            log: reader.log(log).latest_checkpoint() for log in world.members
        }
    return observed


def _ledger(world: World) -> Ledger:
    parcel = _exporting(world)
    spare = world.produce("BW", MASS, holder="trader", parcel="BW-JW-0002")
    certificate = world.certify("BW", "BW-2026-0001", [parcel], "EU")
    [imported] = world.confirm("EU", certificate, [("EU-0001", MASS, HS)])
    return Ledger([parcel, spare, imported], certificate)


ATTEMPTS: dict[str, Callable[[World, Ledger], object]] = {
    "double_spend": lambda w, ledger: w.certify("BW", "BW-2026-0002", ledger.parcels[:1], "EU"),
    "second_confirmation": lambda w, ledger: w.confirm(
        "EU", ledger.certificate, [("EU-0002", MASS, HS)]
    ),
    "void_of_a_confirmed_certificate": lambda w, ledger: _void(
        w, ledger.certificate, ledger.parcels[2].entry
    ),
    "inflated_split": lambda w, ledger: w.transform(
        "EU", ledger.parcels[2:], [("EU-S", 2 * MASS, HS)], "split"
    ),
    "transfer_by_a_non_holder": lambda w, ledger: w.transfer(
        ledger.parcels[1], "officer", by="mine"
    ),
    "certificate_with_a_false_origin": lambda w, ledger: w.certify(
        "BW", "BW-2026-0002", ledger.parcels[1:2], "EU", origins=["CA"]
    ),
    "adoption_short_of_signatures": lambda w, ledger: w.adopt("BW", _successor(w, signers=("CA",))),
}


@pytest.mark.parametrize("attempt", list(ATTEMPTS.values()), ids=list(ATTEMPTS))
def test_a_refused_record_leaves_no_trace(
    world: World, attempt: Callable[[World, Ledger], object]
) -> None:
    ledger = _ledger(world)
    before = _observe(world, ledger)
    with pytest.raises(RuleError):
        attempt(world, ledger)
    assert _observe(world, ledger) == before


# --- regressions: a confirmation and a void must never both stand ----------------------------


@pytest.mark.parametrize("order", ["confirm_then_void", "void_then_confirm"])
def test_confirmation_and_void_never_both_stand_when_grace_periods_differ(
    world: World, order: str
) -> None:
    # The importer has adopted a charter with a longer void grace than the issuer's. The
    # deadline after which a confirmation is refused must be the one after which a void is
    # allowed, or the parcels are released to the exporter and imported by the importer.
    certificate = _issued(world, days=10)
    expires_on = world.date(10)
    world.adopt("EU", _successor(world, grace=2 * GRACE))
    world.advance(10 + GRACE + 1)
    evidence = world.register("EU", "dealer", "trader")  # past the issuer's grace
    world.advance(1)
    outcomes: dict[str, bool] = {}

    def attempt(name: str, step: Step) -> None:
        try:
            step()
        except RuleError:
            outcomes[name] = False
        else:
            outcomes[name] = True

    confirm = _receive(world, certificate, received_on=expires_on)
    steps: list[tuple[str, Step]] = [
        ("confirm", confirm),
        ("void", lambda: _void(world, certificate, evidence)),
    ]
    for name, step in steps if order == "confirm_then_void" else reversed(steps):
        attempt(name, step)
    assert not (outcomes["confirm"] and outcomes["void"]), outcomes


def test_check_judges_an_entry_by_its_bytes_alone(make_world: Callable[..., World]) -> None:
    # The one validation function is pure (DESIGN §6): the entry as built and the entry parsed
    # back from its bytes get the same verdict and effects, and judging writes nothing.
    world = make_world()
    world.setup_log("BW")
    signed, _ = world.signed_record("BW", "parcel.produce", _produce_body(world), by="mine")
    entries = world.kv.logs["BW"]
    entry = Entry(seq=len(entries), prev=leaf_hash(entries[-1]), time=world.time, signed=signed)
    encoded = entry.encode()
    before = _memory_snapshot(world)
    first = rules.check(world.state, entry, leaf_hash(encoded))
    second = rules.check(world.state, Entry.parse(encoded), leaf_hash(encoded))
    assert first == second
    assert _memory_snapshot(world) == before
    [parcel] = first.parcels
    assert parcel.ref == ParcelRef("BW", entry.seq, leaf_hash(encoded), 0)
    assert (parcel.holder, parcel.centicarats, parcel.origins) == ("trader", MASS, ("BW",))


# --- mass along each lineage (decision 0020) -------------------------------------------------


def test_twelve_sorts_each_within_the_tolerance_cannot_gain_more_than_it_in_total(
    world: World,
) -> None:
    # Each sort gained 0.1 % of what it was given, within the tolerance of that one step: twelve
    # of them took 1,000.00 ct to 1,012.02 ct. The gain is bounded along the lineage instead, so
    # the sort that takes the lot past 1,000.00 ct × (1 + 0.1 %) is refused.
    ppm = DEFAULT_POLICY.mass_tolerance_ppm
    world.setup_log("BW")
    parcel = world.produce("BW", MASS, holder="trader")
    mass = MASS
    admitted = 0
    for step in range(1, 13):
        mass += mass * ppm // rules.PPM
        outputs = [(f"BW-SORT-{step}", mass, HS)]
        if mass * rules.PPM > MASS * (rules.PPM + ppm):
            with pytest.raises(RuleError) as refused:
                world.transform("BW", [parcel], outputs, "sort")
            assert refused.value.code == "mass.exceeds_inputs"
            assert f"{MASS} ct/100" in refused.value.message  # names what the mine weighed
            break
        [parcel] = world.transform("BW", [parcel], outputs, "sort")
        admitted += 1
    assert admitted == 1  # 1,001.00 ct is the tolerance exactly; 1,002.00 ct is past it
    assert world.parcel_state(parcel).live
    assert world.parcel_state(parcel).basis == MASS


@pytest.mark.parametrize(
    ("total", "masses", "shares"),
    [
        pytest.param(100, [60, 40], [60, 40], id="whole-mass"),
        pytest.param(99, [50, 50], [50, 49], id="tie-to-the-lower-index"),
        pytest.param(10, [1, 1, 1], [4, 3, 3], id="two-left-over-of-three"),
        pytest.param(1_000, [333, 333, 334], [333, 333, 334], id="exact-quotas"),
        pytest.param(7, [5, 3], [4, 3], id="largest-remainder-first"),
        pytest.param(1_000, [1] * 1_001, [1] * 1_000 + [0], id="less-than-one-each"),
    ],
)
def test_basis_is_shared_by_largest_remainder(
    total: int, masses: list[int], shares: list[int]
) -> None:
    assert rules.allocate_basis(total, masses) == shares
    assert sum(shares) == total


def test_basis_follows_every_transform_certificate_import_and_void(world: World) -> None:
    world.setup_log("BW")
    world.setup_log("EU", mine=False)
    parcel = world.produce("BW", MASS, holder="trader")
    assert world.parcel_state(parcel).basis == MASS
    # A gain within the tolerance: the outputs share what the mine weighed, in proportion.
    gained = world.transform(
        "BW", [parcel], [("BW-S-1", 60_060, HS), ("BW-S-2", 40_040, HS)], "split"
    )
    assert [world.parcel_state(p).basis for p in gained] == [60_000, 40_000]
    # A loss is lost for good: the basis comes down to what is left.
    [lost] = world.transform("BW", gained[:1], [("BW-S-3", 59_000, HS)], "split")
    assert world.parcel_state(lost).basis == 59_000
    export = world.certify("BW", "BW-2026-0001", [lost, gained[1]], "EU")
    assert _read(world, lambda s: s.certificate("BW", export.seq)).basis == 99_000
    rejection = _reject(world, export)
    void = _void(world, export, rejection)
    released = [world.parcel_state(ParcelRef("BW", void.seq, void.hash, i)) for i in (0, 1)]
    assert [p.basis for p in released] == [59_000, 40_000]
    again = world.certify("BW", "BW-2026-0002", [r.ref for r in released], "EU")
    imported = world.confirm("EU", again, [("EU-0001", 50_000, HS), ("EU-0002", 49_099, HS)])
    # Received 99,099 of a lineage weighed at 99,000: the new parcels share the 99,000.
    assert [world.parcel_state(p).basis for p in imported] == [49_950, 49_050]


def test_a_confirmation_keeps_when_it_was_received_and_recorded(world: World) -> None:
    certificate = _issued(world, days=10)
    expires_on = world.date(10)
    assert _read(world, lambda s: s.certificate("BW", certificate.seq)).received_on is None
    world.advance(10 + GRACE)  # the last day of the grace period
    world.confirm("EU", certificate, [("EU-0001", MASS, HS)], received_on=expires_on)
    confirmed = _read(world, lambda s: s.certificate("BW", certificate.seq))
    assert (confirmed.received_on, confirmed.recorded_on) == (expires_on, world.today)
    assert confirmed.recorded_on > confirmed.expires_on


# --- parcel ids (decision 0022) --------------------------------------------------------------


def _live_named(world: World, log: str, parcel: str) -> tuple[ParcelRef, ...]:
    return tuple(_read(world, lambda state: state.live_parcels_named(log, parcel)))


def test_the_parcel_id_index_holds_the_live_parcels_only(world: World) -> None:
    world.setup_log("BW")
    first = world.produce("BW", MASS, holder="trader", parcel="BW-JW-0001")
    assert _live_named(world, "BW", "BW-JW-0001") == (first,)
    world.transfer(first, "mine", by="trader")
    assert _live_named(world, "BW", "BW-JW-0001") == (first,)
    [piece] = world.transform("BW", [first], [("BW-JW-0001", MASS, HS)], "split", by="mine")
    assert _live_named(world, "BW", "BW-JW-0001") == (piece,)
    world.transform("BW", [piece], [("BW-S-1", MASS, HS)], "split", by="mine")
    assert _live_named(world, "BW", "BW-JW-0001") == ()
    if world.store is None:
        assert world.kv.tables["parcel_ids"].keys() == {encode(["BW", "BW-S-1"])}


def test_a_void_releases_its_parcels_under_their_ids_even_when_taken_meanwhile(
    world: World,
) -> None:
    parcel = _exporting(world)
    name = world.parcel_state(parcel).parcel
    export = world.certify("BW", "BW-2026-0001", [parcel], "EU")
    rejection = _reject(world, export)
    # The id was free once the certificate consumed the parcel, and was taken again.
    world.advance(1)
    taken = world.produce("BW", MASS, holder="trader", parcel=name)
    void = _void(world, export, rejection)
    released = ParcelRef("BW", void.seq, void.hash, 0)
    assert world.parcel_state(released).live
    assert _live_named(world, "BW", name) == (taken, released)
    with pytest.raises(RuleError) as refused:
        world.produce("BW", MASS, parcel=name)
    assert refused.value.code == "parcel.id_in_use"


def test_producing_the_same_parcel_twice_is_refused_and_resubmitting_is_not(
    make_world: Callable[..., World],
) -> None:
    # A retry after a timeout: the same bytes again return the first receipt; the same
    # production signed anew is a second record, refused.
    world = make_world(store=True)
    world.setup_log("BW")
    signed, _ = world.signed_record("BW", "parcel.produce", _produce_body(world), by="mine")
    [first] = world.sequencer("BW").append_batch([signed.raw])
    [again] = world.sequencer("BW").append_batch([signed.raw])
    assert isinstance(first, Receipt)
    assert isinstance(again, Receipt)
    assert again.entry_hash == first.entry_hash
    world.advance(0.001)
    with pytest.raises(RuleError) as refused:
        world.append("BW", "parcel.produce", _produce_body(world), by="mine")
    assert refused.value.code == "parcel.id_in_use"
    assert "BW-JW-0001" in refused.value.message


def test_a_partial_replay_does_not_judge_parcel_ids_it_cannot_know() -> None:
    # A verifier replaying a provenance DAG skips entries: a parcel it sees as live may have been
    # consumed by an entry it does not hold. Where the log's state is not complete, the id rule
    # is the nodes' (which hold every entry); everything else is still judged.
    world = World()
    world.setup_log("BW")
    world.produce("BW", MASS, parcel="BW-JW-0001")
    entries = world.kv.logs["BW"]
    signed, _ = world.signed_record("BW", "parcel.produce", _produce_body(world), by="mine")
    entry = Entry(seq=len(entries), prev=leaf_hash(entries[-1]), time=world.time, signed=signed)
    digest_ = leaf_hash(entry.encode())
    with pytest.raises(RuleError) as refused:
        rules.check(world.state, entry, digest_)
    assert refused.value.code == "parcel.id_in_use"
    head = world.state.head("BW")
    assert head is not None
    assert head.complete
    world.state.apply("BW", Effects(head=dataclasses.replace(head, complete=False)))
    effects = rules.check(world.state, entry, digest_)
    assert effects.head is not None
    assert not effects.head.complete
    assert [p.parcel for p in effects.parcels] == ["BW-JW-0001"]


def test_a_participant_admitted_in_version_2_starts_its_log_there_and_trades(
    world: World,
) -> None:
    parcel = _exporting(world)
    admission = _admitting(world)
    for log in ("BW", "EU"):
        world.adopt(log, admission)
    world.adopt("ZA", admission)  # entry 0 of ZA's log: version 2, chained from the genesis
    world.register("ZA", "officer", "authority")
    world.register("ZA", "trader", "trader")
    world.register("ZA", "mine", "mine")
    certificate = world.certify("BW", "BW-2026-0001", [parcel], "ZA")
    world.confirm("ZA", certificate, [("ZA-0001", MASS, HS)])
    produced = world.produce("ZA", MASS, holder="trader", parcel="ZA-JW-0001")
    exported = world.certify("ZA", "ZA-2026-0001", [produced], "EU")
    world.confirm("EU", exported, [("EU-0001", MASS, HS)])


def test_a_suspended_participant_may_still_reject_what_it_cannot_confirm(world: World) -> None:
    certificate = _issued(world)
    world.adopt("EU", _successor(world, suspend=("EU",)))
    with pytest.raises(RuleError) as confirming:
        world.confirm("EU", certificate, [("EU-0001", MASS, HS)])
    assert confirming.value.code == "participant.suspended"
    rejection = _reject(world, certificate)
    _void(world, certificate, rejection)
