"""The library under ``kp``, without the CLI: several nodes asked as one (client/nodes.py), a
record submitted to its own log's node only and encoded once (client/sdk.py), forward tracing
(client/trace.py) and a member's disclosure reads (client/download.py), against nodes that
``httpx.MockTransport`` plays."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client.download import read_disclosed
from client.errors import MalformedAnswerError, NotOnLedgerError, NotSubmittedError
from client.nodes import Nodes
from client.replay import Accepted, Replay
from client.sdk import Operator, submission_bytes
from client.trace import trace
from node.core import merkle
from node.core.encoding import decode, encode
from node.core.records import Entry, EntryRef, ParcelRef, parse_certificate_number
from node.core.state import Effects
from tests.support.records import GENESIS, make_receipt

BW, EU = "http://bw.test", "http://eu.test"
Route = Callable[[httpx.Request], httpx.Response | None]


def _nodes(urls: list[str], route: Route) -> Nodes:
    """Nodes at ``urls`` whose every request ``route`` answers (``None``: no connection)."""

    def answer(request: httpx.Request) -> httpx.Response:
        found = route(request)
        if found is None:
            raise httpx.ConnectError("refused", request=request)
        return found

    return Nodes(urls, timeout=1.0, transport=httpx.MockTransport(answer))


def _health(log: str) -> httpx.Response:
    return httpx.Response(200, json={"status": "ok", "log": log, "size": 0})


def _problem(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "detail": code})


@pytest.fixture
def mine() -> Operator:
    return Operator("BW", "mine", Ed25519PrivateKey.generate())


def _produce(mine: Operator, parcel: str = "BW-JW-0001") -> Any:
    return mine.produce(parcel, centicarats=1_000, hs_code="7102.10", produced_on="2026-11-20")


# --- the own node ----------------------------------------------------------------------------


def test_a_record_goes_to_its_own_logs_node_only(mine: Operator) -> None:
    posted: list[str] = []
    receipt = make_receipt()

    def route(request: httpx.Request) -> httpx.Response:
        host = f"http://{request.url.host}"
        if request.url.path == "/healthz":
            return _health("EU" if host == EU else "BW")
        posted.append(host)
        return httpx.Response(200, json=receipt.to_json())

    with _nodes([EU, BW], route) as nodes:
        node, got = nodes.submit(*_produce(mine), wait="committed")
    assert (node, got, posted) == (BW, receipt, [BW])


def test_no_own_node_among_those_given_is_not_submitted(
    mine: Operator,
) -> None:
    network = {"participants": {"BW": {"endpoints": ["http://bw.example/"]}}}

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/network":
            return httpx.Response(200, json=network)  # malformed: then it names none
        return _health("EU")

    with _nodes([EU], route) as nodes, pytest.raises(NotSubmittedError) as refused:
        nodes.submit(*_produce(mine), wait="committed")
    assert refused.value.code == "node.own_unavailable"
    assert "none of the nodes given is BW's node" in refused.value.message


def test_an_own_node_that_does_not_answer_is_not_submitted(mine: Operator) -> None:
    with _nodes([BW], lambda request: None) as nodes, pytest.raises(NotSubmittedError) as refused:
        nodes.submit(*_produce(mine), wait="committed")
    assert refused.value.code == "node.own_unavailable"
    assert f"BW's node at {BW} does not answer" in refused.value.message


def test_a_lost_answer_says_the_record_may_be_appended(mine: Operator) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return _health("BW")
        raise httpx.ReadTimeout("no answer", request=request)

    with _nodes([BW], route) as nodes, pytest.raises(NotSubmittedError) as refused:
        nodes.submit(*_produce(mine), wait="committed")
    assert refused.value.code == "node.no_answer"
    assert "it may have been appended" in refused.value.message


def test_a_submission_carries_the_signed_record_as_it_was_signed(mine: Operator) -> None:
    signed, disclosures = mine.transfer(["BW", 0, bytes(32), 0], "trader", invoice="INV-1")
    body = submission_bytes(signed, disclosures)
    expected = {
        "signed": signed.to_value(),
        "disclosures": {f: [salt, v] for f, (salt, v) in disclosures.items()},
    }
    assert body == encode(expected)  # canonical, as if encoded whole
    assert signed.raw in body
    assert decode(body, max_size=len(body)) == decode(encode(expected), max_size=len(body))


# --- certificates and entries over several nodes ---------------------------------------------


def test_a_certificate_no_node_holds_is_not_on_the_ledger() -> None:
    number = parse_certificate_number("BW/2026/0005")
    with (
        _nodes([BW, EU], lambda request: _problem(404, "certificate.unknown")) as nodes,
        pytest.raises(NotOnLedgerError) as unknown,
    ):
        nodes.certificate(number)
    assert unknown.value.code == "certificate.unknown"
    assert f"asked {BW}, {EU}" in unknown.value.message


def test_a_node_serving_another_entry_than_asked_is_malformed(mine: Operator) -> None:
    raw = Entry(0, GENESIS, 1, _produce(mine)[0]).encode()
    served = {"log": "BW", "seq": 0, "hash": merkle.leaf_hash(raw).hex(), "entry": {}}
    served["raw"] = base64.b64encode(raw).decode()
    with (
        _nodes([BW], lambda request: httpx.Response(200, json=served)) as nodes,
        pytest.raises(MalformedAnswerError),
    ):
        nodes.entry("ab" * 32)


# --- forward tracing --------------------------------------------------------------------------


class _Ledger:
    """A node's parcels and entries, as JSON answers."""

    def __init__(self) -> None:
        self.parcels: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, dict[str, Any]] = {}

    def add_entry(self, entry: Entry) -> EntryRef:
        raw = entry.encode()
        digest = merkle.leaf_hash(raw)
        self.entries[digest.hex()] = {
            "log": entry.signed.log,
            "seq": entry.seq,
            "hash": digest.hex(),
            "entry": {},
            "raw": base64.b64encode(raw).decode(),
        }
        return EntryRef(entry.signed.log, entry.seq, digest)

    def add_parcel(self, ref: ParcelRef, name: str, consumed_by: EntryRef | None) -> None:
        self.parcels[f"/v1/parcels/{ref.log}/{ref.seq}/{ref.out}"] = {
            "ref": [ref.log, ref.seq, ref.hash.hex(), ref.out],
            "parcel": name,
            "holder": "mine",
            "centicarats": 500,
            "hs_code": "7102.10",
            "origins": ["BW"],
            "live": consumed_by is None,
            "consumed_by": None
            if consumed_by is None
            else [consumed_by.log, consumed_by.seq, consumed_by.hash.hex()],
            "transfers": [],
        }

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in self.parcels:
            return httpx.Response(200, json=self.parcels[path])
        if path.startswith("/v1/entries/") and path[12:] in self.entries:
            return httpx.Response(200, json=self.entries[path[12:]])
        return _problem(404, "parcel.unknown")


@pytest.fixture
def split(mine: Operator) -> tuple[_Ledger, ParcelRef]:
    """A produced parcel, split in two by the next entry; both halves live."""
    ledger = _Ledger()
    produced = ledger.add_entry(Entry(0, GENESIS, 1_790_000_000_000, _produce(mine)[0]))
    parcel = ParcelRef(produced.log, produced.seq, produced.hash, 0)
    halves = [("BW-A", 500, "7102.10"), ("BW-B", 500, "7102.10")]
    signed, _ = mine.transform([parcel.to_value()], halves, kind="split")
    made = ledger.add_entry(Entry(1, produced.hash, 1_790_000_086_400, signed))
    ledger.add_parcel(parcel, "BW-JW-0001", made)
    for out, (name, _, _) in enumerate(halves):
        ledger.add_parcel(ParcelRef(made.log, made.seq, made.hash, out), name, None)
    return ledger, parcel


def test_a_trace_follows_a_split_to_its_live_halves(split: tuple[_Ledger, ParcelRef]) -> None:
    ledger, parcel = split
    with _nodes([BW], ledger.route) as nodes:
        traced = trace(nodes, parcel, max_depth=8, max_parcels=100)
    assert (traced.visited, traced.truncated) == (3, False)
    step = traced.root.next
    assert step is not None
    assert (step.type, step.kind) == ("parcel.transform", "split")
    assert [p.parcel for p in step.parcels] == ["BW-A", "BW-B"]
    assert all(p.live and p.next is None for p in step.parcels)
    document = traced.to_json()
    assert document["trace"]["next"]["kind"] == "split"
    assert json.loads(json.dumps(document)) == document


def test_a_trace_stops_at_its_bound_and_says_so(split: tuple[_Ledger, ParcelRef]) -> None:
    ledger, parcel = split
    with _nodes([BW], ledger.route) as nodes:
        traced = trace(nodes, parcel, max_depth=0, max_parcels=100)
    assert (traced.visited, traced.truncated, traced.root.truncated) == (1, True, True)
    assert traced.to_json()["trace"]["truncated"] is True


# --- a member's disclosures ---------------------------------------------------------------------


def _certified(mine: Operator) -> tuple[Replay, str, dict[str, Any]]:
    signed, disclosures = mine.certify(
        "BW-2026-0001",
        exporter="mine",
        importing="EU",
        parcels=[["BW", 0, bytes(32), 0]],
        centicarats=1_000,
        hs_codes=["7102.10"],
        origins=["BW"],
        issued_on="2026-11-20",
        expires_on="2026-12-20",
        value_usd_cents=9_000_000,
        exporter_name="Okavango",
        importer_name="Antwerp",
        seal_number="S-1",
    )
    entry = Entry(1, GENESIS, 1, signed)
    digest = entry.leaf_hash
    accepted = Accepted(EntryRef("BW", 1, digest), entry, Effects())
    replay = Replay(state=None, accepted=(accepted,), findings=())  # type: ignore[arg-type]
    opened = {
        "entry_hash": digest.hex(),
        "member": "BW:mine",
        "fields": {
            f: {"salt": base64.b64encode(salt).decode(), "value": value}
            for f, (salt, value) in disclosures.items()
        },
        "refused": {},
    }
    return replay, digest.hex(), opened


def _read(
    mine: Operator, replay: Replay, entry: str, answer: object, status: int = 200
) -> tuple[Any, list[str]]:
    warnings: list[str] = []
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=answer))
    found = read_disclosed(
        [BW], 1.0, mine, [entry], "value_usd_cents", replay,
        on_warning=warnings.append, transport=transport,
    )  # fmt: skip
    return found, warnings


def test_a_disclosed_value_is_read_when_it_opens_its_commitment(mine: Operator) -> None:
    replay, entry, opened = _certified(mine)
    found, warnings = _read(mine, replay, entry, opened)
    assert (found.values, found.unread, warnings) == ({entry: 9_000_000}, {}, [])


def test_a_made_up_disclosed_value_is_left_out_and_told(mine: Operator) -> None:
    replay, entry, opened = _certified(mine)
    opened["fields"]["value_usd_cents"]["value"] = 1
    found, warnings = _read(mine, replay, entry, opened)
    assert found.values == {}
    assert found.unread == {"BW": {"disclosure.mismatch": 1}}
    assert warnings == [f"{BW}'s value_usd_cents of {entry} does not open its commitment"]


def test_malformed_disclosures_are_left_out_and_told(mine: Operator) -> None:
    replay, entry, opened = _certified(mine)
    found, warnings = _read(mine, replay, entry, {**opened, "fields": []})
    assert found.values == {}
    assert found.unread == {"BW": {"client.malformed": 1}}
    assert warnings == [f"{BW} served malformed disclosures of {entry}"]


def test_a_field_the_policy_refuses_is_counted_by_its_code(mine: Operator) -> None:
    replay, entry, opened = _certified(mine)
    del opened["fields"]["value_usd_cents"]
    opened["refused"] = {"value_usd_cents": "disclosure.not_entitled"}
    found, warnings = _read(mine, replay, entry, opened)
    assert (found.values, warnings) == ({}, [])
    assert found.unread == {"BW": {"disclosure.not_entitled": 1}}
    assert found.to_json() == {
        "field": "value_usd_cents",
        "read": 0,
        "unread": {"BW": {"disclosure.not_entitled": 1}},
    }


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "disclosure.aggregates_only"), (404, "disclosure.unknown")],
    ids=["refused", "held-nowhere"],
)
def test_an_entry_refused_whole_is_counted_not_a_crash(
    mine: Operator, status: int, code: str
) -> None:
    replay, entry, _ = _certified(mine)
    problem = {"code": code, "detail": "no", "status": status}
    found, warnings = _read(mine, replay, entry, problem, status)
    assert (found.values, warnings, found.unread_total) == ({}, [], 1)
    assert found.unread == {"BW": {code: 1}}
