"""A real devnet holding the README's chain of custody and certificates in distinct states, for
tests that look at them as a person would (tests/browser/).

``certificate_states`` starts the five participants of the scenario and an observer (``kp-node
devnet up``), runs the scenario (``kp-node devnet scenario``: every certificate in it is
confirmed), and has Botswana certify two more shipments to the EU: one valid for 30 days
(usable), one for a single day. Once the observer holds every log it is served again with its
clock ``LATER_DAYS`` ahead (tests/support/later_node.py), where that second certificate has
expired — the nodes date records by the wall clock and refuse a certificate already expired, so
no node of today can show one. Each ``Shown`` names the node whose pages show it in its state.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from client.sdk import LedgerClient, Operator
from node.core import crypto
from node.core.receipt import Receipt
from tests.support.network import REPO, Devnet, devnet, fast_replication, kp_node

__all__ = ["LATER_DAYS", "MEMBERS", "OBSERVER", "CertificateStates", "Shown", "certificate_states"]

MEMBERS = "BW,CA,EU,AE,IN"
OBSERVER = "WDC"
LATER_DAYS = 2
"""How far ahead the observer's clock runs: past the one-day certificate, not the others."""

SETTLE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Shown:
    """A certificate, and the node whose pages show it in the state it is named for.

    Attributes:
        number: its certificate number (``BW-2026-0001``).
        entry_hash: the hex hash of the entry that issued it.
        node_url: the base URL of the node to ask.
    """

    number: str
    entry_hash: str
    node_url: str


@dataclass(frozen=True, slots=True)
class CertificateStates:
    """The running network and what it holds.

    Attributes:
        net: the devnet (``net.url("BW")``, operator keys, ``description["genesis"]``).
        scenario: every scenario step's entry hash, by step name (``bw_certificate`` …
            ``final``), as ``kp-node devnet scenario`` recorded them.
        later_url: the observer's base URL, its clock ``LATER_DAYS`` ahead.
        certificates: ``usable``, ``confirmed`` and ``expired``.
    """

    net: Devnet
    scenario: dict[str, str]
    later_url: str
    certificates: dict[str, Shown]

    @property
    def genesis(self) -> str:
        return str(self.net.description["genesis"])


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.25)


def _sizes(url: str) -> dict[str, int]:
    try:
        answer = httpx.get(f"{url}/v1/logs", params={"notes": "false"}, timeout=10)
    except httpx.HTTPError:
        return {}
    return {info["log"]: info["size"] for info in answer.json()} if answer.is_success else {}


def _certify(net: Devnet, number: str, parcel: str, valid_days: int) -> Receipt:
    """BW's mine produces ``parcel`` and BW's officer certifies it to the EU."""
    keys = net.description["participants"]["BW"]["operators"]
    mine, officer = (
        Operator("BW", name, crypto.load_private_key(Path(keys[name]["key_file"])))
        for name in ("mine", "officer")
    )
    today = datetime.datetime.now(datetime.UTC).date()
    with LedgerClient(net.url("BW"), timeout=60) as client:
        produced = client.submit(
            *mine.produce(parcel, centicarats=20_000, hs_code="7102.10", produced_on=str(today)),
            wait="witnessed",
        )
        return client.submit(
            *officer.certify(
                number,
                exporter="mine",
                importing="EU",
                parcels=[produced.parcel_ref(0)],
                centicarats=20_000,
                hs_codes=["7102.10"],
                origins=["BW"],
                issued_on=str(today),
                expires_on=str(today + datetime.timedelta(days=valid_days)),
                value_usd_cents=3_000_000,
                exporter_name="Jwaneng Diamonds",
                importer_name="Antwerp Rough NV",
                seal_number="S-BROWSER",
            ),
            wait="witnessed",
        )


def _stop(pid: int) -> None:
    """Stop a node ``devnet up`` started (not our child: its own session)."""
    os.kill(pid, signal.SIGTERM)
    _wait(lambda: not Path(f"/proc/{pid}").exists(), 30, f"node {pid} to stop")


@contextmanager
def _later_node(data_dir: Path, url: str) -> Iterator[str]:
    log = (data_dir / "later-node.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.later_node", str(data_dir), str(LATER_DAYS)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                tail = (data_dir / "later-node.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the later node exited {process.returncode}:\n{tail}")
            try:
                return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, 60, "the later node to answer")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def certificate_states(root: Path) -> Iterator[CertificateStates]:
    """The network of this module's docstring, stopped when the block ends."""
    with fast_replication(), devnet(root, MEMBERS, observers=OBSERVER) as net:
        kp_node("devnet", "scenario", "--dir", str(root), timeout=600)
        scenario: dict[str, str] = json.loads((root / "devnet.json").read_text())["scenario"]
        usable = _certify(net, "BW-2026-9001", "BW-BROWSER-1", valid_days=30)
        expiring = _certify(net, "BW-2026-9002", "BW-BROWSER-2", valid_days=1)

        observer = net.description["participants"][OBSERVER]
        owners = [m for m in net.description["participants"] if m != OBSERVER]

        def observer_has_everything() -> bool:
            held = _sizes(observer["url"])
            return all(held.get(m, -1) >= _sizes(net.url(m)).get(m, 0) for m in owners)

        _wait(observer_has_everything, SETTLE_SECONDS, f"{OBSERVER} to replicate every log")
        _stop(observer["pid"])
        with _later_node(Path(observer["data_dir"]), observer["url"]) as later_url:
            yield CertificateStates(
                net=net,
                scenario=scenario,
                later_url=later_url,
                certificates={
                    "usable": Shown("BW-2026-9001", usable.entry_hash.hex(), net.url("BW")),
                    "confirmed": Shown("BW-2026-0001", scenario["bw_certificate"], net.url("BW")),
                    "expired": Shown("BW-2026-9002", expiring.entry_hash.hex(), later_url),
                },
            )
