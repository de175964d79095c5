"""What an annual report is computed from: the movements of the logs and the checkpoints that
bound them, from a node's statistics index or from a full replay (decision 0046).

- ``from_index``: each log's newest checkpoint from a node, verified with the log's key in the
  trusted charter chain; then the node's statistics index, cross-checked with a second node
  (client/annex.py, decision 0045), cut at those checkpoints. Fast, and as trustworthy as the
  two nodes that agree.
- ``from_replay``: every entry downloaded, checked against its checkpoint and re-validated
  (client/download.py); optionally cut at given sizes (``--at LOG:SIZE:ROOT``), whose roots are
  recomputed from the entries: a report made earlier is recomputed exactly, or the log at that
  size is shown not to be the one it counted.

Either way the movements come from ``node.core.movements.movement``, so the two paths give the
same rows for the same prefixes, and the report built on them the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import methodcaller

from client.annex import fetch_movements
from client.download import DownloadedLedger
from client.errors import UndecidedError
from client.findings import Finding
from client.nodes import Nodes
from client.replay import trusted_charters
from client.report import LogPoint, within
from client.stats import replayed_movements
from node.core import merkle
from node.core.errors import CharterError, LedgerError
from node.core.movements import Movement
from node.core.notes import SignedCheckpoint

__all__ = ["ReportInputs", "from_index", "from_replay", "parse_at"]


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """The movements a report counts and the checkpoints that bound them.

    Attributes:
        moves: the movements of the entries below the checkpoints.
        checkpoints: each log counted: size and root hash.
        network: the network's name.
        tolerance_ppm: the charter's mass tolerance.
        source: ``index`` or ``replay``.
        findings: what did not check out (a disagreement between nodes, an entry the replay
            refused, a root that is not the one asked for).
    """

    moves: tuple[Movement, ...]
    checkpoints: tuple[LogPoint, ...]
    network: str
    tolerance_ppm: int
    source: str
    findings: tuple[Finding, ...] = ()


def parse_at(text: str) -> tuple[str, int, bytes | None]:
    """``LOG:SIZE`` or ``LOG:SIZE:ROOT`` (64 hex digits), as ``--at`` takes it.

    Raises:
        ValueError: any other text.
    """
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].isdigit() or len(parts[1]) > 19:
        raise ValueError(f"{text[:80]!r} is not LOG:SIZE or LOG:SIZE:ROOT")
    root = None
    if len(parts) == 3:
        if re.fullmatch(r"[0-9a-f]{64}", parts[2]) is None:
            raise ValueError(f"{parts[2][:80]!r} is not a 64-digit hex root hash")
        root = bytes.fromhex(parts[2])
    return parts[0], int(parts[1]), root


def from_index(
    nodes: Nodes,
    trust: bytes | None,
    *,
    on_warning: Callable[[str], None] = lambda _: None,
) -> ReportInputs:
    """The movements of a node's statistics index, cut at its verified checkpoints.

    Raises:
        UndecidedError: the node serves another network (``report.wrong_network``), charters
            that do not chain from the trusted genesis (``audit.charters_unchained``), or an
            index behind its checkpoints (``report.index_behind``).
        NodeUnavailableError: no node answered.
    """
    info = nodes.first(methodcaller("network"))
    url = nodes.answered
    if trust is not None and info.genesis != trust:
        raise UndecidedError(
            f"{url} serves the network {info.genesis.hex()}, not the trusted one",
            code="report.wrong_network",
        )
    client = nodes.clients[url]
    try:
        chain = trusted_charters(client.charters(), trust or info.genesis)
    except CharterError as exc:
        raise UndecidedError(
            f"the charter versions {url} serves do not chain from the trusted genesis: "
            f"{exc.code}: {exc.message}",
            code="audit.charters_unchained",
        ) from exc
    points: list[LogPoint] = []
    findings: list[Finding] = []
    for held in client.logs():
        log = held.log
        # Every key the log has held, each once: a key unchanged across versions listed twice
        # would make the note's verifier list ambiguous (and the log left out).
        keys = list(
            dict.fromkeys(
                c.charter.log_verifier_key(log) for c in chain if log in c.charter.participants
            )
        )
        if not held.checkpoint or not keys:
            on_warning(f"{url} has no checkpoint of {log} to count it at: left out")
            continue
        try:
            signed = SignedCheckpoint.parse(held.checkpoint)
            signed.verify(keys, origin=chain[-1].charter.origin(log))
        except LedgerError as exc:
            findings.append(Finding(exc.code, f"checkpoint of {log}: {exc.message}", log=log))
            on_warning(f"the checkpoint of {log} from {url} does not verify: left out")
            continue
        points.append(LogPoint(log, signed.size, signed.root))
    fetched = fetch_movements(nodes, on_warning=on_warning)
    for point in points:
        if fetched.sizes.get(point.log, 0) < point.size:
            raise UndecidedError(
                f"{fetched.node} indexed {point.log} up to {fetched.sizes.get(point.log, 0)}, "
                f"behind its checkpoint at {point.size}: ask again, or use --replay",
                code="report.index_behind",
            )
    return ReportInputs(
        tuple(within(fetched.rows, points)),
        tuple(points),
        info.network,
        int(info.policy.get("mass_tolerance_ppm", 0)),
        "index",
        (*findings, *fetched.findings),
    )


def from_replay(
    ledger: DownloadedLedger, at: Mapping[str, tuple[int, bytes | None]] | None = None
) -> ReportInputs:
    """The movements of a full replay, at the downloaded checkpoints or at the sizes ``at``
    (then only those logs count, each at its size, its root recomputed from the entries and
    compared with the one given).

    Raises:
        UndecidedError: a size beyond what the nodes hold (``report.beyond_log``).
    """
    findings = list(ledger.problems())
    moves = replayed_movements(ledger.replay.accepted, ledger.replay.state)
    if at is None:
        points = [LogPoint(c.log, c.size, c.root) for c in ledger.checks]
    else:
        points = []
        for log, (size, root) in sorted(at.items()):
            entries = ledger.entries.get(log, [])
            if size > len(entries):
                raise UndecidedError(
                    f"the nodes hold {len(entries)} entries of {log}, not {size}",
                    code="report.beyond_log",
                )
            found = merkle.root([merkle.leaf_hash(e) for e in entries[:size]])
            if root is not None and found != root:
                findings.append(
                    Finding(
                        "report.root_mismatch",
                        f"{log} at size {size} has the root {found.hex()}, not {root.hex()}: "
                        "these are not the logs the report was computed from",
                        log=log,
                    )
                )
            points.append(LogPoint(log, size, found))
    return ReportInputs(
        tuple(within(moves, points)),
        tuple(points),
        ledger.network,
        ledger.charter.policy.mass_tolerance_ppm,
        "replay",
        tuple(findings),
    )
