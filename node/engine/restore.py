"""Restoring a node's own log from its peers, after its store was lost (DESIGN §8).

A participant's log is written by its node alone, but every peer holds a re-validated copy. A
node whose store is gone gets its log back from those copies, and until it has, it must not
append: a sequencer started on a partial log would sign a second history of sizes the peers
already hold, and every peer would keep that as evidence of a fork.

``kp-node restore`` marks the (new, empty) store as *restoring*, in the same transaction that
publishes the charter chain. While the mark is there, the node pulls its own log like any other,
its sequencer refuses to start, and ``kp-node charter adopt`` refuses too. The mark is taken
away by the node itself, once enough peers have answered and its own log has reached the
largest size any of them holds (``complete``). It lives in the store, so a node killed in the
middle of a restore goes on restoring when it starts again.
"""

from __future__ import annotations

from node.core.clock import wall_ms
from node.core.encoding import decode_trusted, encode
from node.core.state import KeyValue, ReadableKeyValue

__all__ = [
    "begin_restore",
    "complete",
    "finish_restore",
    "peers_needed",
    "restoring_since",
]

TABLE = "restore"
_KEY = b"own"


def begin_restore(writer: KeyValue, now_ms: int | None = None) -> None:
    """Mark the store as restoring its own log (idempotent: the first start time is kept)."""
    if writer.get(TABLE, _KEY) is None:
        started = wall_ms() if now_ms is None else now_ms
        writer.put(TABLE, _KEY, encode({"started": started}))


def restoring_since(reader: ReadableKeyValue) -> int | None:
    """When the restore began (Unix ms), or ``None`` if the store is not restoring."""
    raw = reader.get(TABLE, _KEY)
    if raw is None:
        return None
    value = decode_trusted(raw)
    started = value.get("started") if isinstance(value, dict) else None
    return started if isinstance(started, int) else 0


def finish_restore(writer: KeyValue) -> None:
    writer.delete(TABLE, _KEY)


def peers_needed(peers: int, witness_quorum: int) -> int:
    """How many peers must answer before a restore may end.

    Our newest witnessed checkpoint was cosigned by ``witness_quorum`` of the ``peers``, and each
    of them holds our log at least to its size. Any ``peers - witness_quorum + 1`` of the peers
    include one of those cosigners, whichever they are; so with that many answers, the largest
    size they report is at least our newest witnessed size. Entries committed after it but never
    witnessed may be lost with the store, as they may be whenever a disk is.
    """
    return max(1, min(peers, peers - witness_quorum + 1))


def complete(own_size: int, reported: dict[str, int], peers: int, witness_quorum: int) -> bool:
    """Whether a restore is done: enough peers answered (``reported``: peer → the size of our
    log it holds) and our own log has reached the largest size among them."""
    if len(reported) < peers_needed(peers, witness_quorum):
        return False
    return own_size >= max(reported.values(), default=0)
