"""``kp report annual`` against five real nodes that ran the multi-country scenario: the report
from the statistics index, recomputed from the logs alone with the command it states, gives the
same figures; a root that is not the logs' is refused; the explorer page counts the same."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.dev.scenario import run_scenario
from tests.support.network import Devnet, devnet, fast_replication, kp

MEMBERS = ("BW", "CA", "EU", "AE", "IN")
YEAR = str(datetime.datetime.now(datetime.UTC).year)  # the scenario runs on today's dates


def _replicated(net: Devnet) -> bool:
    try:
        views = [
            {i["log"]: (i["size"], i["root"]) for i in httpx.get(f"{net.url(m)}/v1/logs").json()}
            for m in MEMBERS
        ]
    except httpx.HTTPError:
        return False
    return all(v == views[0] for v in views) and set(views[0]) == set(MEMBERS)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with fast_replication(), devnet(tmp_path_factory.mktemp("net"), ",".join(MEMBERS)) as running:
        running.description["scenario"] = run_scenario(running.description)
        deadline = time.monotonic() + 60
        while not _replicated(running):
            assert time.monotonic() < deadline, "every node to hold every log"
            time.sleep(0.2)
        yield running


def options(net: Devnet) -> list[str]:
    urls = [arg for m in MEMBERS for arg in ("--node", net.url(m))]
    return [*urls, "--trust", str(net.description["genesis"])]


def report(net: Devnet, target: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = kp(
        "report", "annual", "--participant", "EU", "--year", YEAR, "-o", str(target),
        *extra, *options(net), "--json",
    )  # fmt: skip
    assert result.stdout, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, document, result.stderr


def _figures(document: dict[str, Any]) -> dict[str, Any]:
    """Everything but the line that names how it was computed."""
    return {k: v for k, v in document.items() if k not in ("source", "written", "findings")}


@pytest.fixture(scope="module")
def from_index(net: Devnet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    code, document, stderr = report(net, tmp_path_factory.mktemp("index") / "report.json")
    assert code == 0, stderr
    return document


def test_the_report_from_the_index_counts_the_scenario(from_index: dict[str, Any]) -> None:
    assert from_index["source"] == "index"
    eu = from_index["figures"]
    assert eu["imports"]["centicarats"] == 1_250_000 + 830_000
    assert set(eu["exports"]["by_destination"]) == {"IN", "AE"}
    assert {p["log"] for p in from_index["checkpoints"]} == set(MEMBERS)
    assert from_index["anomalies"] == []


def test_the_stated_command_recomputes_the_same_report_from_the_logs(
    net: Devnet, from_index: dict[str, Any], tmp_path: Path
) -> None:
    command = from_index["command"].split()
    assert command[:3] == ["kp", "report", "annual"]
    at = [command[i + 1] for i, word in enumerate(command) if word == "--at"]
    as_of = command[command.index("--as-of") + 1]
    code, again, stderr = report(
        net, tmp_path / "again.json", "--replay", "--as-of", as_of,
        *(arg for a in at for arg in ("--at", a)),
    )  # fmt: skip
    assert code == 0, stderr
    assert again["source"] == "replay"
    assert _figures(again) == _figures(from_index)
    written = json.loads((tmp_path / "again.json").read_text())
    assert _figures(written) == _figures({**again, "written": None})


def test_a_root_that_is_not_the_logs_is_refused(
    net: Devnet, from_index: dict[str, Any], tmp_path: Path
) -> None:
    point = from_index["checkpoints"][0]
    forged = f"{point['log']}:{point['size']}:{'0' * 64}"
    code, document, stderr = report(net, tmp_path / "forged.json", "--replay", "--at", forged)
    assert code == 1
    assert [f["code"] for f in document["findings"]] == ["report.root_mismatch"]
    assert "not the logs the report was computed from" in stderr


def test_pdf_and_html_are_written(net: Devnet, tmp_path: Path) -> None:
    for name in ("report.pdf", "report.html"):
        code, document, stderr = report(net, tmp_path / name)
        assert code == 0, stderr
        assert all(Path(p).is_file() for p in document["written"])
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")
    assert (tmp_path / "report_files" / "quarters.svg").is_file()


def test_the_explorer_page_counts_what_the_report_counts(
    net: Devnet, from_index: dict[str, Any]
) -> None:
    page = httpx.get(f"{net.url('IN')}/statistics", params={"participant": "EU", "period": YEAR})
    assert page.status_code == 200
    stated = set(re.findall(r"--at ([A-Z]+:\d+:[0-9a-f]{64})", page.text))
    assert stated == {f"{p['log']}:{p['size']}:{p['root']}" for p in from_index["checkpoints"]}
    assert "20,800.00 ct on 2 certificates" in page.text  # the EU's imports
