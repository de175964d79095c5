"""The HTTP server: uvicorn, with a cap on connections and a deadline on every wait for a client.

uvicorn alone bounds neither: a connection that never finishes its request head, or trickles
its body, is held for ever (its keep-alive timer starts only after a first answer, and any
byte cancels it), and once the process runs out of file descriptors ``accept()`` fails on every
wakeup and asyncio logs a traceback for each of the connections it tried to take (issue 12,
item 4). Here (decision 0031):

- at most ``connection_cap`` connections are open, well below ``RLIMIT_NOFILE``, so accepting
  never meets ``EMFILE``; at the cap a new connection displaces the one that has waited
  longest on its client (idle, or half-sent), so a node full of idle sockets still answers
  ``/healthz`` and takes records; with none waiting (every connection being answered), the
  new one is closed at once;
- a request head must be complete ``header_timeout`` seconds after the connection opened, or
  after the first byte of the next request on a kept-alive connection;
- a body must arrive within ``body_timeout`` seconds plus one second per ``body_min_rate``
  bytes received;
- a kept-alive connection with no new request is closed after ``keep_alive_timeout``
  (uvicorn's own timer).

A half-sent request past its deadline is answered ``408`` and closed; a connection that sent
nothing is closed.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from node.core.errors import ConfigError
from node.engine.config import Settings

__all__ = ["ConnectionLimits", "connection_cap", "serve"]

log = logging.getLogger("kp.server")

# File descriptors the HTTP process holds besides client connections: the store, node.log, the
# sequencer's pipes, the event loop's own, connections to peers.
NON_CONNECTION_FDS = 64
# How many connections asyncio accepts per wakeup of the listening socket (it is also the
# listen backlog). Connections are counted only once their protocol starts, a loop iteration or
# two after ``accept()``; a few bursts may be in flight beyond the cap, so the cap leaves room.
ACCEPT_BURST = 32
FD_RESERVE = NON_CONNECTION_FDS + 4 * ACCEPT_BURST
# Below this many connections a node cannot serve its peers and clients at once.
MIN_CONNECTIONS = 16

_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: 34\r\n\r\n"
    b"request not received in time: 408\n"
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The bounds one server enforces; ``max_connections`` is the effective cap."""

    max_connections: int
    header_timeout: float
    body_timeout: float
    body_min_rate: int


def connection_cap(settings: Settings, fd_limit: int | None = None) -> int:
    """How many client connections the node holds open at once.

    ``settings.max_connections``, lowered to leave ``FD_RESERVE`` descriptors under the
    process's soft ``RLIMIT_NOFILE`` (read when ``fd_limit`` is not given).

    Raises:
        ConfigError: the limit leaves room for fewer than ``MIN_CONNECTIONS``.
    """
    if fd_limit is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        fd_limit = soft if soft != resource.RLIM_INFINITY else 1 << 20
    cap = min(settings.max_connections, fd_limit - FD_RESERVE)
    if cap < MIN_CONNECTIONS:
        raise ConfigError(
            f"the file-descriptor limit {fd_limit} leaves room for {max(cap, 0)} connections; "
            f"raise it (ulimit -n, LimitNOFILE=) to at least {MIN_CONNECTIONS + FD_RESERVE}"
        )
    return cap


def serve(app: Any, settings: Settings) -> None:
    """Serve ``app`` on ``settings.host:port`` until SIGINT or SIGTERM, within the bounds above."""
    limits = ConnectionLimits(
        max_connections=connection_cap(settings),
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        body_min_rate=settings.body_min_rate,
    )
    log.info(
        "serving",
        extra={"max_connections": limits.max_connections, "url": settings.url},
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=_bounded_protocol(limits),
        backlog=ACCEPT_BURST,
        timeout_keep_alive=settings.keep_alive_timeout,
        # uvicorn's loggers propagate to the root logger, whose handler writes JSON lines and
        # folds repeats (node.server.jsonlog); uvicorn's own text formatter is not installed.
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        # Each client address has its share of the sequencer's queue (decision 0028): the
        # address is the TCP peer's, never one a client names in X-Forwarded-For.
        proxy_headers=False,
        # The HTTP parser buffers at most this much of an incomplete request head.
        h11_max_incomplete_event_size=settings.max_header_bytes + 4096,
    )


class _Connections:
    """The open connections of one server; those waiting on their client, least recently
    heard from first (the first to go when a new connection needs the room)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: set[H11Protocol] = set()
        self.waiting: OrderedDict[H11Protocol, None] = OrderedDict()

    def admit(self, connection: H11Protocol) -> H11Protocol | bool:
        """Take ``connection``: True, or the connection it displaces, or False if none can go."""
        displaced: H11Protocol | bool = True
        if len(self.open) >= self.cap:
            if not self.waiting:
                return False
            displaced, _ = self.waiting.popitem(last=False)
            self.open.discard(displaced)
        self.open.add(connection)
        self.waiting[connection] = None
        return displaced

    def heard(self, connection: H11Protocol, waiting: bool) -> None:
        if connection not in self.open:
            return
        if waiting:
            self.waiting[connection] = None
            self.waiting.move_to_end(connection)
        else:
            self.waiting.pop(connection, None)

    def forget(self, connection: H11Protocol) -> None:
        self.open.discard(connection)
        self.waiting.pop(connection, None)


def _bounded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the cap and deadlines of ``limits`` (one server per class)."""

    class BoundedH11Protocol(_BoundedH11Protocol):
        connections_of_server = _Connections(limits.max_connections)
        bounds = limits

    return BoundedH11Protocol


class _BoundedH11Protocol(H11Protocol):
    """H11Protocol plus one deadline timer per connection: on the request head while no
    request is being answered, on the body while one is read; none while the app answers."""

    connections_of_server: ClassVar[_Connections]
    bounds: ClassVar[ConnectionLimits]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        # What the node waits for: the client's "head" or "body", or the app's "answer".
        self._waits_for = "head"
        self._body_since = 0.0
        self._body_received = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        admitted = self.connections_of_server.admit(self)
        if admitted is False:
            log.warning(
                "connection limit reached with every connection being answered: a new one "
                "was closed",
                extra={"code": "server.connection_limit"},
            )
            transport.close()
            return
        if isinstance(admitted, _BoundedH11Protocol):
            log.warning(
                "connection limit reached: the connection waiting longest on its client was closed",
                extra={"code": "server.connection_limit"},
            )
            admitted.transport.close()
        self._arm(self.bounds.header_timeout, self._head_overdue)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections_of_server.forget(self)
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._waits_for == "head" and self._deadline is None:
            # The first byte of the next request on a kept-alive connection.
            self._arm(self.bounds.header_timeout, self._head_overdue)
        elif self._waits_for == "body":
            self._body_received += len(data)
        super().data_received(data)
        self._progress()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request
        self._progress()

    def _progress(self) -> None:
        """After events were handled: set the deadline for what the connection now waits on."""
        if self._between_requests():
            now = "head"
        elif self._reading_body():
            now = "body"
        else:
            now = "answer"
        if now != self._waits_for:
            self._disarm()  # from a response to idle, uvicorn's keep-alive timer runs instead
            if now == "body":
                self._body_since, self._body_received = self.loop.time(), 0
                self._arm(self.bounds.body_timeout, self._body_overdue)
            self._waits_for = now
        self.connections_of_server.heard(self, waiting=now != "answer")

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _reading_body(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete and self.cycle.more_body

    def _head_overdue(self) -> None:
        self._deadline = None
        if not self._between_requests() or self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:  # part of a head was sent: say why it is dropped
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()

    def _body_overdue(self) -> None:
        self._deadline = None
        if not self._reading_body() or self.transport.is_closing():
            return
        # The allowance grows with what arrived: a large body at a fair rate is not cut off.
        allowed = (
            self._body_since
            + self.bounds.body_timeout
            + self._body_received / self.bounds.body_min_rate
        )
        if self.loop.time() < allowed:
            self._arm(allowed - self.loop.time(), self._body_overdue)
            return
        self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()

    def _arm(self, seconds: float, overdue: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, overdue)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
