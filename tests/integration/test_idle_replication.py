"""A network at idle fetches, verifies and writes nothing; a new record still reaches everyone.

Real ``kp-node`` processes on loopback (decision 0033). Anti-entropy runs fast here (a 0.2 s
tick backing off to 0.4 s) so that many polls happen while the test waits; what is asserted is
counted by the nodes themselves in ``/metrics``, never a duration.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from node.core import notes
from tests.support.network import Devnet, Submitter, devnet, fast_replication

MEMBERS = ("BW", "CA", "EU")
COUNTERS = ("polls", "checks", "fetches", "writes", "verifications")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    root: Path = tmp_path_factory.mktemp("idle")
    with fast_replication("0.2", "0.4"), devnet(root, ",".join(MEMBERS)) as running:
        yield running


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _counters(net: Devnet, member: str) -> dict[str, float]:
    text = httpx.get(f"{net.url(member)}/metrics", timeout=10).text
    found = dict.fromkeys(COUNTERS, 0.0)
    for what in COUNTERS:
        match = re.search(rf"^kp_replication_{what}_total (\S+)$", text, re.MULTILINE)
        if match is not None:
            found[what] = float(match[1])
    return found


def _sizes(net: Devnet, member: str) -> dict[str, int]:
    listing = httpx.get(f"{net.url(member)}/v1/logs", params={"notes": "false"}).json()
    return {item["log"]: item["size"] for item in listing}


def _converged(net: Devnet) -> bool:
    first = _sizes(net, MEMBERS[0])
    return len(first) == len(MEMBERS) and all(_sizes(net, m) == first for m in MEMBERS)


def _quiet(net: Devnet, polls: int) -> dict[str, dict[str, float]]:
    """Wait until every node has polled ``polls`` times with no replication write anywhere;
    return the counters at the start of that stretch."""
    start = {m: _counters(net, m) for m in MEMBERS}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = {m: _counters(net, m) for m in MEMBERS}
        if any(now[m]["writes"] != start[m]["writes"] for m in MEMBERS):
            start = now  # still settling: begin the stretch again
            continue
        if all(now[m]["polls"] - start[m]["polls"] >= polls for m in MEMBERS):
            return start
    pytest.fail("the network did not go quiet")


def test_an_idle_network_fetches_verifies_and_writes_nothing(net: Devnet) -> None:
    _wait(lambda: _converged(net), 60, "every node to hold every log")
    before = _quiet(net, polls=4)
    # Polls go on: enough for each node to ask each of its two peers several times.
    _wait(
        lambda: all(_counters(net, m)["polls"] - before[m]["polls"] >= 8 for m in MEMBERS),
        60,
        "more anti-entropy polls",
    )
    after = {m: _counters(net, m) for m in MEMBERS}
    for member in MEMBERS:
        assert after[member]["checks"] > before[member]["checks"], member
        for what in ("fetches", "writes", "verifications"):
            assert after[member][what] == before[member][what], (member, what)


def test_a_new_record_reaches_every_replica_witnessed_after_idling(net: Devnet) -> None:
    _wait(lambda: _converged(net), 60, "every node to hold every log")
    _quiet(net, polls=4)  # anti-entropy has backed off: the push must carry the change
    submitter = Submitter(net, "BW")
    receipt = submitter.submit(
        "parcel.produce",
        {
            "parcel": "BW-IDLE-1",
            "mine": "mine",
            "produced_on": time.strftime("%Y-%m-%d", time.gmtime()),
            "centicarats": 1234,
            "hs_code": "7102.10",
            "holder": "mine",
        },
        by="mine",
    )
    submitter.close()
    size = receipt.seq + 1
    vkey = net.description["participants"]["BW"]["log_vkey"]

    def witnessed_everywhere() -> bool:
        for member in MEMBERS:
            answer = httpx.get(f"{net.url(member)}/v1/logs/BW/checkpoint", timeout=10)
            if answer.status_code != 200:
                return False
            text, _ = notes.verify_note(answer.text, [vkey])
            if notes.Checkpoint.parse(text).size < size:
                return False
        return True

    _wait(witnessed_everywhere, 60, "every node to serve BW's new checkpoint witnessed")
    for member in MEMBERS:
        got = httpx.get(f"{net.url(member)}/v1/entries/{receipt.entry_hash.hex()}", timeout=10)
        assert got.status_code == 200, member
        assert got.json()["seq"] == receipt.seq
