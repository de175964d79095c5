"""``kp verify --timeout`` bounds every request online verification makes: the SDK clients that
cross-examine the nodes wait that long for a node that never answers, not the SDK's default."""

from __future__ import annotations

import json
import time

import pytest

from client.cli import main
from client.online import verify_online
from client.sdk import LedgerClient
from tests.support.proxy import silent_node

SUBJECT = "ab" * 32
GENESIS = "cd" * 32
# Two attempts (the first retried once) of TIMEOUT each, and the backoff between them, are
# about 0.8 s; the SDK's default of 10 s would take 20.
TIMEOUT = 0.3
WITHIN = 5.0


def test_the_sdk_default_is_longer_than_the_bound_here() -> None:
    assert LedgerClient("http://node")._http.timeout.read == 10.0  # what --timeout replaces
    assert WITHIN < 2 * 10.0


def test_verify_online_waits_its_timeout_for_a_silent_node() -> None:
    with silent_node() as url:
        started = time.monotonic()
        online = verify_online([url], SUBJECT, bytes.fromhex(GENESIS), timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    assert elapsed < WITHIN
    assert not online.decided
    assert online.unreachable == (url,)


def test_kp_verify_timeout_reaches_online_verification(capsys: pytest.CaptureFixture[str]) -> None:
    with silent_node() as url:
        started = time.monotonic()
        code = main(
            [
                *("verify", SUBJECT, "--node", url, "--trust", GENESIS),
                *("--timeout", str(TIMEOUT), "--json"),
            ]
        )
        elapsed = time.monotonic() - started
    assert elapsed < WITHIN
    assert code == 2  # could not decide: no node answered
    assert json.loads(capsys.readouterr().out)["status"] == "undecided"
