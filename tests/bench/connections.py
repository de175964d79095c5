"""Connection benchmark: ``/healthz`` latency on loopback without and with 800 stalled connections.

Run: ``.venv/bin/python -m tests.bench.connections [--requests N] [--stalled N] [--fd-limit N]``

Prints, from one run on this machine (shared and noisy, so the baseline is measured in the same
run, just before), for a one-participant devnet whose node is restarted under ``--fd-limit``
(default 600, the figure of issue 12, item 4):
  (q) p50/p99 latency of ``GET /healthz``, each on a new connection, with nothing else open;
  (s) the same while ``--stalled`` connections (default 800: a third idle, a third with a
      partial request head, a third with a head and a partial body) are held open; (s)/(q)
      for p50 and p99, and how many of the stalled connections the node still held at the end
      (its cap; the rest it closed to make room).
A new connection each time is the worst case: at the cap each one displaces a stalled one.
Deadlines are the defaults (10 s for a head, 30 s for a body): the benchmark takes less than
that, so no stalled connection is dropped for its deadline meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from node.engine.config import Settings
from node.server.listener import connection_cap
from tests.bench.http import HOST, machine
from tests.support.network import REPO, devnet

STALLS = [
    b"",
    b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-stalled: ",
    b"POST /v1/records HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/msgpack\r\n"
    b"content-length: 4096\r\n\r\n" + b"\x91" * 16,
]


def _latencies(port: int, requests: int) -> list[float]:
    request = f"GET /healthz HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n\r\n".encode()
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        with socket.create_connection((HOST, port), timeout=30) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        seconds.append(time.perf_counter() - started)
        if not answer.startswith(b"HTTP/1.1 200 "):
            raise SystemExit(f"/healthz answered {answer[:80]!r}")
    return seconds


def _quantiles(seconds: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(seconds, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def _still_open(sockets: list[socket.socket]) -> int:
    """How many of ``sockets`` the node holds: nothing to read, not even an EOF."""
    readable = set()
    for start in range(0, len(sockets), 256):
        readable |= set(select.select(sockets[start : start + 256], [], [], 0)[0])
    return len(sockets) - len(readable)


def _restart(data_dir: Path, description: dict[str, object], root: Path, fd_limit: int) -> int:
    member = description["participants"]["BW"]  # type: ignore[index]
    os.kill(member["pid"], signal.SIGTERM)
    while Path(f"/proc/{member['pid']}").exists():  # devnet up's node: init reaps it
        time.sleep(0.05)

    def lower() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, hard))

    with (data_dir / "node.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(data_dir)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lower,
        )
    member["pid"] = process.pid
    (root / "devnet.json").write_text(json.dumps(description))
    return process.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stalled", type=int, default=800)
    parser.add_argument("--fd-limit", type=int, default=600)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp, devnet(Path(tmp), participants="BW") as net:
        data_dir = Path(net.description["participants"]["BW"]["data_dir"])
        url = net.url("BW")
        port = int(url.rsplit(":", 1)[1])
        _restart(data_dir, net.description, net.root, args.fd_limit)
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        cap = connection_cap(Settings(participant="BW", network="kp.devnet"), args.fd_limit)
        print(f"node under RLIMIT_NOFILE {args.fd_limit}: connection cap {cap}")

        _latencies(port, 20)  # warm-up
        quiet = _latencies(port, args.requests)
        sockets = []
        for i in range(args.stalled):
            sock = socket.create_connection((HOST, port), timeout=30)
            if STALLS[i % len(STALLS)]:
                sock.sendall(STALLS[i % len(STALLS)])
            sockets.append(sock)
        stalled = _latencies(port, args.requests)
        held = _still_open(sockets)
        for sock in sockets:
            sock.close()

    (q50, q99), (s50, s99) = _quantiles(quiet), _quantiles(stalled)
    print(f"(q) /healthz, nothing else open:     p50 {q50:6.2f} ms  p99 {q99:6.2f} ms")
    print(
        f"(s) /healthz, {args.stalled} stalled connections: p50 {s50:6.2f} ms  p99 {s99:6.2f} ms"
        f"  (the node held {held} of them)"
    )
    print(f"(s)/(q): p50 {s50 / q50:.2f}  p99 {s99 / q99:.2f}")


if __name__ == "__main__":
    main()
