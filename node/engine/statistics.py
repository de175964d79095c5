"""The statistics index: every log's movements (node/core/movements.py), kept as entries apply.

Layout (two named databases of the store; ``L`` is the log id in ASCII and a NUL, ``seq`` 8
bytes big-endian, as in node/engine/store.py):

==============  ===============  ========================================================
database        key              value
==============  ===============  ========================================================
``movements``   L · seq          digest(32) · the canonical movement row of entry seq, where
                                 digest is ``chain_digest`` of the log's rows up to this one
``statistics``  ``built``        present once the index covers every entry of the store
==============  ===============  ========================================================

A row is written by ``index_entry`` in the transaction that applies its entry — the sequencer's
rule check for the node's own log, ``replica.extend`` for the others — so the index and the logs
commit together and a crash leaves neither ahead of the other (the store's durability contract).
A store made before the index existed, or restored from a backup without it, has no ``built``
mark: ``ensure_index`` rebuilds it from the entries and the final state in one transaction, which
``movement`` makes give the very rows the incremental path would have written.

Reads (``page``, ``digest_at``) are bounded: a page holds at most ``limit`` rows, and a digest is
one cursor seek, so an anonymous reader can make the node do little per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from node.core.errors import LogCorruptError
from node.core.movements import Movement, chain_digest, movement
from node.core.records import Entry, EntryRef
from node.core.state import LedgerView
from node.engine.store import Store, StoreReader, StoreWriter

__all__ = [
    "TABLES",
    "DigestAt",
    "MovementPage",
    "digest_at",
    "ensure_index",
    "index_entry",
    "movements",
    "page",
    "rebuild_index",
]

TABLES = ("movements", "statistics")
_BUILT = b"built"
_U64 = 8
_HASH = 32


def _key(log: str, seq: int) -> bytes:
    return log.encode("ascii") + b"\x00" + seq.to_bytes(_U64, "big")


def _split(key: bytes) -> tuple[str, int]:
    log, _, seq = key.partition(b"\x00")
    return log.decode("ascii"), int.from_bytes(seq, "big")


def index_entry(writer: StoreWriter, ref: EntryRef, entry: Entry) -> Movement | None:
    """Write the movement row of an entry just applied (the state already shows it).

    Called inside the write transaction that appends the entry, after ``LedgerState.apply``:
    durable with it, or not at all.
    """
    found = movement(ref, entry, LedgerView(writer, writer))
    if found is not None:
        _put(writer, ref.log, ref.seq, found.encode())
    return found


def _put(writer: StoreWriter, log: str, seq: int, row: bytes) -> None:
    prefix = log.encode("ascii") + b"\x00"
    last = writer.last_key("movements", prefix)
    previous: bytes | None = None
    if last is not None:
        if _split(last)[1] >= seq:
            raise LogCorruptError(f"movement of {log}/{seq} indexed after a later one")
        stored = writer.get("movements", last)
        previous = None if stored is None else stored[:_HASH]
    writer.put("movements", _key(log, seq), chain_digest(previous, row) + row)


def rebuild_index(writer: StoreWriter) -> int:
    """Index every entry the store holds, from the final state; return the rows written.

    Any rows already there are dropped first, so a partial index cannot survive.
    """
    for key, _ in list(writer.scan("movements", b"")):
        writer.delete("movements", key)
    view = LedgerView(writer, writer)
    written = 0
    for log in writer.logs():
        size = writer.log_size(log)
        reader = writer.log(log)
        for seq, raw in enumerate(reader.entries(0, size)):
            entry = Entry.parse(raw)
            found = movement(EntryRef(log, seq, reader.leaf_hash(seq)), entry, view)
            if found is not None:
                _put(writer, log, seq, found.encode())
                written += 1
    writer.put("statistics", _BUILT, b"\x01")
    return written


def ensure_index(store: Store) -> int | None:
    """Rebuild the index if this store has none yet (or lost it); the rows written, or None
    when it was there. A fresh store is marked at once: its entries are indexed as they come."""
    with store.read() as reader:
        if reader.get("statistics", _BUILT) is not None:
            return None
    with store.write() as writer:
        if writer.get("statistics", _BUILT) is not None:  # another process was first
            return None
        return rebuild_index(writer)


@dataclass(frozen=True, slots=True)
class MovementPage:
    """Up to ``limit`` rows in (log, seq) order after a cursor, as one snapshot saw them.

    Attributes:
        rows: each row's canonical bytes as stored (``Movement.decode`` reads one): served as
            they are, so a page costs the node no decoding and the reader hashes the very bytes.
        digests: for each log with a row in the page, the chain digest after its last row here.
        sizes: every log's size in the snapshot: the rows of a log the page passed are all its
            rows below that size.
        next: the cursor after the last row, or None when the index holds nothing after it.
    """

    rows: tuple[bytes, ...]
    digests: dict[str, bytes]
    sizes: dict[str, int]
    next: tuple[str, int] | None


def page(reader: StoreReader, after: tuple[str, int] | None, limit: int) -> MovementPage:
    """The rows after ``after`` (exclusive; None: from the start), at most ``limit``."""
    start = b"" if after is None else _key(after[0], after[1]) + b"\x00"
    rows: list[bytes] = []
    digests: dict[str, bytes] = {}
    last: bytes | None = None
    more = False
    for key, value in reader.scan("movements", b"", start=start):
        if len(rows) == limit:
            more = True
            break
        log, _ = _split(key)
        rows.append(value[_HASH:])
        digests[log] = value[:_HASH]
        last = key
    return MovementPage(
        tuple(rows),
        digests,
        {log: reader.log_size(log) for log in reader.logs()},
        _split(last) if more and last is not None else None,
    )


@dataclass(frozen=True, slots=True)
class DigestAt:
    """The chain digest of a log's movements with seq below ``size`` (None: it has none)."""

    log: str
    size: int
    digest: bytes | None


def digest_at(reader: StoreReader, log: str, size: int) -> DigestAt:
    """The chain digest of ``log``'s rows below ``size``, clipped to the log's size here: one
    cursor seek, since each row stores the digest of its log's rows up to it."""
    held = min(size, reader.log_size(log))
    found = reader.last_key_before("movements", log.encode("ascii") + b"\x00", _key(log, held))
    if held == 0 or found is None:
        return DigestAt(log, held, None)
    value = reader.get("movements", found)
    return DigestAt(log, held, None if value is None else value[:_HASH])


def movements(reader: StoreReader) -> Iterator[Movement]:
    """Every row of the index, in (log, seq) order (tests and the bench)."""
    for _, value in reader.scan("movements", b""):
        yield Movement.decode(value[_HASH:])
