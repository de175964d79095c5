"""The HTTP API over an in-process transport: one real node, no listener.

BW's node is the application ``kp-node run`` serves (``create_app``, its lifespan starting the
sequencer process on the real LMDB store), driven through Starlette's in-process transport, so
each route's answer — status, content type, problem code — is checked without ports. EU's data
directory, never served, signs the checkpoints posted to BW's witness endpoint. Peers are not
running: what needs one (a witness catching up) answers that it cannot yet.

The application runs in an event loop of its own (tests/support/asgi.py), lifespan entered
once for the module.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import httpx

from client.sdk import Operator
from node.core import crypto, merkle, notes
from node.core.bundle import Bundle
from node.core.encoding import encode
from node.core.receipt import Receipt
from node.core.records import SignedRecord
from node.engine.datadir import DataDir
from node.engine.ledger import LedgerNode
from tests.support.asgi import Api

PRODUCED_ON = "2026-03-01"


def _submit(api: Api, signed: SignedRecord) -> httpx.Response:
    return api.post(
        "/v1/records",
        content=encode({"signed": signed.to_value()}),
        headers={"content-type": "application/msgpack"},
    )


def _produced(api: Api, mine: Operator, parcel: str) -> Receipt:
    signed, _ = mine.produce(parcel, centicarats=1_000, hs_code="7102.10", produced_on=PRODUCED_ON)
    response = _submit(api, signed)
    assert response.status_code == 200, response.text
    return Receipt.from_json(response.json())


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


# --- submission and reads -----------------------------------------------------------------------


def test_a_submitted_record_gets_a_receipt_that_verifies(api: Api, mine: Operator) -> None:
    receipt = _produced(api, mine, "BW-API-1")
    signed = notes.SignedCheckpoint.parse(receipt.checkpoint)
    entry = api.get(f"/v1/logs/BW/entries?start={receipt.seq}&end={receipt.seq + 1}")
    assert entry.status_code == 200
    merkle.verify_inclusion(
        receipt.entry_hash, receipt.seq, signed.size, list(receipt.proof), signed.root
    )


def test_the_same_record_twice_is_one_entry(api: Api, mine: Operator) -> None:
    signed, _ = mine.produce(
        "BW-API-2", centicarats=1_000, hs_code="7102.10", produced_on=PRODUCED_ON
    )
    first, again = _submit(api, signed), _submit(api, signed)
    assert first.status_code == again.status_code == 200
    assert Receipt.from_json(again.json()) == Receipt.from_json(first.json())


def test_logs_checkpoint_entry_and_provenance_agree(api: Api, mine: Operator) -> None:
    receipt = _produced(api, mine, "BW-API-3")
    logs = {item["log"]: item for item in api.get("/v1/logs").json()}
    assert logs["BW"]["size"] > receipt.seq
    # Nobody witnesses here: the newest signed checkpoint exists, no witnessed one does.
    _problem(api.get("/v1/logs/BW/checkpoint"), 404, "checkpoint.unwitnessed")
    latest = api.get("/v1/logs/BW/checkpoint?latest=1")
    assert latest.status_code == 200
    assert notes.SignedCheckpoint.parse(latest.text).size >= receipt.seq + 1
    entry = api.get(f"/v1/entries/{receipt.entry_hash.hex()}").json()
    assert (entry["log"], entry["seq"]) == ("BW", receipt.seq)
    bundle = Bundle.parse(api.get(f"/v1/provenance/{receipt.entry_hash.hex()}").content)
    assert receipt.entry_hash in {item.hash for item in bundle.entries}


def test_an_unknown_entry_is_a_problem(api: Api) -> None:
    _problem(api.get(f"/v1/entries/{'00' * 32}"), 404, "entry.unknown")


def test_a_record_signed_by_a_stranger_is_refused_with_the_rule(api: Api) -> None:
    stranger = Operator("BW", "mine", crypto.generate_private_key())
    signed, _ = stranger.produce(
        "BW-API-X", centicarats=1_000, hs_code="7102.10", produced_on=PRODUCED_ON
    )
    _problem(_submit(api, signed), 422, "signature.invalid")


def test_a_body_that_is_not_msgpack_is_a_problem(api: Api) -> None:
    response = api.post(
        "/v1/records", content=b"\xc1", headers={"content-type": "application/msgpack"}
    )
    _problem(response, 400, "encoding.malformed")


# --- the witness endpoint maps each judgement to its answer ---------------------------------------


def _eu_checkpoint(network: dict[str, Any]) -> str:
    node = LedgerNode.open(DataDir(network["root"] / "EU"))
    try:
        with node.store.read() as reader:
            latest = reader.log("EU").latest_checkpoint()
    finally:
        node.close()
    assert latest is not None
    return latest[1]


def _add_checkpoint(api: Api, old: int, note: str, proof: Sequence[bytes] = ()) -> httpx.Response:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return api.post("/witness/add-checkpoint", content="\n".join(lines) + "\n\n" + note)


def test_a_malformed_request_is_400(api: Api) -> None:
    response = api.post("/witness/add-checkpoint", content="no blank line")
    _problem(response, 400, "witness.malformed")


def test_a_checkpoint_of_no_member_is_404(api: Api, network: dict[str, Any]) -> None:
    key = crypto.generate_private_key()
    note = notes.sign_note(notes.Checkpoint("kp.devnet/XX", 1, b"\0" * 32).to_text(), "XX", key)
    _problem(_add_checkpoint(api, 0, note), 404, "witness.unknown_origin")


def test_a_checkpoint_not_signed_by_the_log_is_403(api: Api, network: dict[str, Any]) -> None:
    signed = notes.SignedCheckpoint.parse(_eu_checkpoint(network))
    forger = crypto.generate_private_key()
    name = signed.signatures[0].name
    note = notes.sign_note(signed.checkpoint.to_text(), name, forger)
    _problem(_add_checkpoint(api, 0, note), 403, "witness.bad_signature")


def test_a_stale_old_size_is_409_with_the_size_cosigned(api: Api, network: dict[str, Any]) -> None:
    response = _add_checkpoint(api, 1, _eu_checkpoint(network))
    assert response.status_code == 409
    assert response.headers["content-type"] == "text/x.tlog.size"
    assert response.text == "0\n"


def test_a_log_the_witness_cannot_fetch_yet_is_503(api: Api, network: dict[str, Any]) -> None:
    _problem(_add_checkpoint(api, 0, _eu_checkpoint(network)), 503, "witness.not_ready")
