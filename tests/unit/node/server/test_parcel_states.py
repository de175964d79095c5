"""``POST /v1/parcels/states`` over an in-process transport: many parcels' states in one
request, in order, each as the single parcel route answers it or null; and every hostile body
refused with a 4xx problem before any read, changing nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from client.sdk import Operator
from node.core.encoding import encode
from node.core.receipt import Receipt
from node.core.records import SignedRecord
from tests.support.asgi import Api

PRODUCED_ON = "2026-03-01"
ROUTE = "/v1/parcels/states"
HASH_ZERO = "00" * 32


def _submit(api: Api, signed: SignedRecord) -> Receipt:
    response = api.post(
        "/v1/records",
        content=encode({"signed": signed.to_value()}),
        headers={"content-type": "application/msgpack"},
    )
    assert response.status_code == 200, response.text
    return Receipt.from_json(response.json())


@dataclass(frozen=True)
class Held:
    consumed: list[Any]
    live: list[Any]
    split: Receipt


@pytest.fixture(scope="module")
def held(api: Api, mine: Operator) -> Held:
    """A parcel split in two (consumed), and another still live."""
    made = [
        _submit(
            api,
            mine.produce(name, centicarats=1_000, hs_code="7102.10", produced_on=PRODUCED_ON)[0],
        )
        for name in ("BW-STATES-1", "BW-STATES-2")
    ]
    consumed, live = ([r.log, r.seq, r.entry_hash.hex(), 0] for r in made)
    signed, _ = mine.transform(
        [[consumed[0], consumed[1], bytes.fromhex(consumed[2]), 0]],
        [("BW-STATES-1A", 600, "7102.10"), ("BW-STATES-1B", 400, "7102.10")],
        kind="split",
    )
    return Held(consumed, live, _submit(api, signed))


def _states(api: Api, refs: list[Any]) -> list[Any]:
    response = api.post(ROUTE, json={"parcels": refs})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answered = response.json()["parcels"]
    assert isinstance(answered, list)
    return answered


def _single(api: Api, ref: list[Any]) -> Any:
    response = api.get(f"/v1/parcels/{ref[0]}/{ref[1]}/{ref[3]}")
    assert response.status_code == 200, response.text
    return response.json()


def test_each_state_in_order_as_the_single_route_answers_it(api: Api, held: Held) -> None:
    split = held.split
    outputs = [[split.log, split.seq, split.entry_hash.hex(), out] for out in (0, 1)]
    asked = [held.consumed, held.live, *outputs, held.consumed]
    answered = _states(api, asked)
    assert answered == [_single(api, ref) for ref in asked]
    assert answered[0]["consumed_by"] == [split.log, split.seq, split.entry_hash.hex()]
    assert answered[1]["consumed_by"] is None
    assert [a["ref"] for a in answered] == asked


def test_a_parcel_not_held_is_null_in_its_place(api: Api, held: Held) -> None:
    elsewhere = [held.live[0], held.live[1], HASH_ZERO, 0]  # another entry at that place
    asked = [
        ["BW", 10**9, HASH_ZERO, 0],  # no entry there
        held.live,
        elsewhere,
        [held.live[0], held.live[1], held.live[2], 7],  # no such output
        ["ZZ", 0, HASH_ZERO, 0],  # no such log
    ]
    answered = _states(api, asked)
    assert [a is None for a in answered] == [True, False, True, True, True]


def test_the_full_bound_is_answered(api: Api, held: Held) -> None:
    limit = api.node.settings.max_parcel_states
    assert limit == 256
    answered = _states(api, [held.live] * limit)
    assert len(answered) == limit
    assert all(a == answered[0] for a in answered)


# --- hostile bodies: a 4xx problem, before any read, and nothing changes ------------------------


def _body(refs: Any) -> bytes:
    return json.dumps({"parcels": refs}).encode()


REF = ["BW", 0, HASH_ZERO, 0]

HOSTILE: list[tuple[str, Callable[[], bytes], dict[str, str], int, str]] = [
    ("no refs", lambda: _body([]), {}, 400, "request.batch_size"),
    ("one ref too many", lambda: _body([REF] * 257), {}, 400, "request.batch_size"),
    ("not json", lambda: b"\xc1\x00", {}, 400, "request.invalid"),
    ("json not an object", lambda: b"[]", {}, 400, "request.invalid"),
    ("parcels missing", lambda: b"{}", {}, 400, "request.invalid"),
    ("an extra field", lambda: b'{"parcels": [], "more": 1}', {}, 400, "request.invalid"),
    ("parcels not a list", lambda: b'{"parcels": "BW"}', {}, 400, "request.invalid"),
    ("ref short", lambda: _body([["BW", 0, HASH_ZERO]]), {}, 400, "request.invalid"),
    ("ref long", lambda: _body([[*REF, 0]]), {}, 400, "request.invalid"),
    ("seq a string", lambda: _body([["BW", "0", HASH_ZERO, 0]]), {}, 400, "request.invalid"),
    ("seq a bool", lambda: _body([["BW", True, HASH_ZERO, 0]]), {}, 400, "request.invalid"),
    ("seq a float", lambda: _body([["BW", 0.5, HASH_ZERO, 0]]), {}, 400, "request.invalid"),
    ("seq negative", lambda: _body([["BW", -1, HASH_ZERO, 0]]), {}, 400, "request.invalid"),
    ("seq past 2**63", lambda: _body([["BW", 2**63, HASH_ZERO, 0]]), {}, 400, "request.invalid"),
    ("out 64", lambda: _body([["BW", 0, HASH_ZERO, 64]]), {}, 400, "request.invalid"),
    ("hash short", lambda: _body([["BW", 0, "00", 0]]), {}, 400, "request.invalid"),
    ("hash upper case", lambda: _body([["BW", 0, "AB" * 32, 0]]), {}, 400, "request.invalid"),
    ("log lower case", lambda: _body([["bw", 0, HASH_ZERO, 0]]), {}, 400, "request.invalid"),
    ("log a number", lambda: _body([[1, 0, HASH_ZERO, 0]]), {}, 400, "request.invalid"),
    (
        "deeply nested",
        lambda: b'{"parcels": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        {},
        400,
        "request.invalid",
    ),
    ("over the body bound", lambda: b" " * (64 + 160 * 256 + 1), {}, 413, "request.too_large"),
    (
        "msgpack",
        lambda: encode({"parcels": []}),
        {"content-type": "application/msgpack"},
        415,
        "request.content_type",
    ),
    ("no content type", lambda: _body([REF]), {"content-type": ""}, 415, "request.content_type"),
]


def _log_state(api: Api) -> tuple[int, Any]:
    with api.node.store.read() as reader:
        log = reader.log("BW")
        return log.size(), log.latest_checkpoint()


@pytest.mark.parametrize(
    ("why", "body", "headers", "status", "code"), HOSTILE, ids=[row[0] for row in HOSTILE]
)
def test_a_hostile_body_is_a_problem_and_changes_nothing(
    api: Api,
    held: Held,
    why: str,
    body: Callable[[], bytes],
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = _log_state(api)
    response = api.post(
        ROUTE, content=body(), headers={"content-type": "application/json", **headers}
    )
    assert response.status_code == status, (why, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code, why
    assert _log_state(api) == before


def test_a_streamed_body_over_the_bound_is_refused_without_a_length(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 64 KiB, past the 41 KiB bound, with no Content-Length
            yield b" " * 1024

    before = _log_state(api)
    response = api.post(ROUTE, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "request.too_large"
    assert _log_state(api) == before
