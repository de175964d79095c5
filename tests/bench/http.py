"""HTTP benchmark: ``POST /v1/records`` on loopback against this machine's HTTP ceiling and the
sequencer's in-process rate.

Run: ``.venv/bin/python -m tests.bench.http [--requests N] [--records N] [--batched N]``

Prints, from one run on this machine (it is shared and noisy, so every baseline is measured in
the same run, just before or after what it is compared with):
  (a) requests/s of a trivial FastAPI endpoint served as ``kp-node run`` serves a node (one
      uvicorn process, same options), each a POST of a signed record's bytes: the HTTP ceiling;
  (b) single-record ``POST /v1/records`` accepted per second by a node of a one-participant
      devnet, durable commits, 32 concurrent clients, with p50/p99 latency; (b)/(a), target
      >= 0.5;
  (c) records/s submitted in batches of 100 by 4 concurrent clients to that node, against the
      sequencer's in-process rate under the full KP rules (``tests.bench.append``);
      (c)/in-process, target >= 0.7;
  (b') (b) again on a two-participant devnet, whose other node replicates, re-validates and
      witnesses the log on the same two cores meanwhile: what a node loses to a peer sharing
      its machine (in production peers are other participants' machines);
  and for each HTTP phase the CPU used, in cores, by the node's HTTP process, its sequencer
  process, the load generator and the other devnet node: a process near 1.0 is bound by its one
  interpreter, a generator near 1.0 would be measuring itself.

The load generator is a process of its own, apart from every server. It speaks HTTP/1.1 with
keep-alive over plain asyncio streams, one connection per client and one request in flight on
each. httpx was measured first, on this 2-core machine against the trivial server: ``AsyncClient``
with 32 tasks reached ~540 requests/s and 32 threads each with a ``Client`` ~1500/s, against
~7000/s for these streams at a quarter of a core; with httpx, (a) would measure the generator.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from fastapi import FastAPI, Request

from node.core.encoding import decode, encode
from tests.bench.append import rules_appends_per_second
from tests.support.network import Devnet, Submitter, devnet, free_port_block

HOST = "127.0.0.1"
CLIENTS = 32
WARMUP = 4 * CLIENTS
BATCH = 100
BATCH_CLIENTS = 4
PHASE_SECONDS = 60.0
STALL_SECONDS = 30.0  # a phase still unanswered this long after its time is up has failed
STARTUP_SECONDS = 30.0

T = TypeVar("T")


# --- the trivial server of (a) -------------------------------------------------------------------

echo = FastAPI()


@echo.post("/echo")
async def _echo(request: Request) -> dict[str, int]:
    body = await request.body()
    return {"received": len(body)}


def _serve_echo(port: int) -> None:
    from node.engine.config import Settings
    from node.server.listener import serve

    # As `kp-node run` serves (node/server/listener.py): only the application differs.
    serve(echo, Settings(participant="BW", network="kp.bench", host=HOST, port=port))


# --- the load generator (runs in a process of its own) ------------------------------------------


@dataclass(frozen=True)
class Load:
    """What one timed run of the generator saw.

    Attributes:
        requests: requests answered in the timed part (after the warm-up).
        elapsed: seconds from the first timed request to the last answer.
        latencies: seconds from writing each timed request to reading its whole answer.
        refused: status and body of the first few answers that were not 200.
        refusals: how many answers, warm-up included, were not 200.
    """

    requests: int
    elapsed: float
    latencies: list[float]
    refused: list[tuple[int, bytes]]
    refusals: int

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed

    def percentile(self, q: int) -> float:
        """The ``q``-th percentile latency, in seconds."""
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


def drive(
    port: int,
    path: str,
    bodies: list[bytes],
    *,
    clients: int,
    warmup: int,
    seconds: float,
    content_type: str = "application/msgpack",
) -> Load:
    """POST ``bodies`` to ``path`` from ``clients`` keep-alive connections, one request in flight
    on each. The first ``warmup`` bodies are sent untimed; the timed part stops early, with the
    bodies left unsent, after ``seconds``."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: {content_type}\r\n"
    ).encode()
    requests = [head + b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies]
    return asyncio.run(_drive(port, requests, clients, warmup, seconds))


async def _drive(
    port: int, requests: list[bytes], clients: int, warmup: int, seconds: float
) -> Load:
    connections = [await asyncio.open_connection(HOST, port) for _ in range(clients)]
    refused: list[tuple[int, bytes]] = []
    refusals = 0

    async def client(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pending: Iterator[bytes],
        deadline: float,
        latencies: list[float] | None,
    ) -> None:
        nonlocal refusals
        for request in pending:  # shared by every client: each takes the next body
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            writer.write(request)
            status, body = await _answer(reader)
            if latencies is not None:
                latencies.append(time.perf_counter() - started)
            if status != 200:
                refusals += 1
                if len(refused) < 5:
                    refused.append((status, body[:2000]))

    untimed = iter(requests[:warmup])
    async with asyncio.timeout(seconds + STALL_SECONDS):
        await asyncio.gather(*(client(r, w, untimed, float("inf"), None) for r, w in connections))
    latencies: list[float] = []
    timed = iter(requests[warmup:])
    started = time.perf_counter()
    deadline = started + seconds
    async with asyncio.timeout(seconds + STALL_SECONDS):
        await asyncio.gather(*(client(r, w, timed, deadline, latencies) for r, w in connections))
    elapsed = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return Load(len(latencies), elapsed, latencies, refused, refusals)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response: its status and its body, framed by Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    return status, await reader.readexactly(length)


# --- the phases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """A generator run and the CPU, in cores, used meanwhile by the server under test (its
    process, and its children: a node's sequencer process), the generator, and the server's
    peers (the other devnet nodes: witnessing and replication)."""

    load: Load
    server_cores: float
    children_cores: float
    generator_cores: float
    peer_cores: float


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _cores_while(run: Callable[[], T], pids: list[list[int]]) -> tuple[T, list[float]]:
    """The result of ``run`` and the CPU, in cores, that each group of ``pids`` used meanwhile."""
    before = [sum(_cpu_seconds(pid) for pid in group) for group in pids]
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    after = [sum(_cpu_seconds(pid) for pid in group) for group in pids]
    return result, [(a - b) / elapsed for a, b in zip(after, before, strict=True)]


def _drive_phase(
    what: str,
    generator: ProcessPoolExecutor,
    generator_pid: int,
    server_pid: int,
    peer_pids: list[int],
    port: int,
    path: str,
    bodies: list[bytes],
    *,
    clients: int,
    warmup: int,
) -> Phase:
    def run() -> Load:
        return generator.submit(
            drive, port, path, bodies, clients=clients, warmup=warmup, seconds=PHASE_SECONDS
        ).result(timeout=PHASE_SECONDS + 2 * STALL_SECONDS)

    groups = [[server_pid], _children(server_pid), [generator_pid], peer_pids]
    load, (server, children, generated, peers) = _cores_while(run, groups)
    if load.refusals:
        shown = "; ".join(f"{s} {b.decode(errors='replace')}" for s, b in load.refused)
        raise RuntimeError(f"{what}: {load.refusals} answers were not 200: {shown}")
    return Phase(load, server, children, generated, peers)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_serving(url: str, body: bytes) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.post(url, content=body, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the trivial server at {url} did not start")


def trivial_ceiling(
    generator: ProcessPoolExecutor,
    generator_pid: int,
    idle_pids: list[int],
    body: bytes,
    requests: int,
) -> Phase:
    """(a): the trivial app in a process of its own, served as a node is, POSTed ``body``;
    ``idle_pids`` (the devnet nodes, idle meanwhile) are reported as its peers."""
    port = free_port_block(1)
    server = multiprocessing.get_context("spawn").Process(
        target=_serve_echo, args=(port,), name="bench-echo"
    )
    server.start()
    try:
        _wait_serving(f"http://{HOST}:{port}/echo", body)
        assert server.pid is not None
        return _drive_phase(
            "(a) trivial POST /echo",
            generator,
            generator_pid,
            server.pid,
            idle_pids,
            port,
            "/echo",
            [body] * (WARMUP + requests),  # one object: pickled once
            clients=CLIENTS,
            warmup=WARMUP,
        )
    finally:
        server.terminate()  # SIGTERM: uvicorn shuts down gracefully
        server.join(15)
        if server.is_alive():
            server.kill()
            server.join()


def produce_submissions(net: Devnet, prefix: str, n: int) -> list[bytes]:
    """``n`` canonical ``{signed}`` submissions, each producing a distinct parcel at BW's mine,
    today."""
    submitter = Submitter(net, "BW")
    key = net.operator_key("BW", "mine")  # loaded once, not once per record
    today = time.strftime("%Y-%m-%d", time.gmtime())
    try:
        return [
            encode(
                submitter.signed(
                    "parcel.produce",
                    {
                        "parcel": f"BW-BENCH-{prefix}-{i:07d}",
                        "mine": "mine",
                        "produced_on": today,
                        "centicarats": 125_000 + i,
                        "hs_code": "7102.10",
                        "holder": "mine",
                    },
                    by="mine",
                    key=key,
                )
            )
            for i in range(n)
        ]
    finally:
        submitter.close()


def batches(submissions: list[bytes]) -> list[bytes]:
    """``{batch: [...]}`` request bodies of ``BATCH`` submissions each."""
    items = [decode(s, max_size=len(s)) for s in submissions]
    return [encode({"batch": items[i : i + BATCH]}) for i in range(0, len(items), BATCH)]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _log_size(url: str) -> int:
    size: int = httpx.get(f"{url}/healthz", timeout=10).json()["size"]
    return size


def _require_appended(what: str, url: str, before: int, expected: int) -> None:
    # Every record is a distinct production: each one accepted is one new entry.
    appended = _log_size(url) - before
    if appended != expected:
        raise RuntimeError(f"{what}: {expected} records accepted but the log grew by {appended}")


# --- the report ---------------------------------------------------------------------------------


def machine() -> str:
    """Cores this process may use, the CPU model, Python, and uvicorn's event loop and parser."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    # What uvicorn's "auto" settings pick, for the trivial server and the node alike.
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return (
        f"{len(os.sched_getaffinity(0))} × {model}, Python {platform.python_version()}, "
        f"uvicorn {importlib.metadata.version('uvicorn')} ({loop} loop, {parser})"
    )


def _row(label: str, value: str, note: str = "") -> None:
    print(f"{label:<42}: {value:>12}   {note}".rstrip())


def _cores(phase: Phase) -> str:
    return (
        f"cores: HTTP {phase.server_cores:.2f}, sequencer {phase.children_cores:.2f}, "
        f"generator {phase.generator_cores:.2f}, devnet peer {phase.peer_cores:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="(a) timed requests")
    parser.add_argument("--records", type=int, default=15_000, help="(b) timed single records")
    parser.add_argument(
        "--batched", type=int, default=20_000, help=f"(c) timed records, a multiple of {BATCH}"
    )
    args = parser.parse_args()
    batched_records = args.batched - args.batched % BATCH
    started = time.perf_counter()

    spawn = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as generator,
    ):
        generator_pid = generator.submit(os.getpid).result()  # up before any clock starts

        def single_records(net: Devnet, what: str, prefix: str) -> Phase:
            url = net.url("BW")
            pids = {m: int(p["pid"]) for m, p in net.description["participants"].items()}
            node_pid = pids.pop("BW")
            bodies = produce_submissions(net, prefix, WARMUP + args.records)  # before any clock
            before = _log_size(url)
            phase = _drive_phase(
                what,
                generator,
                generator_pid,
                node_pid,
                list(pids.values()),
                _port(url),
                "/v1/records",
                bodies,
                clients=CLIENTS,
                warmup=WARMUP,
            )
            _require_appended(what, url, before, WARMUP + phase.load.requests)
            return phase

        with devnet(Path(tmp) / "one", participants="BW") as net:
            url = net.url("BW")
            node_pid = int(net.description["participants"]["BW"]["pid"])
            batched = batches(
                produce_submissions(net, "B", BATCH_CLIENTS * BATCH + batched_records)
            )
            # (a) right before (b): same machine, same minute.
            body = produce_submissions(net, "T", 1)[0]
            ceiling = trivial_ceiling(generator, generator_pid, [node_pid], body, args.requests)
            accepted = single_records(net, "(b) POST /v1/records", "S")
            before = _log_size(url)
            in_batches = _drive_phase(
                "(c) POST /v1/records batches",
                generator,
                generator_pid,
                node_pid,
                [],
                _port(url),
                "/v1/records",
                batched,
                clients=BATCH_CLIENTS,
                warmup=BATCH_CLIENTS,
            )
            _require_appended(
                "(c)", url, before, (BATCH_CLIENTS + in_batches.load.requests) * BATCH
            )
        with devnet(Path(tmp) / "two", participants="BW,EU") as net:
            shared = single_records(net, "(b') POST /v1/records beside a peer", "P")
        # Right after, with every server stopped: the sequencer alone, same kind of records.
        in_process = rules_appends_per_second(Path(tmp) / "rules", batched_records)
    seconds = time.perf_counter() - started

    a, b, c, p = ceiling.load, accepted.load, in_batches.load, shared.load
    c_rate = c.rate * BATCH
    print(f"machine: {machine()}")
    _row(
        "(a) trivial FastAPI POST requests/s",
        f"{a.rate:.0f}",
        f"({a.requests} requests of {len(body)} bytes, {CLIENTS} clients)",
    )
    _row(
        "    latency p50 / p99, ms",
        f"{a.percentile(50) * 1e3:.1f} / {a.percentile(99) * 1e3:.1f}",
        f"({_cores(ceiling)})",
    )
    _row(
        "(b) POST /v1/records accepted/s, durable",
        f"{b.rate:.0f}",
        f"({b.requests} records, {CLIENTS} clients)",
    )
    _row(
        "    latency p50 / p99, ms",
        f"{b.percentile(50) * 1e3:.1f} / {b.percentile(99) * 1e3:.1f}",
        f"({_cores(accepted)})",
    )
    _row("    ratio (b)/(a)", f"{b.rate / a.rate:.2f}", "target >= 0.5")
    _row(
        f"(c) records/s in batches of {BATCH}",
        f"{c_rate:.0f}",
        f"({c.requests * BATCH} records, {BATCH_CLIENTS} clients)",
    )
    _row(
        "    latency p50 / p99 of a batch, ms",
        f"{c.percentile(50) * 1e3:.0f} / {c.percentile(99) * 1e3:.0f}",
        f"({_cores(in_batches)})",
    )
    _row(
        "    sequencer in-process, full KP rules",
        f"{in_process:.0f}",
        f"({batched_records} records, tests.bench.append)",
    )
    _row("    ratio (c)/in-process", f"{c_rate / in_process:.2f}", "target >= 0.7")
    _row(
        "(b') the same beside a replicating peer",
        f"{p.rate:.0f}",
        f"({p.requests} records; (b')/(a) {p.rate / a.rate:.2f})",
    )
    _row(
        "    latency p50 / p99, ms",
        f"{p.percentile(50) * 1e3:.1f} / {p.percentile(99) * 1e3:.1f}",
        f"({_cores(shared)})",
    )
    _row("    whole run, s", f"{seconds:.1f}")


if __name__ == "__main__":
    main()
