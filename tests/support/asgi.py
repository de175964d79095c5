"""One real node application driven in-process: ``create_app`` on a real data directory, its
lifespan (the sequencer process on the real LMDB store) entered in an event loop of its own (an
anyio blocking portal), and httpx's ``ASGITransport`` carrying each request into it. No listener,
no ports; each route's answer — status, content type, problem code — as a client sees it.

``Api.transport`` carries a synchronous client's requests (the SDK's ``LedgerClient``,
``client.nodes.Nodes``) into the same loop, so library code runs against the real node too.
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

__all__ = ["Api", "PortalTransport", "serve_in_process"]


class PortalTransport(httpx.BaseTransport):
    """A synchronous transport that hands each request to an ASGI transport in the portal's
    loop; ``requests`` counts what it carried."""

    def __init__(self, portal: BlockingPortal, transport: httpx.ASGITransport) -> None:
        self._portal = portal
        self._transport = transport
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)

        async def send() -> httpx.Response:
            response = await self._transport.handle_async_request(request)
            # The bytes as sent (gzipped, where the node compressed them), so that they still
            # match their Content-Encoding: the synchronous client decodes them itself.
            content = b"".join([chunk async for chunk in response.aiter_raw()])
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(send)


class Api:
    """Blocking calls into the application's own event loop."""

    def __init__(
        self, portal: BlockingPortal, transport: httpx.ASGITransport, node: LedgerNode
    ) -> None:
        self._portal = portal
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.transport = PortalTransport(portal, transport)
        self.node = node

    def close(self) -> None:
        self._portal.call(self._client.aclose)

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
            api = Api(portal, transport, node)
            yield api
            api.close()
    finally:
        node.close()
