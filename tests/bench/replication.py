"""Replication benchmark: a fresh node's catch-up rate, and the time from receipt to witnessed
checkpoint in a steady network.

Run: ``.venv/bin/python -m tests.bench.replication [--entries N] [--steady-seconds S]
[--profile auto|always|never] [--py-spy PATH] [--skip catch-up|steady]``

Prints, from one run on this machine (every node a real ``kp-node run`` process on 127.0.0.1),
after the machine and its load average (the machine may be shared: read the figures with it):

**Catch-up.** A devnet ``BW,EU`` is made and stopped; BW's own log is grown to ``--entries``
``parcel.produce`` records by BW's own sequencer (``LedgerNode.sequencer().append_batch`` in
durable batches of 256, the node's default batch, every record signed by BW's ``mine`` operator),
without HTTP. Only BW is started; EU's store is wiped and given the genesis charter, its trust
root and nothing else (as ``test_fresh_observer_restores_every_log_from_peers``), and EU is
started with default settings. The clock runs from EU's launch until EU's ``/v1/logs`` (polled
every 0.2 s) reports BW's log at BW's full size, every entry re-validated by ``replica.extend``:
  (a) raw Ed25519 verifications per second, one core (``tests.bench.append``), measured right
      before and right after the catch-up (BW idle, EU stopped), and their mean;
  (b) entries replicated per second, launch to done, and after EU's start-up; (b)/(a), target
      >= 0.5; then the page fetch alone (the same GETs and strict decoding, re-measured from
      this process), and what is left for re-validation and the write.
When (b)/(a) is under the target (or ``--profile always``) and py-spy is found, a second,
identical catch-up runs under ``py-spy record`` (sampling, non-blocking) and EU's non-idle
samples are split by where the time goes: Ed25519, entry parsing, canonical encoding, rules,
state, LMDB, Merkle, page fetch, HTTP serving; and the functions with the most own time.

**Steady state.** A devnet ``BW,CA,EU,IN`` with default settings (``witness_quorum`` 2). BW's
capacity is measured first: single-record ``POST /v1/records`` (``wait=committed``) from 16
concurrent keep-alive clients. Then records are POSTed to BW open-loop at half that rate for
``--steady-seconds``, each scheduled at ``start + i / rate`` whatever the earlier answers did.

How "time from receipt to witnessed checkpoint" is measured: each record is POSTed with
``wait=committed``, and its receipt time is when the client has read the whole 200 answer (the
receipt with its seq). In the same event loop, a watcher GETs ``/v1/logs/BW/checkpoint`` (the
newest witnessed checkpoint) every 20 ms, verifies each new one against BW's log key and counts
its cosignatures against the other members' witness keys, and keeps the first time it saw each
witnessed size. A record's latency is the first time the watcher saw a witnessed checkpoint
whose size exceeds its seq, minus its receipt time. Both clocks are one ``time.monotonic`` of
one process. The figure errs high by up to the 20 ms poll period plus one GET; it does not rely
on the server's own notion of when a record was witnessed. Taking ``?wait=witnessed`` latency
minus a separately measured commit latency would subtract two distributions, not pair records,
so it is not used for the figure; instead, as a cross-check, a shorter phase POSTs with
``?wait=witnessed`` at the same rate and reports its whole latency (submit to witnessed
answer, commit included) and how many answers were 200 rather than 202.

The load generator and the watcher run in a process of their own (plain asyncio streams,
HTTP/1.1 keep-alive: cheaper than httpx, which matters on a small machine where four nodes and
the generator share the cores); the CPU that the nodes and the generator used is shown.
Everything is bounded by count and by time, and every node started here is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from node.core import notes
from node.core.encoding import decode, encode
from node.core.receipt import Receipt
from node.core.records import sign_record
from node.engine.datadir import DataDir
from node.engine.ledger import LedgerNode
from node.server.replication import PAGE_ENTRIES
from tests.bench.append import raw_verifications_per_second
from tests.support.network import REPO, Devnet, Submitter, devnet, kp_node

HOST = "127.0.0.1"
BUILD_BATCH = 256  # the node's default sequencer_max_batch
POLL_SECONDS = 0.2
STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0
CAPACITY_CLIENTS = 16
CAPACITY_WARMUP = 64
WATCH_SECONDS = 0.02
SETTLE_SECONDS = 15.0  # after the last submission, how long the watcher waits for the witness
CONNECTIONS = 160  # open-loop pool: enough for every ?wait=witnessed request in flight
TARGET_RATIO = 0.5
TARGET_P99 = 1.0

T = TypeVar("T")


# --- nodes this benchmark starts itself ----------------------------------------------------------


class Nodes:
    """``kp-node run`` processes started here, each stopped (SIGTERM, then SIGKILL) on close.

    Their pids are also written to ``devnet.json``, so that ``kp-node devnet down`` stops them
    should this process die before it can.
    """

    def __init__(self, net: Devnet) -> None:
        self.net = net
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def data_dir(self, member: str) -> Path:
        return Path(self.net.description["participants"][member]["data_dir"])

    def start(self, member: str) -> subprocess.Popen[bytes]:
        data_dir = self.data_dir(member)
        with (data_dir / "node.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "node.cli", "run", "--dir", str(data_dir)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes[member] = process
        self.net.description["participants"][member]["pid"] = process.pid
        (self.net.root / "devnet.json").write_text(json.dumps(self.net.description))
        return process

    def stop(self, member: str) -> None:
        process = self.processes.pop(member)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def close(self) -> None:
        for member in list(self.processes):
            self.stop(member)


@contextmanager
def own_nodes(net: Devnet) -> Iterator[Nodes]:
    nodes = Nodes(net)
    try:
        yield nodes
    finally:
        nodes.close()


def wait_healthy(url: str, process: subprocess.Popen[bytes], data_dir: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    tail = (data_dir / "node.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"node at {url} did not become healthy; its log ends:\n{tail}")


# --- catch-up ----------------------------------------------------------------------------------


def build_log(data_dir: Path, mine_key: Any, entries: int) -> None:
    """Append ``entries`` productions to the log in ``data_dir`` through its own sequencer, in
    durable batches, while its node is stopped: what ``POST /v1/records`` would do, minus HTTP."""
    node = LedgerNode.open(DataDir(data_dir))
    try:
        sequencer = node.sequencer()
        clock = time.time_ns() // 1_000_000
        today = time.strftime("%Y-%m-%d", time.gmtime())
        for first in range(0, entries, BUILD_BATCH):
            records = [
                sign_record(
                    {
                        "v": 1,
                        "type": "parcel.produce",
                        "log": node.log,
                        "time": clock + i,
                        "body": {
                            "parcel": f"BW-CATCHUP-{i:07d}",
                            "mine": "mine",
                            "produced_on": today,
                            "centicarats": 125_000 + i,
                            "hs_code": "7102.10",
                            "holder": "mine",
                        },
                        "sealed": {},
                    },
                    [("mine", mine_key)],
                ).raw
                for i in range(first, min(entries, first + BUILD_BATCH))
            ]
            refused = [r for r in sequencer.append_batch(records) if not isinstance(r, Receipt)]
            if refused:
                raise RuntimeError(f"the sequencer refused a built record: {refused[0]}")
    finally:
        node.close()


def wipe_store(net: Devnet, data_dir: Path) -> None:
    """Leave the node with an empty store and the genesis charter published: its trust root."""
    shutil.rmtree(data_dir / "store")
    (data_dir / "store").mkdir(mode=0o700)
    kp_node("charter", "publish", "--dir", str(data_dir), str(net.root / "genesis.charter"))


def replica_size(url: str, log_id: str) -> int:
    try:
        listing = httpx.get(f"{url}/v1/logs", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return -1
    return next((int(item["size"]) for item in listing if item["log"] == log_id), 0)


@dataclass
class CatchUp:
    """One catch-up of a fresh node: how many entries, and when it was up and done (seconds
    from its launch)."""

    entries: int
    startup: float
    total: float
    profile: dict[str, float] | None = None
    top: list[tuple[str, float]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.entries / self.total

    @property
    def rate_after_startup(self) -> float:
        return self.entries / (self.total - self.startup)


@dataclass(frozen=True)
class Profiler:
    """py-spy, if found, and when to run it: ``auto`` (a second catch-up, only when the timed one
    is under target), ``always`` or ``never``; ``keep`` copies its raw samples there."""

    executable: str | None
    when: str = "auto"
    keep: Path | None = None

    def wanted(self, ratio: float) -> bool:
        if self.executable is None or self.when == "never":
            return False
        return self.when == "always" or ratio < TARGET_RATIO


def fresh_catch_up(
    net: Devnet, nodes: Nodes, size: int, timeout: float, profiler: Profiler | None = None
) -> CatchUp:
    """Wipe EU, start it, and time until its copy of BW reaches ``size``; with ``profiler``,
    sample EU under py-spy meanwhile."""
    data_dir = nodes.data_dir("EU")
    wipe_store(net, data_dir)
    url = net.url("EU")
    samples = data_dir / "catch-up.pyspy"
    started = time.monotonic()
    process = nodes.start("EU")
    spy = None
    if profiler is not None and profiler.executable is not None:
        spy = subprocess.Popen(
            [
                profiler.executable,
                "record",
                "--pid",
                str(process.pid),
                "--rate",
                "200",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(samples),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        wait_healthy(url, process, data_dir)
        up = time.monotonic() - started
        deadline = started + timeout
        while replica_size(url, "BW") < size:
            if time.monotonic() > deadline or process.poll() is not None:
                tail = (data_dir / "node.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"EU did not catch up with {size} entries of BW in {timeout:.0f} s "
                    f"(it holds {replica_size(url, 'BW')}); its log ends:\n{tail}"
                )
            time.sleep(POLL_SECONDS)
        total = time.monotonic() - started
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled, then exits
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
    result = CatchUp(entries=size, startup=up, total=total)
    if spy is not None and profiler is not None:
        result.profile, result.top = split_profile(samples)
        if profiler.keep is not None and samples.exists():
            shutil.copyfile(samples, profiler.keep)
    nodes.stop("EU")
    return result


def page_fetch_seconds(url: str, log_id: str, size: int) -> float:
    """Seconds to GET ``size`` entries of ``log_id`` from ``url`` in pages and decode them
    strictly, one page after another: what ``Replicator._fetch_entries`` does before
    ``replica.extend`` starts, timed on its own."""
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        fetched = 0
        while fetched < size:
            response = client.get(
                f"{url}/v1/logs/{log_id}/entries",
                params={"start": fetched, "end": min(size, fetched + PAGE_ENTRIES)},
            )
            response.raise_for_status()
            page = decode(response.content, max_size=len(response.content) + 1)
            if not isinstance(page, list) or not page:
                raise RuntimeError(f"{url} served an empty or malformed page")
            fetched += len(page)
    return time.monotonic() - started


@dataclass(frozen=True)
class CatchUpRun:
    build: float  # seconds to build the log
    raw_before: float  # raw Ed25519 verifications/s right before the catch-up
    raw_after: float  # and right after it
    timed: CatchUp
    fetch: float  # seconds to fetch and decode the pages alone
    profiled: CatchUp | None

    @property
    def raw(self) -> float:
        return (self.raw_before + self.raw_after) / 2


def catch_up(root: Path, entries: int, timeout: float, profiler: Profiler) -> CatchUpRun:
    with devnet(root, participants="BW,EU") as net:
        kp_node("devnet", "down", "--dir", str(root))
        with own_nodes(net) as nodes:
            started = time.monotonic()
            build_log(nodes.data_dir("BW"), net.operator_key("BW", "mine"), entries)
            build = time.monotonic() - started
            bw = nodes.start("BW")
            wait_healthy(net.url("BW"), bw, nodes.data_dir("BW"))
            size = replica_size(net.url("BW"), "BW")
            # The baseline right before and right after the catch-up it is compared with (BW
            # idle, EU stopped): the machine is shared, and a drift between the two shows it.
            raw_before = raw_verifications_per_second()
            timed = fresh_catch_up(net, nodes, size, timeout)
            raw_after = raw_verifications_per_second()
            fetch = page_fetch_seconds(net.url("BW"), "BW", size)
            ratio = timed.rate / ((raw_before + raw_after) / 2)
            profiled = None
            if profiler.wanted(ratio):
                profiled = fresh_catch_up(net, nodes, size, timeout, profiler)
    return CatchUpRun(build, raw_before, raw_after, timed, fetch, profiled)


# Where EU's time goes: each sample is charged to the innermost frame that matches one of these
# (file, function) pairs, so that an Ed25519 check made by the rules counts as Ed25519, and a
# state read made by the rules as LMDB. "" matches any function of the file.
_PLACES: list[tuple[str, str, str]] = [
    ("Ed25519 verify (crypto.verify)", "node/core/crypto.py", "verify"),
    ("public key loading (crypto)", "node/core/crypto.py", "load_public_key"),
    ("LMDB reads and writes (store.py)", "node/engine/store.py", ""),
    ("canonical decode (encoding.py)", "node/core/encoding.py", "decode"),
    ("canonical encode (encoding.py)", "node/core/encoding.py", ""),
    ("Merkle hashing, root check", "node/core/merkle.py", ""),
    ("Merkle hashing, root check", "node/engine/replica.py", "_extended"),
    ("entry parsing (records.py)", "node/core/records.py", ""),
    ("charter decoding (charter.py)", "node/core/charter.py", ""),
    ("state reads and writes (state.py)", "node/core/state.py", ""),
    ("rules (rules.py, rest)", "node/core/rules.py", ""),
    ("replica.extend (rest)", "node/engine/replica.py", ""),
    ("page fetch: httpx and sockets", "httpx/", ""),
    ("page fetch: httpx and sockets", "httpcore/", ""),
    ("page fetch: httpx and sockets", "h11/", ""),
    ("replication loop (rest)", "node/server/replication.py", ""),
    ("serving HTTP (uvicorn, starlette, api)", "uvicorn/", ""),
    ("serving HTTP (uvicorn, starlette, api)", "starlette/", ""),
    ("serving HTTP (uvicorn, starlette, api)", "fastapi/", ""),
    ("serving HTTP (uvicorn, starlette, api)", "node/server/api.py", ""),
    ("logging", "logging/", ""),
    ("logging", "node/server/app.py", "format"),
    ("asyncio event loop", "asyncio/", ""),
]


def _frame(text: str) -> tuple[str, str]:
    """``function (path:line)`` as py-spy writes it: (function, path)."""
    name, _, place = text.rpartition(" (")
    return name or text, place.rsplit(":", 1)[0]


def split_profile(path: Path) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Shares of EU's sampled time by place, and the 10 functions with the most own time."""
    places: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {}, []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        total += count
        place = "other"
        for name, file in reversed(frames):
            found = next(
                (
                    label
                    for label, suffix, function in _PLACES
                    if suffix in file and (not function or name == function)
                ),
                None,
            )
            if found is not None:
                place = found
                break
        places[place] += count
        if frames:
            name, file = frames[-1]
            own[f"{name} ({'/'.join(file.split('/')[-2:])})"] += count
    if not total:
        return {}, []
    shares = {label: n / total for label, n in places.most_common()}
    return shares, [(label, n / total) for label, n in own.most_common(10)]


# --- steady state: the load generator and the watcher (a process of their own) ------------------


@dataclass(frozen=True)
class Answer:
    """One POST as the client saw it (``time.monotonic`` of the generator process)."""

    due: float
    sent: float
    received: float
    status: int
    seq: int | None
    witnessed: bool


@dataclass(frozen=True)
class Drive:
    answers: list[Answer]
    elapsed: float
    sightings: list[tuple[float, int]]  # (first seen, witnessed size), sizes increasing


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port)


async def _exchange(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
) -> tuple[int, bytes]:
    """Write one HTTP/1.1 request and read its answer, framed by Content-Length."""
    reader, writer = connection
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = next(
        (
            int(line.partition(b":")[2])
            for line in lines[1:]
            if line.partition(b":")[0].strip().lower() == b"content-length"
        ),
        None,
    )
    if length is None:
        raise RuntimeError(f"answer without Content-Length: {head[:200]!r}")
    return status, await reader.readexactly(length)


def _post(port: int, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/msgpack\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _answer(due: float, sent: float, received: float, status: int, body: bytes) -> Answer:
    seq, witnessed = None, False
    if status in (200, 202):
        receipt = json.loads(body)
        seq, witnessed = int(receipt["seq"]), bool(receipt.get("witnessed"))
    return Answer(due, sent, received, status, seq, witnessed)


def capacity(port: int, bodies: list[bytes], clients: int, warmup: int) -> Drive:
    """Closed loop: ``clients`` connections, one request in flight on each, as fast as answered."""
    return asyncio.run(_capacity(port, bodies, clients, warmup))


async def _capacity(port: int, bodies: list[bytes], clients: int, warmup: int) -> Drive:
    connections = [await _open(port) for _ in range(clients)]
    answers: list[Answer] = []

    async def client(
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        pending: Iterator[bytes],
        keep: bool,
    ) -> None:
        for body in pending:  # shared: each client takes the next body
            sent = time.monotonic()
            status, answer = await _exchange(connection, _post(port, "/v1/records", body))
            if keep:
                answers.append(_answer(sent, sent, time.monotonic(), status, answer))

    untimed = iter(bodies[:warmup])
    await asyncio.gather(*(client(c, untimed, False) for c in connections))
    timed = iter(bodies[warmup:])
    started = time.monotonic()
    await asyncio.gather(*(client(c, timed, True) for c in connections))
    elapsed = time.monotonic() - started
    for _, writer in connections:
        writer.close()
    return Drive(answers, elapsed, [])


def paced(
    port: int,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    path: str,
    watch: tuple[str, list[str], int] | None,
    connections: int = CONNECTIONS,
) -> Drive:
    """Open loop: body ``i`` is sent at ``start + i / rate`` on a free pooled connection, for at
    most ``seconds``; with ``watch`` = (log vkey, cosigner vkeys, quorum), a watcher records when
    each witnessed size of BW's log was first seen, until it covers every receipt. At a low
    rate, keep ``connections`` low enough that each is used within the node's keep-alive
    timeout (5 s by default), or the node closes it while it waits in the pool."""
    return asyncio.run(_paced(port, bodies, rate, seconds, path, watch, connections))


async def _paced(
    port: int,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    path: str,
    watch: tuple[str, list[str], int] | None,
    connections: int,
) -> Drive:
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await _open(port))
    answers: list[Answer] = []
    sightings: list[tuple[float, int]] = []
    finished = asyncio.Event()
    watcher = None
    if watch is not None:
        watcher = asyncio.create_task(_watch(port, watch, sightings, answers, finished))

    async def one(body: bytes, due: float) -> None:
        connection = await pool.get()
        sent = time.monotonic()
        status, answer = await _exchange(connection, _post(port, path, body))
        received = time.monotonic()
        pool.put_nowait(connection)
        answers.append(_answer(due, sent, received, status, answer))

    started = time.monotonic() + 0.05
    tasks = []
    for i, body in enumerate(bodies):
        due = started + i / rate
        if due >= started + seconds:
            break
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tasks.append(asyncio.create_task(one(body, due)))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    finished.set()
    if watcher is not None:
        await watcher
    while not pool.empty():
        pool.get_nowait()[1].close()
    return Drive(answers, elapsed, sightings)


async def _watch(
    port: int,
    watch: tuple[str, list[str], int],
    sightings: list[tuple[float, int]],
    answers: list[Answer],
    finished: asyncio.Event,
) -> None:
    log_vkey, cosigner_keys, quorum = watch
    connection = await _open(port)
    request = f"GET /v1/logs/BW/checkpoint HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    settle_deadline = None
    last = 0
    while True:
        status, body = await _exchange(connection, request)
        seen = time.monotonic()
        if status == 200:
            note = body.decode()
            size = int(note.split("\n", 2)[1])
            if size > last:
                notes.verify_note(note, [log_vkey])
                if len(notes.cosigners(note, cosigner_keys)) < quorum:
                    raise RuntimeError(f"BW served a checkpoint of {size} short of the quorum")
                sightings.append((seen, size))
                last = size
        if finished.is_set():
            settle_deadline = settle_deadline or time.monotonic() + SETTLE_SECONDS
            covered = max((a.seq for a in answers if a.seq is not None), default=-1) < last
            if covered or time.monotonic() > settle_deadline:
                break
        await asyncio.sleep(max(0.0, WATCH_SECONDS - (time.monotonic() - seen)))
    connection[1].close()


# --- steady state: the orchestration --------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@dataclass(frozen=True)
class Cores:
    """CPU used during a phase, in cores: BW, all four nodes (BW included), the generator."""

    bw: float
    nodes: float
    generator: float

    def __str__(self) -> str:
        return f"BW {self.bw:.2f}, 4 nodes {self.nodes:.2f}, generator {self.generator:.2f}"


def _cores(run: Callable[[], T], node_pids: list[int], generator_pid: int) -> tuple[T, Cores]:
    """Run ``run``; return its result and the CPU the nodes (BW first) and generator used."""
    pids = [*node_pids, generator_pid]
    before = [_cpu_seconds(p) for p in pids]
    started = time.monotonic()
    result = run()
    elapsed = time.monotonic() - started
    used = [(_cpu_seconds(p) - b) / elapsed for p, b in zip(pids, before, strict=True)]
    return result, Cores(bw=used[0], nodes=sum(used[:-1]), generator=used[-1])


def submissions(net: Devnet, prefix: str, n: int) -> list[bytes]:
    """``n`` canonical ``{signed}`` submissions, each a distinct production at BW's mine."""
    submitter = Submitter(net, "BW")
    key = net.operator_key("BW", "mine")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    try:
        return [
            encode(
                submitter.signed(
                    "parcel.produce",
                    {
                        "parcel": f"BW-STEADY-{prefix}-{i:07d}",
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


@dataclass
class Steady:
    capacity: float
    capacity_p50: float
    capacity_p99: float
    rate: float
    sent: int
    refused: int
    late_p99: float
    commit: list[float]
    to_witnessed: list[float]
    unwitnessed: int
    checkpoints: int
    cores: Cores
    cross: list[float]
    cross_witnessed: int
    cross_sent: int
    cross_cores: Cores


def receipt_to_witnessed(drive: Drive) -> tuple[list[float], int]:
    """For each receipt of ``drive``, seconds from the receipt to the first witnessed checkpoint
    the watcher saw that covers it; and how many receipts no sighting covered."""
    seen_sizes = [size for _, size in drive.sightings]
    to_witnessed, unwitnessed = [], 0
    for answer in drive.answers:
        if answer.seq is None:
            continue
        at = bisect.bisect_right(seen_sizes, answer.seq)  # first size > seq
        if at == len(seen_sizes):
            unwitnessed += 1
        else:
            to_witnessed.append(max(0.0, drive.sightings[at][0] - answer.received))
    return to_witnessed, unwitnessed


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def steady_state(root: Path, seconds: float, cross_seconds: float) -> Steady:
    spawn = multiprocessing.get_context("spawn")
    with (
        devnet(root, participants="BW,CA,EU,IN") as net,
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as generator,
    ):
        generator_pid = generator.submit(os.getpid).result()
        port = int(net.url("BW").rsplit(":", 1)[1])
        description = net.description["participants"]
        node_pids = [int(p["pid"]) for m, p in sorted(description.items(), key=_bw_first)]
        watch = (
            description["BW"]["log_vkey"],
            [p["witness_vkey"] for m, p in description.items() if m != "BW"],
            2,  # devnet policy: min(2, members - 1)
        )

        bodies = submissions(net, "C", CAPACITY_WARMUP + 500)
        load = generator.submit(capacity, port, bodies, CAPACITY_CLIENTS, CAPACITY_WARMUP).result()
        _require_ok("capacity", load.answers)
        cap = len(load.answers) / load.elapsed
        cap_latency = [a.received - a.sent for a in load.answers]
        rate = cap / 2

        bodies = submissions(net, "P", int(rate * seconds) + 1)
        drive, cores = _cores(
            lambda: generator.submit(
                paced, port, bodies, rate, seconds, "/v1/records", watch
            ).result(),
            node_pids,
            generator_pid,
        )
        refused = _require_ok("paced", drive.answers, strict=False)

        to_witnessed, unwitnessed = receipt_to_witnessed(drive)

        bodies = submissions(net, "W", int(rate * cross_seconds) + 1)
        cross, cross_cores = _cores(
            lambda: generator.submit(
                paced, port, bodies, rate, cross_seconds, "/v1/records?wait=witnessed", None
            ).result(),
            node_pids,
            generator_pid,
        )
    return Steady(
        capacity=cap,
        capacity_p50=percentile(cap_latency, 50),
        capacity_p99=percentile(cap_latency, 99),
        rate=rate,
        sent=len(drive.answers),
        refused=refused,
        late_p99=percentile([a.sent - a.due for a in drive.answers], 99),
        commit=[a.received - a.sent for a in drive.answers if a.seq is not None],
        to_witnessed=to_witnessed,
        unwitnessed=unwitnessed,
        checkpoints=len(drive.sightings),
        cores=cores,
        cross=[a.received - a.sent for a in cross.answers if a.seq is not None],
        cross_witnessed=sum(1 for a in cross.answers if a.status == 200 and a.witnessed),
        cross_sent=len(cross.answers),
        cross_cores=cross_cores,
    )


def _bw_first(item: tuple[str, Any]) -> tuple[bool, str]:
    return item[0] != "BW", item[0]


def _require_ok(what: str, answers: list[Answer], strict: bool = True) -> int:
    refused = [a for a in answers if a.status != 200]
    if refused and strict:
        raise RuntimeError(f"{what}: {len(refused)} answers were not 200 ({refused[0].status})")
    return len(refused)


# --- the report ---------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                model,
            )
    except OSError:
        pass
    return (
        f"{len(os.sched_getaffinity(0))} cores (nproc) × {model}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _row(label: str, value: str, note: str = "") -> None:
    print(f"{label:<46}: {value:>13}   {note}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000, help="catch-up: log size")
    parser.add_argument("--catch-up-timeout", type=float, default=900.0, help="seconds")
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    parser.add_argument("--cross-seconds", type=float, default=10.0, help="?wait=witnessed")
    parser.add_argument(
        "--py-spy",
        default=shutil.which("py-spy"),
        help="py-spy executable, to profile a catch-up (default: from PATH)",
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="a second, profiled catch-up: auto = only when the timed one is under target",
    )
    parser.add_argument("--profile-out", type=Path, help="keep py-spy's raw samples here")
    parser.add_argument("--skip", choices=("catch-up", "steady"), help="run one half only")
    args = parser.parse_args()
    profiler = Profiler(args.py_spy, args.profile, args.profile_out)
    load = os.getloadavg()

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kp-bench-") as tmp:
        if args.skip != "catch-up":
            run = catch_up(Path(tmp) / "catch-up", args.entries, args.catch_up_timeout, profiler)
        if args.skip != "steady":
            steady = steady_state(Path(tmp) / "steady", args.steady_seconds, args.cross_seconds)
    wall = time.monotonic() - started

    print(f"machine: {machine()}")
    print(f"load average at start (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.skip != "catch-up":
        timed, profiled = run.timed, run.profiled
        ratio = timed.rate / run.raw
        print("catch-up: a fresh EU restores BW's log from BW alone (devnet BW,EU)")
        _row("    log built by BW's sequencer, s", f"{run.build:.1f}", f"({args.entries} records)")
        _row(
            "(a) raw Ed25519 verifications/s, one core",
            f"{run.raw:.0f}",
            f"(mean of {run.raw_before:.0f} before, {run.raw_after:.0f} after the catch-up)",
        )
        _row(
            "(b) entries replicated/s, launch to done",
            f"{timed.rate:.0f}",
            f"({timed.entries} entries in {timed.total:.1f} s)",
        )
        _row(
            "    the same after EU answered /healthz",
            f"{timed.rate_after_startup:.0f}",
            f"(start-up {timed.startup:.1f} s)",
        )
        _row("    ratio (b)/(a)", f"{ratio:.2f}", f"target >= {TARGET_RATIO}")
        rest = timed.total - timed.startup - run.fetch
        _row(
            "    page fetch + decode alone, s",
            f"{run.fetch:.1f}",
            f"(re-measured after, {PAGE_ENTRIES}-entry pages one after another)",
        )
        _row(
            "    so re-validation and write, s",
            f"{rest:.1f}",
            f"(= {timed.entries / rest:.0f} entries/s; launch to done less start-up and fetch)",
        )
        if profiled is not None and profiled.profile:
            print(
                "    where EU's time goes (py-spy, non-idle samples of every thread of EU, in a "
                f"second catch-up at {profiled.rate:.0f} entries/s):"
            )
            for label, share in profiled.profile.items():
                _row(f"      {label}", f"{share * 100:.1f} %")
            print("    most own time:")
            for label, share in profiled.top:
                print(f"      {share * 100:5.1f} %  {label}")
        elif ratio < TARGET_RATIO and profiler.executable is None:
            print("    (under target: install py-spy or pass --py-spy to see where time goes)")
    if args.skip != "steady":
        s = steady
        print("steady state: devnet BW,CA,EU,IN, default settings, witness_quorum 2")
        _row(
            "    BW capacity, single-record POSTs/s",
            f"{s.capacity:.0f}",
            f"(500 records, {CAPACITY_CLIENTS} clients, wait=committed)",
        )
        _row(
            "      latency p50 / p99, ms",
            f"{s.capacity_p50 * 1e3:.1f} / {s.capacity_p99 * 1e3:.1f}",
        )
        _row(
            "    paced submissions/s (half capacity)",
            f"{s.rate:.0f}",
            f"({s.sent} records in {args.steady_seconds:.0f} s, {s.refused} refused, "
            f"send lag p99 {s.late_p99 * 1e3:.1f} ms)",
        )
        _row(
            "    commit latency p50 / p99, ms",
            f"{percentile(s.commit, 50) * 1e3:.1f} / {percentile(s.commit, 99) * 1e3:.1f}",
            "(POST to receipt)",
        )
        _row(
            "(c) receipt to witnessed checkpoint p50, ms",
            f"{percentile(s.to_witnessed, 50) * 1e3:.0f}",
            f"({len(s.to_witnessed)} records, {s.checkpoints} witnessed sizes seen, "
            f"{s.unwitnessed} never witnessed in {SETTLE_SECONDS:.0f} s)",
        )
        _row(
            "    receipt to witnessed checkpoint p99, ms",
            f"{percentile(s.to_witnessed, 99) * 1e3:.0f}",
            f"target < {TARGET_P99 * 1e3:.0f}",
        )
        _row("      max, ms", f"{max(s.to_witnessed, default=float('nan')) * 1e3:.0f}")
        print(f"      CPU while paced, cores: {s.cores} (with the watcher)")
        _row(
            "    cross-check: ?wait=witnessed p50 / p99, ms",
            f"{percentile(s.cross, 50) * 1e3:.0f} / {percentile(s.cross, 99) * 1e3:.0f}",
            f"(submit to answer; {s.cross_witnessed}/{s.cross_sent} answered 200 witnessed)",
        )
        print(f"      CPU meanwhile, cores: {s.cross_cores}")
    _row("    whole run, s", f"{wall:.1f}")


if __name__ == "__main__":
    main()
