"""The annual report (client/report.py) as a PDF, with fpdf2: the same sections as the HTML —
summary, charts (PNG at ``charts.PNG_DPI``), the Annex III tables, the anomalies with the entries
behind each, and the checkpoints with the command that recomputes the report.

The bytes are a function of the report alone (decision 0046): the creation date is the report's
``as_of`` day, never the clock, and fpdf2 derives the file identifier from the content. The text
is set in DejaVu Sans, the font file matplotlib ships (the same extra), so the dashes, ``±`` and
``×`` of the anomalies' wording print as written.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import matplotlib as mpl
from fpdf import FPDF
from fpdf.fonts import FontFace

from client import charts
from client.report import AnnualReport
from client.report_html import SHOWN_ENTRIES, carats, cell
from client.stats import StatTable

__all__ = ["render_pdf", "write_pdf"]

_FONTS = Path(mpl.get_data_path()) / "fonts" / "ttf"
_NUMERIC = ("centicarats", "usd_cents", "count")
_HEADING = FontFace(emphasis="BOLD", fill_color=(232, 236, 240))


class _Report(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="landscape", format="A4")
        self.report_title = title
        self.add_font("DejaVu", "", str(_FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
        self.add_font("DejaVuMono", "", str(_FONTS / "DejaVuSansMono.ttf"))
        self.set_auto_page_break(auto=True, margin=14)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("DejaVu", "", 7)
        self.set_text_color(90, 99, 110)
        self.cell(0, 5, f"{self.report_title} — page {self.page_no()}", align="R")
        self.set_text_color(0, 0, 0)


def render_pdf(report: AnnualReport) -> bytes:
    """The report as PDF bytes."""
    # The charts are drawn first and kept as PNG bytes: matplotlib's figures are gone before
    # fpdf2 parses the fonts, so the two peaks do not add up.
    images = [(chart, charts.png(chart)) for chart in report.charts]
    pdf = _Report(report.title)
    pdf.set_title(report.title)
    pdf.set_subject(f"KP statistics of {report.participant}, {report.period.label}")
    pdf.set_creator("kp report annual")
    day = datetime.date.fromisoformat(report.as_of)
    pdf.set_creation_date(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 8, report.title, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(
        0,
        5,
        f"Network {report.network} · {report.period.start} to {report.period.end} · "
        f"as of {report.as_of} · computed from "
        + ("a node's statistics index" if report.source == "index" else "a replay of the logs"),
        new_x="LMARGIN",
        new_y="NEXT",
        align="L",
    )
    _summary(pdf, report)
    _heading(pdf, "Charts")
    for chart, image in images:
        width = pdf.epw * 0.62  # two charts to a page
        pdf.image(io.BytesIO(image), w=width, alt_text=chart.title)
        pdf.ln(2)
    _heading(pdf, "Annex III tables")
    for table in report.tables():
        _table(pdf, table)
    _anomalies(pdf, report)
    _checkpoints(pdf, report)
    return bytes(pdf.output())


def write_pdf(report: AnnualReport, target: Path) -> list[Path]:
    """The report's PDF at ``target``; returns the file written."""
    target.write_bytes(render_pdf(report))
    return [target]


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 13)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font("DejaVu", "", 8)


def _summary(pdf: FPDF, report: AnnualReport) -> None:
    _heading(pdf, "Summary")
    figures = report.figures
    rows = (
        ("Opening stock", carats(figures.opening_stock)),
        (
            "Production",
            f"{carats(figures.production.centicarats)} in {figures.production.count} productions",
        ),
        ("Exports", f"{carats(figures.exports.centicarats)}, {figures.exports.count} certificates"),
        ("Imports", f"{carats(figures.imports.centicarats)}, {figures.imports.count} certificates"),
        ("Closing stock", carats(figures.closing_stock)),
        ("Anomalies", str(len(report.anomalies))),
    )
    with pdf.table(width=120, col_widths=(40, 80), align="LEFT", first_row_as_headings=False) as t:
        for name, value in rows:
            t.row((name, value))


def _table(pdf: FPDF, table: StatTable) -> None:
    pdf.set_font("DejaVu", "B", 9)
    pdf.multi_cell(0, 6, table.title, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_font("DejaVu", "", 7)
    if not table.rows:
        pdf.cell(0, 5, "none", new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(1)
        return
    align = tuple("RIGHT" if c.kind in _NUMERIC else "LEFT" for c in table.columns)
    with pdf.table(
        text_align=align, headings_style=_HEADING, line_height=4, padding=0.8
    ) as rendered:
        rendered.row(tuple(c.name for c in table.columns))
        for row in table.rows:
            rendered.row(tuple(cell(c, v) for c, v in zip(table.columns, row, strict=True)))
    pdf.ln(2)


def _anomalies(pdf: FPDF, report: AnnualReport) -> None:
    _heading(pdf, "Anomalies")
    if not report.anomalies:
        pdf.multi_cell(
            0,
            5,
            f"None: the figures of {report.participant} show no anomaly in {report.period.label}.",
            new_x="LMARGIN",
            new_y="NEXT",
            align="L",
        )
    for item in report.anomalies:
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(
            0, 5, f"{item.anomaly.code} — {item.anomaly.participant}", new_x="LMARGIN", new_y="NEXT"
        )
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 4.5, item.anomaly.detail, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_font("DejaVu", "", 6.5)
        with pdf.table(
            col_widths=(120, 22, 22, 22, 40, 24),
            text_align=("LEFT", "LEFT", "LEFT", "LEFT", "LEFT", "RIGHT"),
            headings_style=_HEADING,
            line_height=3.6,
            padding=0.8,
        ) as rendered:
            rendered.row(("entry", "movement", "date", "recorded", "certificate", "carats"))
            for entry in item.entries[:SHOWN_ENTRIES]:
                rendered.row(
                    (
                        f"{entry.log}:{entry.seq}:{entry.hash}",
                        entry.kind,
                        entry.date,
                        entry.recorded_on,
                        entry.number or "",
                        carats(entry.centicarats),
                    )
                )
        if len(item.entries) > SHOWN_ENTRIES:
            pdf.set_font("DejaVu", "", 8)
            pdf.multi_cell(
                0,
                4.5,
                f"And {len(item.entries) - SHOWN_ENTRIES} more entries: the report as JSON "
                "(-o report.json) lists every one.",
                new_x="LMARGIN",
                new_y="NEXT",
                align="L",
            )
        pdf.ln(2)


def _checkpoints(pdf: FPDF, report: AnnualReport) -> None:
    _heading(pdf, "Checkpoints")
    pdf.multi_cell(
        0,
        4.5,
        f"The report counts each log's entries below the size, whose tree hash is the root, as "
        f"of {report.as_of}.",
        new_x="LMARGIN",
        new_y="NEXT",
        align="L",
    )
    pdf.set_font("DejaVu", "", 7.5)
    with pdf.table(
        col_widths=(25, 25, 150),
        width=200,
        align="LEFT",
        text_align=("LEFT", "RIGHT", "LEFT"),
        headings_style=_HEADING,
        line_height=4,
        padding=0.8,
    ) as rendered:
        rendered.row(("log", "size", "root hash"))
        for point in report.checkpoints:
            rendered.row((point.log, str(point.size), point.root.hex()))
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(
        0,
        4.5,
        "Anyone can recompute this report from the logs, re-validating every entry:",
        new_x="LMARGIN",
        new_y="NEXT",
        align="L",
    )
    pdf.set_font("DejaVuMono", "", 7)
    pdf.multi_cell(0, 3.8, report.command, new_x="LMARGIN", new_y="NEXT", align="L")
