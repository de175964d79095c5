"""Several nodes asked as one: the first that answers wins, a refusal passes the question on.

A verifier, an auditor or ``kp`` is given a few nodes' URLs (``--node``, ``KP_NODES``); any one
of them may be down or may not have replicated a log yet. Whatever a node answers is checked by
its caller (an entry must hash to what was asked, here), so trying the next node trusts none.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TypeVar

import httpx

from client.sdk import (
    ClientError,
    LedgerClient,
    NodeUnavailableError,
    ProblemError,
)
from node.core import merkle
from node.core.records import (
    Entry,
)

__all__ = ["Nodes"]

_T = TypeVar("_T")


class Nodes:
    """The nodes given, asked in order: the first that answers wins; a refusal (say, a node that
    has not replicated that log yet) passes the question to the next."""

    def __init__(self, urls: list[str], *, timeout: float, auth: httpx.Auth | None = None) -> None:
        self.urls = urls
        self.clients = {
            url: LedgerClient(url, timeout=timeout, retries=1, auth=auth) for url in urls
        }
        self.unreachable: list[str] = []
        self.answered = ""

    def __enter__(self) -> Nodes:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients.values():
            client.close()

    def first(self, ask: Callable[[LedgerClient], _T]) -> _T:
        """The first answer of any node.

        Raises:
            ProblemError: every node that answered refused (the first refusal).
            NodeUnavailableError: no node answered at all.
        """
        refused: ProblemError | None = None
        for url, client in self.clients.items():
            if url in self.unreachable:
                continue
            try:
                answer = ask(client)
            except ProblemError as exc:
                refused = refused or exc
                continue
            except ClientError:
                self.unreachable.append(url)
                continue
            self.answered = url
            return answer
        if refused is not None:
            raise refused
        raise NodeUnavailableError(f"no node answered of {', '.join(self.urls)}")

    def entry(self, entry_hash: str) -> Entry:
        """An entry by hash, parsed strictly and checked to hash to what was asked."""
        answer = self.first(lambda c: c.entry(entry_hash))
        try:
            raw = base64.b64decode(str(answer["raw"]), validate=True)
        except (KeyError, binascii.Error) as exc:
            raise ClientError(
                f"{self.answered} served a malformed entry", code="client.malformed"
            ) from exc
        if merkle.leaf_hash(raw).hex() != entry_hash:
            raise ClientError(
                f"{self.answered} served another entry for {entry_hash}", code="client.malformed"
            )
        return Entry.parse(raw)
