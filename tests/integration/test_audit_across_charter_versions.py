"""``kp audit``, ``kp stats`` and ``kp report annual`` after the charter changed twice, on five
real nodes.

Entry 0 of every founding log adopts the genesis; later entries are judged under versions 2 and
3. An audit that replayed with only the newest version could judge none of it
(``audit.incomplete ... charter document not known``); the one replay knows every version,
checked as a chain from the trusted genesis.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.dev.scenario import run_scenario
from tests.integration.test_kp_cli import MEMBERS, _replicated, _signer, kp_json, wait_until
from tests.support.network import Devnet, devnet, fast_replication, kp_node


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with fast_replication(), devnet(tmp_path_factory.mktemp("net"), ",".join(MEMBERS)) as running:
        running.description["scenario"] = run_scenario(running.description)
        wait_until(lambda: _replicated(running), 60, "every node to hold every log")
        yield running


def _next_version(
    net: Devnet,
    current: Path,
    name: str,
    *change: str,
    meanwhile: Callable[[], None] = lambda: None,
) -> Path:
    """A successor signed by every member and adopted by every node, as operators would;
    ``meanwhile`` runs once the first node (BW) adopted it and before the others do."""
    successor = net.root / name
    kp_node("charter", "successor", str(current), *change, "-o", str(successor))
    for member in MEMBERS:
        kp_node("charter", "sign", "--dir", str(net.root / member), str(successor))
    for member in MEMBERS:
        kp_node("charter", "adopt", "--dir", str(net.root / member), str(successor))
        if member == MEMBERS[0]:
            meanwhile()
    return successor


def _ship_to_ae_from_in(net: Devnet) -> int:
    """IN, still at version 2, certifies a parcel to AE after BW adopted AE's suspension."""
    code, produced = kp_json(
        "submit", "produce", "IN-LAG-0001", "--centicarats", "30000", "--hs-code", "7102.10",
        "--holder", "trader", *_signer(net, "IN", "mine"), "--node", net.url("IN"),
    )  # fmt: skip
    assert code == 0, produced
    code, issued = kp_json(
        "submit", "certify", "IN-2026-0900", "--exporter", "trader", "--importing", "AE",
        "--parcel", produced["parcels"][0], "--value-usd-cents", "100", "--exporter-name", "X",
        "--importer-name", "Y", "--seal-number", "S-1", *_signer(net, "IN", "officer"),
        "--node", net.url("IN"),
    )  # fmt: skip
    assert code == 0, issued
    return int(issued["seq"])


def test_audit_stats_and_report_pass_after_three_charter_versions(
    net: Devnet, tmp_path: Path
) -> None:
    genesis = net.root / "genesis.charter"
    v2 = _next_version(net, genesis, "v2.charter", "--witness-quorum", "3")
    lagging: list[int] = []
    _next_version(
        net,
        v2,
        "v3.charter",
        "--suspend",
        "AE",
        meanwhile=lambda: lagging.append(_ship_to_ae_from_in(net)),
    )
    # Trade under version 3.
    key = net.description["participants"]["BW"]["operators"]["mine"]["key_file"]
    code, receipt = kp_json(
        "submit", "produce", "BW-V3-0001", "--centicarats", "40000", "--hs-code", "7102.10",
        "--key-file", str(key), "--operator", "mine", "--log", "BW", "--node", net.url("BW"),
        "--wait", "witnessed",
    )  # fmt: skip
    assert code == 0, receipt
    wait_until(lambda: _replicated(net), 60, "every node to hold every log")
    nodes = [arg for m in MEMBERS for arg in ("--node", net.url(m))]
    trust = ["--trust", str(net.description["genesis"])]

    code, audit = kp_json("audit", "--all", *nodes, *trust)
    assert code == 0, audit["findings"]
    assert audit["status"] == "PASS"
    assert audit["accepted"] == audit["entries"]
    # Every log adopted three versions: the genesis, 2 and 3.
    assert audit["entries"] >= 3 * len(MEMBERS)
    # Valid history, with what a reader must know of it: IN certified to AE under version 2
    # after BW had adopted version 3, which suspends AE (decision 0023).
    [note] = [n for n in audit["notes"] if n["code"] == "charter.superseded"]
    assert (note["log"], note["seq"]) == ("IN", lagging[0])
    assert "version 3 suspends AE, the importer" in note["detail"]

    today = datetime.datetime.now(datetime.UTC).date()
    period = [
        "--from",
        (today - datetime.timedelta(days=1)).isoformat(),
        "--to",
        (today + datetime.timedelta(days=1)).isoformat(),
    ]
    code, stats = kp_json("stats", *period, *nodes, *trust)
    assert code == 0, stats
    assert stats["participants"]["BW"]["production"]["centicarats"] == 1_250_000 + 40_000

    # The report counts every log at a checkpoint signed by a key the log held, each key once
    # however many versions kept it (listed twice, the note's verifier list is ambiguous).
    written = tmp_path / "report.json"
    code, report = kp_json(
        "report", "annual", "--participant", "BW", "--year", str(today.year), "-o", str(written),
        *nodes, *trust,
    )  # fmt: skip
    assert code == 0, report
    assert {point["log"] for point in report["checkpoints"]} == set(MEMBERS)
    assert report["figures"]["production"]["centicarats"] == 1_250_000 + 40_000

    # The chain is checked against the trusted genesis, not the one the node serves.
    other = ["--trust", "00" * 32]
    code, refused = kp_json("audit", "--all", *nodes, *other)
    assert code == 2, refused
    assert "do not chain from the trusted genesis" in refused["detail"]
