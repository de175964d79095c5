"""The ``kp`` command line against five real nodes that ran the multi-country scenario.

Every command runs as ``python -m client.cli`` in a subprocess, exactly as a user runs it; the
tests read its exit code and its ``--json`` document.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.online import verify_online
from node.dev.scenario import run_scenario
from tests.support.counting import CountingTransport
from tests.support.network import REPO, Devnet, devnet, fast_replication, free_port_block, kp

MEMBERS = ("BW", "CA", "EU", "AE", "IN")


def wait_until(check: Callable[[], bool], seconds: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _replicated(net: Devnet) -> bool:
    """Every node holds every log, at the same size and root."""
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
        wait_until(lambda: _replicated(running), 60, "every node to hold every log")
        yield running


def kp_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = kp(*args, "--json", env=env)
    assert result.stdout, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, document


def nodes(net: Devnet) -> list[str]:
    return [arg for m in MEMBERS for arg in ("--node", net.url(m))]


def trust(net: Devnet) -> list[str]:
    return ["--trust", str(net.description["genesis"])]


def scenario(net: Devnet, step: str) -> str:
    return str(net.description["scenario"][step])


def key_file(net: Devnet, member: str, operator: str) -> str:
    return str(net.description["participants"][member]["operators"][operator]["key_file"])


def parcel_of(net: Devnet, step: str, member: str) -> str:
    entry_hash = scenario(net, step)
    seq = httpx.get(f"{net.url(member)}/v1/entries/{entry_hash}").json()["seq"]
    return f"{member}:{seq}:{entry_hash}:0"


def _day(offset: int) -> str:
    today = datetime.datetime.now(datetime.UTC).date()
    return (today + datetime.timedelta(days=offset)).isoformat()


# --- verify ------------------------------------------------------------------------------------


def test_verify_the_final_confirmation_online_with_every_node(net: Devnet) -> None:
    code, verdict = kp_json("verify", scenario(net, "final"), "--deep", *nodes(net), *trust(net))
    assert code == 0, verdict
    assert verdict["status"] == "VALID"
    assert verdict["origins"] == ["BW", "CA"]
    assert verdict["unreachable"] == []
    assert {s["certificate"] for s in verdict["chain"] if s["certificate"]} >= {
        "BW-2026-0001",
        "CA-2026-0001",
        "AE-2026-0007",
    }
    assert (verdict["depth"], verdict["seeds"]) == (None, [])
    assert verdict["pages"] >= 1  # the bounded bundles the chain was verified by


def test_verify_replays_the_last_steps_and_says_what_rests_on_the_witnesses(net: Devnet) -> None:
    code, verdict = kp_json("verify", scenario(net, "final"), *nodes(net), *trust(net))
    assert code == 0, verdict
    assert verdict["status"] == "VALID"
    assert verdict["depth"] == 1
    # The UAE's certificate, and the step that made its parcel: the UAE's confirmation of the
    # EU's certificate, with it. The EU parcel that certificate took is seeded, with the
    # origins the witnesses vouch for; the mines and the sort are not replayed.
    assert {s["certificate"] for s in verdict["chain"] if s["certificate"]} == {
        "AE-2026-0007",
        "EU-2026-0102",
    }
    assert not any(s["type"] == "parcel.produce" for s in verdict["chain"])
    assert [seed["origins"] for seed in verdict["seeds"]] == [["BW", "CA"]]
    assert verdict["origins"] == ["BW", "CA"]
    assert 0 < verdict["replayed"] < 40
    result = kp("verify", scenario(net, "final"), *nodes(net), *trust(net))
    assert result.returncode == 0, result.stderr
    assert "the history behind 1 parcel (origins BW, CA;" in result.stdout
    assert "rests on the witnesses" in result.stdout


def test_online_verification_asks_each_node_a_few_requests_not_one_per_parcel(
    net: Devnet,
) -> None:
    """Decision 0039: the parcels the chain consumed (seven here, from two mines through a
    merge and a split to the UAE's re-export) are asked of each node in one batch; with its
    logs, evidence and the certificate's status that is four requests a node, and the
    provenance from the first. Before, one request per parcel made ten or eleven."""
    urls = [net.url(m) for m in MEMBERS]
    genesis = bytes.fromhex(str(net.description["genesis"]))
    with CountingTransport() as counted:
        online = verify_online(urls, scenario(net, "ae_certificate_in"), genesis, transport=counted)
    assert online.verdict.valid, online.verdict.findings
    assert online.unreachable == ()
    assert set(counted.asked) == set(urls)
    assert max(counted.asked.values()) <= 5, counted.paths
    for url in urls:
        assert counted.paths[url].count("POST /v1/parcels/states") == 1, counted.paths[url]
        assert not any(p.startswith("GET /v1/parcels/") for p in counted.paths[url])


class _SeedLiar(httpx.BaseTransport):
    """Real HTTP, except that the node at ``liar`` answers every parcel's origins as ``ZZ``."""

    def __init__(self, liar: str) -> None:
        self._inner = httpx.HTTPTransport()
        self._liar = liar

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        url = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        if url != self._liar or request.url.path != "/v1/parcels/states":
            return response
        answer = json.loads(response.read())
        for state in answer["parcels"]:
            if state is not None:
                state["origins"] = ["ZZ"]
        return httpx.Response(response.status_code, json=answer)

    def close(self) -> None:
        self._inner.close()


def test_a_node_holding_a_seed_otherwise_than_the_bundle_is_named(net: Devnet) -> None:
    """Decision 0039: a bounded bundle's seeds are compared with every node, in the same batch
    as the spenders; a node whose state of a seeded parcel differs is named."""
    urls = [net.url(m) for m in MEMBERS]
    genesis = bytes.fromhex(str(net.description["genesis"]))
    liar = net.url("IN")
    with _SeedLiar(liar) as lying:
        online = verify_online(urls, scenario(net, "final"), genesis, transport=lying)
    disagreeing = [f for f in online.verdict.findings if f.code == "node.disagrees"]
    assert disagreeing, online.verdict.findings
    assert all(liar in f.detail and "ZZ" in f.detail for f in disagreeing)
    assert not online.verdict.valid


def test_verify_a_certificate_number_says_it_was_confirmed_and_is_not_usable(net: Devnet) -> None:
    env = {
        "KP_NODES": ",".join(net.url(m) for m in MEMBERS),
        "KP_TRUST": net.description["genesis"],
    }
    code, verdict = kp_json("verify", "AE-2026-0007", env=env)
    assert code == 3, verdict
    assert verdict["status"] == "VALID"
    assert verdict["usable"] is False
    assert verdict["number"] == "AE-2026-0007"
    assert verdict["certificate"]["state"] == "confirmed"
    assert verdict["certificate"]["decided_by"] == scenario(net, "final")  # India confirmed it
    assert verdict["headline"].startswith("VALID — CONFIRMED by IN on")


def test_human_output_draws_the_chain_from_the_mines(net: Devnet) -> None:
    result = kp("verify", "AE-2026-0007", "--deep", *nodes(net), *trust(net))
    assert result.returncode == 3, result.stderr
    assert "VALID — CONFIRMED by IN" in result.stdout
    assert "12,500.00 ct" in result.stdout  # Botswana's run, in carats
    assert "parcel.produce" in result.stdout
    assert "back to the mines" in result.stdout


def test_a_reader_that_closes_the_pipe_early_leaves_the_verdicts_exit_code(net: Devnet) -> None:
    # `kp verify ... | head -1`: the reader is gone before the first line is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "client.cli",
                "verify",
                "AE-2026-0007",
                *nodes(net),
                *trust(net),
            ],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr


def test_an_exported_bundle_verifies_offline_and_a_tampered_one_does_not(
    net: Devnet, tmp_path: Path
) -> None:
    bounded = tmp_path / "bounded.json"
    code, written = kp_json(
        "bundle", "export", scenario(net, "final"), "-o", str(bounded), *nodes(net)
    )
    assert code == 0, written
    assert (written["depth"], written["seeds"]) == ("1", 1)
    bundle = tmp_path / "final.json"
    code, deep = kp_json(
        "bundle", "export", scenario(net, "final"), "--depth", "all", "-o", str(bundle), *nodes(net)
    )
    assert code == 0, deep
    assert (deep["depth"], deep["seeds"]) == ("all", 0)
    assert deep["entries"] > written["entries"] > 10
    # No node at all: neither --node nor KP_NODES.
    for exported in (bounded, bundle):
        code, verdict = kp_json("verify", "--bundle", str(exported), *trust(net))
        assert (code, verdict["status"], verdict["mode"]) == (0, "VALID", "offline")
        assert verdict["origins"] == ["BW", "CA"]

    document = json.loads(bundle.read_text())
    item = next(i for i in document["entries"] if i["log"] == "EU")
    raw = bytearray(base64.b64decode(item["entry"]))
    raw[-3] ^= 0x01
    item["entry"] = base64.b64encode(bytes(raw)).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    code, verdict = kp_json("verify", "--bundle", str(tampered), *trust(net))
    assert (code, verdict["status"]) == (1, "INVALID")
    assert verdict["findings"]


def test_a_verifier_installed_without_the_node_extra_verifies_a_bundle(
    net: Devnet, tmp_path: Path
) -> None:
    """``pip install kp-ledger`` (no ``[node]``) is enough for ``kp verify`` (decision 0035)."""
    bundle = tmp_path / "final.json"
    code, written = kp_json(
        "bundle", "export", scenario(net, "final"), "-o", str(bundle), *nodes(net)
    )
    assert code == 0, written
    venv = tmp_path / "verifier"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    absent = subprocess.run(
        [python, "-c", "import lmdb"], capture_output=True, text=True, timeout=60, check=False
    )
    assert "No module named 'lmdb'" in absent.stderr
    result = subprocess.run(
        [venv / "bin" / "kp", "verify", "--bundle", str(bundle), *trust(net), "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    verdict = json.loads(result.stdout)
    assert (result.returncode, verdict["status"], verdict["mode"]) == (0, "VALID", "offline")


def test_trusting_another_genesis_is_invalid(net: Devnet, tmp_path: Path) -> None:
    other = hashlib.sha256(b"another network").hexdigest()
    code, verdict = kp_json("verify", scenario(net, "final"), *nodes(net), "--trust", other)
    assert (code, verdict["status"]) == (1, "INVALID")
    [wrong] = [f for f in verdict["findings"] if f["code"] == "bundle.wrong_network"]
    # It names both networks, so the officer sees whether the nodes or the --trust are off.
    assert other in wrong["detail"]
    assert str(net.description["genesis"]) in wrong["detail"]


def test_an_unreachable_only_node_cannot_decide(net: Devnet) -> None:
    dead = f"http://127.0.0.1:{free_port_block(1)}"
    code, answer = kp_json("verify", scenario(net, "final"), "--node", dead, *trust(net))
    assert code == 2
    assert answer["code"] == "node.unavailable"


def test_verify_without_a_trust_anchor_is_a_usage_error(net: Devnet) -> None:
    code, answer = kp_json("verify", scenario(net, "final"), *nodes(net))
    assert (code, answer["code"]) == (2, "cli.usage")


# --- trace ------------------------------------------------------------------------------------


def _parcels(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in (node.get("next") or {}).get("parcels", []):
        yield from _parcels(child)


def test_trace_follows_botswanas_parcel_to_india(net: Devnet) -> None:
    code, traced = kp_json("trace", parcel_of(net, "bw_produce", "BW"), *nodes(net))
    assert code == 0, traced
    found = {p["ref"].split(":")[2]: p for p in _parcels(traced["trace"])}
    final = found[scenario(net, "final")]
    assert final["parcel"] == "IN-AE-1"
    assert final["live"] is True
    assert final["origins"] == ["BW", "CA"]
    assert scenario(net, "in_confirms_eu") in found  # the other branch to India too
    assert traced["trace"]["next"]["certificate"] == "BW-2026-0001"


def test_a_trace_cut_by_its_depth_goes_on_from_its_cursor(net: Devnet) -> None:
    whole = {
        p["ref"]
        for p in _parcels(
            kp_json("trace", parcel_of(net, "bw_produce", "BW"), *nodes(net))[1]["trace"]
        )
    }
    code, page = kp_json(
        "trace", parcel_of(net, "bw_produce", "BW"), "--max-depth", "2", *nodes(net)
    )
    assert code == 0, page
    assert page["cursor"], page
    assert page["unfollowed"] == len(page["cursor"].split(","))
    seen = {p["ref"] for p in _parcels(page["trace"]) if not p.get("truncated")}
    pages = 1
    while page["cursor"]:
        assert pages < 10, page
        code, page = kp_json("trace", "--from", page["cursor"], "--max-depth", "2", *nodes(net))
        assert code == 0, page
        pages += 1
        for root in page["traces"] if "traces" in page else [page["trace"]]:
            seen |= {p["ref"] for p in _parcels(root) if not p.get("truncated")}
    assert seen == whole
    human = kp("trace", parcel_of(net, "bw_produce", "BW"), "--max-depth", "2", *nodes(net))
    assert "kp trace --from " in human.stdout


# --- audit and statistics ---------------------------------------------------------------------


def test_audit_of_every_log_finds_nothing_and_writes_its_reports(
    net: Devnet, tmp_path: Path
) -> None:
    report, table = tmp_path / "audit.json", tmp_path / "audit.csv"
    code, document = kp_json(
        "audit", "--all", *nodes(net), *trust(net), "--report", str(report), "--csv", str(table),
        "--member", "BW:mine", "--key-file", key_file(net, "BW", "mine"),
    )  # fmt: skip
    assert code == 0, document["findings"]
    assert document["status"] == "PASS"
    assert document["findings"] == []
    assert {log["log"] for log in document["logs"]} == set(MEMBERS)
    assert document["accepted"] == document["entries"] > 0
    assert json.loads(report.read_text())["status"] == "PASS"
    assert table.read_text().splitlines() == ["log,seq,code,detail"]
    # The mine's parcel, from production to the certificate, with the sealed invoice it can read.
    [held] = document["custody"]
    assert [e["event"] for e in held["events"]] == ["created", "transferred", "consumed"]
    assert list(document["invoices"].values()) == ["INV-BW-1"]


def test_audit_of_one_log_brings_in_the_logs_it_references(net: Devnet) -> None:
    code, document = kp_json(
        "audit", "--log", "IN", "--node", net.url("IN"), "--member", "IN:trader",
        "--key-file", key_file(net, "IN", "trader"),
    )  # fmt: skip
    assert code == 0, document["findings"]
    assert {log["log"] for log in document["logs"]} == set(MEMBERS)
    held = {c["parcel"] for c in document["custody"]}
    assert held == {"IN-EU-1", "IN-AE-1"}


def test_stats_of_the_scenario(net: Devnet) -> None:
    code, stats = kp_json("stats", "--from", _day(-1), "--to", _day(1), *nodes(net), *trust(net))
    assert code == 0, stats
    assert stats["anomalies"] == []
    bw, eu, india = (stats["participants"][p] for p in ("BW", "EU", "IN"))
    assert bw["production"]["centicarats"] == 1_250_000  # 12,500 ct
    assert bw["production"]["count"] == 1
    assert bw["exports"]["by_destination"] == {"EU": {"centicarats": 1_250_000, "count": 1}}
    assert set(eu["imports"]["by_source"]) == {"BW", "CA"}
    assert set(eu["imports"]["by_origin"]) == {"BW", "CA"}
    assert india["imports"]["centicarats"] == 1_000_000 + 1_079_000  # 20,790 ct
    assert india["imports"]["count"] == 2
    assert eu["exports"]["value_usd_cents"] is None
    assert eu["exports"]["sealed"] == 2


def test_stats_show_values_to_a_member(net: Devnet) -> None:
    code, stats = kp_json(
        "stats", "--from", _day(-1), "--to", _day(1), *nodes(net),
        "--member", "EU:officer", "--key-file", key_file(net, "EU", "officer"),
    )  # fmt: skip
    assert code == 0, stats
    eu = stats["participants"]["EU"]
    # The scenario seals 150 USD per centicarat.
    assert eu["exports"]["value_usd_cents"] == (1_000_000 + 1_079_000) * 15_000
    assert eu["exports"]["sealed"] == 0
    assert stats["member"] == "EU:officer"
    # EU's authority reads its own certificates and those issued to it; AE's certificate to
    # India is none of its business, and the output says so (decision 0040).
    assert stats["unread"] == {
        "field": "value_usd_cents",
        "read": 4,
        "unread": {"AE": {"disclosure.not_entitled": 1}},
    }


def test_disclosure_reads_are_recorded_and_shown_to_the_authority(net: Devnet) -> None:
    certificate = scenario(net, "bw_certificate")
    reader = ["--member", "EU:officer", "--key-file", key_file(net, "EU", "officer")]
    code, _ = kp_json("stats", "--from", _day(-1), "--to", _day(1), *nodes(net), *reader)
    assert code == 0
    officer = ["--member", "BW:officer", "--key-file", key_file(net, "BW", "officer")]
    code, page = kp_json("disclosures", "access", "--node", net.url("BW"), *officer)
    assert code == 0, page
    assert page["log"] == "BW"
    reads = [(r["key_id"], r["entry_hash"], r["allowed"]) for r in page["records"]]
    assert ("EU:officer", certificate, True) in reads
    table = kp("disclosures", "access", "--node", net.url("BW"), *officer)
    assert table.returncode == 0, table.stderr
    assert "EU:officer" in table.stdout
    trader = ["--member", "BW:trader", "--key-file", key_file(net, "BW", "trader")]
    code, refused = kp_json("disclosures", "access", "--node", net.url("BW"), *trader)
    assert (code, refused["code"], refused["http_status"]) == (
        1,
        "disclosure.not_entitled",
        403,
    )


# --- submit (last: these append to BW's log) ---------------------------------------------------


def _signer(net: Devnet, member: str, operator: str) -> list[str]:
    return ["--key-file", key_file(net, member, operator), "--operator", operator, "--log", member]


def test_submit_produce_answers_a_receipt_that_resolves(net: Devnet) -> None:
    code, receipt = kp_json(
        "submit", "produce", "BW-CLI-0001", "--centicarats", "50000", "--hs-code", "7102.10",
        "--produced-on", _day(-5), *_signer(net, "BW", "mine"), "--node", net.url("BW"),
        "--wait", "witnessed",
    )  # fmt: skip
    assert code == 0, receipt
    assert receipt["status"] == "accepted"
    entry = httpx.get(f"{net.url('BW')}/v1/entries/{receipt['entry_hash']}")
    assert entry.status_code == 200
    assert entry.json()["seq"] == receipt["seq"]
    assert receipt["parcels"] == [f"BW:{receipt['seq']}:{receipt['entry_hash']}:0"]
    # Piped, the table prints references whole, to be copied into the next command.
    human = kp(
        "submit", "produce", "BW-CLI-0001B", "--centicarats", "50000", "--hs-code", "7102.10",
        "--produced-on", _day(-5), *_signer(net, "BW", "mine"), "--node", net.url("BW"),
    )  # fmt: skip
    assert human.returncode == 0, human.stderr
    assert re.search(r"parcel\W+BW:\d+:[0-9a-f]{64}:0\W", human.stdout), human.stdout


def test_submitting_the_same_production_twice_is_refused_the_second_time(net: Devnet) -> None:
    # A retry after a timeout signs the record anew: it must not double the production.
    produce = [
        "submit", "produce", "BW-CLI-TWICE", "--centicarats", "50000", "--hs-code", "7102.10",
        "--produced-on", _day(-5), *_signer(net, "BW", "mine"), "--node", net.url("BW"),
    ]  # fmt: skip
    code, first = kp_json(*produce)
    assert code == 0, first
    code, second = kp_json(*produce)
    assert code == 1, second
    assert (second["status"], second["code"]) == ("refused", "parcel.id_in_use")


def test_submit_of_a_double_spend_is_refused_with_its_code(net: Devnet) -> None:
    spent = parcel_of(net, "bw_produce", "BW")  # consumed by certificate BW-2026-0001
    code, refused = kp_json(
        "submit", "transfer", spent, "--to", "trader", "--invoice", "INV-TWICE",
        *_signer(net, "BW", "mine"), *nodes(net),
    )  # fmt: skip
    assert code == 1
    assert (refused["status"], refused["code"]) == ("refused", "parcel.not_live")


# --- certificate numbers (decision 0025; these append to BW's and EU's logs) -----------------


def _issue(net: Devnet, number: str, parcel: str) -> tuple[int, dict[str, Any]]:
    code, produced = kp_json(
        "submit", "produce", parcel, "--centicarats", "20000", "--hs-code", "7102.10",
        "--produced-on", _day(-1), "--holder", "trader", *_signer(net, "BW", "mine"), *nodes(net),
    )  # fmt: skip
    assert code == 0, produced
    return kp_json(
        "submit", "certify", number, "--exporter", "trader", "--importing", "EU",
        "--parcel", produced["parcels"][0], "--value-usd-cents", "100", "--exporter-name", "X",
        "--importer-name", "Y", "--seal-number", "S-1", *_signer(net, "BW", "officer"),
        *nodes(net), "--wait", "witnessed",
    )  # fmt: skip


@pytest.fixture(scope="module")
def numbered(net: Devnet) -> dict[str, str]:
    """Two certificates whose numbers are written the other ways the node accepts."""
    issued = {}
    for number, parcel in (("BW/2026/0005", "BW-NUM-1"), ("BW0001234", "BW-NUM-2")):
        code, receipt = _issue(net, number, parcel)
        assert code == 0, receipt
        issued[number] = str(receipt["entry_hash"])
    return issued


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        pytest.param("BW/2026/0005", "BW/2026/0005", id="slashes"),
        pytest.param("bw/2026/0005", "BW/2026/0005", id="lower-case"),
        pytest.param("BW-2026-0005", "BW/2026/0005", id="dashes"),
        pytest.param("bw 2026 0005", "BW/2026/0005", id="spaces"),
        pytest.param("BW0001234", "BW0001234", id="no-separator"),
        pytest.param(" bw 0001234 ", "BW0001234", id="spaced-lower-case"),
    ],
)
def test_verify_reads_a_number_written_any_way(
    net: Devnet, numbered: dict[str, str], typed: str, number: str
) -> None:
    code, verdict = kp_json("verify", typed, *nodes(net), *trust(net))
    assert code == 0, verdict
    assert verdict["headline"].startswith("VALID — USABLE")
    assert verdict["number"] == number  # as the ledger holds it
    assert verdict["subject"] == numbered[number]


def test_a_usable_certificate_holds_as_of_asking_the_importers_own_node(
    net: Devnet, numbered: dict[str, str]
) -> None:
    code, verdict = kp_json("verify", "BW0001234", *nodes(net), *trust(net))
    assert code == 0, verdict
    as_of = datetime.datetime.fromisoformat(verdict["certificate"]["as_of"])
    assert abs(datetime.datetime.now(datetime.UTC) - as_of) < datetime.timedelta(minutes=10)
    assert set(verdict["certificate"]["as_of_sizes"]) == {"BW", "EU"}
    assert "did not answer" not in verdict["headline"]
    # Without EU's node, where a confirmation would be recorded, the verdict says so.
    others = [arg for m in MEMBERS if m != "EU" for arg in ("--node", net.url(m))]
    code, silent = kp_json("verify", "BW0001234", *others, *trust(net))
    assert code == 0, silent
    assert silent["headline"].startswith("VALID — USABLE for import into EU")
    assert "EU's own node did not answer" in silent["headline"]
    assert "status.importer_silent" in [n["code"] for n in silent["notes"]]


def test_a_number_read_alike_cannot_be_issued_twice(net: Devnet, numbered: dict[str, str]) -> None:
    code, refused = _issue(net, "BW-2026-0005", "BW-NUM-3")
    assert (code, refused["code"]) == (1, "certificate.number_used")
    assert "BW/2026/0005" in refused["detail"]


def test_an_unknown_number_is_not_found_and_may_be_forged(net: Devnet) -> None:
    code, answer = kp_json("verify", "BW-2099-9999", *nodes(net), *trust(net))
    assert (code, answer["status"], answer["code"]) == (4, "not_found", "certificate.unknown")
    assert "no certificate with this number on the ledger — it may be forged" in answer["detail"]
    assert answer["headline"].startswith("NOT FOUND — no certificate with this number")
    human = kp("verify", "bw 2099 9999", *nodes(net), *trust(net))
    assert human.returncode == 4
    # The verdict is stdout's first line, where VALID and INVALID are.
    assert human.stdout.startswith("NOT FOUND — no certificate with this number on the ledger")
    assert "it may be forged" in human.stdout
    code, answer = kp_json("bundle", "export", "BW/2099/9999", "-o", os.devnull, *nodes(net))
    assert (code, answer["code"]) == (4, "certificate.unknown")


def test_an_unknown_entry_hash_is_not_found_and_may_be_forged(net: Devnet) -> None:
    forged = "ab" * 32
    code, answer = kp_json("verify", forged, *nodes(net), *trust(net))
    assert (code, answer["status"], answer["code"]) == (4, "not_found", "entry.unknown")
    assert answer["headline"].startswith("NOT FOUND — no entry with this hash on the ledger")


@pytest.mark.parametrize("typed", ["BW;2026", "B-1", "BW-2026-0005<", "BW-" + "9" * 41])
def test_a_text_not_of_the_grammar_is_told_the_grammar(net: Devnet, typed: str) -> None:
    # To a verifier it is no certificate of the ledger, as an unknown number is: exit 4.
    code, answer = kp_json("verify", typed, *nodes(net), *trust(net))
    assert (code, answer["status"], answer["code"]) == (
        4,
        "not_found",
        "certificate.number_invalid",
    )
    assert answer["headline"].startswith("NOT FOUND")
    assert "it may be forged" in answer["detail"]
    assert "participant id (2 to 8 letters)" in answer["detail"]
    assert "pattern" not in answer["detail"]
    # Looking a certificate up for its bundle finds none either.
    code, answer = kp_json("bundle", "export", typed, "-o", os.devnull, *nodes(net))
    assert (code, answer["code"]) == (4, "certificate.number_invalid")
    assert "participant id (2 to 8 letters)" in answer["detail"]


def test_verify_help_documents_its_exit_codes() -> None:
    result = kp("verify", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "not usable exit 3" in text
    assert "it may be forged exit 4" in text


def test_confirm_by_a_number_written_otherwise(net: Devnet, numbered: dict[str, str]) -> None:
    wait_until(
        lambda: httpx.get(f"{net.url('EU')}/v1/certificates/BW/BW-2026-0005").status_code == 200,
        30,
        "EU to hold the certificate",
    )
    code, receipt = kp_json(
        "submit", "confirm", "bw 2026 0005", "--parcel", "EU-NUM-1:20000:7102.10",
        "--holder", "trader", *_signer(net, "EU", "officer"), *nodes(net),
    )  # fmt: skip
    assert code == 0, receipt
    state = httpx.get(f"{net.url('EU')}/v1/certificates/BW/bw%202026%200005").json()
    assert state["status"] == "confirmed"
    assert state["outcome_ref"][2] == receipt["entry_hash"]
    assert httpx.get(f"{net.url('BW')}/v1/certificates/BW/BW/2026/0005").status_code == 200
