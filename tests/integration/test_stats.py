"""``kp stats`` against five real nodes that ran the multi-country scenario: the tables from the
nodes' statistics index, cross-checked between two of them, equal those of the full replay;
CSV and XLSX hold the same tables; a period that is not one is refused before any request."""

from __future__ import annotations

import csv
import datetime
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.dev.scenario import run_scenario
from tests.support.network import Devnet, devnet, fast_replication, kp

MEMBERS = ("BW", "CA", "EU", "AE", "IN")


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _indexed_everywhere(net: Devnet) -> bool:
    """Every node holds every log at the same size, and so the same movements."""
    try:
        views = [
            {i["log"]: i["size"] for i in httpx.get(f"{net.url(m)}/v1/logs").json()}
            for m in MEMBERS
        ]
    except httpx.HTTPError:
        return False
    return all(v == views[0] for v in views) and set(views[0]) == set(MEMBERS)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with fast_replication(), devnet(tmp_path_factory.mktemp("net"), ",".join(MEMBERS)) as running:
        run_scenario(running.description)
        wait_until(lambda: _indexed_everywhere(running), 60, "every node to hold every log")
        yield running


def kp_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = kp(*args, "--json")
    assert result.stdout, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, document


def period() -> list[str]:
    today = datetime.datetime.now(datetime.UTC).date()
    year = str(today.year)
    return ["--year", year]


def two_nodes(net: Devnet) -> list[str]:
    return ["--node", net.url("EU"), "--node", net.url("IN")]


def test_the_index_and_the_replay_give_the_same_tables(net: Devnet) -> None:
    trust = ["--trust", str(net.description["genesis"])]
    code, indexed = kp_json("stats", *period(), *two_nodes(net), *trust)
    assert code == 0, indexed
    code, replayed = kp_json("stats", *period(), "--replay", "--node", net.url("BW"), *trust)
    assert code == 0, replayed
    assert indexed["tables"] == replayed["tables"]
    assert indexed["participants"] == replayed["participants"]
    source = indexed["source"]
    assert (source["replay"], source["node"], source["checked_with"]) == (
        False,
        net.url("EU"),
        net.url("IN"),
    )
    assert indexed["findings"] == []
    eu = indexed["participants"]["EU"]
    assert eu["imports"]["by_source"] == {
        "BW": {"centicarats": 1_250_000, "count": 1},
        "CA": {"centicarats": 830_000, "count": 1},
    }
    assert eu["exports"]["by_hs_code"] == {
        "7102.21": {"centicarats": 1_079_000, "count": 1},
        "7102.31": {"centicarats": 1_000_000, "count": 1},
    }


def test_csv_and_xlsx_hold_the_tables(net: Devnet, tmp_path: Path) -> None:
    out = tmp_path / "tables"
    book = tmp_path / "stats.xlsx"
    single = tmp_path / "all.csv"
    result = kp("stats", *period(), *two_nodes(net), "--csv", str(out), "--xlsx", str(book))
    assert result.returncode == 0, result.stderr
    with (out / "exports_by_partner.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["participant", "destination", "carats", "value", "count"]
    assert ["BW", "EU", "12500.00", "", "1"] in rows
    with zipfile.ZipFile(book) as workbook:
        listing = workbook.read("xl/workbook.xml").decode()
    for name in ("summary", "production_by_hs_code", "imports_by_origin", "anomalies"):
        assert f'name="{name}"' in listing
    result = kp("stats", *period(), *two_nodes(net), "--csv", str(single))
    assert result.returncode == 0, result.stderr
    assert "exports by HS code" in single.read_text()
    assert "KP statistics" in kp("stats", *period(), *two_nodes(net)).stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--quarter", "2026Q5"], id="quarter-5"),
        pytest.param(["--half", "2026H1", "--year", "2026"], id="two-periods"),
        pytest.param([], id="no-period"),
        pytest.param(["--from", "2026-03-10", "--to", "2026-03-01"], id="end-before-start"),
        pytest.param(["--year", "2026", "--participant", "eu"], id="participant-lower-case"),
        pytest.param(["--year", "2026", "--late-days", "-1"], id="negative-threshold"),
    ],
)
def test_a_period_that_is_not_one_is_refused_before_any_request(args: list[str]) -> None:
    # No node runs at this address: a usage error is found before anything is asked.
    result = kp("stats", *args, "--node", "http://127.0.0.1:9")
    assert result.returncode == 2, result.stderr
