"""Plain ASGI middleware that runs on every request: security headers, a header budget, the
request log and compression."""

from __future__ import annotations

import logging
import time

from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.server.metrics import NodeMetrics
from node.server.schemas import problem

__all__ = [
    "COMPRESSED_MINIMUM_BYTES",
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "Compression",
    "HeaderLimit",
    "RequestLog",
    "SecurityHeaders",
]

logger = logging.getLogger("kp.api")


class HeaderLimit:
    """431 for requests whose header names and values exceed the limit (plain ASGI: it runs on
    every request, so it must cost next to nothing)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(k) + len(v) for k, v in scope["headers"])
            if size > self.limit:
                refusal = problem(
                    431, "request.headers_too_large", f"headers of {size} bytes, over {self.limit}"
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestLog:
    """One JSON log line and one latency observation per request (plain ASGI)."""

    def __init__(self, app: ASGIApp, metrics: NodeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.request_seconds.labels(method, route, str(status)).observe(seconds)
            logger.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                },
            )


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Only this node's own scripts, styles and images (and data: images: the explorer's inline SVG
and QR codes); no plugins, no <base> rewriting, forms post only here, and no other site may
frame a page (clickjacking a border officer's verification page). A route may send a policy of
its own instead (``/redoc``, node/server/api_docs.py)."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    # A page opened from another site gets no handle on ours (window.opener), nor ours on it.
    ("cross-origin-opener-policy", "same-origin"),
)
"""The headers every response carries (decision 0044)."""


class SecurityHeaders:
    """Add ``SECURITY_HEADERS`` to every HTTP response, unless a route set one itself (plain
    ASGI: the headers are encoded once, and a response costs one list extension)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._raw = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS]
        self._names = frozenset(name for name, _ in self._raw)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers} & self._names
                headers.extend(h for h in self._raw if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


COMPRESSED_MINIMUM_BYTES = 1024
"""Smaller bodies go as they are: gzip's header and the CPU would cost more than they save."""

_UNCOMPRESSED_TYPES = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    # Replication pages and envelopes, node to node: the hot path of a two-core node, left as
    # it was measured; entries gzip to about half, envelopes (ciphertext) not at all (0044).
    "application/msgpack",
    # Its streams are compressed already.
    "application/pdf",
)


class Compression(GZipMiddleware):
    """gzip for responses of at least ``COMPRESSED_MINIMUM_BYTES`` to clients that accept it:
    pages, scripts, styles, JSON, metrics (Starlette's middleware, which compresses a streamed
    body chunk by chunk and leaves requests alone, so the body limits hold as before)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(
            app,
            minimum_size=COMPRESSED_MINIMUM_BYTES,
            compresslevel=6,  # zlib's default: most of level 9's ratio at a fraction of its CPU
            exclude_content_types=_UNCOMPRESSED_TYPES,
        )
