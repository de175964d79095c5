"""The explorer's pages under repeated requests: the verification page a QR code leads to, and
the network page, against the bundle download they are built on.

Run: ``.venv/bin/python -m tests.bench.explorer [--requests 200] [--warmup 10]
[--timeout 300]``

A devnet ``BW,CA,EU,AE,IN`` (every node a real ``kp-node run`` process on 127.0.0.1, default
settings but a 0.5 s anti-entropy tick so that it settles sooner) runs the README's chain of
custody (``node.dev.scenario.run_scenario``, which returns once every node serves every log
witnessed at its full size). Then, on India's node, which imported the scenario's last
shipment, over one kept-alive HTTP connection from this process, each of these is asked
``--requests`` times in turn after ``--warmup`` untimed requests:

  - baseline: ``GET /v1/provenance/FINAL``, the offline bundle of the scenario's final
    confirmation (India's of the UAE re-export): the bounded bundle built from the store and
    serialised, no verification;
  - ``GET /verify/FINAL`` and ``GET /verify/CERTIFICATE`` (the re-export's certificate,
    AE-2026-0007): the same bundle built, then verified as ``kp verify --bundle`` would
    (``client.verify``), its chain laid out (networkx) and the page rendered (Jinja2);
  - ``GET /?q=AE-2026-0007``: the search, a number looked up and answered 303;
  - ``GET /network``: the network page (members, logs, witnessed checkpoints and their
    cosignatures verified, evidence).

It prints p50, p99 and the mean of each in milliseconds, each page's p50 and p99 as a ratio
of the baseline's measured in the same run, and the status each verification page shows (a
fast page that says INVALID would be seen). Nothing is asserted. The machine and its load
average are printed first: on a shared machine read the times with them. Every node started
here is stopped, whatever happens.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from node.dev.scenario import run_scenario
from tests.bench.network import machine
from tests.support.network import devnet, fast_replication

PARTICIPANTS = "BW,CA,EU,AE,IN"
AT = "IN"
_STATUS = re.compile(r'data-status="(?P<key>[^"]+)"')


@dataclass
class Timing:
    what: str
    seconds: list[float]
    shown: str = ""

    def ms(self, q: int) -> float:
        """The ``q``th percentile, in milliseconds."""
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[q - 1] * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.seconds) * 1000


def _timed(
    client: httpx.Client, path: str, requests: int, warmup: int, expect: int
) -> tuple[list[float], httpx.Response]:
    answer = client.get(path)
    for _ in range(warmup):
        answer = client.get(path)
    if answer.status_code != expect:
        raise RuntimeError(f"{path} answered {answer.status_code}, not {expect}")
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - started)
        if answer.status_code != expect:
            raise RuntimeError(f"{path} answered {answer.status_code}, not {expect}")
    return seconds, answer


def measure(url: str, steps: dict[str, str], requests: int, warmup: int) -> list[Timing]:
    final, certificate = steps["final"], steps["ae_certificate_in"]
    asked: list[tuple[str, str, int, Callable[[httpx.Response], str]]] = [
        ("GET /v1/provenance/FINAL (baseline)", f"/v1/provenance/{final}", 200, _size),
        ("GET /verify/FINAL", f"/verify/{final}", 200, _status),
        ("GET /verify/CERTIFICATE", f"/verify/{certificate}", 200, _status),
        ("GET /?q=AE-2026-0007 (303)", "/?q=AE-2026-0007", 303, _location),
        ("GET /network", "/network", 200, _size),
    ]
    timings = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for what, path, expect, shown in asked:
            seconds, last = _timed(client, path, requests, warmup, expect)
            timings.append(Timing(what, seconds, shown(last)))
            print(f"  measured {what}", flush=True)
    return timings


def _size(answer: httpx.Response) -> str:
    return f"{len(answer.content):,} bytes"


def _status(answer: httpx.Response) -> str:
    found = _STATUS.search(answer.text)
    return f"{found['key'] if found else '(no status)'}, {len(answer.content):,} bytes"


def _location(answer: httpx.Response) -> str:
    return answer.headers.get("location", "(no location)")[:30] + "…"


def report(timings: list[Timing], requests: int) -> None:
    baseline = timings[0]
    print(f"\n{requests} requests each, one kept-alive connection, node {AT}:")
    header = f"{'request':<38} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'p50 ×':>7} {'p99 ×':>7}"
    print(header)
    print("-" * len(header))
    for t in timings:
        print(
            f"{t.what:<38} {t.ms(50):8.2f} {t.ms(99):8.2f} {t.mean_ms:8.2f} "
            f"{t.ms(50) / baseline.ms(50):7.2f} {t.ms(99) / baseline.ms(99):7.2f}  {t.shown}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests first")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to start the net")
    args = parser.parse_args()
    print(machine(), flush=True)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="kp-bench-explorer-") as root,
        fast_replication(),
        devnet(Path(root) / "net", PARTICIPANTS, timeout=args.timeout) as net,
    ):
        print(f"devnet up in {time.monotonic() - started:.0f} s; running the scenario", flush=True)
        steps = run_scenario(net.description)
        print(f"scenario settled at {time.monotonic() - started:.0f} s", flush=True)
        timings = measure(net.url(AT), steps, args.requests, args.warmup)
    report(timings, args.requests)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s; {machine().rsplit('; ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
