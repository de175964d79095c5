"""Plain ASGI middleware that runs on every request: a header budget and the request log."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.server.metrics import NodeMetrics
from node.server.schemas import problem

__all__ = [
    "HeaderLimit",
    "RequestLog",
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
