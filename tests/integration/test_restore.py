"""A participant that loses its disk gets its own log back from its peers (node/engine/restore.py).

Three participants on loopback. IN mines and certifies parcels to BW, and BW confirms each of
them, so BW's own log refers to IN's log throughout, more than two thousand entries in all.
BW's store is then wiped, and BW restores while EU is down and IN alone serves: BW's own log
comes first in every listing, and its entries wait on IN's, so they are held and applied as
IN's arrive. BW is killed in the middle and goes on where it stopped. Once back, it appends on
top of its old log and its peers cosign what it appends; nowhere is there evidence of a fork.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.sdk import LedgerClient, Operator, ProblemError
from node.core import notes
from node.core.receipt import Receipt
from tests.support.network import REPO, Devnet, devnet, fast_replication

ROUNDS = 700  # each: IN produces and certifies a parcel, BW confirms it
BATCH = 100
HS = "7102.10"
ENTRIES_ROUTE = 'route="/v1/logs/{log_id}/entries"'


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _data_dir(net: Devnet, member: str) -> Path:
    return Path(net.description["participants"][member]["data_dir"])


def _operator(net: Devnet, member: str, name: str) -> Operator:
    return Operator(member, name, net.operator_key(member, name))


def _sizes(net: Devnet, member: str) -> dict[str, int]:
    listing = httpx.get(f"{net.url(member)}/v1/logs", timeout=5).json()
    return {item["log"]: item["size"] for item in listing}


def _health(net: Devnet, member: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{net.url(member)}/healthz", timeout=5).json()
    return answer


def _entry_pages_served(net: Devnet, member: str) -> int:
    text = httpx.get(f"{net.url(member)}/metrics", timeout=5).text
    return sum(
        int(float(line.split()[-1]))
        for line in text.splitlines()
        if line.startswith("kp_request_seconds_count") and ENTRIES_ROUTE in line
    )


def _stop(net: Devnet, member: str, sig: int = signal.SIGTERM) -> None:
    pid = net.description["participants"][member]["pid"]
    os.kill(pid, sig)
    _wait(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 20, f"{member} to stop")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


_STARTED: list[subprocess.Popen[bytes]] = []


def _start(net: Devnet, member: str) -> None:
    data_dir = _data_dir(net, member)
    with (data_dir / "node.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(data_dir)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _STARTED.append(process)
    net.description["participants"][member]["pid"] = process.pid
    (net.root / "devnet.json").write_text(json.dumps(net.description))
    _wait(lambda: httpx.get(f"{net.url(member)}/healthz", timeout=1).is_success, 30, member)


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def _in_days(days: int) -> str:
    return (datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=days)).isoformat()


def _submit_all(client: LedgerClient, items: list[Any]) -> list[Receipt]:
    receipts = []
    for start in range(0, len(items), BATCH):
        for result in client.submit_batch(items[start : start + BATCH]):
            assert isinstance(result, Receipt), result
            receipts.append(result)
    return receipts


def _trade(net: Devnet) -> None:
    """IN mines and certifies ROUNDS parcels to BW; BW confirms every one."""
    mine, officer = _operator(net, "IN", "mine"), _operator(net, "IN", "officer")
    bw_officer = _operator(net, "BW", "officer")
    with LedgerClient(net.url("IN"), timeout=60) as india:
        produced = _submit_all(
            india,
            [
                mine.produce(
                    f"IN-P-{i}",
                    centicarats=1_000,
                    hs_code=HS,
                    produced_on=_today(),
                    holder="trader",
                )
                for i in range(ROUNDS)
            ],
        )
        certificates = _submit_all(
            india,
            [
                officer.certify(
                    f"IN-2026-{i:05d}",
                    exporter="trader",
                    importing="BW",
                    parcels=[receipt.parcel_ref()],
                    centicarats=1_000,
                    hs_codes=[HS],
                    origins=["IN"],
                    issued_on=_today(),
                    expires_on=_in_days(30),
                    value_usd_cents=1_000_000,
                    exporter_name="Exporter in IN",
                    importer_name="Importer in BW",
                    seal_number=f"SEAL-{i}",
                )
                for i, receipt in enumerate(produced)
            ],
        )
    _wait(
        lambda: _sizes(net, "BW").get("IN", 0) >= certificates[-1].seq + 1,
        120,
        "BW to replicate IN",
    )
    with LedgerClient(net.url("BW"), timeout=60) as botswana:
        _submit_all(
            botswana,
            [
                bw_officer.confirm(
                    receipt.entry_ref(),
                    received_on=_today(),
                    parcels=[(f"BW-IN-{i}", 1_000, HS)],
                    holder="trader",
                )
                for i, receipt in enumerate(certificates)
            ],
        )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with fast_replication(), devnet(tmp_path_factory.mktemp("restore"), "BW,EU,IN") as running:
        try:
            yield running
        finally:  # the nodes this module started are its own to stop
            for process in _STARTED:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()


def test_wiped_node_restores_its_own_log_with_a_peer_down_and_a_kill_midway(net: Devnet) -> None:
    _trade(net)
    _wait(
        lambda: _sizes(net, "IN") == _sizes(net, "BW") == _sizes(net, "EU"),
        120,
        "every node to hold every log",
    )
    held = _sizes(net, "IN")
    assert held["BW"] > ROUNDS

    _stop(net, "BW")
    _stop(net, "EU")  # one peer down throughout: IN alone serves the restore
    _stop(net, "IN")  # and, at first, no peer at all
    data_dir = _data_dir(net, "BW")
    shutil.rmtree(data_dir / "store")
    (data_dir / "store").mkdir(mode=0o700)
    restore = subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "restore",
            "--dir",
            str(data_dir),
            str(net.root / "genesis.charter"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert restore.returncode == 0, restore.stderr

    _start(net, "BW")
    time.sleep(1)  # a few rounds of asking peers that do not answer
    assert _health(net, "BW")["restoring"]
    _stop(net, "BW", signal.SIGKILL)  # killed while restoring: it goes on restoring
    _start(net, "BW")
    assert _health(net, "BW")["restoring"]
    _start(net, "IN")
    pages_before = _entry_pages_served(net, "IN")
    _wait(lambda: not _health(net, "BW")["restoring"], 180, "BW to end its restore")
    assert _sizes(net, "BW") == held

    # Each page of each log was fetched about once, though BW's own entries waited on IN's.
    pages_needed = sum(-(-size // 1000) for size in held.values())
    served = _entry_pages_served(net, "IN") - pages_before
    assert served <= 2 * pages_needed + 3, (served, pages_needed)

    # The sequencer started by itself, on top of the restored log.
    _start(net, "EU")
    bw_mine = _operator(net, "BW", "mine")
    with LedgerClient(net.url("BW"), timeout=60) as botswana:
        receipt = botswana.submit(
            *bw_mine.produce("BW-AFTER-1", centicarats=500, hs_code=HS, produced_on=_today())
        )
    assert receipt.seq == held["BW"]
    vkey = net.description["participants"]["BW"]["log_vkey"]
    witnesses = [p["witness_vkey"] for m, p in net.description["participants"].items() if m != "BW"]

    def cosigned_everywhere() -> bool:
        for holder in ("EU", "IN"):
            note = httpx.get(f"{net.url(holder)}/v1/logs/BW/checkpoint", timeout=5).text
            text, _ = notes.verify_note(note, [vkey])
            if notes.Checkpoint.parse(text).size != held["BW"] + 1:
                return False
            if len(notes.cosigners(note, witnesses)) < 2:
                return False
        return True

    _wait(cosigned_everywhere, 60, "EU and IN to hold and cosign BW's new entry")
    for member in ("BW", "EU", "IN"):
        assert httpx.get(f"{net.url(member)}/v1/evidence", timeout=5).json() == []


def test_records_are_refused_while_restoring(net: Devnet, tmp_path: Path) -> None:
    """A store being restored takes no records, and says why."""
    _stop(net, "EU")
    data_dir = _data_dir(net, "EU")
    restore = subprocess.run(
        [sys.executable, "-m", "node.cli", "restore", "--dir", str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert restore.returncode == 0, restore.stderr  # a store put back from a backup
    _stop(net, "BW")  # EU hears from no peer: it stays restoring
    _stop(net, "IN")
    _start(net, "EU")
    assert _health(net, "EU")["restoring"]
    trader = _operator(net, "EU", "trader")
    record = trader.produce("EU-P-1", centicarats=100, hs_code=HS, produced_on=_today())
    with (
        LedgerClient(net.url("EU"), timeout=30, retries=0) as eu,
        pytest.raises(ProblemError) as refused,
    ):
        eu.submit(*record)
    assert (refused.value.status, refused.value.code) == (503, "node.restoring")
    _start(net, "BW")
    _start(net, "IN")
    _wait(lambda: not _health(net, "EU")["restoring"], 60, "EU to end its restore")
