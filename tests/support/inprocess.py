"""One real node application driven in-process: no listener, no ports.

``serve`` runs the application ``kp-node run`` serves (``create_app``, its lifespan starting the
sequencer process on the node's real LMDB store) in an event loop of its own (an anyio blocking
portal); httpx's ``ASGITransport`` carries each request into it. Requests go to the node's own
configured URL, so that a member request signed for it (RFC 9421) verifies.

``replicate`` copies other members' logs into a node's store through the replica path
(``node.engine.replica.extend``: every entry re-validated), as peers would, so that the node
knows their operators without any peer running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import httpsig, notes
from node.engine.datadir import DataDir
from node.engine.ledger import LedgerNode
from node.engine.replica import extend
from node.server.app import create_app

__all__ = ["Api", "replicate", "serve"]


class Api:
    """Blocking calls into the application's own event loop."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def get(
        self,
        path: str,
        *,
        params: dict[str, int] | None = None,
        signer: tuple[str, Ed25519PrivateKey] | None = None,
    ) -> httpx.Response:
        """GET ``path``; signed as ``signer`` (key id, key) when given."""
        auth = None if signer is None else httpsig.HttpxSigner(*signer)
        return self._portal.call(lambda: self._client.get(path, params=params, auth=auth))

    def post(
        self, path: str, *, content: bytes | str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self._portal.call(lambda: self._client.post(path, content=content, headers=headers))


@contextmanager
def serve(node: LedgerNode) -> Iterator[Api]:
    """Serve ``node`` in-process until the block ends (the caller closes the node)."""
    app = create_app(node)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        client = httpx.AsyncClient(transport=transport, base_url=node.settings.url)
        try:
            yield Api(portal, client)
        finally:
            portal.call(client.aclose)


def replicate(node: LedgerNode, sources: list[Path]) -> None:
    """Append each source data directory's own log, to its newest checkpoint, to ``node``'s
    store as a replica (re-validated entry by entry)."""
    for root in sources:
        source = LedgerNode.open(DataDir(root))
        try:
            with source.store.read() as reader:
                log = reader.log(source.log)
                latest = log.latest_checkpoint()
                assert latest is not None, f"{source.log} has no checkpoint"
                size, note = latest
                entries = list(log.entries(0, size))
        finally:
            source.close()
        with node.store.write() as writer:
            done = extend(writer, source.log, notes.SignedCheckpoint.parse(note), entries)
        assert (done.size, done.pending) == (size, None), done
