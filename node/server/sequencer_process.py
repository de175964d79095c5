"""The sequencer in a process of its own, beside the HTTP server.

The HTTP process frames requests and answers them; the sequencer process takes each
``POST /v1/records`` body as it came, decodes it strictly, checks its shape, validates every record
(signatures, the rules), appends and commits. Each has its own interpreter, so on a machine with
two cores both work at once instead of taking turns under one interpreter lock, and a record is
decoded once, where it is validated.

The two speak over one socket pair: asyncio streams on the HTTP side's event loop, a blocking
loop of one thread in the sequencer process. No thread hands work to another, because such a
handoff under one interpreter lock costs more than a record's whole HTTP handling. Frames are a
4-byte length and a pickle (the peer is our own child). What the HTTP side submits in one turn of
its event loop travels as one frame, and each commit is answered with one frame holding every
result it settled, so a busy node exchanges a few frames per commit, not a few per record. The
sequencer process is the log's one writer, with ``Sequencer.append_batch`` of
node/engine/sequencer.py (decision 0019).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import itertools
import json
import logging
import multiprocessing
import pickle
import select
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.core.encoding import Value, decode, encode_trusted
from node.core.errors import (
    ApiError,
    LedgerError,
    RecordError,
    SequencerBusyError,
    SequencerStoppedError,
    StoreError,
)
from node.core.receipt import Receipt
from node.core.records import SignedRecord
from node.engine.config import Settings
from node.engine.sequencer import Submission
from node.server.jsonlog import configure_logging
from node.server.problems import status_of

if TYPE_CHECKING:
    from node.engine.datadir import DataDirLock, InheritedLock

__all__ = ["Outcome", "SequencerProcess"]

_Result = Receipt | LedgerError


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a ``POST /v1/records`` body.

    Attributes:
        batch: whether it was a ``{batch: [...]}``.
        results: per record, in order, its receipt or its refusal.
        receipt_json: a single record's receipt as the JSON the API answers with, rendered in
            the sequencer process, which has time to spare, rather than in the HTTP process,
            which has none.
    """

    batch: bool
    results: list[_Result]
    receipt_json: bytes | None = None


log = logging.getLogger("kp.node")

_LENGTH = struct.Struct("!I")
_START_SECONDS = 60.0  # opening a large store and its state can take a while
_STOP_SECONDS = 30.0
_READ_SIZE = 1 << 20


class SequencerProcess:
    """Runs ``kp-node``'s sequencer for the data directory ``data_dir`` in a child process and
    offers ``submit`` on the event loop that started it.

    Args:
        data_dir: the node's data directory. The child opens it for itself and commits by its
            settings (``sequencer_max_batch``, ``sequencer_max_delay_ms``).
        max_queue: requests submitted and not yet answered beyond this are refused with
            ``SequencerBusyError``.
        max_queue_bytes: so are bodies beyond this many bytes waiting (one is always taken).
        lock: the data directory's lock held by this process; the child is given it too, so
            that it stays held while either lives: if only this process is killed, no new
            node starts on the directory until the child has finished and ended (decision
            0030).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        max_queue: int,
        max_queue_bytes: int,
        lock: DataDirLock | None = None,
    ) -> None:
        self.data_dir = data_dir
        self._lock = lock
        self.on_commit: Callable[[int, int, float], None] | None = None
        """Called on the event loop after each commit with (records, new log size, seconds)."""
        self._max_queue = max_queue
        self._max_queue_bytes = max_queue_bytes
        self._pending: dict[int, tuple[asyncio.Future[Outcome], int]] = {}  # future, body size
        self._queued_bytes = 0
        self._stopping = False
        self._outgoing: list[tuple[int, bytes]] = []
        self._ids = itertools.count()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        """Whether the child is up and taking submissions."""
        return self._reading is not None and not self._reading.done() and not self._stopping

    async def start(self) -> None:
        """Start the child and wait until its node is open.

        Raises:
            SequencerStoppedError: the child could not open the node (the reason is given).
        """
        ours, theirs = socket.socketpair()
        context = multiprocessing.get_context("spawn")  # no inherited LMDB environment
        self._process = context.Process(
            target=_serve,
            args=(
                str(self.data_dir),
                theirs,
                None if self._lock is None else self._lock.inheritable(),
            ),
            name="kp-sequencer",
            daemon=True,
        )
        self._process.start()
        theirs.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        try:
            ready = await asyncio.wait_for(_receive(reader), _START_SECONDS)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            await self._end()
            raise SequencerStoppedError(f"the sequencer process did not start: {exc!r}") from exc
        if ready != "ready":
            await self._end()
            raise SequencerStoppedError(f"the sequencer process did not start: {ready}")
        self._reading = asyncio.create_task(self._read(reader), name="kp-sequencer-results")

    async def stop(self) -> None:
        """Let the sequencer finish what it was sent (every acknowledged record is committed,
        and answers still arrive meanwhile), then end the process."""
        if self._writer is None:
            return
        self._stopping = True
        self._flush()
        _send(self._writer, None)
        with contextlib.suppress(ConnectionError):  # the child is gone already
            await self._writer.drain()
        if self._process is not None:
            await asyncio.to_thread(self._process.join, _STOP_SECONDS)
        await self._end()

    def submit(self, body: bytes) -> asyncio.Future[Outcome]:
        """Queue a ``POST /v1/records`` body in the sequencer process.

        Must be called on the event loop that started the process. The future fails with a
        ``LedgerError`` if the body as a whole is refused (not canonical msgpack, a batch of the
        wrong size) or its commit failed; each record's own refusal is among the results.

        Raises:
            SequencerStoppedError: the sequencer process is not running.
            SequencerBusyError: too many requests, or too many bytes of them, are waiting.
        """
        if self._writer is None or not self.running:
            raise SequencerStoppedError("the sequencer is not running")
        if len(self._pending) >= self._max_queue or (
            self._pending and self._queued_bytes + len(body) > self._max_queue_bytes
        ):
            raise SequencerBusyError("too many requests waiting; retry later")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        request = next(self._ids)
        self._pending[request] = (future, len(body))
        self._queued_bytes += len(body)
        if not self._outgoing:  # the first this turn: send them all at the end of the turn
            loop.call_soon(self._flush)
        self._outgoing.append((request, body))
        return future

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if not outgoing or self._writer is None:
            return
        try:
            _send(self._writer, outgoing)  # at most max_queue_bytes of bodies: the length fits
        except Exception as exc:  # nothing of it reached the sequencer
            log.exception("could not hand requests to the sequencer process")
            for request, _ in outgoing:
                future = self._settle(request)
                if not future.done():
                    future.set_exception(
                        SequencerStoppedError(f"the sequencer was not reached: {exc}")
                    )

    def _settle(self, request: int) -> asyncio.Future[Outcome]:
        future, size = self._pending.pop(request)
        self._queued_bytes -= size
        return future

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                settled, commit = await _receive(reader)
                if commit is not None and self.on_commit is not None:
                    self.on_commit(*commit)
                for request, outcome in settled:
                    future = self._settle(request)
                    if future.cancelled():  # its request timed out
                        continue
                    if outcome[0] == "done":
                        _, batch, results, rendered = outcome
                        future.set_result(Outcome(batch, [_result(r) for r in results], rendered))
                    else:  # the body as a whole was refused, or its commit failed
                        future.set_exception(_refusal(outcome))
        except (asyncio.IncompleteReadError, ConnectionError):
            if not self._stopping:
                log.error("the sequencer process ended: records are refused until a restart")
        finally:
            pending, self._pending, self._queued_bytes = self._pending, {}, 0
            for future, _ in pending.values():
                if not future.done():
                    future.set_exception(SequencerStoppedError("the sequencer process ended"))

    async def _end(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._reading is not None:
            await self._reading  # the stream is closed: it ends, failing what is left
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            await asyncio.to_thread(self._process.join)


def _result(item: tuple[Any, ...]) -> _Result:
    return Receipt(*item[1:]) if item[0] == "receipt" else _refusal(item)


def _refusal(item: tuple[Any, ...]) -> LedgerError:
    _, code, status, message = item
    return ApiError(message, code=code, status=status)


def _send(writer: asyncio.StreamWriter, message: object) -> None:
    frame = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(_LENGTH.pack(len(frame)) + frame)  # buffered: the event loop never blocks


async def _receive(reader: asyncio.StreamReader) -> Any:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))  # noqa: S301 - our own child


# --- the child ---------------------------------------------------------------------------------


def _serve(data_dir: str, sock: socket.socket, lock: InheritedLock | None = None) -> None:
    """The sequencer process: one ``LedgerNode`` and its sequencer, fed through ``sock``.

    One thread, blocking: it reads what has arrived, commits a batch, answers it, and goes on.
    It ends when told to (after what it was sent) or when the HTTP process is gone, and only
    then: the signals that stop a node (Ctrl-C, a service manager's SIGTERM to the whole group)
    are for the HTTP process, which drains and then tells it."""
    from node.engine.datadir import DataDir
    from node.engine.ledger import LedgerNode

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if lock is not None:  # held until this process ends, however it ends
        lock.hold("sequencer")
    sock.setblocking(True)
    try:
        node = LedgerNode.open(DataDir(Path(data_dir)))
        sequencer = node.sequencer()
    except LedgerError as exc:
        _send_frame(sock, f"{exc.code}: {exc.message}")
        return
    configure_logging(node.settings.log_level)
    gc.collect()
    gc.freeze()  # the open node lives as long as the process: no collection need walk it again
    commits: list[tuple[int, int, float]] = []
    sequencer.on_commit = lambda *commit: commits.append(commit)
    arrivals = _Arrivals(sock, node.settings)
    max_batch = node.settings.sequencer_max_batch
    max_delay = node.settings.sequencer_max_delay_ms / 1000
    try:
        _send_frame(sock, "ready")
        while requests := arrivals.next_batch(max_batch, max_delay):
            queued = [item for r in requests for item in r.items if isinstance(item, Submission)]
            commits.clear()
            try:
                results = iter(sequencer.append_batch(queued) if queued else [])
            except Exception as exc:  # the transaction aborted: nobody's record is in
                failure = exc if isinstance(exc, LedgerError) else StoreError(str(exc))
                settled = [(r.id, r.outcome(iter([]), failure)) for r in requests]
            else:
                settled = [(r.id, r.outcome(results)) for r in requests]
            _send_frame(sock, (settled, commits[0] if commits else None))
    except OSError:
        pass  # the HTTP process is gone: nobody is left to answer
    finally:
        node.close()
        sock.close()


@dataclass(slots=True)
class _Request:
    """A ``POST /v1/records`` body as the sequencer process took it in."""

    id: int
    batch: bool = False  # sent as {batch: [...]}
    items: list[Submission | LedgerError] = field(default_factory=list)  # queued, or refused
    refusal: LedgerError | None = None  # the body as a whole was refused

    @property
    def records(self) -> int:
        return sum(isinstance(item, Submission) for item in self.items)

    def outcome(
        self, results: Iterator[_Result], failure: LedgerError | None = None
    ) -> tuple[Any, ...]:
        """What the HTTP process hears: ``("done", *fields of its Outcome)`` with this request's
        results taken from ``results`` in order, or an error: the refusal of the body, or
        ``failure``, the commit's, if any of its records were in that commit."""
        if self.refusal is not None:
            return _encoded(self.refusal)
        if failure is not None and self.records:
            return _encoded(failure)
        mine = [next(results) if isinstance(i, Submission) else i for i in self.items]
        rendered = None
        if not self.batch and isinstance(mine[0], Receipt):
            rendered = json.dumps(  # as Starlette's JSONResponse renders it
                mine[0].to_json(), ensure_ascii=False, separators=(",", ":")
            ).encode()
        return ("done", self.batch, [_encoded(r) for r in mine], rendered)


def _parse(request: int, body: bytes, settings: Settings) -> _Request:
    """Decode a body strictly and check its shape: ``{signed, disclosures?}`` or
    ``{batch: [...]}`` of 1 to ``max_batch_records`` of them."""
    try:
        value = decode(body, max_size=settings.max_body_bytes)
        if isinstance(value, dict) and set(value) == {"batch"}:
            items = value["batch"]
            if not isinstance(items, list) or not 1 <= len(items) <= settings.max_batch_records:
                raise RecordError(
                    f"a batch holds 1 to {settings.max_batch_records} submissions",
                    code="request.batch_size",
                )
            return _Request(request, True, [_submission(item) for item in items])
        return _Request(request, False, [_submission(value)])
    except LedgerError as exc:
        return _Request(request, refusal=exc)
    except Exception:  # a body no check foresaw must not take the log's one writer down
        log.exception("a submission could not be read")
        unreadable = RecordError("the submission could not be read", code="request.unreadable")
        return _Request(request, refusal=unreadable)


def _submission(item: Value) -> Submission | LedgerError:
    try:
        if not isinstance(item, dict) or not {"signed"} <= item.keys() <= {"signed", "disclosures"}:
            raise RecordError(
                "a submission is {signed, disclosures?}", code="request.submission_shape"
            )
        # The body was decoded strictly, so its parts are canonical already: these are the
        # record's bytes. Its shape is checked here, once, and malformed records never queue.
        signed = encode_trusted(item["signed"])
        parsed = SignedRecord.from_value(item["signed"], raw=signed)
        disclosed = item.get("disclosures")
        return Submission(signed, None if disclosed is None else encode_trusted(disclosed), parsed)
    except LedgerError as exc:
        return exc


class _Arrivals:
    """The requests read from the HTTP process and not yet committed, in arrival order."""

    def __init__(self, sock: socket.socket, settings: Settings) -> None:
        self._sock = sock
        self._settings = settings
        self._buffer = bytearray()
        self._waiting: collections.deque[_Request] = collections.deque()
        self._records = 0
        self._ended = False  # told to stop, or the HTTP process is gone: nothing more comes

    def next_batch(self, max_batch: int, max_delay: float) -> list[_Request]:
        """The requests of the next commit: whatever is waiting, or arrives within
        ``max_delay`` of the first, up to ``max_batch`` records (a request is never split, and
        one larger than that is a batch of its own). Empty: nothing is left, nothing will come.
        """
        while not self._waiting and not self._ended:
            self._read(None)
        deadline = time.monotonic() + max_delay
        while self._records < max_batch and not self._ended:
            remaining = deadline - time.monotonic()
            self._read(max(0.0, remaining))  # with nothing left to wait: what has arrived
            if remaining <= 0:
                break
        batch: list[_Request] = []
        count = 0
        while self._waiting and (not batch or count + self._waiting[0].records <= max_batch):
            request = self._waiting.popleft()
            batch.append(request)
            count += request.records
        self._records -= count
        return batch

    def _read(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds (None: for ever) for data, and take in every whole
        frame that has arrived."""
        readable, _, _ = select.select([self._sock], [], [], timeout)
        if not readable:
            return
        data = self._sock.recv(_READ_SIZE)
        if not data:
            self._ended = True
            return
        self._buffer += data
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            message = pickle.loads(self._buffer[_LENGTH.size : end])  # noqa: S301 - our parent
            del self._buffer[:end]
            if message is None:
                self._ended = True
                return
            for request, body in message:
                parsed = _parse(request, body, self._settings)
                self._waiting.append(parsed)
                self._records += parsed.records


def _send_frame(sock: socket.socket, message: object) -> None:
    frame = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LENGTH.pack(len(frame)) + frame)


def _encoded(result: _Result) -> tuple[Any, ...]:
    if isinstance(result, Receipt):
        return (
            "receipt",
            result.entry_hash,
            result.log,
            result.seq,
            result.checkpoint,
            result.proof,
        )
    # Judged here, by the one table, so that what crosses the socket is all the HTTP side
    # needs: the class may live in any module (node/server/problems.py).
    return ("error", result.code, status_of(result), result.message)
