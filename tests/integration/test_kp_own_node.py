"""``kp submit`` writes only to the node of the record's own log: when that node is not among
those given, or does not answer, nothing is sent anywhere and the command says so (exit 5); a
lost answer is retried with the same signed bytes, so one invocation appends one entry.

Real nodes: a two-member devnet whose BW node is stopped by the last test.
"""

from __future__ import annotations

import datetime
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.test_kp_cli import kp_json
from tests.support.network import Devnet, devnet
from tests.support.proxy import losing_relay

EXIT_NOT_SUBMITTED = 5


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with devnet(tmp_path_factory.mktemp("net"), "BW,EU") as running:
        yield running


def _sizes(net: Devnet, member: str) -> dict[str, int]:
    logs = httpx.get(f"{net.url(member)}/v1/logs").json()
    return {log["log"]: int(log["size"]) for log in logs}


def _refused(net: Devnet, member: str) -> float:
    """Records the node has refused, of any code: a record sent to the wrong node counts here."""
    text = httpx.get(f"{net.url(member)}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("kp_records_refused_total{")
    )


def _produce(net: Devnet, parcel: str, *nodes: str) -> tuple[int, dict[str, object]]:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    key_file = net.description["participants"]["BW"]["operators"]["mine"]["key_file"]
    node_args = [arg for url in nodes for arg in ("--node", url)]
    return kp_json(
        "submit", "produce", parcel, "--centicarats", "1000", "--hs-code", "7102.10",
        "--produced-on", today, "--key-file", key_file, "--operator", "mine", "--log", "BW",
        "--timeout", "3", *node_args,
    )  # fmt: skip


def test_a_record_is_sent_to_its_own_node_whatever_order_the_nodes_are_given(
    net: Devnet,
) -> None:
    before = _sizes(net, "BW")
    code, receipt = _produce(net, "BW-OWN-1", net.url("EU"), net.url("BW"))
    assert code == 0, receipt
    assert (receipt["node"], receipt["log"]) == (net.url("BW"), "BW")
    assert _sizes(net, "BW")["BW"] == before["BW"] + 1


def test_no_node_of_the_records_log_given_sends_nothing(net: Devnet) -> None:
    before = _sizes(net, "BW")["BW"], _refused(net, "EU")
    code, answer = _produce(net, "BW-OWN-2", net.url("EU"))
    assert code == EXIT_NOT_SUBMITTED, answer
    assert answer["status"] == "not_submitted"
    assert "none of the nodes given is BW's node" in answer["detail"]
    assert net.url("BW") in answer["detail"]  # where the charter says BW's node is
    assert "record.wrong_log" not in str(answer)
    assert (_sizes(net, "BW")["BW"], _refused(net, "EU")) == before


def test_a_lost_answer_is_resent_with_the_same_bytes_and_appends_once(net: Devnet) -> None:
    before = _sizes(net, "BW")["BW"]
    with losing_relay(net.url("BW"), mode="cut") as relay:
        code, receipt = _produce(net, "BW-OWN-3", relay.url)
    assert code == 0, receipt
    assert len(relay.posted) == 2
    assert relay.posted[0] == relay.posted[1]
    assert _sizes(net, "BW")["BW"] == before + 1


def test_when_the_records_own_node_is_down_nothing_is_submitted(net: Devnet) -> None:
    # Last: stops BW's node.
    eu_refused = _refused(net, "EU")
    pid = int(net.description["participants"]["BW"]["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{net.url('BW')}/healthz", timeout=0.5)
        except httpx.HTTPError:
            break
        time.sleep(0.1)
    code, answer = _produce(net, "BW-OWN-4", net.url("BW"), net.url("EU"))
    assert code == EXIT_NOT_SUBMITTED, answer
    assert answer["code"] == "node.own_unavailable"
    assert answer["detail"] == (
        f"BW's node at {net.url('BW')} does not answer: records of log BW are written only "
        "there; nothing was submitted"
    )
    assert _refused(net, "EU") == eu_refused  # not sent to EU's node either
    code, alone = _produce(net, "BW-OWN-5", net.url("BW"))
    assert (code, alone["code"]) == (EXIT_NOT_SUBMITTED, "node.own_unavailable")
