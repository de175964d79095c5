"""Movements for KP statistics from the nodes' statistics index, cross-checked (decision 0045).

``fetch_movements`` pages through one node's ``GET /v1/statistics/movements``, recomputes each
log's chain digest from the rows it got (node/core/movements.py ``chain_digest``) and checks it
against the digest the node states; then asks another node, per log, for its digest of the same
prefix (``GET /v1/statistics/digest``: one request a log). The movements are a pure function of
the logs, so honest nodes holding the same prefix agree; a node that holds less of a log is
compared on what it holds; a disagreement is named, never averaged away.

This trusts the answering node for the rows themselves as far as the second node agrees:
``kp stats --replay`` re-validates every entry instead, for an auditor who trusts none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from client.errors import MalformedAnswerError, NodeUnavailableError, ProblemError
from client.findings import Finding
from client.nodes import Nodes
from client.sdk import LedgerClient
from node.core.movements import Movement, chain_digest

__all__ = ["FetchedMovements", "fetch_movements"]

PAGE = 5000  # the node's bound (node/server/statistics.py MAX_PAGE): a dozen pages for a year


@dataclass(frozen=True, slots=True)
class FetchedMovements:
    """The movements one node served, and what comparing them with another node found.

    Attributes:
        node: the URL that served the rows.
        rows: every movement, in (log, seq) order.
        sizes: per log, the size below which ``rows`` hold all of its movements.
        digests: per log, the chain digest of those rows.
        checked_with: the URL of the node compared with (None: no other node answered).
        compared: per log, the size up to which the other node agreed.
        findings: disagreements (``stats.digest_mismatch``), and a node that could not compare.
    """

    node: str
    rows: tuple[Movement, ...]
    sizes: dict[str, int]
    digests: dict[str, bytes | None]
    checked_with: str | None = None
    compared: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "rows": len(self.rows),
            "sizes": dict(sorted(self.sizes.items())),
            "checked_with": self.checked_with,
            "compared": dict(sorted(self.compared.items())),
        }


def fetch_movements(
    nodes: Nodes, *, on_warning: Callable[[str], None] = lambda _: None
) -> FetchedMovements:
    """Every movement from the first node that serves them all, compared with the next node.

    Raises:
        NodeUnavailableError: no node served the index.
    """
    failures: list[str] = []
    for url, client in nodes.clients.items():
        try:
            fetched = _fetch(url, client)
        except (NodeUnavailableError, ProblemError, MalformedAnswerError) as exc:
            failures.append(f"{url}: {exc}")
            on_warning(f"{url} did not serve its statistics index: {exc}")
            continue
        return _cross_check(fetched, nodes, on_warning)
    raise NodeUnavailableError("no node served its statistics index: " + "; ".join(failures))


def _fetch(url: str, client: LedgerClient) -> FetchedMovements:
    rows: list[Movement] = []
    digests: dict[str, bytes | None] = {}
    sizes: dict[str, int] = {}
    finished: set[str] = set()
    after: str | None = None
    while True:
        page = client.statistics_movements(after=after, limit=PAGE)
        for row, data in zip(page.rows, page.raw, strict=True):
            log = row.entry.log
            if log in finished or (rows and (log, row.entry.seq) <= _key(rows[-1])):
                raise MalformedAnswerError(f"{url}: movements out of (log, seq) order")
            if rows and rows[-1].entry.log != log:
                finished.add(rows[-1].entry.log)
            digests[log] = chain_digest(digests.get(log), data)
            rows.append(row)
        for log, stated in page.digests.items():
            if digests.get(log) != stated:
                raise MalformedAnswerError(f"{url}: the digest of {log}'s movements is not theirs")
        # The logs the scan has gone past are complete up to their size in this snapshot.
        current = rows[-1].entry.log if rows and page.next is not None else None
        for log, size in page.sizes.items():
            if log not in sizes and (current is None or log < current):
                sizes[log] = size
        if page.next is None:
            break
        after = page.next
    for log in sizes:
        digests.setdefault(log, None)
    return FetchedMovements(url, tuple(rows), sizes, digests)


def _key(row: Movement) -> tuple[str, int]:
    return row.entry.log, row.entry.seq


def _cross_check(
    fetched: FetchedMovements, nodes: Nodes, on_warning: Callable[[str], None]
) -> FetchedMovements:
    findings: list[Finding] = []
    for url, client in nodes.clients.items():
        if url == fetched.node:
            continue
        compared: dict[str, int] = {}
        try:
            for log, size in sorted(fetched.sizes.items()):
                theirs = client.statistics_digest(log, size)
                ours = (
                    fetched.digests.get(log)
                    if theirs.size >= size
                    else _digest_below(fetched, log, theirs.size)
                )
                if theirs.digest != ours:
                    findings.append(
                        Finding(
                            "stats.digest_mismatch",
                            f"{fetched.node} and {url} disagree on the movements of {log} "
                            f"below size {theirs.size}: one of them serves an index that is "
                            "not its logs' (kp stats --replay decides)",
                            log=log,
                        )
                    )
                compared[log] = theirs.size
        except (NodeUnavailableError, ProblemError, MalformedAnswerError) as exc:
            on_warning(f"{url} could not be compared: {exc}")
            continue
        return FetchedMovements(
            fetched.node,
            fetched.rows,
            fetched.sizes,
            fetched.digests,
            url,
            compared,
            tuple(findings),
        )
    on_warning(f"no other node answered: the movements of {fetched.node} are not cross-checked")
    return fetched


def _digest_below(fetched: FetchedMovements, log: str, size: int) -> bytes | None:
    """The chain digest of ``log``'s rows below ``size``: what a node holding that much of the
    log must state. The served bytes are not kept (a year of them would double what a run
    holds): the rows are encoded again, the same bytes for the canonical rows honest nodes
    serve."""
    digest: bytes | None = None
    for row in fetched.rows:
        if row.entry.log == log and row.entry.seq < size:
            digest = chain_digest(digest, row.encode())
    return digest
