"""``GET /v1/statistics/movements`` and ``GET /v1/statistics/digest`` on BW's real application
in-process: bounded pages, 400 on what is not a cursor, a limit or a size, and the client's
fetch over them (client/annex.py)."""

from __future__ import annotations

import base64

import httpx
import pytest

from client.annex import fetch_movements
from client.nodes import Nodes
from client.sdk import LedgerClient, Operator
from node.core.encoding import decode
from node.core.movements import chain_digest
from tests.support.asgi import Api

PRODUCED_ON = "2026-03-02"


@pytest.fixture(scope="module")
def produced(api: Api, mine: Operator) -> int:
    """Five productions appended to BW's log; how many."""
    client = LedgerClient("http://bw.test", transport=api.transport)
    for n in range(5):
        signed, _ = mine.produce(
            f"BW-STATS-{n}", centicarats=1_000 + n, hs_code="7102.10", produced_on=PRODUCED_ON
        )
        client.submit(signed)
    return 5


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def _rows(page: dict[str, object]) -> list[dict[str, object]]:
    return [decode(base64.b64decode(r), max_size=1 << 16) for r in page["rows"]]  # type: ignore[attr-defined, misc]


def test_pages_of_movements_go_on_from_their_cursor(api: Api, produced: int) -> None:
    first = api.get("/v1/statistics/movements?limit=2").json()
    assert [r["kind"] for r in _rows(first)] == ["production", "production"]
    assert first["next"] == f"BW:{_rows(first)[-1]['entry'][1]}"  # type: ignore[index]
    rest = api.get(f"/v1/statistics/movements?after={first['next']}&limit=5000").json()
    rows = _rows(first) + _rows(rest)
    assert [r["hs"] for r in rows] == [[["7102.10", 1_000 + n]] for n in range(produced)]
    assert rest["next"] is None
    assert rest["sizes"]["BW"] > produced  # the adoption and registrations have no rows
    assert set(rows[0]) == {"kind", "participant", "date", "recorded_on", "entry", "hs", "origins",
                            "mine"}  # fmt: skip
    assert all("value_usd_cents" not in row for row in rows)  # public fields only


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("limit=0", id="limit-0"),
        pytest.param("limit=5001", id="limit-beyond-the-bound"),
        pytest.param("limit=-1", id="limit-negative"),
        pytest.param("limit=ten", id="limit-not-a-number"),
        pytest.param("after=BW", id="cursor-without-seq"),
        pytest.param("after=bw:1", id="cursor-lower-case"),
        pytest.param("after=BW:-1", id="cursor-negative"),
        pytest.param("after=BW:99999999999999999999", id="cursor-beyond-u63"),
        pytest.param("after=" + "A" * 41, id="cursor-too-long"),
    ],
)
def test_a_page_request_that_is_not_one_is_400(api: Api, query: str) -> None:
    _problem(api.get(f"/v1/statistics/movements?{query}"), 400, "request.invalid")


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("log=BW", id="no-size"),
        pytest.param("size=3", id="no-log"),
        pytest.param("log=bw&size=3", id="log-lower-case"),
        pytest.param("log=BW&size=-1", id="size-negative"),
        pytest.param("log=BW&size=9223372036854775808", id="size-beyond-u63"),
    ],
)
def test_a_digest_request_that_is_not_one_is_400(api: Api, query: str) -> None:
    _problem(api.get(f"/v1/statistics/digest?{query}"), 400, "request.invalid")


def test_the_digest_is_that_of_the_rows_below_the_size(api: Api, produced: int) -> None:
    page = api.get("/v1/statistics/movements?limit=5000").json()
    client = LedgerClient("http://bw.test", transport=api.transport)
    rows = client.statistics_movements(limit=5000).rows
    expected = None
    for row in rows:
        expected = chain_digest(expected, row.encode())  # the canonical bytes, as served
    assert page["digests"]["BW"] == expected.hex()  # type: ignore[union-attr]
    whole = client.statistics_digest("BW", 2**63 - 1)
    assert (whole.size, whole.digest) == (page["sizes"]["BW"], expected)
    assert client.statistics_digest("BW", rows[0].entry.seq).digest is None
    assert client.statistics_digest("ZZ", 5).digest is None


def test_the_client_fetches_every_movement_and_says_it_could_not_compare(
    api: Api, produced: int
) -> None:
    warnings: list[str] = []
    with Nodes(["http://bw.test"], timeout=10, transport=api.transport) as nodes:
        fetched = fetch_movements(nodes, on_warning=warnings.append)
    assert [r.centicarats for r in fetched.rows] == [1_000 + n for n in range(produced)]
    assert fetched.checked_with is None
    assert any("not cross-checked" in w for w in warnings)


class _TwoNodes(httpx.BaseTransport):
    """BW's real application at bw.test; at other.test a node that serves BW's digests as
    ``digest`` says (a lying or a lagging copy)."""

    def __init__(self, api: Api, digest: object, size: int | None = None) -> None:
        self._api = api
        self._digest = digest
        self._size = size

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "bw.test":
            return self._api.transport.handle_request(request)
        if request.url.path != "/v1/statistics/digest":
            return httpx.Response(404, json={"code": "route.unknown", "detail": "-"})
        size = self._size if self._size is not None else int(request.url.params["size"])
        return httpx.Response(200, json={"log": "BW", "size": size, "digest": self._digest})


def test_two_nodes_that_agree(api: Api, produced: int) -> None:
    honest = api.get("/v1/statistics/movements?limit=5000").json()["digests"]["BW"]
    with Nodes(["http://bw.test", "http://other.test"], timeout=10,
               transport=_TwoNodes(api, honest)) as nodes:  # fmt: skip
        fetched = fetch_movements(nodes)
    assert fetched.checked_with == "http://other.test"
    assert fetched.findings == ()
    assert fetched.compared["BW"] == fetched.sizes["BW"]


def test_a_node_that_disagrees_is_named(api: Api, produced: int) -> None:
    with Nodes(["http://bw.test", "http://other.test"], timeout=10,
               transport=_TwoNodes(api, "ab" * 32)) as nodes:  # fmt: skip
        fetched = fetch_movements(nodes)
    [finding] = fetched.findings
    assert finding.code == "stats.digest_mismatch"
    assert "http://bw.test and http://other.test disagree" in finding.detail


def test_a_node_that_holds_less_is_compared_on_what_it_holds(api: Api, produced: int) -> None:
    rows = LedgerClient("http://bw.test", transport=api.transport).statistics_movements().rows
    cut = rows[2].entry.seq  # it holds BW below the third production
    expected = None
    for row in rows[:2]:
        expected = chain_digest(expected, row.encode())
    with Nodes(["http://bw.test", "http://other.test"], timeout=10,
               transport=_TwoNodes(api, expected.hex(), size=cut)) as nodes:  # type: ignore[union-attr]  # fmt: skip
        fetched = fetch_movements(nodes)
    assert fetched.findings == ()
    assert fetched.compared["BW"] == cut
