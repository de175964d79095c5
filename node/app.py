"""The node's ASGI application: the API of node/api.py around one ``LedgerNode``.

``create_app`` does no I/O itself: the node is opened from its data directory by the caller
(``kp-node run``), and the sequencer process and replication start in the application's
lifespan.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from node import api
from node.ledger import LedgerNode
from node.metrics import NodeMetrics
from node.replica import list_evidence
from node.replication import Replicator
from node.sequencer_process import SequencerProcess

__all__ = ["JsonLogFormatter", "configure_logging", "create_app"]

log = logging.getLogger("kp.node")

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields.

    It runs for every request, so the time text is made once a second, not once a line."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._time = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._time = second, self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        line: dict[str, Any] = {
            "time": self._time,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the ``kp`` loggers, at ``level``.

    For the whole process, log records no longer carry thread and process names and ids (a
    ``%(process)d`` elsewhere prints None): every request logs a line, and no line of ours says
    which thread or process wrote it, so the logging module need not look those up for each."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("kp")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def create_app(node: LedgerNode) -> FastAPI:
    """The HTTP application of ``node``; its lifespan starts and stops the sequencer."""
    metrics = NodeMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        witnessed = asyncio.Condition()
        app.state.witnessed = witnessed

        async def wake_waiters() -> None:
            async with witnessed:
                witnessed.notify_all()

        def on_witnessed(size: int) -> None:  # called from a worker thread
            loop.call_soon_threadsafe(lambda: loop.create_task(wake_waiters()))

        client = httpx.AsyncClient(timeout=node.settings.peer_timeout)
        replicator = Replicator(
            node,
            client,
            interval=node.settings.replication_interval,
            on_evidence=lambda evidence: metrics.evidence.inc(),
            on_witnessed=on_witnessed,
        )
        app.state.replicator = replicator
        sequencer: SequencerProcess | None = None
        if node.genesis() is None:
            log.warning("no charter adopted yet: records are refused until one is")
        else:
            # The sequencer gets a process (and a core) of its own (decision 0018).
            if node.data_dir is None:
                raise RuntimeError("a node is served from its data directory")
            settings = node.settings
            sequencer = SequencerProcess(
                node.data_dir,
                max_queue=settings.sequencer_max_queue,
                max_queue_bytes=settings.sequencer_max_queue_bytes,
            )

            def committed(batch: int, size: int, seconds: float) -> None:
                metrics.batch_records.observe(batch)
                metrics.commit_seconds.observe(seconds)
                metrics.log_size.labels(node.log).set(size)
                log.info(
                    "commit",
                    extra={
                        "log": node.log,
                        "records": batch,
                        "size": size,
                        "ms": round(seconds * 1000, 2),
                    },
                )
                replicator.notify_commit()

            sequencer.on_commit = committed
            await sequencer.start()
        app.state.sequencer = sequencer
        with node.store.read() as reader:
            for log_id in reader.logs():
                metrics.log_size.labels(log_id).set(reader.log(log_id).size())
            metrics.evidence.set(len(list_evidence(reader)))
        replicator.start()
        # What starting allocated (modules, routes, schemas) lives as long as the process; frozen,
        # it is no longer walked by every full collection, each of which otherwise stalled the
        # event loop for tens of milliseconds under load (README benchmark, p99 latency).
        gc.collect()
        gc.freeze()
        yield
        await replicator.stop()
        await client.aclose()
        if sequencer is not None:
            await sequencer.stop()  # finishes what it was sent: every acknowledged record is in
        log.info("stopped", extra={"log": node.log})

    app = FastAPI(
        title="KP Ledger node",
        version="1",
        description=(
            "A participant's node of KP Ledger: its own Kimberley Process log, replicas of every "
            "other participant's log, proofs, provenance bundles. Errors are RFC 9457 "
            "problem+json with a stable `code`."
        ),
        lifespan=lifespan,
    )
    api.install(app, node, metrics)
    return app
