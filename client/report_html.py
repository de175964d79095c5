"""The annual report (client/report.py) as HTML: a page, its stylesheet and its charts as files.

``write_html`` writes ``report.html`` and, beside it, ``report_files/`` with ``report.css`` and
one SVG per chart, referenced by ``<link>`` and ``<img>``: the page has no script, no ``<style>``
element and no ``style`` attribute, so it shows under a strict Content-Security-Policy wherever
it is served, and the SVGs (whose drawing uses style attributes) are images, not markup of the
page. The templates (``client/templates/``) are Jinja2 with autoescaping, so every value is text;
the node's statistics page renders the same ``_report_body.html`` (node/server/statistics_page.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from client.report import AnnualReport, Chart
from client.stats import Column

__all__ = [
    "SHOWN_ENTRIES",
    "STYLESHEET",
    "TEMPLATES",
    "carats",
    "cell",
    "chart_text",
    "environment",
    "render",
    "write_html",
]

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = TEMPLATES / "report.css"
_NUMERIC = ("centicarats", "usd_cents", "count")
SHOWN_ENTRIES = 100
"""Entries listed under an anomaly in the HTML and the PDF; the JSON report lists every one
(a period-over-period change names every movement of the flow: thousands in a year)."""


def carats(centicarats: int | None) -> str:
    return "" if centicarats is None else f"{centicarats / 100:,.2f} ct"


def cell(column: Column, value: Any) -> str:
    """A table cell as text: carats and dollars with two decimals, a value the reader could not
    read as ``sealed``, entry hashes shortened (the anomalies list gives them whole)."""
    if column.kind == "usd_cents":
        return "sealed" if value is None else f"${value / 100:,.2f}"
    if column.kind == "centicarats":
        return f"{value / 100:,.2f}"
    if column.kind == "entries":
        shown = [h[:16] for h in value[:3]]
        return " ".join(shown) + (f" and {len(value) - 3} more" if len(value) > 3 else "")
    return "" if value is None else str(value)


def chart_text(chart: Chart) -> str:
    """The chart's figures in words, for its ``alt`` text."""
    if chart.empty:
        return "nothing in this period"
    parts = []
    for series in chart.series:
        shown = ", ".join(
            f"{c} {v / 100:,.2f}" for c, v in zip(chart.categories, series.values, strict=True)
        )
        parts.append(f"{series.label}: {shown}")
    return "; ".join(parts)


def environment(*extra: Path) -> Environment:
    """The templates (``extra`` directories first), autoescaped, with the report's filters."""
    found = Environment(
        loader=FileSystemLoader([*extra, TEMPLATES]),
        autoescape=True,  # every value is text, never markup
        undefined=StrictUndefined,  # a misspelt name fails the render (and its test)
        trim_blocks=True,
        lstrip_blocks=True,
    )
    found.filters["carats"] = carats
    found.globals.update(
        cell=cell, chart_text=chart_text, zip=zip, numeric=_NUMERIC, shown_entries=SHOWN_ENTRIES
    )
    return found


_ENVIRONMENT = environment()


def render(report: AnnualReport, *, chart_src: Callable[[Chart], str], stylesheet: str) -> str:
    """The report page, its charts at ``chart_src(chart)`` and its stylesheet at ``stylesheet``."""
    return _ENVIRONMENT.get_template("report.html").render(
        report=report,
        figures=report.figures,
        tables=report.tables(),
        chart_src=chart_src,
        stylesheet=stylesheet,
    )


def write_html(report: AnnualReport, target: Path) -> list[Path]:
    """``target`` and, in ``<stem>_files/`` beside it, the stylesheet and one SVG per chart.

    Returns the files written.
    """
    from client import charts  # matplotlib: drawn only when a report is written

    assets = target.with_name(f"{target.stem}_files")
    assets.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in report.charts:
        path = assets / f"{chart.name}.svg"
        path.write_bytes(charts.svg(chart))
        written.append(path)
    css = assets / "report.css"
    css.write_bytes(STYLESHEET.read_bytes())
    page = render(
        report,
        chart_src=lambda chart: f"{assets.name}/{chart.name}.svg",
        stylesheet=f"{assets.name}/report.css",
    )
    target.write_text(page, encoding="utf-8")
    return [target, css, *written]
