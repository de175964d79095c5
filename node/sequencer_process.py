"""The sequencer in a process of its own, beside the HTTP server.

The HTTP process parses requests and answers them; the sequencer process validates (signature
checks, the rules), appends and commits. Each has its own interpreter, so on a machine with two
cores both work at once instead of taking turns under one interpreter lock. Work crosses a pipe
as plain tuples; the sequencer process is the log's one writer, exactly as the thread was.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from node import errors
from node.errors import LedgerError
from node.log import Receipt, SequencerBusyError, SequencerStoppedError, Submission

__all__ = ["SequencerProcess"]

_Result = Receipt | LedgerError


class SequencerProcess:
    """Runs ``kp-node``'s sequencer for the data directory ``data_dir`` in a child process and
    offers the ``submit_many`` of ``node.log.Sequencer``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.on_commit: Callable[[int, int, float], None] | None = None
        self._pending: dict[int, Future[list[_Result]]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited LMDB environment
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(str(self.data_dir), child), name="kp-sequencer", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        ready = parent.recv()
        if ready != "ready":
            raise SequencerStoppedError(f"the sequencer process did not start: {ready}")
        self._reader = threading.Thread(target=self._read, name="kp-sequencer-reader", daemon=True)
        self._reader.start()

    def stop(self) -> None:
        """Let the sequencer finish what is queued (every acknowledged record is committed),
        then end the process."""
        if self._conn is None or self._process is None:
            return
        with self._lock:
            self._conn.send(None)
        self._process.join(timeout=30)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._conn.close()
        self._conn = None

    def submit_many(self, submissions: Sequence[Submission]) -> Future[list[_Result]]:
        """Queue submissions in the sequencer process; one future for their results, in order."""
        future: Future[list[_Result]] = Future()
        if self._conn is None:
            raise SequencerStoppedError("the sequencer is not running")
        request = next(self._ids)
        with self._lock:
            self._pending[request] = future
            self._conn.send((request, [(s.record, s.disclosures) for s in submissions]))
        return future

    def _read(self) -> None:
        assert self._conn is not None  # noqa: S101 - set before this thread starts
        try:
            while True:
                message = self._conn.recv()
                if message[0] == "commit":
                    if self.on_commit is not None:
                        self.on_commit(*message[1:])
                    continue
                _, request, results = message
                with self._lock:
                    future = self._pending.pop(request)
                if isinstance(results, str):
                    future.set_exception(LedgerError(results, code="sequencer.failed"))
                else:
                    future.set_result([_result(r) for r in results])
        except (EOFError, OSError):
            pass
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(SequencerStoppedError("the sequencer process ended"))


def _result(item: tuple[Any, ...]) -> _Result:
    if item[0] == "receipt":
        return Receipt(*item[1:])
    _, kind, code, message = item
    return _ERROR_CLASSES.get(kind, LedgerError)(message, code=code)


# Refusals cross the pipe by class name, so the HTTP side maps them to the same statuses.
_ERROR_CLASSES: dict[str, type[LedgerError]] = {
    **{
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, LedgerError)
    },
    "SequencerBusyError": SequencerBusyError,
    "SequencerStoppedError": SequencerStoppedError,
}


def _serve(data_dir: str, conn: Connection) -> None:
    """The sequencer process: one ``LedgerNode`` and its sequencer, fed through ``conn``."""
    from node.datadir import DataDir
    from node.ledger import LedgerNode

    lock = threading.Lock()

    def send(message: object) -> None:
        with lock:
            conn.send(message)

    try:
        node = LedgerNode.open(DataDir(Path(data_dir)))
        sequencer = node.sequencer()
    except LedgerError as exc:
        conn.send(f"{exc.code}: {exc.message}")
        return
    sequencer.on_commit = lambda batch, size, seconds: send(("commit", batch, size, seconds))
    sequencer.start()
    send("ready")
    try:
        while True:
            message = conn.recv()
            if message is None:
                break
            request, items = message

            def done(future: Future[list[_Result]], request: int = request) -> None:
                try:
                    results = [_encoded(r) for r in future.result()]
                except BaseException as exc:  # the batch's transaction failed
                    send(("done", request, str(exc)))
                    return
                send(("done", request, results))

            try:
                sequencer.submit_many([Submission(r, d) for r, d in items]).add_done_callback(done)
            except LedgerError as exc:
                send(("done", request, [_encoded(exc)] * len(items)))
    except (EOFError, OSError):
        pass
    finally:
        sequencer.stop()
        node.close()


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
    return ("error", type(result).__name__, result.code, result.message)
