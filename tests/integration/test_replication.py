"""A network of real nodes: replication, witnessing, faults and lies (DESIGN §8).

Five participants and an observer run as ``kp-node run`` processes on loopback. The scenario of
the domain issue runs through HTTP; then nodes are killed, wiped and lied to, and every honest
node must end with identical, witnessed copies of every log, or with evidence.
"""

from __future__ import annotations

import base64
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
import msgpack
import pytest

from node.core import crypto, merkle, notes
from node.core.encoding import encode
from node.core.records import LOG_SIGNER, Entry, sign_record
from node.dev.scenario import run_scenario
from node.engine.store import Store
from tests.support.network import REPO, Devnet, Submitter, devnet

MEMBERS = ("BW", "CA", "EU", "AE", "IN", "WDC")
_STARTED: dict[str, subprocess.Popen[bytes]] = {}  # nodes this module restarted itself


def wait_until(check: Callable[[], bool], seconds: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}")


def logs_of(url: str) -> dict[str, tuple[int, str]]:
    return {
        item["log"]: (item["size"], item["root"]) for item in httpx.get(f"{url}/v1/logs").json()
    }


def identical(net: Devnet, members: tuple[str, ...]) -> bool:
    try:
        views = [logs_of(net.url(m)) for m in members]
    except httpx.HTTPError:
        return False
    return all(view == views[0] for view in views) and len(views[0]) == len(MEMBERS)


def start_node(net: Devnet, member: str) -> None:
    data_dir = Path(net.description["participants"][member]["data_dir"])
    with (data_dir / "node.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(data_dir)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _STARTED[member] = process
    net.description["participants"][member]["pid"] = process.pid
    (net.root / "devnet.json").write_text(json.dumps(net.description))
    wait_until(lambda: _healthy(net.url(member)), 30, f"{member} to start")


def kill_node(net: Devnet, member: str, sig: int = signal.SIGKILL) -> None:
    pid = net.description["participants"][member]["pid"]
    os.kill(pid, sig)
    if member in _STARTED:
        _STARTED.pop(member).wait(timeout=20)
    wait_until(lambda: not _healthy(net.url(member)), 10, f"{member} to stop")
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 10)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _witnessed(net: Devnet, holder: str, member: str, vkey: str, quorum: int) -> bool:
    response = httpx.get(f"{net.url(holder)}/v1/logs/{member}/checkpoint")
    if response.status_code != 200:
        return False
    notes.verify_note(response.text, [vkey])
    return len(notes.cosigners(response.text, cosigner_keys(net, member))) >= quorum


def cosigner_keys(net: Devnet, exclude: str) -> list[str]:
    return [p["witness_vkey"] for m, p in net.description["participants"].items() if m != exclude]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    os.environ["KP_NODE_REPLICATION_INTERVAL"] = "0.5"
    try:
        with devnet(tmp_path_factory.mktemp("net"), "BW,CA,EU,AE,IN", observers="WDC") as running:
            running.description["scenario"] = run_scenario(running.description)
            yield running
    finally:
        del os.environ["KP_NODE_REPLICATION_INTERVAL"]
        for process in _STARTED.values():  # stopped by `devnet down`; reap them
            process.wait(timeout=20)
        _STARTED.clear()


def test_scenario_leaves_identical_witnessed_copies_everywhere(net: Devnet) -> None:
    wait_until(lambda: identical(net, MEMBERS), 30, "identical copies of every log")
    quorum = 2
    for member in ("BW", "CA", "EU", "AE", "IN"):
        vkey = net.description["participants"][member]["log_vkey"]
        for holder in MEMBERS:  # any node serves any log it holds, with its cosignatures
            wait_until(
                lambda h=holder, m=member, k=vkey: _witnessed(net, h, m, k, quorum),
                30,
                f"{holder}'s copy of {member} to be witnessed",
            )
    # India's final confirmation is in India's log, and its whole DAG reaches both mines.
    final = net.description["scenario"]["final"]
    bundle = httpx.get(f"{net.url('IN')}/v1/provenance/{final}?depth=all").json()
    kinds = {}
    for item in bundle["entries"]:
        entry = Entry.parse(base64.b64decode(item["entry"]))
        kinds.setdefault(entry.signed.type, set()).add(item["log"])
    assert kinds["parcel.produce"] == {"BW", "CA"}


def test_killed_node_catches_up_and_loses_nothing(net: Devnet) -> None:
    kill_node(net, "CA")
    submitter = Submitter(net, "BW")
    receipts = [
        submitter.submit(
            "parcel.produce",
            {
                "parcel": f"BW-K-{i}",
                "mine": "mine",
                "produced_on": time.strftime("%Y-%m-%d", time.gmtime()),
                "centicarats": 1000 + i,
                "hs_code": "7102.10",
                "holder": "mine",
            },
            by="mine",
        )
        for i in range(20)
    ]
    submitter.close()
    start_node(net, "CA")
    wait_until(lambda: identical(net, MEMBERS), 30, "CA to catch up")
    for receipt in receipts:
        got = httpx.get(f"{net.url('CA')}/v1/entries/{receipt.entry_hash.hex()}")
        assert got.status_code == 200
        assert got.json()["seq"] == receipt.seq


def test_origin_down_its_log_is_served_and_verifiable_by_peers(net: Devnet) -> None:
    kill_node(net, "BW", signal.SIGTERM)
    try:
        vkey = net.description["participants"]["BW"]["log_vkey"]
        note = httpx.get(f"{net.url('EU')}/v1/logs/BW/checkpoint").text
        text, _ = notes.verify_note(note, [vkey])
        checkpoint = notes.Checkpoint.parse(text)
        assert len(notes.cosigners(note, cosigner_keys(net, "BW"))) >= 2
        proof = httpx.get(
            f"{net.url('EU')}/v1/logs/BW/proof/inclusion",
            params={"index": 3, "size": checkpoint.size},
        ).json()
        page = httpx.get(f"{net.url('AE')}/v1/logs/BW/entries", params={"start": 3, "end": 4})
        [raw] = msgpack.unpackb(page.content)
        merkle.verify_inclusion(
            merkle.leaf_hash(raw),
            3,
            checkpoint.size,
            [base64.b64decode(h) for h in proof["hashes"]],
            checkpoint.root,
        )
    finally:
        start_node(net, "BW")


def _wipe(net: Devnet, member: str) -> Path:
    """Stop ``member`` and lose its store; keys and settings stay."""
    kill_node(net, member, signal.SIGTERM)
    data_dir = Path(net.description["participants"][member]["data_dir"])
    shutil.rmtree(data_dir / "store")
    (data_dir / "store").mkdir(mode=0o700)
    return data_dir


def _kp_node(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args], cwd=REPO, capture_output=True, text=True
    )


def _health(net: Devnet, member: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{net.url(member)}/healthz", timeout=5).json()
    return answer


def test_fresh_observer_restores_every_log_from_peers(net: Devnet) -> None:
    data_dir = _wipe(net, "WDC")
    # A restored node is given the trust root, and nothing else.
    result = _kp_node("restore", "--dir", str(data_dir), str(net.root / "genesis.charter"))
    assert result.returncode == 0, result.stderr
    start_node(net, "WDC")
    wait_until(lambda: identical(net, MEMBERS), 60, "WDC to restore every log")
    wait_until(lambda: not _health(net, "WDC")["restoring"], 30, "WDC to end its restore")


def test_wiped_participant_gets_its_own_log_back_and_appends_again(net: Devnet) -> None:
    before = logs_of(net.url("EU"))["IN"]
    data_dir = _wipe(net, "IN")
    result = _kp_node("restore", "--dir", str(data_dir), str(net.root / "genesis.charter"))
    assert result.returncode == 0, result.stderr
    # Adopting into a store being restored would sign a second history: refused.
    refused = _kp_node(
        "charter", "adopt", "--dir", str(data_dir), str(net.root / "genesis.charter")
    )
    assert refused.returncode == 1, refused.stderr
    assert "node.restoring" in refused.stderr
    start_node(net, "IN")
    wait_until(lambda: not _health(net, "IN")["restoring"], 90, "IN to restore its own log")
    assert logs_of(net.url("IN"))["IN"] == before
    wait_until(lambda: identical(net, MEMBERS), 60, "IN to restore every log")
    # Its sequencer started by itself: IN appends on top of the restored log, and peers cosign.
    submitter = Submitter(net, "IN")
    try:
        receipt = submitter.submit(
            "parcel.produce",
            {
                "parcel": "IN-R-1",
                "mine": "mine",
                "produced_on": time.strftime("%Y-%m-%d", time.gmtime()),
                "centicarats": 1000,
                "hs_code": "7102.10",
                "holder": "mine",
            },
            by="mine",
        )
    finally:
        submitter.close()
    assert receipt.seq == before[0]
    vkey = net.description["participants"]["IN"]["log_vkey"]
    for holder in ("BW", "EU"):
        wait_until(
            lambda h=holder: (
                logs_of(net.url(h))["IN"][0] == before[0] + 1 and _witnessed(net, h, "IN", vkey, 2)
            ),
            30,
            f"{holder} to hold and cosign IN's new entry",
        )
    with httpx.Client() as client:
        assert client.get(f"{net.url('EU')}/v1/evidence").json() == []


def _tamper(net: Devnet, member: str, build: Callable[[Any, Any], None]) -> None:
    """Stop ``member`` and let ``build`` write into its store behind its rules."""
    kill_node(net, member, signal.SIGTERM)
    data_dir = Path(net.description["participants"][member]["data_dir"])
    store = Store.open(data_dir / "store", map_size=1 << 30)
    try:
        build(store, crypto.load_private_key(data_dir / "keys" / "log.pem"))
    finally:
        store.close()
    start_node(net, member)


def test_an_invalid_entry_is_evidence_everywhere(net: Devnet) -> None:
    origin = f"{net.description['network']}/AE"

    def append_invalid(store: Store, log_key: Any) -> None:
        record = {
            "v": 1,
            "type": "parcel.produce",
            "log": "AE",
            "time": time.time_ns() // 10**6,
            "body": {
                "parcel": "CONFLICT-1",
                "mine": "nowhere",
                "produced_on": "2026-01-01",
                "centicarats": 5_000_000,
                "hs_code": "7102.10",
                "holder": "trader",
            },
            "sealed": {},
        }
        signed = sign_record(record, [(LOG_SIGNER, log_key)])
        with store.write() as writer:
            log = writer.log("AE")
            size = log.size()
            entry = Entry(
                seq=size, prev=log.leaf_hash(size - 1), time=record["time"], signed=signed
            )
            log.append(entry.encode(), signed.record_hash)
            text = notes.Checkpoint(origin, size + 1, log.root(size + 1)).to_text()
            log.put_checkpoint(size + 1, notes.sign_note(text, origin, log_key))

    _tamper(net, "AE", append_invalid)
    honest = ("BW", "CA", "EU", "IN", "WDC")
    for member in honest:
        wait_until(
            lambda m=member: any(
                e["log"] == "AE" and e["code"] == "mine.unknown"
                for e in httpx.get(f"{net.url(m)}/v1/evidence").json()
            ),
            30,
            f"{member} to find the invalid entry",
        )
        assert "kp_evidence 1.0" in httpx.get(f"{net.url(member)}/metrics").text
    # Nobody cosigns the lie; everything else goes on being witnessed.
    for member in honest:
        assert logs_of(net.url(member))["AE"][0] < logs_of(net.url("AE"))["AE"][0]
    submitter = Submitter(net, "CA")
    response = submitter.client.post(
        "/v1/records",
        params={"wait": "witnessed"},
        content=encode(
            submitter.signed(
                "parcel.produce",
                {
                    "parcel": "CA-AFTER",
                    "mine": "mine",
                    "produced_on": time.strftime("%Y-%m-%d", time.gmtime()),
                    "centicarats": 100,
                    "hs_code": "7102.10",
                    "holder": "mine",
                },
                by="mine",
            )
        ),
        headers={"content-type": "application/msgpack"},
    )
    assert response.status_code == 200
    assert response.json()["witnessed"] is True
    submitter.close()


def test_a_forked_checkpoint_is_evidence_and_never_cosigned(net: Devnet) -> None:
    data_dir = Path(net.description["participants"]["IN"]["data_dir"])
    log_key = crypto.load_private_key(data_dir / "keys" / "log.pem")
    origin = f"{net.description['network']}/IN"
    honest = ("BW", "CA", "EU", "AE", "WDC")
    for member in honest:
        genuine = httpx.get(f"{net.url(member)}/v1/logs/IN/checkpoint?latest=1").text
        # What this witness cosigned for IN last: a 409 to `old 0` says it (a witness that never
        # cosigned IN, like the restored observer, cosigns the genuine checkpoint instead).
        probe = httpx.post(
            f"{net.url(member)}/witness/add-checkpoint", content=f"old 0\n\n{genuine}".encode()
        )
        if probe.status_code == 409:
            assert probe.headers["content-type"] == "text/x.tlog.size"
            cosigned = int(probe.text)
        else:
            assert probe.status_code == 200, probe.text
            cosigned = notes.Checkpoint.parse(notes.parse_note(genuine).text).size
        # The same size with another root, signed with India's real log key: self-evident.
        fork = notes.sign_note(
            notes.Checkpoint(origin, cosigned, b"\x66" * 32).to_text(), origin, log_key
        )
        answer = httpx.post(
            f"{net.url(member)}/witness/add-checkpoint",
            content=f"old {cosigned}\n\n{fork}".encode(),
        )
        assert answer.status_code == 409, answer.text
        # A bigger tree with a proof that does not hold: refused, never cosigned.
        grown = notes.sign_note(
            notes.Checkpoint(origin, cosigned + 5, b"\x77" * 32).to_text(), origin, log_key
        )
        bogus = base64.b64encode(b"\x01" * 32).decode()
        answer = httpx.post(
            f"{net.url(member)}/witness/add-checkpoint",
            content=f"old {cosigned}\n{bogus}\n\n{grown}".encode(),
        )
        assert answer.status_code in (409, 422), answer.text
        evidence = httpx.get(f"{net.url(member)}/v1/evidence").json()
        assert any(e["log"] == "IN" and e["kind"] == "fork" for e in evidence)
        # Quarantined: even the genuine checkpoint is no longer cosigned.
        again = httpx.post(
            f"{net.url(member)}/witness/add-checkpoint",
            content=f"old {cosigned}\n\n{genuine}".encode(),
        )
        assert again.status_code != 200


def test_explorer_shows_the_chain_and_its_checks(net: Devnet) -> None:
    url = net.url("IN")

    def valid() -> bool:
        page = httpx.get(url, params={"q": "AE-2026-0007"}, follow_redirects=True).text
        return 'data-status="confirmed"' in page and "VALID — CONFIRMED by IN on" in page

    wait_until(valid, 30, "the explorer to show the re-export as VALID, and confirmed")
    found = httpx.get(url, params={"q": "AE-2026-0007"})
    assert found.status_code == 303  # to the page its QR code leads to
    location = found.headers["location"]
    assert location.startswith("/verify/")
    page = httpx.get(url + location).text
    assert '<h1 id="status-word" class="status-word">ALREADY CONFIRMED</h1>' in page
    assert "BW, CA" in page  # both mining origins, as the seeded parcel carries them
    # The bounded bundle (decision 0039): the re-export and the import that made its parcel;
    # the EU's parcel behind them is seeded, the mines' certificates are not replayed.
    for number in ("EU-2026-0102", "AE-2026-0007"):
        assert number in page
    assert "Production ·" not in page
    assert "the history behind 1 parcel (origins BW, CA;" in page
    hostile = httpx.get(url, params={"q": "<script>alert(1)</script>"})
    assert hostile.status_code == 400
    assert hostile.headers["content-type"] == "text/html; charset=utf-8"
    assert "<script>" not in hostile.text
    over_long = httpx.get(url, params={"q": "x" * 129})
    assert over_long.status_code == 400
    assert over_long.headers["content-type"] == "text/html; charset=utf-8"
    # The lookup box reads a number as the ledger does (decision 0025).
    assert httpx.get(url, params={"q": "ae 2026/0007"}).headers["location"] == location
    unknown = httpx.get(url, params={"q": "AE-2099-0001"})
    assert unknown.status_code == 404
    assert "NOT FOUND — POSSIBLY FORGED" in unknown.text
    assert "No certificate numbered AE-2099-0001 is on the ledger." in unknown.text
    malformed = httpx.get(url, params={"q": "AE;1"})
    assert malformed.status_code == 400
    assert "participant id (2 to 8 letters)" in malformed.text
    forged = httpx.get(url, params={"q": "ab" * 32})
    assert forged.status_code == 404
    assert "No entry with this hash is on the ledger." in forged.text
