"""``LedgerClient.parcel_states``: a long list goes out in bounded requests, in order, and an
answer of the wrong length or about another parcel is refused as malformed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from client.errors import MalformedAnswerError, ProblemError
from client.sdk import PARCEL_STATES_PER_REQUEST, LedgerClient
from node.core.records import ParcelRef
from node.core.state import ParcelState
from node.server.schemas import parcel_model

HASH = bytes(range(32))


def _state(ref: list[Any]) -> dict[str, Any]:
    log, seq, digest, out = ref
    parcel = ParcelState(
        ref=ParcelRef(log, seq, bytes.fromhex(digest), out),
        parcel=f"P-{seq}",
        holder="mine",
        centicarats=1_000,
        hs_code="7102.10",
        origins=(log,),
        basis=1_000,
        consumed_by=None,
        transfers=(),
    )
    return parcel_model(parcel).model_dump()


Answer = Callable[[list[Any]], list[Any]]


def _node(answer: Answer, bodies: list[list[Any]]) -> httpx.MockTransport:
    """A node whose batch route answers ``answer(refs)``; every body asked is kept."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/v1/parcels/states")
        assert request.headers["content-type"] == "application/json"
        refs = json.loads(request.content)["parcels"]
        bodies.append(refs)
        if len(refs) > PARCEL_STATES_PER_REQUEST:
            return httpx.Response(400, json={"code": "request.batch_size", "detail": "too many"})
        return httpx.Response(200, json={"parcels": answer(refs)})

    return httpx.MockTransport(handle)


def _refs(count: int) -> list[ParcelRef]:
    return [ParcelRef("BW", seq, HASH, seq % 2) for seq in range(count)]


def _known_even(refs: list[Any]) -> list[Any]:
    return [_state(ref) if ref[1] % 2 == 0 else None for ref in refs]


def test_a_long_list_goes_out_in_bounded_requests_and_comes_back_in_order() -> None:
    bodies: list[list[Any]] = []
    asked = _refs(600)
    with LedgerClient("http://node", transport=_node(_known_even, bodies)) as client:
        states = client.parcel_states(asked)
    assert [len(body) for body in bodies] == [256, 256, 88]
    assert len(states) == 600
    for ref, state in zip(asked, states, strict=True):
        assert (state is None) == (ref.seq % 2 == 1)
        assert state is None or state.ref == ref


def test_no_parcels_is_no_request() -> None:
    bodies: list[list[Any]] = []
    with LedgerClient("http://node", transport=_node(_known_even, bodies)) as client:
        assert client.parcel_states([]) == []
    assert bodies == []


@pytest.mark.parametrize(
    ("why", "answer"),
    [
        ("one state short", lambda refs: _known_even(refs)[:-1]),
        ("one state too many", lambda refs: [*_known_even(refs), None]),
        (
            "another parcel's state",
            lambda refs: [_state([r[0], r[1] + 1, r[2], r[3]]) for r in refs],
        ),
        ("a state of another hash", lambda refs: [_state([*r[:2], "ab" * 32, r[3]]) for r in refs]),
        ("a malformed state", lambda refs: [{"ref": r} for r in refs]),
    ],
)
def test_an_answer_that_does_not_fit_the_question_is_malformed(why: str, answer: Answer) -> None:
    with (
        LedgerClient("http://node", transport=_node(answer, [])) as client,
        pytest.raises(MalformedAnswerError),
    ):
        client.parcel_states(_refs(4))


def test_a_node_with_a_lower_bound_refuses_with_its_code() -> None:
    with (
        LedgerClient("http://node", transport=_node(_known_even, [])) as client,
        pytest.raises(ProblemError) as refused,
    ):
        client.parcel_states(_refs(300), per_request=300)
    assert refused.value.code == "request.batch_size"
