"""One real node application driven in-process: ``create_app`` on a real data directory, its
lifespan (the sequencer process on the real LMDB store) entered in an event loop of its own (an
anyio blocking portal), and httpx's ``ASGITransport`` carrying each request into it. No listener,
no ports; each route's answer — status, content type, problem code — as a client sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from node.engine.datadir import DataDir
from node.engine.ledger import LedgerNode
from node.server.app import create_app

__all__ = ["Api", "serve_in_process"]


class Api:
    """Blocking calls into the application's own event loop."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient, node: LedgerNode) -> None:
        self._portal = portal
        self._client = client
        self.node = node

    def get(self, path: str) -> httpx.Response:
        return self._portal.call(self._client.get, path)

    def post(
        self,
        path: str,
        *,
        content: bytes | str | AsyncIterable[bytes] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return self._portal.call(
            lambda: self._client.post(path, content=content, json=json, headers=headers)
        )


@contextmanager
def serve_in_process(data_dir: Path) -> Iterator[Api]:
    """The node of ``data_dir`` as ``kp-node run`` serves it, in this process."""
    node = LedgerNode.open(DataDir(data_dir))
    app = create_app(node)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(app.router.lifespan_context(app)),
        ):
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            yield Api(portal, client, node)
            portal.call(client.aclose)
    finally:
        node.close()
