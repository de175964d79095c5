"""The node's ASGI application: the API of node/server/api.py around one ``LedgerNode``.

``create_app`` does no I/O itself: the node is opened from its data directory by the caller
(``kp-node run``), and the sequencer process and replication start in the application's
lifespan.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from node.engine.datadir import DataDirLock
from node.engine.ledger import LedgerNode
from node.engine.replica import list_evidence
from node.server import api
from node.server.metrics import NodeMetrics
from node.server.replication import Replicator
from node.server.sequencer_process import SequencerProcess

__all__ = ["create_app"]

log = logging.getLogger("kp.node")


def create_app(node: LedgerNode, *, lock: DataDirLock | None = None) -> FastAPI:
    """The HTTP application of ``node``; its lifespan starts and stops the sequencer.

    Args:
        lock: the data directory's lock, which the sequencer process is given to hold too, so
            that it is held while either process lives (decision 0030).
    """
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
            max_interval=node.settings.replication_max_interval,
            metrics=metrics,
            on_evidence=lambda evidence: metrics.evidence.inc(),
            on_witnessed=on_witnessed,
            on_charter_status=metrics.charter_status,
        )
        app.state.replicator = replicator
        app.state.sequencer = None

        async def start_sequencer() -> None:
            """Give the log's one writer a process (and a core) of its own (decision 0018)."""
            if node.data_dir is None:
                raise RuntimeError("a node is served from its data directory")
            settings = node.settings
            sequencer = SequencerProcess(
                node.data_dir,
                max_queue=settings.sequencer_max_queue,
                max_queue_bytes=settings.sequencer_max_queue_bytes,
                lock=lock,
            )

            def committed(batch: int, size: int, seconds: float) -> None:
                metrics.batch_records.observe(batch)
                metrics.commit_seconds.observe(seconds)
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

        def restored() -> None:  # on the event loop, when the restore has ended
            if node.genesis() is None:
                log.warning("restored, but no peer holds this log: adopt the charter")
            else:
                app.state.starting = loop.create_task(start_sequencer())

        replicator.on_restored = restored
        if replicator.restoring:
            log.warning("restoring this node's own log from peers: records wait until it is back")
        elif node.genesis() is None:
            log.warning("no charter adopted yet: records are refused until one is")
        else:
            await start_sequencer()
        with node.store.read() as reader:
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
        sequencer: SequencerProcess | None = app.state.sequencer
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
        # Theirs load from a CDN and run inline script: node/server/api_docs.py serves both.
        docs_url=None,
        redoc_url=None,
    )
    api.install(app, node, metrics)
    return app
