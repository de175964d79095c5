"""The report's charts (client/report.py ``Chart``) drawn with matplotlib: SVG for the web, PNG
for the PDF.

Only the Agg and SVG backends are used, through ``Figure`` objects of their own (never pyplot's
global figures), so drawing needs no display and two requests of a node never share a figure.
The output is deterministic for the same chart (decision 0046): the SVG carries no date and its
element ids come from a fixed salt, the PNG no software tag; the rc settings that fix this are
global in matplotlib, so each drawing holds a lock while they apply.

matplotlib is the ``reports`` extra (``pip install 'kp-ledger[reports]'``), which the node's
extra includes for its statistics page; the verifier install does without it.
"""

from __future__ import annotations

import io
import threading
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from client.report import Chart

__all__ = ["PNG_DPI", "draw", "png", "svg"]

PNG_DPI = 150
"""Print resolution of the PDF's charts."""

# Okabe–Ito colours: told apart with the common colour-vision deficiencies.
_COLOURS = ("#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9")
_RC: dict[Any, Any] = {
    "svg.hashsalt": "kp-ledger-report",  # stable element ids instead of random ones
    "svg.fonttype": "none",  # text stays text: searchable, and smaller than glyph paths
    "font.family": "DejaVu Sans",  # matplotlib's own font: the same on every machine
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_LOCK = threading.Lock()


def draw(chart: Chart) -> Figure:
    """The chart as a matplotlib figure: grouped bars, quarters upright, the others sideways
    (partners and HS codes read better as rows)."""
    upright = chart.name == "quarters"
    rows = max(len(chart.categories), 1)
    bars = rows * max(len(chart.series), 1)
    height = 3.2 if upright else min(6.0, max(2.2, 0.9 + 0.22 * bars))  # fits an A4 page
    figure = Figure(figsize=(7.0, height), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(chart.title, loc="left", fontsize=10)
    if chart.empty:
        axes.text(0.5, 0.5, "nothing in this period", ha="center", va="center")
        axes.set_axis_off()
        return figure
    width = 0.8 / len(chart.series)
    positions = range(len(chart.categories))
    for n, series in enumerate(chart.series):
        offsets = [p - 0.4 + width * (n + 0.5) for p in positions]
        carats = [v / 100 for v in series.values]
        colour = _COLOURS[n % len(_COLOURS)]
        if upright:
            axes.bar(offsets, carats, width, label=series.label, color=colour)
        else:
            axes.barh(offsets, carats, width, label=series.label, color=colour)
    thousands = FuncFormatter(lambda value, _: f"{value:,.0f}")
    if upright:
        axes.set_xticks(list(positions), chart.categories)
        axes.yaxis.set_major_formatter(thousands)
        axes.set_ylabel("carats")
    else:
        axes.set_yticks(list(positions), chart.categories)
        axes.invert_yaxis()  # the first category on top, as in the tables
        axes.xaxis.set_major_formatter(thousands)
        axes.set_xlabel("carats")
    axes.legend(frameon=False, fontsize=8)
    return figure


def svg(chart: Chart) -> bytes:
    """The chart as an SVG document (no date, stable ids)."""
    # Each backend is loaded by the function that draws with it: a PDF needs no SVG, a page
    # no raster.
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    with _LOCK, mpl.rc_context(_RC):
        figure = draw(chart)
        buffer = io.BytesIO()
        FigureCanvasSVG(figure)
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def png(chart: Chart, dpi: int = PNG_DPI) -> bytes:
    """The chart as a PNG image at ``dpi`` (no software tag)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with _LOCK, mpl.rc_context(_RC):
        figure = draw(chart)
        buffer = io.BytesIO()
        FigureCanvasAgg(figure)
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
