"""``trace`` pages instead of cutting: where a bound stops it, the cursor names every parcel not
followed, and ``trace_from(cursor)`` goes on from exactly there, until the pages together are
the whole trace. Against one real node in-process (tests/support/asgi.py): a pool split again
and again, as a trading hub's stock is."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from client.errors import ClientError
from client.nodes import Nodes
from client.sdk import Operator
from client.trace import Trace, TracedParcel, cursor_text, parse_cursor, trace, trace_from
from node.core.encoding import encode
from node.core.receipt import Receipt
from node.core.records import ParcelRef, SignedRecord
from tests.support.asgi import Api

PRODUCED_ON = "2026-03-01"
ROUNDS = 7


@pytest.fixture
def nodes(api: Api) -> Iterator[Nodes]:
    with Nodes(["http://testserver"], timeout=5.0, transport=api.transport) as asked:
        yield asked


def _submit(api: Api, signed: SignedRecord) -> Receipt:
    response = api.post(
        "/v1/records",
        content=encode({"signed": signed.to_value()}),
        headers={"content-type": "application/msgpack"},
    )
    assert response.status_code == 200, response.text
    return Receipt.from_json(response.json())


def _value(ref: ParcelRef) -> list[Any]:
    return [ref.log, ref.seq, ref.hash, ref.out]


def _produce(api: Api, mine: Operator, name: str, centicarats: int) -> ParcelRef:
    signed, _ = mine.produce(
        name, centicarats=centicarats, hs_code="7102.10", produced_on=PRODUCED_ON
    )
    receipt = _submit(api, signed)
    return ParcelRef(receipt.log, receipt.seq, receipt.entry_hash, 0)


def _split(
    api: Api, mine: Operator, parcel: ParcelRef, outputs: list[tuple[str, int]]
) -> list[ParcelRef]:
    signed, _ = mine.transform(
        [_value(parcel)], [(name, ct, "7102.10") for name, ct in outputs], kind="split"
    )
    receipt = _submit(api, signed)
    return [ParcelRef(receipt.log, receipt.seq, receipt.entry_hash, i) for i in range(len(outputs))]


@pytest.fixture(scope="module")
def pool(api: Api, mine: Operator) -> ParcelRef:
    """A pool split ``ROUNDS`` times: each round one small export and the pool that goes on."""
    first = pool = _produce(api, mine, "BW-POOL-0", 10_000)
    left = 10_000
    for n in range(1, ROUNDS + 1):
        left -= 100
        _, pool = _split(api, mine, pool, [(f"BW-EXPORT-{n}", 100), (f"BW-POOL-{n}", left)])
    return first


def _parcels(parcel: TracedParcel) -> Iterator[TracedParcel]:
    yield parcel
    for child in () if parcel.next is None else parcel.next.parcels:
        yield from _parcels(child)


def _followed(traced: Trace) -> set[ParcelRef]:
    """The parcels of a page whose way on it shows (not those it leaves to the cursor)."""
    return {p.ref for root in traced.roots for p in _parcels(root) if not p.truncated}


def test_a_trace_within_its_bounds_is_whole(nodes: Nodes, pool: ParcelRef) -> None:
    whole = trace(nodes, pool, max_depth=64, max_parcels=1000)
    assert whole.cursor == ()
    assert not whole.truncated
    assert whole.visited == 1 + 2 * ROUNDS
    assert whole.to_json()["cursor"] is None


def test_a_deep_trace_pages_by_its_cursor_to_the_end(nodes: Nodes, pool: ParcelRef) -> None:
    whole = _followed(trace(nodes, pool, max_depth=64, max_parcels=1000))
    pages = [trace(nodes, pool, max_depth=2, max_parcels=1000)]
    while pages[-1].cursor:
        assert len(pages) < ROUNDS  # each page goes on: no page repeats the last
        cursor = parse_cursor(cursor_text(pages[-1].cursor), max_parcels=10)
        assert cursor == list(pages[-1].cursor)
        pages.append(trace_from(nodes, cursor, max_depth=2, max_parcels=1000))
    assert len(pages) == -(-ROUNDS // 2)  # two rounds a page
    first = pages[0].to_json()
    assert first["unfollowed"] == 1
    assert first["cursor"] == cursor_text(pages[0].cursor)
    # Each page's cursor is where the next page starts; together they are the whole trace.
    for before, after in itertools.pairwise(pages):
        assert tuple(r.ref for r in after.roots) == before.cursor
    followed = [_followed(page) for page in pages]
    assert set().union(*followed) == whole
    assert sum(len(f) for f in followed) == len(whole)  # no parcel followed twice


def test_outputs_past_max_parcels_are_in_the_cursor_not_dropped(
    api: Api, mine: Operator, nodes: Nodes
) -> None:
    parcel = _produce(api, mine, "BW-WIDE-0", 3_000)
    outputs = _split(api, mine, parcel, [(f"BW-WIDE-{n}", 1_000) for n in (1, 2, 3)])
    cut = trace(nodes, parcel, max_depth=64, max_parcels=2)
    step = cut.root.next
    assert step is not None
    assert [p.ref for p in step.parcels] == outputs[:1]
    assert step.unfollowed == tuple(outputs[1:])
    assert cut.cursor == tuple(outputs[1:])
    document = cut.to_json()["trace"]["next"]
    assert document["truncated"] is True
    assert document["unfollowed"] == [f"BW:{r.seq}:{r.hash.hex()}:{r.out}" for r in outputs[1:]]
    rest = trace_from(nodes, cut.cursor, max_depth=64, max_parcels=2)
    assert [r.ref for r in rest.roots] == outputs[1:]
    assert rest.cursor == ()
    assert "traces" in rest.to_json()


def test_a_page_full_before_its_last_root_keeps_the_rest_unread(
    api: Api, mine: Operator, nodes: Nodes
) -> None:
    parcels = [_produce(api, mine, f"BW-LIVE-{n}", 500) for n in range(3)]
    page = trace_from(nodes, parcels, max_depth=64, max_parcels=2)
    assert [r.ref for r in page.roots] == parcels[:2]
    assert page.cursor == (parcels[2],)


HASH = "ab" * 32


@pytest.mark.parametrize(
    "text",
    [
        "",
        " , ",
        f"BW:1:{HASH}",
        f"BW:1:{HASH}:0:1",
        f"bw:1:{HASH}:0",
        f"BW:-1:{HASH}:0",
        f"BW:1:{HASH.upper()}:0",
        f"BW:1:{HASH}:64",
        f"BW:{2**63}:{HASH}:0",
        f"BW:1:{HASH}:0," * 11,
    ],
)
def test_a_malformed_cursor_is_refused(text: str) -> None:
    with pytest.raises(ClientError) as refused:
        parse_cursor(text, max_parcels=10)
    assert refused.value.code == "trace.cursor"


def test_an_empty_cursor_traces_nothing(nodes: Nodes) -> None:
    with pytest.raises(ClientError) as refused:
        trace_from(nodes, [], max_depth=1, max_parcels=1)
    assert refused.value.code == "trace.cursor"
