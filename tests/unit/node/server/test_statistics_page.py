"""The explorer's statistics page over the in-process node: the report's figures from the node's
own statistics index, its charts as SVG files, no script and no inline style, and a clear
refusal of every parameter it cannot take."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx
import pytest

from client.report import AnnualReport, LogPoint, build_report
from client.report_html import chart_text
from client.sdk import Operator
from client.stats import parse_period
from node.core.encoding import encode
from node.engine.statistics import movements
from node.server import statistics_page
from tests.support.asgi import Api
from tests.support.html_check import check_page

PRODUCED = (("BW-STATS-1", 1_000, "2026-02-10"), ("BW-STATS-2", 2_500, "2026-08-20"))


@pytest.fixture(scope="module")
def produced(api: Api, mine: Operator) -> None:
    for parcel, centicarats, day in PRODUCED:
        signed, _ = mine.produce(
            parcel, centicarats=centicarats, hs_code="7102.10", produced_on=day
        )
        answer = api.post(
            "/v1/records",
            content=encode({"signed": signed.to_value()}),
            headers={"content-type": "application/msgpack"},
        )
        assert answer.status_code == 200, answer.text


def test_the_page_shows_the_reports_figures_from_the_nodes_index(api: Api, produced: None) -> None:
    answer = api.get("/statistics?participant=BW&period=2026")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = check_page(answer.text)
    assert {"header", "nav", "main", "footer", "h1"} <= page.seen
    assert '<meta name="viewport"' in answer.text
    assert page.inline == []
    assert "Statistics of BW, 2026" in answer.text
    # The same figures as the report computed here from the same index, at the sizes it states.
    stated = re.findall(r"--at ([A-Z]+):(\d+):([0-9a-f]{64})", answer.text)
    assert {log for log, _, _ in stated} >= {"BW"}
    as_of = re.search(r"--as-of (\d{4}-\d{2}-\d{2})", answer.text)
    assert as_of is not None
    report = _report_at(api, stated, as_of.group(1))
    assert report.figures.production.centicarats == 3_500
    assert "35.00 ct in 2 productions" in answer.text
    for table in report.tables():
        assert table.title in answer.text
    quarters = next(c for c in report.charts if c.name == "quarters")
    assert quarters.series[0].values == (1_000, 0, 2_500, 0)
    assert chart_text(quarters) in answer.text
    assert report.command in answer.text


def _report_at(api: Api, stated: list[tuple[str, str, str]], as_of: str) -> AnnualReport:
    with api.node.store.read() as reader:
        moves = list(movements(reader))
    return build_report(
        moves,
        participant="BW",
        period=parse_period(year="2026"),
        as_of=as_of,
        checkpoints=[LogPoint(log, int(size), bytes.fromhex(root)) for log, size, root in stated],
        network=api.node.settings.network,
        source="index",
    )


def test_each_chart_is_an_svg_file(api: Api, produced: None) -> None:
    page = check_page(api.get("/statistics?participant=BW&period=2026").text)
    assert len(page.images) == 3
    for source in page.images:
        assert source.startswith("/statistics/charts/")
        answer = api.get(source.replace("&amp;", "&"))
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/svg+xml"
        root = ET.fromstring(answer.content)  # noqa: S314  (our own node's chart)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert b"<script" not in answer.content


def test_the_stylesheet_is_a_file(api: Api) -> None:
    answer = api.get("/statistics/statistics.css")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/css")
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)"', api.get("/statistics").text)
    # The frame's stylesheet, then its own.
    assert links == ["/static/explorer.css", "/statistics/statistics.css"]


def test_the_defaults_are_this_nodes_participant_and_year(api: Api, produced: None) -> None:
    answer = api.get("/statistics")
    assert answer.status_code == 200
    assert re.search(r"Statistics of BW, \d{4}", answer.text)


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        pytest.param("period=2026Q5", 400, "not a quarter", id="no-fifth-quarter"),
        pytest.param("period=2026H3", 400, "not a half-year", id="no-third-half"),
        pytest.param("period=20261", 400, "not a year", id="five-digit-year"),
        pytest.param("period=1900", 400, "outside", id="year-out-of-range"),
        pytest.param("period=" + "9" * 5000, 400, "not a year", id="long-period"),
        pytest.param("participant=eu", 400, "not an id", id="lower-case-participant"),
        pytest.param("participant=%3Cscript%3E", 400, "not an id", id="markup-participant"),
        pytest.param("participant=ZZ", 404, "no log of ZZ", id="participant-not-held"),
    ],
)
def test_parameters_it_cannot_take_are_refused(
    api: Api, query: str, status: int, says: str
) -> None:
    for path in ("/statistics", "/statistics/charts/quarters.svg"):
        answer = api.get(f"{path}?{query}")
        assert answer.status_code == status, (path, answer.text[:200])
        assert says in answer.text
        if path == "/statistics":  # the chart's refusal is text/plain: no markup to escape
            assert "<script>" not in answer.text


def test_an_unknown_chart_is_not_found(api: Api) -> None:
    for name in ("pie", "QUARTERS", "a" * 40):
        assert api.get(f"/statistics/charts/{name}.svg?participant=BW").status_code == 404


def test_the_page_is_refused_as_text_not_markup(api: Api) -> None:
    answer = api.get("/statistics?period=%3Cmark%3E")
    assert answer.status_code == 400
    assert "<mark>" not in answer.text
    assert "&lt;mark&gt;" in answer.text
    check_page(answer.text)


def test_a_page_over_httpx_transport_is_the_same(api: Api, produced: None) -> None:
    with httpx.Client(transport=api.transport, base_url="http://testserver") as client:
        again = client.get("/statistics", params={"participant": "BW", "period": "2026H2"})
    assert again.status_code == 200
    assert "Statistics of BW, 2026H2" in again.text
    assert "25.00 ct in 1 productions" in again.text


def test_one_computation_at_a_time_others_are_told_to_come_back(api: Api, produced: None) -> None:
    assert api.get("/statistics?participant=BW&period=2026").status_code == 200
    # The page's own lock, held as a computation in another request would hold it.
    with statistics_page._REPORTS._computing:
        busy = api.get("/statistics?participant=BW&period=2026Q1")
        chart = api.get("/statistics/charts/quarters.svg?participant=BW&period=2026Q1")
        cached = api.get("/statistics?participant=BW&period=2026")  # computed before: kept
    assert busy.status_code == 503
    assert "try again" in busy.text
    check_page(busy.text)
    assert (chart.status_code, chart.json()["code"]) == (503, "statistics.busy")
    assert cached.status_code == 200
    assert api.get("/statistics?participant=BW&period=2026Q1").status_code == 200
