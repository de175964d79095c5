"""Several nodes asked as one: the first that answers wins, a refusal passes the question on.

A verifier, an auditor or ``kp`` is given a few nodes' URLs (``--node``, ``KP_NODES``); any one
of them may be down or may not have replicated a log yet. Whatever a node answers is checked by
its caller (an entry must hash to what was asked, here), so trying the next node trusts none.

A record is the exception: it is submitted to the node of its own log only (``own_node``,
``submit``), since only that node appends to the log, and any other would read its disclosures
on the way and refuse it (``record.wrong_log``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import httpx

from client.answers import CertificateInfo
from client.errors import (
    AnswerLostError,
    ClientError,
    MalformedAnswerError,
    NodeUnavailableError,
    NotOnLedgerError,
    NotSubmittedError,
    ProblemError,
)
from client.sdk import LedgerClient
from node.core.receipt import Receipt
from node.core.records import CertificateNumber, Entry, SignedRecord
from node.core.sealing import Disclosures

__all__ = ["Nodes"]

_T = TypeVar("_T")


class Nodes:
    """The nodes given, asked in order: the first that answers wins; a refusal (say, a node that
    has not replicated that log yet) passes the question to the next."""

    def __init__(
        self,
        urls: list[str],
        *,
        timeout: float,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.urls = urls
        self.clients = {
            url: LedgerClient(url, timeout=timeout, retries=1, auth=auth, transport=transport)
            for url in urls
        }
        self.unreachable: list[str] = []
        self.answered = ""
        self._own: dict[str, LedgerClient] = {}

    def __enter__(self) -> Nodes:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients.values():
            client.close()

    def first(self, ask: Callable[[LedgerClient], _T]) -> _T:
        """The first answer of any node.

        Raises:
            ProblemError: every node that answered refused (the first refusal).
            NodeUnavailableError: no node answered at all (a node that answered something
                malformed counts as none).
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
        """An entry by hash, parsed strictly and checked to hash to what was asked.

        Raises:
            MalformedAnswerError: the node that answered served another entry.
        """
        answer = self.first(lambda c: c.entry(entry_hash))
        if answer.hash.hex() != entry_hash:
            raise MalformedAnswerError(f"{self.answered} served another entry for {entry_hash}")
        return answer.entry

    def certificate(self, number: CertificateNumber) -> CertificateInfo:
        """The certificate with that number, from the first node that holds it.

        Raises:
            NotOnLedgerError: every node that answered holds none (``certificate.unknown``).
            ProblemError: a node refused otherwise; NodeUnavailableError: none answered.
        """
        try:
            return self.first(lambda c: c.certificate(number.issuer, number.key))
        except ProblemError as exc:
            if exc.code != "certificate.unknown":
                raise
            asked = ", ".join(u for u in self.urls if u not in self.unreachable)
            raise NotOnLedgerError(
                f"no certificate with this number on the ledger — it may be forged: "
                f"{number.text} (asked {asked})"
            ) from exc

    def own_node(self, log: str) -> LedgerClient:
        """The node, among those given, of ``log``: the one node that appends to it.

        Raises:
            NotSubmittedError: no node given says it is ``log``'s, which then does not answer,
                or is not among those given (the message says which, and where the charter
                lists it).
        """
        if log in self._own:
            return self._own[log]
        answered: dict[str, str] = {}
        for url, client in self.clients.items():
            try:
                answered[url] = client.health().log
            except ClientError:
                self.unreachable.append(url)
                continue
            if answered[url] == log:
                self._own[log] = client
                return client
        # Which URL is log's node, as the charter of a node that answered lists it: only for
        # saying so, since that document was not checked against a trust anchor here.
        listed: list[str] = []
        for url in answered:
            try:
                member = self.clients[url].network().participants.get(log)
            except ClientError:
                continue
            listed = [e.rstrip("/") for e in member.endpoints] if member is not None else []
            break
        silent = [u for u in self.unreachable if not listed or u in listed]
        if silent:
            raise NotSubmittedError(_not_answering(log, silent))
        if listed:
            raise NotSubmittedError(
                f"none of the nodes given is {log}'s node (they are "
                f"{', '.join(f'{who} at {url}' for url, who in answered.items())}); the charter "
                f"lists {log}'s node at {', '.join(listed)}: records of log {log} are written "
                "only there; give it with --node. Nothing was submitted"
            )
        raise NotSubmittedError(
            f"none of the nodes given is {log}'s node: records of log {log} are written only "
            "there; give it with --node. Nothing was submitted"
        )

    def submit(
        self, signed: SignedRecord, disclosures: Disclosures | None = None, *, wait: str
    ) -> tuple[str, Receipt]:
        """Submit the record to its own log's node only; return that node's URL and the receipt.

        The SDK retries a lost answer by resending the same bytes, which the node answers with
        the receipt it gave first, so one call appends at most one entry.

        Raises:
            NotSubmittedError: the own node is not among those given or does not answer
                (``node.own_unavailable``), or took the record and gave no answer
                (``node.no_answer``: it may have been appended; look before signing again).
            ProblemError: the node refused the record.
        """
        client = self.own_node(signed.log)
        try:
            return client.url, client.submit(signed, disclosures, wait=wait)
        except AnswerLostError as exc:
            raise NotSubmittedError(
                f"{signed.log}'s node at {client.url} took the record but gave no answer after "
                f"{client.retries + 1} attempts: it may have been appended; look for it before "
                f"signing it again ({exc.message})",
                code=exc.code,
            ) from exc
        except NodeUnavailableError as exc:
            raise NotSubmittedError(_not_answering(signed.log, [client.url])) from exc


def _not_answering(log: str, urls: Sequence[str]) -> str:
    return (
        f"{log}'s node at {' or '.join(urls)} does not answer: records of log {log} are "
        "written only there; nothing was submitted"
    )
