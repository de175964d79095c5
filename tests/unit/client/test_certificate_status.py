"""The status of a certificate in every verdict (DESIGN §9): usable, confirmed, rejected, voided,
expired — with the entries that prove it, and never a plain VALID for one that may not be
accepted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from client.verify import Verdict, check_bundle
from node.core.charter import make_successor, with_status
from node.core.records import EntryRef
from node.engine.bundling import build_bundle
from tests.support.witnesses import cosign_latest
from tests.support.world import World


@dataclass
class Certificates:
    world: World
    refs: dict[str, EntryRef]

    def verdict(self, subject: EntryRef, *, today: str | None = None) -> Verdict:
        cosign_latest(self.world)
        assert self.world.store is not None
        with self.world.store.read() as reader:
            bundle = build_bundle(reader, "kp.test", subject)
        encoded = bundle.to_bytes()
        return check_bundle(encoded, self.world.genesis_hash, today=today or self.world.today)


@pytest.fixture
def certificates(tmp_path: Path) -> Iterator[Certificates]:
    """BW certifies five shipments to EU; EU confirms one and rejects two, BW voids one of
    those; one is left alone, one is confirmed after it expired."""
    world = World(("BW", "EU", "IN"), store=tmp_path / "store")
    for log in ("BW", "EU", "IN"):
        world.setup_log(log)
    refs: dict[str, EntryRef] = {}
    for name in ("confirmed", "rejected", "voided", "usable", "late"):
        parcel = world.produce("BW", 10_000, parcel=f"BW-{name}", holder="trader")
        days = 2 if name == "late" else 30
        refs[name] = world.certify("BW", f"BW-2026-{name.upper()}", [parcel], "EU", days=days)
    world.advance(1)
    world.confirm("EU", refs["confirmed"], [("EU-in", 10_000, "7102.10")])
    for name in ("rejected", "voided"):
        refs[f"{name}-by"] = world.append(
            "EU",
            "certificate.reject",
            {"certificate": refs[name].to_value(), "reason": "seal broken"},
            by="officer",
        )
    refs["void"] = world.append(
        "BW",
        "certificate.void",
        {
            "certificate": refs["voided"].to_value(),
            "reason": "rejected by the importer",
            "evidence": refs["voided-by"].to_value(),
        },
        by="officer",
    )
    received = world.today
    world.advance(3)  # past the late one's expiry, within its grace period
    world.confirm("EU", refs["late"], [("EU-late", 10_000, "7102.10")], received_on=received)
    yield Certificates(world, refs)
    world.close()


@pytest.mark.parametrize(
    ("name", "state", "headline"),
    [
        ("usable", "usable", "VALID — USABLE for import into EU until"),
        ("confirmed", "confirmed", "VALID — CONFIRMED by EU on"),
        ("rejected", "rejected", "VALID — REJECTED by EU on"),
        ("voided", "voided", "VALID — VOIDED by BW on"),
    ],
)
def test_a_certificate_verdict_states_its_status(
    certificates: Certificates, name: str, state: str, headline: str
) -> None:
    verdict = certificates.verdict(certificates.refs[name])
    assert verdict.valid, verdict.findings
    assert verdict.certificate is not None
    assert verdict.certificate.state == state
    assert verdict.headline.startswith(headline)
    assert verdict.usable is (state == "usable")
    decided = {"confirmed": None, "rejected": "rejected-by", "voided": "void"}.get(name)
    if decided is not None:
        assert verdict.certificate.decided_by == certificates.refs[decided].hash.hex()


def test_a_confirmed_certificate_names_the_day_of_receipt_and_the_proof(
    certificates: Certificates,
) -> None:
    verdict = certificates.verdict(certificates.refs["confirmed"])
    status = verdict.certificate
    assert status is not None
    assert status.decided_by is not None
    assert status.received_on == certificates.world.date(-3)
    document = verdict.to_json()
    assert document["usable"] is False
    assert document["certificate"]["state"] == "confirmed"
    assert document["headline"].startswith("VALID — CONFIRMED")


def test_an_unconfirmed_certificate_expires_on_the_verifiers_date(
    certificates: Certificates,
) -> None:
    ref = certificates.refs["usable"]
    before = certificates.verdict(ref)
    assert before.certificate is not None
    assert before.certificate.state == "usable"
    assert before.certificate.as_of is not None  # the witnessed checkpoints vouch up to then
    after = certificates.verdict(ref, today=certificates.world.date(40))
    assert after.valid
    assert after.certificate is not None
    assert after.certificate.state == "expired"
    assert after.headline.startswith("VALID — EXPIRED on")
    assert after.usable is False
    issued_on = before.certificate.issued_on
    earlier = certificates.verdict(ref, today=certificates.world.date(-400))
    assert earlier.certificate is not None
    assert (earlier.certificate.state, earlier.usable) == ("unissued", False)
    assert earlier.headline.endswith(f"(issued {issued_on}), not usable then")
    # Before its issue, what became of it later does not count either.
    confirmed = certificates.verdict(
        certificates.refs["confirmed"], today=certificates.world.date(-400)
    )
    assert confirmed.certificate is not None
    assert confirmed.certificate.state == "unissued"


def test_a_verdict_on_the_confirmation_states_the_certificate_it_confirms(
    certificates: Certificates,
) -> None:
    world = certificates.world
    with world.read_state() as state:
        confirmed = state.certificate("BW", certificates.refs["confirmed"].seq)
    verdict = certificates.verdict(confirmed.outcome_ref)
    assert verdict.valid
    assert verdict.certificate is not None
    assert verdict.certificate.state == "confirmed"
    assert verdict.certificate.entry == certificates.refs["confirmed"].hash.hex()


def test_a_confirmation_recorded_after_expiry_is_noted(certificates: Certificates) -> None:
    verdict = certificates.verdict(certificates.refs["late"])
    assert verdict.valid
    assert verdict.certificate is not None
    assert verdict.certificate.state == "confirmed"
    assert [n.code for n in verdict.notes] == ["confirmation.late"]
    on_time = certificates.verdict(certificates.refs["confirmed"])
    assert on_time.notes == ()


def test_an_entry_judged_under_a_superseded_charter_is_noted(tmp_path: Path) -> None:
    """EU ships to IN under the genesis while the network has already suspended IN in v2,
    which EU has not adopted yet: valid history, which the verdict must still report."""
    world = World(("BW", "CA", "EU", "IN"), store=tmp_path / "store")
    for log in ("BW", "CA", "EU", "IN"):
        world.setup_log(log)
    v1 = world.genesis.charter
    v2 = world.sign(
        make_successor(v1, participants=with_status(v1.participants, "IN", "suspended")),
        ["BW", "CA", "EU"],
    )
    world.publish(v2)
    world.adopt("BW", v2)
    parcel = world.produce("EU", 5_000, parcel="EU-lot", holder="trader")
    lagging = world.certify("EU", "EU-2026-0001", [parcel], "IN")
    verdict = Certificates(world, {}).verdict(lagging)
    assert verdict.valid, verdict.findings
    [note] = verdict.notes
    assert note.code == "charter.superseded"
    assert (note.log, note.seq) == ("EU", lagging.seq)
    assert "version 2 suspends IN, the importer" in note.detail
    # Valid history, but no shipment a border may let in while the importer is suspended.
    assert verdict.certificate is not None
    assert verdict.certificate.state == "suspended"
    assert verdict.certificate.suspended == ("IN",)
    assert verdict.usable is False
    assert verdict.headline.startswith("VALID — SUSPENDED: charter version 2 suspends IN")
    # Reinstated in v3: the certificate was still issued by a log lagging behind IN's
    # suspension, and nothing shows it came first. It stays unusable, and says why.
    v3 = world.sign(make_successor(v2.charter, participants=v1.participants), ["BW", "CA", "EU"])
    world.publish(v3)
    world.adopt("BW", v3)
    reinstated = Certificates(world, {}).verdict(lagging)
    assert reinstated.valid, reinstated.findings
    assert reinstated.certificate is not None
    status = reinstated.certificate
    assert (status.state, status.issued_under, status.charter_version) == ("suspended", 1, 2)
    assert status.suspended == ("IN",)
    assert reinstated.usable is False
    [row] = [step for step in reinstated.chain if step.hash == lagging.hash.hex()]
    assert row.status == "suspended"  # the chain's row agrees with the headline
    assert reinstated.headline.startswith(
        "VALID — SUSPENDED WHEN ISSUED: accepted under charter version 1, but version 2 suspends IN"
    )
    world.close()


def test_an_entry_made_before_any_log_adopted_the_suspension_is_not_noted(
    tmp_path: Path,
) -> None:
    world = World(("BW", "CA", "EU", "IN"), store=tmp_path / "store")
    for log in ("BW", "CA", "EU", "IN"):
        world.setup_log(log)
    parcel = world.produce("EU", 5_000, parcel="EU-lot", holder="trader")
    earlier = world.certify("EU", "EU-2026-0001", [parcel], "IN")
    world.advance(1)
    v1 = world.genesis.charter
    v2 = world.sign(
        make_successor(v1, participants=with_status(v1.participants, "IN", "suspended")),
        ["BW", "CA", "EU"],
    )
    world.publish(v2)
    world.adopt("IN", v2)  # a signed statement that v2 existed, a day after the certificate
    verdict = Certificates(world, {}).verdict(earlier)
    assert verdict.valid, verdict.findings
    assert verdict.notes == ()
    assert verdict.certificate is not None
    assert verdict.certificate.state == "suspended"  # issued in time; still not usable now
    v3 = world.sign(make_successor(v2.charter, participants=v1.participants), ["BW", "CA", "EU"])
    world.publish(v3)
    reinstated = Certificates(world, {}).verdict(earlier)
    assert reinstated.certificate is not None
    assert (reinstated.certificate.state, reinstated.usable) == ("usable", True)
    world.close()
