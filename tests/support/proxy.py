"""A real HTTP relay on loopback that loses answers on purpose: the node behind it commits the
request, and the client gets nothing back (the connection cut) or gets it too late.

It stands where a network fault does, between a real client and a real node, and keeps every
request body it relayed so a test can tell a resent request from a re-signed one. Beside it,
``silent_node``: an address that takes requests and never answers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field

import httpx

MAX_HEAD = 64 * 1024


@dataclass
class LosingRelay:
    """Relays to ``upstream``; the first ``lose`` POSTs are committed upstream and then their
    answer is lost: ``mode="cut"`` closes the connection, ``mode="late"`` answers after
    ``late_seconds``."""

    upstream: str
    lose: int = 1
    mode: str = "cut"
    late_seconds: float = 3.0
    posted: list[bytes] = field(default_factory=list)
    url: str = ""

    def _serve(self, conn: socket.socket) -> None:
        with closing(conn):
            head = b""
            while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            header_bytes, _, body = head.partition(b"\r\n\r\n")
            request_line, *header_lines = header_bytes.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in header_lines)
            }
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            forwarded = {k: v for k, v in headers.items() if k in ("content-type", "accept")}
            answer = httpx.request(
                method, self.upstream + target, content=body, headers=forwarded, timeout=30
            )
            if method == "POST":
                self.posted.append(body)
                if len(self.posted) <= self.lose:
                    if self.mode == "late":
                        time.sleep(self.late_seconds)
                    else:
                        return  # the node committed; the client hears nothing
            reply = (
                f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}\r\n"
                f"content-type: {answer.headers.get('content-type', 'application/json')}\r\n"
                f"content-length: {len(answer.content)}\r\nconnection: close\r\n\r\n"
            ).encode() + answer.content
            with suppress(OSError):  # the client gave up waiting (mode "late")
                conn.sendall(reply)


@contextmanager
def losing_relay(
    upstream: str, *, lose: int = 1, mode: str = "cut", late_seconds: float = 3.0
) -> Iterator[LosingRelay]:
    """Start a relay on a free loopback port; stop it on exit."""
    relay = LosingRelay(upstream, lose=lose, mode=mode, late_seconds=late_seconds)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    relay.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=relay._serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        stopping.set()
        listener.close()
        thread.join(timeout=5)


@contextmanager
def silent_node() -> Iterator[str]:
    """A loopback address that takes connections and requests and never answers: a node too
    slow for any timeout. Yields its URL; every connection is closed on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)  # a closed listener does not wake a blocked accept
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing: the client waits

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopping.set()
        listener.close()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
