"""Flood benchmark: valid single records on loopback, without and with anonymous junk beside them.

Run: ``.venv/bin/python -m tests.bench.flood [--records N] [--seconds S]``

Prints, from one run on this machine (shared and noisy, so each baseline is measured in the
same run, just before what it is compared with), for a one-participant devnet:
  (q) single-record ``POST /v1/records`` accepted per second, durable, from 8 keep-alive
      clients, with p50/p99 latency: the quiet baseline;
  (j) the same while eight junk clients, each from an address of its own (127.0.0.2-9), post
      without a pause the bodies of issue 12 (an 8 MiB array of 8 million nils every other
      request) and their kin; (j)/(q) for the rate and for p99;
  (f) the same with, besides, a forger (127.0.0.10, four connections) posting batches of a
      thousand well-formed records under a key that is not the operator's: junk that reaches
      the sequencer, which judges every record of it, up to the forger's share of the queue;
  and for each phase the junk answers by status and the CPU, in cores, of the node's HTTP
  process, its sequencer process and the two generators.

The valid generator is ``tests.bench.http``'s; the junk generator is a process of its own, on
the same asyncio streams. Accepted means answered 200: under the flood a valid record the node
refused would count against the rate, and is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from node.core import crypto
from node.core.encoding import Value, encode
from tests.bench.http import (
    HOST,
    Load,
    _answer,
    _children,
    _cores_while,
    _log_size,
    _port,
    _row,
    drive,
    machine,
    produce_submissions,
)
from tests.support.network import Submitter, devnet

CLIENTS = 8
WARMUP = 4 * CLIENTS
JUNK_ADDRESSES = [f"127.0.0.{i}" for i in range(2, 10)]
FORGER_ADDRESS = "127.0.0.10"
FORGER_CONNECTIONS = 4
STALL_SECONDS = 60.0


def _junk_bodies() -> list[bytes]:
    """The issue's body every other request, and the rest of the flood test's junk between."""
    nils = b"\xdd" + (8_000_000).to_bytes(4, "big") + b"\xc0" * 8_000_000
    others = [
        encode({"batch": [{"signed": [None] * 60_000}] * 100}),
        encode({"batch": [[None] * 3000] * 1000}),
        b"\x81\xa6signed" + encode([[[]] * 1000] * 1000),
        b"\x81\xa6signed\xdc\x0f\xa0" + b"\xc0" * 3000,
    ]
    return [body for other in others for body in (nils, other)]


# --- the junk generator (a process of its own) --------------------------------------------------


def _flood(
    port: int, junk: list[bytes], forged: bytes | None, stop: Event, ready: Any, out: Any
) -> None:
    out.put(asyncio.run(_flood_until(port, junk, forged, stop, ready)))


async def _flood_until(
    port: int, junk: list[bytes], forged: bytes | None, stop: Event, ready: Any
) -> dict[str, dict[int, int]]:
    head = f"POST /v1/records HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
    head += "Content-Type: application/msgpack\r\n"

    def request(body: bytes) -> bytes:
        return head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body

    statuses: dict[str, Counter[int]] = {"junk": Counter(), "forged": Counter()}
    answered: set[int] = set()
    clients: list[tuple[str, str, list[bytes]]] = [
        (address, "junk", [request(b) for b in junk]) for address in JUNK_ADDRESSES
    ]
    if forged is not None:
        clients += [(FORGER_ADDRESS, "forged", [request(forged)])] * FORGER_CONNECTIONS

    async def client(index: int, address: str, kind: str, requests: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection(HOST, port, local_addr=(address, 0))
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while not stop.is_set():
                for item in requests:
                    writer.write(item)
                    status, _ = await _answer(reader)
                    statuses[kind][status] += 1
                    if index not in answered:
                        answered.add(index)
                        if len(answered) == len(clients):
                            ready.put(True)  # every junk connection is in the flood
                    if stop.is_set():
                        break
        finally:
            writer.close()

    await asyncio.gather(*(client(i, *c) for i, c in enumerate(clients)))
    return {kind: dict(counts) for kind, counts in statuses.items()}


# --- the phases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    load: Load
    junk: dict[str, dict[int, int]]
    cores: list[float]  # HTTP process, sequencer process, valid generator, junk generator


def _phase(
    what: str,
    port: int,
    node_pid: int,
    generator: ProcessPoolExecutor,
    generator_pid: int,
    bodies: list[bytes],
    seconds: float,
    junk: list[bytes] | None,
    forged: bytes | None,
) -> Phase:
    spawn = multiprocessing.get_context("spawn")
    stop, ready, out = spawn.Event(), spawn.Queue(), spawn.Queue()
    flooder = None
    if junk is not None:
        flooder = spawn.Process(
            target=_flood, args=(port, junk, forged, stop, ready, out), name="bench-junk"
        )
        flooder.start()
        ready.get(timeout=STALL_SECONDS)
    junk_pids = [flooder.pid] if flooder is not None and flooder.pid is not None else []

    def run() -> Load:
        return generator.submit(
            drive, port, "/v1/records", bodies, clients=CLIENTS, warmup=WARMUP, seconds=seconds
        ).result(timeout=seconds + 2 * STALL_SECONDS)

    groups = [[node_pid], _children(node_pid), [generator_pid], junk_pids]
    try:
        load, cores = _cores_while(run, groups)
    finally:
        stop.set()
    answers: dict[str, dict[int, int]] = {}
    if flooder is not None:
        answers = out.get(timeout=STALL_SECONDS)
        flooder.join(STALL_SECONDS)
    if any(status >= 500 or status < 400 for status in answers.get("junk", {})):
        raise RuntimeError(f"{what}: junk answered {answers['junk']}")
    return Phase(load, answers, cores)


def _forged_batch(net: Any) -> bytes:
    submitter = Submitter(net, "BW")
    impostor = crypto.generate_private_key()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    try:
        items: list[Value] = [
            submitter.signed(
                "parcel.produce",
                {
                    "parcel": f"BW-FORGED-{i:07d}",
                    "mine": "mine",
                    "produced_on": today,
                    "centicarats": 1_000 + i,
                    "hs_code": "7102.10",
                    "holder": "mine",
                },
                by="mine",
                key=impostor,
            )
            for i in range(1000)
        ]
    finally:
        submitter.close()
    return encode({"batch": items})


def _accepted_rate(load: Load) -> float:
    """Records answered 200 per second (a refusal in the warm-up counts against it too)."""
    return (load.requests - load.refusals) / load.elapsed


def _report(label: str, phase: Phase, quiet: Phase | None) -> None:
    load = phase.load
    rate = _accepted_rate(load)
    p50, p99 = load.percentile(50), load.percentile(99)
    answered = f"({load.requests} answered, {load.refusals} not 200)"
    _row(f"{label} accepted records/s", f"{rate:.0f}", answered)
    note = ""
    if quiet is not None:
        slower = p99 / quiet.load.percentile(99)
        note = f"ratio to (q): rate {rate / _accepted_rate(quiet.load):.2f}, p99 {slower:.1f}x"
    _row("    latency p50 / p99, ms", f"{p50 * 1e3:.1f} / {p99 * 1e3:.1f}", note)
    http, sequencer, valid, junk = phase.cores
    cores = f"HTTP {http:.2f}, sequencer {sequencer:.2f}, generators {valid:.2f} + {junk:.2f}"
    _row("    cores", cores)
    if phase.junk:
        _row("    junk answers by status", str(phase.junk))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=6_000, help="timed records per phase")
    parser.add_argument("--seconds", type=float, default=30.0, help="longest timed phase")
    args = parser.parse_args()
    started = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as generator,
        devnet(Path(tmp) / "flood", participants="BW") as net,
    ):
        generator_pid = generator.submit(os.getpid).result()
        url = net.url("BW")
        port = _port(url)
        node_pid = int(net.description["participants"]["BW"]["pid"])
        junk = _junk_bodies()
        forged = _forged_batch(net)
        bodies = {name: produce_submissions(net, name, WARMUP + args.records) for name in "QJF"}
        before = _log_size(url)
        common = (port, node_pid, generator, generator_pid)
        quiet = _phase("(q)", *common, bodies["Q"], args.seconds, None, None)
        flooded = _phase("(j)", *common, bodies["J"], args.seconds, junk, None)
        forging = _phase("(f)", *common, bodies["F"], args.seconds, junk, forged)
        appended = _log_size(url) - before
        valid = sum(WARMUP + p.load.requests - p.load.refusals for p in (quiet, flooded, forging))
        if appended > valid:  # junk in the log; fewer: valid records refused, reported below
            raise RuntimeError(f"{valid} valid records accepted but the log grew by {appended}")
    print(f"machine: {machine()}")
    _report("(q) quiet:", quiet, None)
    _report("(j) junk flood:", flooded, quiet)
    _report("(f) junk and forger:", forging, quiet)
    seconds = time.perf_counter() - started
    print(
        f"log: {appended} entries appended for {valid} valid records answered 200 ({seconds:.0f} s)"
    )


if __name__ == "__main__":
    main()
