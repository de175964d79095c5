"""The network half of ``kp audit`` and ``kp stats``: what an auditor fetches from the nodes.

client/audit.py decides on what was downloaded and reads no network; this module does the
reading, and reports on the terminal nothing itself (its caller passes ``on_progress`` and
``on_warning``):

- ``download_ledger``: the selected logs from the first node that answers (and every log their
  entries reference, needed to judge them), each checked against its checkpoint and all
  replayed under the charter chain verified from the trusted genesis: a ``DownloadedLedger``.
- ``cross_examine``: every other node's checkpoints of those logs agree with the downloaded
  entries, and no node holds evidence against them.
- ``read_disclosed``: a member's sealed values of some entries, each opened against the
  commitment its entry carries, so that no node can make one up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from client.answers import DisclosedEntry
from client.audit import (
    MAX_AUDIT_ENTRIES,
    LogCheck,
    check_log,
    compare_checkpoint,
    referenced_logs,
    replay_logs,
)
from client.errors import ClientError, MalformedAnswerError, ProblemError, UndecidedError
from client.findings import Finding
from client.nodes import Nodes
from client.replay import Replay, trusted_charters
from client.sdk import LedgerClient, Operator
from node.core import merkle, notes
from node.core.charter import Charter
from node.core.encoding import Value
from node.core.errors import CharterError, LedgerError
from node.core.sealing import commit

__all__ = [
    "MAX_DISCLOSURE_READS",
    "DisclosedValues",
    "DownloadedLedger",
    "OnProgress",
    "OnWarning",
    "cross_examine",
    "download_ledger",
    "read_disclosed",
]

MAX_DISCLOSURE_READS = 10_000
"""The most entries whose disclosures one ``read_disclosed`` asks for."""

OnProgress = Callable[[str, int, int], None]
"""``(task, done, total)``: ``download BW`` entries so far of its size, then ``replay``."""

OnWarning = Callable[[str], None]
"""Something the caller should be told that is no finding: a node that could not be asked."""


def _quiet(*_: object) -> None:
    pass


@dataclass(frozen=True, slots=True)
class DownloadedLedger:
    """Logs downloaded from a node, checked against their checkpoints and replayed.

    Attributes:
        network: the network's name, as the node states it.
        genesis: the genesis hash the node serves (hex); it is the anchor when none is trusted.
        charter: the newest version of the verified charter chain.
        primary: the URL of the node the logs came from.
        checks: each log against its checkpoint, in the order downloaded.
        entries: each log's canonical entries, from 0 to its checkpoint's size.
        checkpoints: the checkpoint note each log was checked against.
        replay: every entry through the rules, in one replay.
        findings: what was wrong before any log was checked (another network, a log without
            a checkpoint, a checkpoint that does not parse).
    """

    network: str
    genesis: str
    charter: Charter
    primary: str
    checks: list[LogCheck]
    entries: dict[str, list[bytes]]
    checkpoints: dict[str, str]
    replay: Replay
    findings: list[Finding] = field(default_factory=list)

    def problems(self) -> list[Finding]:
        """Every finding of the download, the checks and the replay, in that order."""
        return [
            *self.findings,
            *(f for check in self.checks for f in check.findings),
            *self.replay.findings,
        ]

    def charter_of(self, log: str) -> Charter:
        """The charter ``log`` adopted last: its checkpoints are signed with the log key it
        gives (the newest version when the log adopted none in what was replayed)."""
        return self.replay.state.adopted_charter(log) or self.charter


def download_ledger(
    nodes: Nodes,
    selected: Sequence[str] | None,
    trust: bytes | None,
    *,
    on_progress: OnProgress = _quiet,
) -> DownloadedLedger:
    """Download the selected logs (every log when ``None``), and the logs they reference,
    from the first node that answers; check each against its checkpoint and replay them all.

    Args:
        trust: the trusted genesis hash; without it, the node's own genesis is the anchor
            (and the caller should say so).

    Raises:
        UndecidedError: the charter versions the node serves do not chain from the anchor
            (``audit.charters_unchained``), it holds no log asked for (``audit.log_unknown``),
            or there are more than ``MAX_AUDIT_ENTRIES`` (``audit.too_large``).
        NodeUnavailableError: no node answered.
    """
    network = nodes.first(lambda c: c.network())
    primary = nodes.answered
    client = nodes.clients[primary]
    findings: list[Finding] = []
    genesis = network.genesis
    if trust is not None and trust != genesis:
        findings.append(
            Finding("audit.wrong_network", f"{primary} is of the network {genesis.hex()}")
        )
    anchor = trust or genesis
    try:
        # Every version from the genesis, checked against the trusted hash: each log is judged
        # under the version it had adopted, the genesis for every founding log's entry 0.
        chain = trusted_charters(client.charters(), anchor)
    except CharterError as exc:
        raise UndecidedError(
            f"the charter versions {primary} serves do not chain from the trusted genesis: "
            f"{exc.code}: {exc.message}",
            code="audit.charters_unchained",
        ) from exc
    held = {item.log: item for item in client.logs()}
    queue = sorted(held) if selected is None else list(dict.fromkeys(selected))
    for log in queue:
        if log not in held:
            raise UndecidedError(f"{primary} holds no log {log}", code="audit.log_unknown")
    entries: dict[str, list[bytes]] = {}
    checkpoints: dict[str, str] = {}
    total = 0
    while queue:
        log = queue.pop(0)
        note = held[log].checkpoint
        if not note:
            findings.append(Finding("audit.no_checkpoint", f"{log} has no checkpoint", log=log))
            continue
        try:
            size = notes.SignedCheckpoint.parse(note).size
        except LedgerError as exc:
            findings.append(Finding(exc.code, f"checkpoint of {log}: {exc.message}", log=log))
            continue
        total += size
        if total > MAX_AUDIT_ENTRIES:
            raise UndecidedError(
                f"more than {MAX_AUDIT_ENTRIES} entries to audit", code="audit.too_large"
            )
        checkpoints[log] = note
        entries[log] = _download(client, log, size, on_progress)
        for other in sorted(referenced_logs(entries[log])):
            if other not in entries and other not in queue and other in held:
                queue.append(other)  # its certificates and parcels are needed to judge
    replayed = [0]

    def advance(log: str, seq: int) -> None:
        replayed[0] += 1
        on_progress("replay", replayed[0], total)

    on_progress("replay", 0, total)
    replay = replay_logs(chain, anchor, entries, on_entry=advance)
    newest = chain[-1].charter
    checks = [
        check_log(
            log,
            checkpoints[log],
            entries[log],
            replay.state.adopted_charter(log) or newest,
            anchor,
        )
        for log in entries
    ]
    return DownloadedLedger(
        network=network.network,
        genesis=genesis.hex(),
        charter=newest,
        primary=primary,
        checks=checks,
        entries=entries,
        checkpoints=checkpoints,
        replay=replay,
        findings=findings,
    )


def _download(client: LedgerClient, log: str, size: int, on_progress: OnProgress) -> list[bytes]:
    found: list[bytes] = []
    on_progress(f"download {log}", 0, size)
    while len(found) < size:
        page = client.entries(log, len(found), size)
        if not page:
            break  # the node has fewer entries than it signed; check_log says so
        found.extend(page[: size - len(found)])
        on_progress(f"download {log}", len(found), size)
    return found


def cross_examine(
    nodes: Nodes, ledger: DownloadedLedger, *, on_warning: OnWarning = _quiet
) -> list[Finding]:
    """Every node's checkpoints of the downloaded logs must agree with the downloaded entries,
    and no node may hold evidence against them. A node that cannot be asked is reported to
    ``on_warning`` and decides nothing."""
    findings: list[Finding] = []
    leaves = {log: [merkle.leaf_hash(e) for e in raw] for log, raw in ledger.entries.items()}
    for url, client in nodes.clients.items():
        try:
            if url != ledger.primary:
                for item in client.logs():
                    if item.log not in leaves or not item.checkpoint:
                        continue
                    size = notes.SignedCheckpoint.parse(item.checkpoint).size
                    ours = len(leaves[item.log])
                    proof = (
                        client.consistency_proof(item.log, ours, size) if size > ours > 0 else None
                    )
                    findings += compare_checkpoint(
                        item.log,
                        url,
                        item.checkpoint,
                        leaves[item.log],
                        ledger.charter_of(item.log),
                        proof,
                    )
            for evidence in client.evidence():
                if evidence.log in leaves:
                    findings.append(
                        Finding(
                            "log.evidence",
                            f"{url} holds evidence against {evidence.log}: {evidence.code}",
                            log=evidence.log,
                        )
                    )
        except ClientError as exc:
            on_warning(f"{url} could not be compared: {exc}")
        except LedgerError as exc:
            findings.append(Finding(exc.code, f"{url}: {exc.message}"))
    return findings


@dataclass(frozen=True, slots=True)
class DisclosedValues:
    """What ``read_disclosed`` could read of one sealed field, and what it could not.

    Attributes:
        field: the sealed field asked for (``value_usd_cents``).
        values: the field's value by entry hash (hex), each opening its commitment.
        unread: per participant (the log of the entry), how many entries it could not read,
            by code: the node's refusal (``disclosure.not_entitled``, ``disclosure.suspended``,
            ``disclosure.key_not_in_force``, ``disclosure.aggregates_only``; decision 0040),
            ``disclosure.unknown`` (no node asked holds them), ``disclosure.mismatch`` (a value
            that did not open its commitment), ``client.malformed`` (a malformed answer).
    """

    field: str
    values: dict[str, Value]
    unread: dict[str, dict[str, int]]

    @property
    def unread_total(self) -> int:
        return sum(sum(codes.values()) for codes in self.unread.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "read": len(self.values),
            "unread": {log: dict(sorted(c.items())) for log, c in sorted(self.unread.items())},
        }


def read_disclosed(
    urls: list[str],
    timeout: float,
    member: Operator,
    entries: Sequence[str],
    name: str,
    replay: Replay,
    *,
    on_warning: OnWarning = _quiet,
    transport: httpx.BaseTransport | None = None,
) -> DisclosedValues:
    """The sealed field ``name`` of each entry (by hash) the nodes' disclosure policy gives
    the member, each checked against the commitment its entry carries in ``replay``. What it
    could not read stays sealed and is counted, per participant and code, in ``unread``: a
    refusal by the node holding the entry's disclosures (the first node that answers other
    than 404 decides), no node holding them, a node's malformed answer, a value that does not
    open its commitment (the last two also told to ``on_warning``).

    Args:
        transport: an httpx transport for every node (tests pass ``httpx.MockTransport``).

    Raises:
        NodeUnavailableError: no node answered.
    """
    by_hash = {a.ref.hash.hex(): a.entry for a in replay.accepted}
    found: dict[str, Value] = {}
    unread: dict[str, dict[str, int]] = {}

    def count(entry_hash: str, code: str) -> None:
        entry = by_hash.get(entry_hash)
        log = entry.signed.log if entry is not None else "?"
        codes = unread.setdefault(log, {})
        codes[code] = codes.get(code, 0) + 1

    with Nodes(urls, timeout=timeout, auth=member.auth(), transport=transport) as nodes:
        for entry_hash in entries[:MAX_DISCLOSURE_READS]:
            try:
                # A malformed answer is told, not taken for a node that is down; a refusal
                # by the policy is the answer, not a reason to ask the next node.
                opened = nodes.first(_answer_kept(entry_hash))
            except ProblemError as exc:  # every node that answered holds none of it
                count(entry_hash, exc.code)
                continue
            if isinstance(opened, ProblemError):
                count(entry_hash, opened.code)
                continue
            if isinstance(opened, MalformedAnswerError):
                on_warning(f"{nodes.answered} served malformed disclosures of {entry_hash}")
                count(entry_hash, opened.code)
                continue
            disclosed = opened.fields.get(name)
            if disclosed is None:
                refused = opened.refused.get(name)
                if refused is None:
                    on_warning(f"{nodes.answered} served malformed disclosures of {entry_hash}")
                count(entry_hash, refused or "client.malformed")
                continue
            entry = by_hash.get(entry_hash)
            sealed = entry.signed.record.get("sealed") if entry is not None else None
            try:
                matches = isinstance(sealed, dict) and commit(
                    name, disclosed.salt, disclosed.value
                ) == sealed.get(name)
            except LedgerError:
                matches = False
            if not matches:
                on_warning(
                    f"{nodes.answered}'s {name} of {entry_hash} does not open its commitment"
                )
                count(entry_hash, "disclosure.mismatch")
                continue
            found[entry_hash] = disclosed.value
    return DisclosedValues(name, found, unread)


def _answer_kept(
    entry_hash: str,
) -> Callable[[LedgerClient], DisclosedEntry | MalformedAnswerError | ProblemError]:
    def read(client: LedgerClient) -> DisclosedEntry | MalformedAnswerError | ProblemError:
        try:
            return client.disclosures(entry_hash)
        except MalformedAnswerError as exc:
            return exc
        except ProblemError as exc:
            if exc.status == 404:
                raise  # this node holds none of it: ask the next
            return exc

    return read
