"""A real HTTP transport that counts the requests it carries, per node (scheme, host and port):
how many requests a verifier or an auditor asks of each node."""

from __future__ import annotations

from collections import Counter
from types import TracebackType

import httpx

__all__ = ["CountingTransport"]


class CountingTransport(httpx.BaseTransport):
    """``httpx.HTTPTransport``, counting: ``asked[url]`` requests went to the node at ``url``,
    and ``paths[url]`` lists them in order (method and path)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.asked: Counter[str] = Counter()
        self.paths: dict[str, list[str]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        self.asked[url] += 1
        self.paths.setdefault(url, []).append(f"{request.method} {request.url.path}")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()
