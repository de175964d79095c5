"""Idle cost of a network as it grows: CPU and requests per second per node, no trading.

Run: ``.venv/bin/python -m tests.bench.network [--participants 5,20] [--window 30]
[--quiet 60] [--settle-timeout 900] [--load 10] [--load-seconds 30]``

For each size N in ``--participants`` (ascending), a devnet of N participants is started with
``kp-node devnet up --participants N`` (the first N ids of ``node.dev.devnet.KP_PARTICIPANTS``,
every node a real ``kp-node run`` process with default settings: ``replication_interval`` 2 s,
``replication_max_interval`` 30 s). Nothing is submitted: each log holds its charter adoption
and its operator registrations, and the network does only what it does at idle.

**Settling.** The network is left alone until every node holds every log at the size its
origin holds, and then until the sum over all nodes of ``kp_replication_writes_total`` (write
transactions replication opens for entries or cosignatures) has not moved for ``--quiet``
seconds — by default 60 s, what the anti-entropy tick takes to double from 2 s to its 30 s cap,
so the window below sees the steady idle state an operator would.

**Measuring**, over a window of ``--window`` seconds:
  - CPU per node: utime + stime from ``/proc/PID/stat`` of every live process in the node's
    process group (``devnet up`` starts each node in a session of its own: the HTTP process and
    its sequencer process), difference over the window, in cores;
  - incoming requests per node: ``kp_http_request_seconds_count`` from the node's ``/metrics``,
    summed over routes except ``/metrics`` itself (this benchmark's two scrapes), per second;
  - anti-entropy per node: polls (log listings asked of peers), checks (logs compared), fetches
    (checkpoints fetched because a listing differed), writes and cosignature verifications.

**Under load** (``--load RATE``, records per second, 0 to leave it out; default 10): after the
idle window, ``parcel.produce`` records are POSTed to BW open-loop at RATE for
``--load-seconds``, and the time from each receipt to the first checkpoint of BW's log served
by BW with the quorum's cosignatures (the devnet's ``witness_quorum`` is 2) that covers it is
measured as ``tests.bench.replication`` measures it: a watcher in this process polls BW's
checkpoint every 20 ms and verifies every new one; p50 and p99 are printed (target at 60
participants: p99 < 2 s).

It prints one line per size and, for the largest size against the smallest, the ratio of CPU
and of requests per second per node (target: at most 1.5 — a node's idle cost independent of
N). The machine and its load average are printed first: on a shared machine read the figures
with them. Every node started here is stopped, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.bench.replication import paced, percentile, receipt_to_witnessed, submissions
from tests.support.network import Devnet, devnet

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
COUNTERS = ("polls", "checks", "fetches", "writes", "verifications")


def _clock_tick() -> int:
    return os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in process group ``pgid``."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        # After the command: state(3) ppid(4) pgrp(5) ... utime(14) stime(15), 1-based.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _clock_tick()


@dataclass(frozen=True)
class Scrape:
    requests: float  # incoming HTTP requests, /metrics excluded
    replication: dict[str, float]


def scrape(url: str) -> Scrape:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    requests = 0.0
    replication = dict.fromkeys(COUNTERS, 0.0)
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match["name"], match["labels"] or "", float(match["value"])
        if name == "kp_http_request_seconds_count" and 'route="/metrics"' not in labels:
            requests += value
        for what in COUNTERS:
            if name == f"kp_replication_{what}_total":
                replication[what] = value
    return Scrape(requests, replication)


def sizes(url: str) -> dict[str, int]:
    listing = httpx.get(f"{url}/v1/logs", params={"notes": "false"}, timeout=30).json()
    return {item["log"]: item["size"] for item in listing}


def settle(urls: dict[str, str], quiet: float, timeout: float) -> float:
    """Wait until every node holds every log at its origin's size, then until replication has
    written nothing anywhere for ``quiet`` seconds. Returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        origin = {member: sizes(url)[member] for member, url in urls.items()}
        if all(sizes(url) == origin for url in urls.values()):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the network did not converge in time")
        time.sleep(2)
    writes = None
    still_since = time.monotonic()
    while True:
        now = sum(scrape(url).replication["writes"] for url in urls.values())
        if now != writes:
            writes, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise SystemExit("replication did not go quiet in time")
        time.sleep(5)


@dataclass(frozen=True)
class Idle:
    participants: int
    settle_seconds: float
    cores: list[float]  # per node
    requests: list[float]  # per node, per second
    replication: dict[str, float]  # per node, per second (mean)
    witnessed: list[float]  # under load: seconds from each receipt to its witnessed checkpoint
    unwitnessed: int  # receipts no witnessed checkpoint covered before the watcher gave up

    def line(self) -> str:
        rates = ", ".join(f"{what} {self.replication[what]:.3f}" for what in COUNTERS)
        load = ""
        if self.witnessed or self.unwitnessed:
            load = (
                f"; under load, receipt to witnessed p50 {percentile(self.witnessed, 50):.3f} s,"
                f" p99 {percentile(self.witnessed, 99):.3f} s over {len(self.witnessed)} records"
                f" ({self.unwitnessed} not witnessed)"
            )
        return (
            f"{self.participants:3d} participants (settled in {self.settle_seconds:.0f} s): "
            f"CPU per node mean {statistics.mean(self.cores):.4f} cores, "
            f"max {max(self.cores):.4f}; all nodes {sum(self.cores):.3f} cores; "
            f"requests/s per node mean {statistics.mean(self.requests):.3f}, "
            f"max {max(self.requests):.3f}; anti-entropy per node per s: {rates}{load}"
        )


def under_load(net: Devnet, rate: float, seconds: float) -> tuple[list[float], int]:
    """POST productions to BW at ``rate`` for ``seconds``; receipt-to-witnessed latencies."""
    if rate <= 0:
        return [], 0
    description = net.description["participants"]
    watch = (
        description["BW"]["log_vkey"],
        [p["witness_vkey"] for m, p in description.items() if m != "BW"],
        min(2, len(description) - 1),  # devnet policy
    )
    bodies = submissions(net, "L", int(rate * seconds) + 1)
    port = int(net.url("BW").rsplit(":", 1)[1])
    # A few connections, each used more often than the node's 5 s keep-alive timeout.
    drive = paced(port, bodies, rate, seconds, "/v1/records", watch, connections=4)
    if any(answer.seq is None for answer in drive.answers):
        refused = next(a for a in drive.answers if a.seq is None)
        raise SystemExit(f"BW refused a record under load: status {refused.status}")
    return receipt_to_witnessed(drive)


def measure(
    participants: int,
    window: float,
    quiet: float,
    timeout: float,
    load: tuple[float, float] = (0.0, 0.0),
) -> Idle:
    with (
        tempfile.TemporaryDirectory(prefix="kp-bench-network-") as root,
        devnet(Path(root) / "net", str(participants), timeout=timeout) as net,
    ):
        members = net.description["participants"]
        urls = {member: info["url"] for member, info in members.items()}
        pids = {member: int(info["pid"]) for member, info in members.items()}
        settled = settle(urls, quiet, timeout)
        cpu_before = {m: group_cpu_seconds(pid) for m, pid in pids.items()}
        scrape_before = {m: scrape(url) for m, url in urls.items()}
        started = time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - started
        cpu_after = {m: group_cpu_seconds(pid) for m, pid in pids.items()}
        scrape_after = {m: scrape(url) for m, url in urls.items()}
        witnessed, unwitnessed = under_load(net, *load)
    cores = [(cpu_after[m] - cpu_before[m]) / elapsed for m in pids]
    requests = [(scrape_after[m].requests - scrape_before[m].requests) / elapsed for m in pids]
    replication = {
        what: statistics.mean(
            (scrape_after[m].replication[what] - scrape_before[m].replication[what]) / elapsed
            for m in pids
        )
        for what in COUNTERS
    }
    return Idle(participants, settled, cores, requests, replication, witnessed, unwitnessed)


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line)
            model = next(names, model)
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{len(os.sched_getaffinity(0))} cores (nproc) × {model}, {memory:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--participants", default="5,20", help="sizes, comma-separated")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--quiet", type=float, default=60.0, help="seconds without writes")
    parser.add_argument("--settle-timeout", type=float, default=900.0)
    parser.add_argument("--load", type=float, default=10.0, help="records/s to BW, 0: none")
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.participants.split(",") if n})
    print(machine(), flush=True)
    runs = []
    for n in counts:
        run = measure(
            n, args.window, args.quiet, args.settle_timeout, (args.load, args.load_seconds)
        )
        runs.append(run)
        print(run.line(), flush=True)
    if len(runs) > 1:
        small, large = runs[0], runs[-1]
        cpu = statistics.mean(large.cores) / statistics.mean(small.cores)
        rps = statistics.mean(large.requests) / max(statistics.mean(small.requests), 1e-9)
        print(
            f"ratio {large.participants}:{small.participants} per node: CPU {cpu:.2f}, "
            f"requests/s {rps:.2f} (target <= 1.5)"
        )
    if args.json is not None:
        args.json.write_text(json.dumps([run.__dict__ for run in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
