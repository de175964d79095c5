"""Restore against live replication: how long a wiped node takes to get every log back from its
peers, against how long the same node takes to replicate the same entries as a running node.

Run: ``.venv/bin/python -m tests.bench.restore [--rounds 20000] [--timeout 1800]``

A devnet ``BW,EU,IN`` with default settings (every node a real ``kp-node run`` process). EU is
stopped first. Then ``--rounds`` rounds of trade, each three entries that refer across logs: IN
produces a parcel and certifies it to BW, BW confirms the certificate (so BW's own log refers to
IN's throughout, as in ``tests/integration/test_restore.py``), submitted over HTTP in batches
of 100. With the default 20,000 rounds the network holds 60,000 entries beside its charters.
Once BW and IN hold each other's logs at their origins' sizes, three phases are timed, each
from the launch of the measured node until its ``/v1/logs`` (polled every 0.2 s) lists every
log at the size its origin holds and its ``/healthz`` no longer says ``restoring``:

  (live) EU, which was down during the trade, is started on its intact store: it replicates
         the new entries as any running node does after a pause, through the same anti-entropy
         and catch-up that follow a live network;
  (EU)   EU's store is wiped and ``kp-node restore --dir EU genesis.charter`` run: EU gets every
         log back, its own (charter adoption and registrations) included;
  (BW)   the same for BW, whose own log holds 20,000 confirmations that each wait on IN's log.

Each phase prints seconds, entries it wrote and entries per second; the restores are then
compared with (live) in seconds per entry (target: a restore at most 1.5 × the live time for
the same entries). CPU seconds of the measured node's process group are shown beside. The
machine and its load average are printed first: on a shared machine read the figures with them.
Every node started here is stopped, whatever happens.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from client.sdk import LedgerClient, Operator
from node.core.receipt import Receipt
from tests.bench.network import group_cpu_seconds, machine, sizes
from tests.bench.replication import Nodes, own_nodes, wait_healthy
from tests.support.network import Devnet, devnet, kp_node

BATCH = 100
HS = "7102.10"
POLL_SECONDS = 0.2
TARGET_RATIO = 1.5


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"timed out waiting for {what}")


def _day(offset: int = 0) -> str:
    today = datetime.datetime.now(datetime.UTC).date()
    return (today + datetime.timedelta(days=offset)).isoformat()


def _operator(net: Devnet, member: str, name: str) -> Operator:
    return Operator(member, name, net.operator_key(member, name))


def _submit_all(client: LedgerClient, items: list[Any]) -> list[Receipt]:
    receipts = []
    for start in range(0, len(items), BATCH):
        for result in client.submit_batch(items[start : start + BATCH]):
            if not isinstance(result, Receipt):
                raise SystemExit(f"a trade record was refused: {result}")
            receipts.append(result)
    return receipts


def trade(net: Devnet, rounds: int, timeout: float) -> None:
    """IN mines and certifies ``rounds`` parcels to BW; BW confirms every one."""
    mine, officer = _operator(net, "IN", "mine"), _operator(net, "IN", "officer")
    bw_officer = _operator(net, "BW", "officer")
    with LedgerClient(net.url("IN"), timeout=120) as india:
        produced = _submit_all(
            india,
            [
                mine.produce(
                    f"IN-P-{i}", centicarats=1_000, hs_code=HS, produced_on=_day(), holder="trader"
                )
                for i in range(rounds)
            ],
        )
        certificates = _submit_all(
            india,
            [
                officer.certify(
                    f"IN-2026-{i:06d}",
                    exporter="trader",
                    importing="BW",
                    parcels=[receipt.parcel_ref()],
                    centicarats=1_000,
                    hs_codes=[HS],
                    origins=["IN"],
                    issued_on=_day(),
                    expires_on=_day(30),
                    value_usd_cents=1_000_000,
                    exporter_name="Exporter in IN",
                    importer_name="Importer in BW",
                    seal_number=f"SEAL-{i}",
                )
                for i, receipt in enumerate(produced)
            ],
        )
    last = certificates[-1].seq
    _wait(lambda: sizes(net.url("BW")).get("IN", 0) > last, timeout, "BW to replicate IN")
    with LedgerClient(net.url("BW"), timeout=120) as botswana:
        _submit_all(
            botswana,
            [
                bw_officer.confirm(
                    receipt.entry_ref(),
                    received_on=_day(),
                    parcels=[(f"BW-IN-{i}", 1_000, HS)],
                    holder="trader",
                )
                for i, receipt in enumerate(certificates)
            ],
        )


def stop_devnet_node(net: Devnet, member: str) -> None:
    """Stop a node that ``devnet up`` started (its own session: the HTTP process and sequencer)."""
    pid = int(net.description["participants"][member]["pid"])
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    _wait(lambda: _gone(pid), 30, f"{member} to stop")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    entries: int
    cpu_seconds: float

    def per_entry(self) -> float:
        return self.seconds / max(self.entries, 1)

    def line(self) -> str:
        return (
            f"({self.name}) {self.entries:,} entries in {self.seconds:.1f} s: "
            f"{self.entries / self.seconds:,.0f} entries/s, {self.cpu_seconds:.1f} CPU-s"
        )


def timed_start(
    net: Devnet,
    nodes: Nodes,
    member: str,
    held: dict[str, int],
    before: int,
    name: str,
    timeout: float,
) -> Phase:
    """Start ``member``, whose store holds ``before`` entries, and time it until it holds
    ``held`` and is not restoring."""
    url = net.url(member)
    data_dir = nodes.data_dir(member)
    started = time.monotonic()
    process = nodes.start(member)
    wait_healthy(url, process, data_dir)

    def done() -> bool:
        if sizes(url) != held:
            return False
        return not httpx.get(f"{url}/healthz", timeout=5).json().get("restoring", False)

    _wait(done, timeout, f"{member} to hold every log ({name})")
    seconds = time.monotonic() - started
    cpu = group_cpu_seconds(process.pid)
    return Phase(name, seconds, sum(held.values()) - before, cpu)


def wipe_and_restore(net: Devnet, data_dir: Path) -> None:
    shutil.rmtree(data_dir / "store")
    (data_dir / "store").mkdir(mode=0o700)
    kp_node("restore", "--dir", str(data_dir), str(net.root / "genesis.charter"))


def run(rounds: int, timeout: float) -> list[Phase]:
    with (
        tempfile.TemporaryDirectory(prefix="kp-bench-restore-") as root,
        devnet(Path(root) / "net", "BW,EU,IN", timeout=timeout) as net,
        own_nodes(net) as nodes,
    ):
        eu_dir = nodes.data_dir("EU")
        eu_before = sum(sizes(net.url("EU")).values())
        stop_devnet_node(net, "EU")
        started = time.monotonic()
        trade(net, rounds, timeout)
        held = {member: sizes(net.url(member))[member] for member in ("BW", "IN")}
        _wait(
            lambda: all(
                {k: v for k, v in sizes(net.url(m)).items() if k != "EU"} == held
                for m in ("BW", "IN")
            ),
            timeout,
            "BW and IN to hold each other's logs",
        )
        held = sizes(net.url("IN"))
        print(
            f"trade: {rounds:,} rounds in {time.monotonic() - started:.0f} s; "
            f"logs {', '.join(f'{k} {v:,}' for k, v in sorted(held.items()))}",
            flush=True,
        )
        phases = [timed_start(net, nodes, "EU", held, eu_before, "live", timeout)]
        print(phases[-1].line(), flush=True)

        nodes.stop("EU")
        wipe_and_restore(net, eu_dir)
        phases.append(timed_start(net, nodes, "EU", held, 0, "EU", timeout))
        print(phases[-1].line(), flush=True)

        stop_devnet_node(net, "BW")
        bw_dir = nodes.data_dir("BW")
        wipe_and_restore(net, bw_dir)
        phases.append(timed_start(net, nodes, "BW", held, 0, "BW", timeout))
        print(phases[-1].line(), flush=True)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=20_000, help="three entries each")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds, per wait")
    args = parser.parse_args()
    print(machine(), flush=True)
    live, *restores = run(args.rounds, args.timeout)
    for phase in restores:
        ratio = phase.per_entry() / live.per_entry()
        print(
            f"restore ({phase.name}) / live, seconds per entry: {ratio:.2f} "
            f"(target <= {TARGET_RATIO})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
