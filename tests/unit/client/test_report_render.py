"""The annual report as PDF and HTML: every table, the anomalies with their entries and the
checkpoints are in the text; the HTML is well formed, has no script or inline style, and its
charts are there; the same report gives the same bytes."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pypdf import PdfReader

from client.audit import replay_logs
from client.charts import png, svg
from client.report import AnnualReport, LogPoint, build_report
from client.report_html import SHOWN_ENTRIES, write_html
from client.report_pdf import render_pdf
from client.stats import parse_period, replayed_movements
from node.core import merkle
from node.core.movements import Movement
from node.core.records import EntryRef
from tests.support.html_check import check_page
from tests.support.scenario import run_scenario
from tests.support.world import World


@pytest.fixture(scope="module")
def report() -> AnnualReport:
    """BW's year of the README's chain, and a certificate to the EU that expired unconfirmed."""
    chain = run_scenario(World())
    world = chain.world
    world.advance(40)
    parcel = world.produce("BW", 5_000, hs_code="7102.21", holder="trader")
    world.certify("BW", "BW-2026-0900", [parcel], "EU", days=10)
    replay = replay_logs([world.genesis], world.genesis.hash, world.kv.logs)
    assert replay.findings == ()
    points = [
        LogPoint(log, len(entries), merkle.root([merkle.leaf_hash(e) for e in entries]))
        for log, entries in world.kv.logs.items()
    ]
    return build_report(
        replayed_movements(replay.accepted, replay.state),
        participant="BW",
        period=parse_period(year="2026"),
        as_of="2026-12-31",
        checkpoints=points,
        network="kp.test",
        source="replay",
        tolerance_ppm=1_000,
    )


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_pdf_holds_every_table_the_anomalies_and_the_checkpoints(report: AnnualReport) -> None:
    reader = PdfReader(io.BytesIO(render_pdf(report)))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = _flat(text)
    for table in report.tables():
        assert _flat(table.title) in flat, table.title
    [anomaly] = report.anomalies
    assert anomaly.anomaly.code in text
    assert _flat(anomaly.anomaly.detail) in flat
    for entry in anomaly.entries:
        assert f"{entry.log}:{entry.seq}:{entry.hash}" in flat
    for point in report.checkpoints:
        assert point.root.hex() in flat
    assert _flat(report.command) in flat
    assert reader.metadata is not None
    assert reader.metadata.title == report.title


def test_the_pdf_is_dated_by_the_report_not_the_clock(report: AnnualReport) -> None:
    first, second = render_pdf(report), render_pdf(report)
    assert first == second
    metadata = PdfReader(io.BytesIO(first)).metadata
    assert metadata is not None
    assert metadata.creation_date is not None
    assert metadata.creation_date.date().isoformat() == report.as_of


def test_the_html_is_well_formed_with_no_inline_script_or_style(
    report: AnnualReport, tmp_path: Path
) -> None:
    written = write_html(report, tmp_path / "report.html")
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    page = check_page(text)
    assert page.inline == []
    assert {"header", "nav", "main", "footer", "h1"} <= page.seen
    assert '<meta name="viewport"' in text
    for table in report.tables():
        assert table.title in text
    assert report.anomalies[0].entries[0].hash in text
    assert report.command in text
    # Its charts and stylesheet are files beside it, every one of them there.
    assert len(page.images) == len(report.charts) == 3
    for source in [*page.images, *page.stylesheets]:
        assert (tmp_path / source).is_file(), source
    for source in page.images:
        root = ET.parse(tmp_path / source).getroot()  # noqa: S314  (written by this test)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert sorted(p.name for p in written) == [
        "hs_mix.svg",
        "partners.svg",
        "quarters.svg",
        "report.css",
        "report.html",
    ]


def test_the_html_is_the_same_bytes_each_time(report: AnnualReport, tmp_path: Path) -> None:
    first = write_html(report, tmp_path / "a" / "report.html")
    second = write_html(report, tmp_path / "b" / "report.html")
    for one, other in zip(first, second, strict=True):
        assert one.read_bytes() == other.read_bytes(), one.name


def test_the_charts_carry_no_date_and_print_at_150_dpi(report: AnnualReport) -> None:
    for chart in report.charts:
        drawn = svg(chart)
        assert drawn == svg(chart)
        assert b"<dc:date>" not in drawn
        image = png(chart)
        assert image == png(chart)
        # The pHYs chunk: pixels per metre, 150 dpi = 5906 px/m.
        at = image.index(b"pHYs") + 4
        assert int.from_bytes(image[at : at + 4], "big") == 5906


def test_a_chart_with_nothing_in_it_says_so(report: AnnualReport) -> None:
    [imports] = [s for s in report.charts[0].series if s.label == "imports"]
    assert imports.values == (0, 0, 0, 0)
    empty = next(c for c in report.charts if c.name == "partners")
    assert not empty.empty
    quiet = type(empty)("partners", "Trade by partner", (), ())
    assert quiet.empty
    assert b"nothing in this period" in svg(quiet)


def test_an_anomaly_of_thousands_of_entries_lists_the_first_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    def export(seq: int, day: str) -> Movement:
        digest = seq.to_bytes(32, "big")
        return Movement(
            "export", "ZZ", day, day, EntryRef("ZZ", seq, digest), (("7102.10", 100),),
            partner="EU", origins=("ZZ",), certificate=digest, number=f"ZZ-{seq}",
            expires_on="2027-12-31",
        )  # fmt: skip

    extra = 7
    moves = [export(0, "2025-06-01")]
    moves += [export(n, "2026-06-01") for n in range(1, SHOWN_ENTRIES + extra + 1)]
    big = build_report(
        moves,
        participant="ZZ",
        period=parse_period(year="2026"),
        as_of="2026-12-31",
        checkpoints=[LogPoint("ZZ", len(moves), bytes(32))],
        network="kp.test",
        source="index",
    )
    changed = next(a for a in big.anomalies if a.anomaly.code == "stats.period_change")
    assert len(changed.entries) == SHOWN_ENTRIES + extra
    assert len(big.to_json()["anomalies"][0]["entries"]) >= SHOWN_ENTRIES + extra
    said = f"And {extra} more entries"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(render_pdf(big))).pages)
    assert said in text
    write_html(big, tmp_path / "big.html")
    html = (tmp_path / "big.html").read_text(encoding="utf-8")
    assert said in html
    around = changed.entries[SHOWN_ENTRIES - 1 : SHOWN_ENTRIES + 1]
    last, first_left_out = (f"{e.log}:{e.seq}:{e.hash}" for e in around)
    assert last in html
    assert first_left_out not in html
