"""The explorer's statistics page (``GET /statistics``): a participant's Annex III tables, charts
and anomalies for a year, a half or a quarter, from this node's own statistics index.

The figures are the annual report's (client/report.py ``build_report``, decision 0046), over the
movements node/engine/statistics.py keeps and the logs' sizes and roots in the same read
snapshot, so the page states the checkpoints it counted and the ``kp report annual`` command
that recomputes it from the logs. The charts are the report's too (client/charts.py), served as
SVG files under ``/statistics/charts/``; the page has no script and no inline style (the node's
Content-Security-Policy allows neither): its stylesheet is the report's, at
``/statistics/statistics.css``.

Bounded work: the parameters are a participant id this node holds a log of and a preset
period, refused with 400 otherwise; one computation reads the index once (a full pass over it,
about a second for a 62,000-record year on two shared cores), and its result, with its drawn
charts, is kept for that snapshot of the logs, so the page and its three charts cost one
computation, and a reload nothing until the logs grow. Only one computation runs at a time: a
request that would start another while one runs is answered 503, so however many ask, the
page takes at most one thread and one core.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from client.report import AnnualReport, Chart, LogPoint, build_report
from client.report_html import STYLESHEET, environment
from client.stats import Period, PeriodError, parse_period
from node.core.clock import today
from node.core.errors import ApiError
from node.engine.ledger import LedgerNode
from node.engine.statistics import movements
from node.engine.store import StoreReader
from node.server.explorer._layout import TEMPLATES

__all__ = [
    "CACHED_REPORTS",
    "router",
    "statistics_chart",
    "statistics_page",
    "statistics_stylesheet",
]

router = APIRouter()

CACHED_REPORTS = 16
"""Reports kept, each for one snapshot of the logs, participant and period."""

_PARTICIPANT = re.compile(r"[A-Z]{2,8}")
_CHART = re.compile(r"[a-z_]{1,16}")
# The explorer's frame (header, navigation, search, footer) around the report's body.
_ENVIRONMENT = environment(TEMPLATES)


class _RefusedError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Computed:
    """One report and the charts drawn of it so far."""

    def __init__(self, report: AnnualReport) -> None:
        self.report = report
        self.svg: dict[str, bytes] = {}


class _Reports:
    """The reports computed lately, by (logs' sizes, participant, period, as-of day)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[object, ...], _Computed] = OrderedDict()
        self._computing = threading.Lock()

    def get(self, node: LedgerNode, participant: str, period: Period) -> _Computed:
        as_of = min(today(node.clock), period.end)
        with node.store.read() as reader:
            logs = sorted(reader.logs())
            if participant not in logs:
                raise _RefusedError(404, f"this node holds no log of {participant}")
            sizes = tuple((log, reader.log_size(log)) for log in logs)
            key = (id(node), sizes, participant, period.label, as_of)
            with self._lock:
                if key in self._kept:
                    self._kept.move_to_end(key)
                    return self._kept[key]
            # One computation at a time, whoever asks: requests for other participants or
            # periods while one runs are told to come back, rather than each taking a core.
            if not self._computing.acquire(blocking=False):
                raise _RefusedError(503, "another statistics page is being computed: try again")
            try:
                points = [LogPoint(log, size, reader.log(log).root(size)) for log, size in sizes]
                computed = self._compute(node, reader, participant, period, as_of, points)
            finally:
                self._computing.release()
        with self._lock:
            self._kept[key] = computed
            while len(self._kept) > CACHED_REPORTS:
                self._kept.popitem(last=False)
        return computed

    @staticmethod
    def _compute(
        node: LedgerNode,
        reader: StoreReader,
        participant: str,
        period: Period,
        as_of: str,
        points: list[LogPoint],
    ) -> _Computed:
        charter = node.trusted_charter()
        return _Computed(
            build_report(
                list(movements(reader)),
                participant=participant,
                period=period,
                as_of=as_of,
                checkpoints=points,
                network=node.settings.network,
                source="index",
                tolerance_ppm=charter.policy.mass_tolerance_ppm if charter else 0,
            )
        )

    def chart(self, computed: _Computed, chart: Chart) -> bytes:
        from client import charts  # matplotlib, loaded when a chart is first asked for

        with self._lock:
            found = computed.svg.get(chart.name)
        if found is None:
            found = charts.svg(chart)
            with self._lock:
                computed.svg[chart.name] = found
        return found


_REPORTS = _Reports()


def _period(text: str | None, node: LedgerNode) -> Period:
    label = text or today(node.clock)[:4]
    kind = "half" if "H" in label else "quarter" if "Q" in label else "year"
    try:
        return parse_period(**{kind: label})
    except PeriodError as exc:
        raise _RefusedError(
            400, f"period: {exc} (a year 2026, a half 2026H1 or a quarter 2026Q3)"
        ) from exc


def _participant(text: str | None, node: LedgerNode) -> str:
    participant = text or node.log
    if not _PARTICIPANT.fullmatch(participant):
        raise _RefusedError(400, f"participant: {participant[:8]!r} is not an id like EU")
    return participant


# Any text is taken and judged here, so every refusal of the page is a page (not problem+json).
_Participant = Annotated[str | None, Query(description="participant id (default: this node's)")]
_Period = Annotated[str | None, Query(description="2026, 2026H1 or 2026Q3 (default: this year)")]
_HTML_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "not a participant id or a period", "content": {"text/html": {}}},
    404: {"description": "no log of that participant on this node", "content": {"text/html": {}}},
    503: {"description": "another statistics page is being computed", "content": {"text/html": {}}},
}
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "not a participant id or a period"},
    404: {"description": "no such chart, or no log of that participant"},
    503: {"description": "another statistics page is being computed"},
}


@router.get("/statistics", response_class=HTMLResponse, tags=["explorer"], responses=_HTML_ERRORS)
def statistics_page(
    request: Request, participant: _Participant = None, period: _Period = None
) -> HTMLResponse:
    """A participant's KP statistics for a period (default: this node's, this year): tables,
    charts and anomalies, with the checkpoints they were computed from."""
    node: LedgerNode = request.app.state.node
    shown = {"asked_participant": (participant or node.log)[:8], "period": (period or "")[:6]}
    try:
        who, when = _participant(participant, node), _period(period, node)
        report = _REPORTS.get(node, who, when).report
    except _RefusedError as refused:
        return _page(node, refused.status, error=refused.detail, heading="Statistics", **shown)
    query = urlencode({"participant": who, "period": when.label})
    return _page(
        node,
        200,
        report=report,
        figures=report.figures,
        tables=report.tables(),
        chart_src=lambda chart: f"/statistics/charts/{chart.name}.svg?{query}",
        heading=f"Statistics of {who}, {when.label}",
        asked_participant=who,
        period=when.label,
    )


@router.get(
    "/statistics/charts/{name}.svg",
    response_class=Response,
    tags=["explorer"],
    responses={200: {"content": {"image/svg+xml": {}}}, **_PROBLEMS},
)
def statistics_chart(
    request: Request, name: str, participant: _Participant = None, period: _Period = None
) -> Response:
    """One chart of the statistics page (``quarters``, ``partners``, ``hs_mix``) as SVG."""
    node: LedgerNode = request.app.state.node
    try:
        who, when = _participant(participant, node), _period(period, node)
        if not _CHART.fullmatch(name):
            raise _RefusedError(404, "no such chart")
        computed = _REPORTS.get(node, who, when)
        chart = next((c for c in computed.report.charts if c.name == name), None)
        if chart is None:
            raise _RefusedError(404, f"no chart {name}: quarters, partners or hs_mix")
    except _RefusedError as refused:
        code = {400: "request.invalid", 503: "statistics.busy"}.get(
            refused.status, "statistics.not_found"
        )
        raise ApiError(refused.detail, code=code, status=refused.status) from refused
    return Response(_REPORTS.chart(computed, chart), media_type="image/svg+xml")


@router.get(
    "/statistics/statistics.css",
    response_class=Response,
    tags=["explorer"],
    responses={200: {"content": {"text/css": {}}}},
)
def statistics_stylesheet() -> Response:
    """The statistics page's stylesheet (the annual report's)."""
    return Response(STYLESHEET.read_bytes(), media_type="text/css; charset=utf-8")


def _page(node: LedgerNode, status: int, **context: object) -> HTMLResponse:
    context.setdefault("error", None)
    genesis = node.genesis()
    body = _ENVIRONMENT.get_template("statistics.html").render(
        participant=node.log,
        network=node.settings.network,
        genesis=genesis.hex() if genesis else None,
        query="",
        nav="statistics",
        **context,
    )
    return HTMLResponse(body, status_code=status)
