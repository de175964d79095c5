"""What a report is computed from, read from the in-process node: its statistics index cut at its
verified checkpoints, or every entry downloaded and replayed; the two give the same report, and
a replay at sizes and roots recomputes it or shows the roots are not the logs'."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from client.download import DownloadedLedger, download_ledger
from client.errors import UndecidedError
from client.nodes import Nodes
from client.report import build_report
from client.report_inputs import ReportInputs, from_index, from_replay
from client.sdk import Operator
from client.stats import parse_period
from node.core.encoding import encode
from tests.support.asgi import Api


@pytest.fixture(scope="module")
def nodes(api: Api, mine: Operator) -> Iterator[Nodes]:
    for n, day in enumerate(("2026-01-15", "2026-05-15", "2026-11-15")):
        signed, _ = mine.produce(
            f"BW-REPORT-{n}", centicarats=1_000 * (n + 1), hs_code="7102.10", produced_on=day
        )
        answer = api.post(
            "/v1/records",
            content=encode({"signed": signed.to_value()}),
            headers={"content-type": "application/msgpack"},
        )
        assert answer.status_code == 200, answer.text
    with Nodes(["http://testserver"], timeout=10, transport=api.transport) as asked:
        yield asked


@pytest.fixture(scope="module")
def ledger(nodes: Nodes) -> DownloadedLedger:
    return download_ledger(nodes, None, None)


def _report(inputs: ReportInputs) -> dict[str, object]:
    document = build_report(
        inputs.moves,
        participant="BW",
        period=parse_period(year="2026"),
        as_of="2026-12-31",
        checkpoints=inputs.checkpoints,
        network=inputs.network,
        source=inputs.source,
        tolerance_ppm=inputs.tolerance_ppm,
    ).to_json()
    return {k: v for k, v in document.items() if k != "source"}


def test_the_index_and_the_replay_give_the_same_report(
    nodes: Nodes, ledger: DownloadedLedger
) -> None:
    warnings: list[str] = []
    indexed = from_index(nodes, None, on_warning=warnings.append)
    replayed = from_replay(ledger)
    assert (indexed.source, replayed.source) == ("index", "replay")
    assert replayed.findings == ()
    assert indexed.checkpoints == replayed.checkpoints
    assert _report(indexed) == _report(replayed)
    figures = _report(indexed)["figures"]
    assert isinstance(figures, dict)
    assert figures["production"]["centicarats"] == 6_000
    assert any("not cross-checked" in w for w in warnings)  # one node only: it says so


def test_a_replay_at_stated_sizes_counts_only_those(ledger: DownloadedLedger) -> None:
    full = from_replay(ledger)
    bw = next(p for p in full.checkpoints if p.log == "BW")
    last = max(m.entry.seq for m in full.moves if m.entry.log == "BW")
    earlier = from_replay(ledger, {"BW": (last, None)})
    assert [p.log for p in earlier.checkpoints] == ["BW"]
    assert earlier.checkpoints[0].size == last
    assert earlier.checkpoints[0].root != bw.root
    assert sum(m.centicarats for m in earlier.moves) == 1_000 + 2_000
    again = from_replay(ledger, {"BW": (bw.size, bw.root)})
    assert again.findings == ()
    assert again.checkpoints == (bw,)


def test_a_root_that_is_not_the_logs_is_a_finding(ledger: DownloadedLedger) -> None:
    bw = next(p for p in from_replay(ledger).checkpoints if p.log == "BW")
    forged = from_replay(ledger, {"BW": (bw.size, bytes(32))})
    assert [f.code for f in forged.findings] == ["report.root_mismatch"]


def test_a_size_beyond_the_log_is_refused(ledger: DownloadedLedger) -> None:
    bw = next(p for p in from_replay(ledger).checkpoints if p.log == "BW")
    with pytest.raises(UndecidedError) as refused:
        from_replay(ledger, {"BW": (bw.size + 1, None)})
    assert refused.value.code == "report.beyond_log"


def test_another_network_is_refused(nodes: Nodes) -> None:
    with pytest.raises(UndecidedError) as refused:
        from_index(nodes, bytes(32))
    assert refused.value.code == "report.wrong_network"
