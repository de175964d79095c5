"""The SDK against real nodes: every read, submissions of every kind, typed errors, retries."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.sdk import (
    AnswerLostError,
    LedgerClient,
    NodeUnavailableError,
    Operator,
    ProblemError,
)
from client.verify import verify_bundle
from node.core import crypto, merkle, notes
from node.core.notes import SignedCheckpoint
from node.core.receipt import Receipt
from node.core.records import Entry, ParcelProduce
from tests.support.network import Devnet, devnet, free_port_block
from tests.support.proxy import losing_relay


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with devnet(tmp_path_factory.mktemp("net"), "BW,EU") as running:
        yield running


def _operator(net: Devnet, member: str, name: str) -> Operator:
    info = net.description["participants"][member]["operators"][name]
    return Operator(member, name, crypto.load_private_key(Path(info["key_file"])))


def test_a_certificate_from_mine_to_import_through_the_sdk(net: Devnet) -> None:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    later = (datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=30)).isoformat()
    bw, eu = LedgerClient(net.url("BW")), LedgerClient(net.url("EU"))
    mine, officer = _operator(net, "BW", "mine"), _operator(net, "BW", "officer")
    produced = bw.submit(
        *mine.produce("BW-SDK-1", centicarats=40_000, hs_code="7102.10", produced_on=today)
    )
    bw.submit(*mine.transfer(produced.parcel_ref(), "trader", invoice="INV-SDK-1"))
    certificate = bw.submit(
        *officer.certify(
            "BW-SDK-0001",
            exporter="trader",
            importing="EU",
            parcels=[produced.parcel_ref()],
            centicarats=40_000,
            hs_codes=["7102.10"],
            origins=["BW"],
            issued_on=today,
            expires_on=later,
            value_usd_cents=9_000_000,
            exporter_name="Okavango Diamond Co",
            importer_name="Antwerp NV",
            seal_number="S-9",
        ),
        wait="witnessed",
    )
    assert certificate.witnessed is True
    confirmation = _operator(net, "EU", "officer").confirm(
        certificate.entry_ref(),
        received_on=today,
        parcels=[("EU-SDK-1", 40_000, "7102.10")],
        holder="trader",
    )
    confirmed = _submit_when_replicated(eu, confirmation)
    # Reads of every kind agree with the receipts.
    assert bw.certificate("BW", "BW-SDK-0001").status in ("usable", "confirmed")
    assert eu.parcel("EU", confirmed.seq, 0).origins == ("BW",)
    checkpoint = notes.Checkpoint.parse(notes.parse_note(bw.checkpoint("BW", latest=True)).text)
    proof = bw.inclusion_proof("BW", produced.seq, checkpoint.size)
    merkle.verify_inclusion(
        produced.entry_hash,
        produced.seq,
        checkpoint.size,
        proof,
        checkpoint.root,
    )
    [raw] = bw.entries("BW", produced.seq, produced.seq + 1)
    assert merkle.leaf_hash(raw).hex() == produced.entry_hash.hex()
    assert bw.entry(produced.entry_hash.hex()).seq == produced.seq
    assert {log.log for log in bw.logs()} >= {"BW", "EU"}
    assert bw.evidence() == []
    assert bw.network().genesis.hex() == net.description["genesis"]
    bundle = eu.provenance(confirmed.entry_hash.hex())
    verdict = verify_bundle(bundle, bytes.fromhex(net.description["genesis"]))
    assert verdict.valid
    assert verdict.origins == ("BW",)
    # The default bundle seeds the certificate's parcel at the step that made it (the
    # production here); depth 0 seeds it below the certificate, None replays it all.
    assert bundle.depth == 1
    assert bundle.seeds == ()  # a production consumes nothing: the mine is in the bundle
    shallow = eu.provenance(confirmed.entry_hash.hex(), depth=0)
    assert [seed.ref.hash for seed in shallow.seeds] == [produced.entry_hash]
    assert verify_bundle(shallow, bytes.fromhex(net.description["genesis"])).seeds[0].origins == (
        "BW",
    )
    whole = eu.provenance(confirmed.entry_hash.hex(), depth=None)
    assert (whole.depth, whole.seeds) == (None, ())
    assert {e.hash for e in whole.entries} >= {e.hash for e in bundle.entries}
    with LedgerClient(net.url("BW"), auth=officer.auth()) as member:
        values = member.disclosures(certificate.entry_hash.hex()).fields
    assert values["value_usd_cents"].value == 9_000_000
    # The importing authority reads it too, from the exporter's node (decision 0040); EU's
    # trader does not, and BW's authority sees both reads in its record of them.
    hash_hex = certificate.entry_hash.hex()
    with LedgerClient(net.url("BW"), auth=_operator(net, "EU", "officer").auth()) as importer:
        assert importer.disclosures(hash_hex).fields["seal_number"].value == "S-9"
    stranger = LedgerClient(net.url("BW"), auth=_operator(net, "EU", "trader").auth())
    with stranger, pytest.raises(ProblemError) as not_entitled:
        stranger.disclosures(hash_hex)
    assert (not_entitled.value.status, not_entitled.value.code) == (
        403,
        "disclosure.not_entitled",
    )
    with LedgerClient(net.url("BW"), auth=officer.auth()) as member:
        reads = member.disclosure_access().records
    assert [(r.key_id, r.allowed) for r in reads if r.entry_hash.hex() == hash_hex] == [
        ("BW:officer", True),
        ("EU:officer", True),
        ("EU:trader", False),
    ]
    # The same parcel again: refused with the rule's code.
    with pytest.raises(ProblemError) as refused:
        bw.submit(
            *officer.certify(
                "BW-SDK-0002",
                exporter="trader",
                importing="EU",
                parcels=[produced.parcel_ref()],
                centicarats=40_000,
                hs_codes=["7102.10"],
                origins=["BW"],
                issued_on=today,
                expires_on=later,
                value_usd_cents=1,
                exporter_name="x",
                importer_name="y",
                seal_number="z",
            )
        )
    assert (refused.value.status, refused.value.code) == (422, "parcel.not_live")
    bw.close()
    eu.close()


def _submit_when_replicated(client: LedgerClient, record: Any) -> Receipt:
    """Submit, waiting while the node has not replicated the log the record points into."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return client.submit(*record, wait="witnessed")
        except ProblemError as exc:
            if exc.code != "reference.unknown" or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_reads_are_retried_and_failures_are_typed() -> None:
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            return httpx.Response(503, json={"code": "sequencer.busy", "detail": "later"})
        return httpx.Response(200, json={"status": "ok", "log": "BW", "size": 1})

    with LedgerClient("http://node.test", transport=httpx.MockTransport(flaky)) as client:
        assert client.health().size == 1
    assert len(calls) == 3
    with (
        LedgerClient("http://127.0.0.1:9", retries=1, timeout=0.5) as dead,
        pytest.raises(NodeUnavailableError),
    ):
        dead.logs()


# --- safe retries of submissions (DESIGN §10, decision 0002) ----------------------------------


def _bw_size(net: Devnet) -> int:
    return int(httpx.get(f"{net.url('BW')}/healthz").json()["size"])


def _parcels_named(net: Devnet, parcel: str) -> int:
    """How many entries of BW's log produce a parcel of that id."""
    with LedgerClient(net.url("BW")) as client:
        size = _bw_size(net)
        found = 0
        for start in range(0, size, 100):
            for raw in client.entries("BW", start, min(start + 100, size)):
                body = Entry.parse(raw).signed.body
                found += isinstance(body, ParcelProduce) and body.parcel == parcel
        return found


def assert_same_receipt(again: Receipt | ProblemError, first: Receipt) -> None:
    """The original receipt: the same entry, checkpoint and proof. The checkpoint may since have
    gathered witness cosignatures; it keeps every signature line it had."""
    assert isinstance(again, Receipt), again
    plain = ("entry_hash", "log", "seq", "proof", "witnessed")
    assert {k: getattr(again, k) for k in plain} == {k: getattr(first, k) for k in plain}
    ours, theirs = (
        SignedCheckpoint.parse(first.checkpoint),
        SignedCheckpoint.parse(again.checkpoint),
    )
    assert theirs.checkpoint == ours.checkpoint
    assert set(ours.signatures) <= set(theirs.signatures)


def test_the_same_signed_record_submitted_twice_answers_the_same_receipt(net: Devnet) -> None:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    mine = _operator(net, "BW", "mine")
    record = mine.produce("BW-TWICE-1", centicarats=1_000, hs_code="7102.10", produced_on=today)
    with LedgerClient(net.url("BW")) as bw:
        first = bw.submit(*record)
        size = _bw_size(net)
        again = bw.submit(*record)
        [in_batch] = bw.submit_batch([record])
    assert_same_receipt(again, first)
    assert_same_receipt(in_batch, first)
    assert _bw_size(net) == size == first.seq + 1
    assert _parcels_named(net, "BW-TWICE-1") == 1


@pytest.mark.parametrize(
    ("mode", "timeout"),
    [
        pytest.param("cut", 10.0, id="connection-cut-after-the-commit"),
        pytest.param("late", 1.0, id="client-timeout-shorter-than-the-answer"),
    ],
)
def test_a_submission_whose_answer_was_lost_is_resent_and_appended_once(
    net: Devnet, mode: str, timeout: float
) -> None:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    parcel = f"BW-LOST-{mode}"
    mine = _operator(net, "BW", "mine")
    record = mine.produce(parcel, centicarats=1_000, hs_code="7102.10", produced_on=today)
    size = _bw_size(net)
    with (
        losing_relay(net.url("BW"), mode=mode, late_seconds=3.0) as relay,
        LedgerClient(relay.url, timeout=timeout, retries=2) as through_relay,
    ):
        receipt = through_relay.submit(*record)
    assert len(relay.posted) == 2
    assert relay.posted[0] == relay.posted[1]  # resent byte for byte, not signed anew
    assert _bw_size(net) == size + 1
    assert _parcels_named(net, parcel) == 1
    with LedgerClient(net.url("BW")) as bw:
        assert_same_receipt(bw.submit(*record), receipt)


def test_a_lost_answer_on_every_attempt_says_the_record_may_be_appended(net: Devnet) -> None:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    mine = _operator(net, "BW", "mine")
    record = mine.produce("BW-LOST-ALL", centicarats=1_000, hs_code="7102.10", produced_on=today)
    with (
        losing_relay(net.url("BW"), lose=10) as relay,
        LedgerClient(relay.url, retries=2) as through_relay,
        pytest.raises(AnswerLostError) as lost,
    ):
        through_relay.submit(*record)
    assert lost.value.code == "node.no_answer"
    assert len(relay.posted) == 3
    assert _parcels_named(net, "BW-LOST-ALL") == 1  # appended by the first; the rest answered


def test_a_refused_connection_says_nothing_was_submitted() -> None:
    dead = f"http://127.0.0.1:{free_port_block(1)}"
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    mine = Operator("BW", "mine", crypto.generate_private_key())
    record = mine.produce("BW-NOWHERE", centicarats=1, hs_code="7102.10", produced_on=today)
    with LedgerClient(dead, retries=1) as client, pytest.raises(NodeUnavailableError) as down:
        client.submit(*record)
    assert not isinstance(down.value, AnswerLostError)
    assert down.value.code == "node.unavailable"
