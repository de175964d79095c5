"""The node's LMDB store: every log it holds (its own and its replicas), in one environment.

Layout (named databases; ``L`` is the log id in ASCII followed by a NUL, integers are 8-byte
big-endian so that keys sort numerically):

==============  ===========================  ==========================================
database        key                          value
==============  ===========================  ==========================================
``entries``     L · seq                      canonical entry bytes (the leaf data)
``nodes``       L · level(1) · index         hash of the complete subtree of 2^level
                                             leaves starting at index·2^level; level 0
                                             holds the leaf hashes
``positions``   entry hash                   L · seq
``records``     record hash                  entry hash (a record is appended once)
``checkpoints`` L · size                     the signed checkpoint note of that size
``disclosures`` entry hash                   the sealed values disclosed with the record
``envelopes``   entry hash                   those values encrypted to each entitled
                                             participant, {participant: ciphertext}
                                             (node/core/envelope.py): replicated with the log
``access``      L · n                        the n-th read of L's disclosures on this node
                                             (node/engine/access.py), appended only
``evidence``    id                           evidence against a log (node/engine/replica.py)
``quarantine``  log id                       the evidence that quarantined it
``witness``     log id                       the latest checkpoint this node cosigned
``witnessed``   log id                       size of the log's newest witnessed checkpoint
``movements``   L · seq                      the statistics index (node/engine/statistics.py)
``statistics``  ``built``                    set once the index covers every entry
==============  ===========================  ==========================================

The ledger state tables of ``node/core/state.py`` live in the same environment, so an entry and the
state it changes commit together.

A log's size is the number of its level-0 nodes and is read from the last key, so there is no
separate counter to drift. Any root or proof reads at most two complete subtrees per tree level.

Durability contract: the environment is opened with ``sync`` and ``metasync``, so a write
transaction's commit returns only after LMDB has fsynced the data pages and then the meta page
that makes them reachable. A crash before that leaves the previous committed state untouched
(LMDB never overwrites live pages); a crash after it keeps the whole transaction. Nothing is
acknowledged before commit returns, so nothing acknowledged can be lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb

from node.core import merkle
from node.core.errors import LogCorruptError, StoreError
from node.core.state import TABLES
from node.engine._owner_only import make_private_directory, narrow_to_owner

__all__ = ["LogReader", "LogWriter", "Store", "StoreReader", "StoreWriter"]

# The log databases, then the ledger state kept beside them (node/core/state.py), then the sealed
# values submitters disclosed, kept apart from the log (DESIGN §5).
_DATABASES = (
    "entries",
    "nodes",
    "positions",
    "records",
    "checkpoints",
    *TABLES,
    "disclosures",
    "envelopes",  # node/core/envelope.py: public ciphertexts, replicated with the log
    "access",  # node/engine/access.py: every read of a disclosure, allowed or refused
    "evidence",
    "quarantine",
    "witness",
    "witnessed",
    "restore",  # node/engine/restore.py: set while the node's own log is restored from peers
    "movements",  # node/engine/statistics.py: the statistics index, one row per movement
    "statistics",  # node/engine/statistics.py: whether the index covers every entry
)
DEFAULT_MAP_SIZE = 1 << 40  # 1 TiB of address space; the file grows only as pages are used
_U64 = 8


def _log_prefix(log: str) -> bytes:
    return log.encode("ascii") + b"\x00"


def _u64(n: int) -> bytes:
    return n.to_bytes(_U64, "big")


MAX_READERS = 1024
"""Reader slots in ``lock.mdb``, shared by every process that opens the store. LMDB's default
of 126 ran out on a 60-participant devnet at start, when each node answered 59 peers' pushes
and entry fetches at once (``MDB_READERS_FULL``); a slot costs 64 bytes of the lock file."""


class Store:
    """One LMDB environment holding every log the node keeps.

    Open it with ``Store.open``; read with ``store.read()`` and write with ``store.write()``,
    both context managers around one LMDB transaction. LMDB admits one write transaction at a
    time across threads and processes; readers never block and see a consistent snapshot.
    """

    def __init__(self, env: Any) -> None:
        self._env = env
        self._dbs = {name: env.open_db(name.encode()) for name in _DATABASES}

    @classmethod
    def open(cls, path: Path | str, *, map_size: int = DEFAULT_MAP_SIZE) -> Store:
        """Open (creating if needed) the store in directory ``path``.

        Raises:
            StoreError: LMDB could not open the environment.
        """
        try:
            make_private_directory(Path(path), exist_ok=True)
            env = lmdb.open(
                str(path),
                map_size=map_size,
                max_dbs=len(_DATABASES),
                max_readers=MAX_READERS,
                sync=True,
                metasync=True,
                readahead=False,  # random access to tree nodes; readahead only evicts cache
                mode=0o600,  # data.mdb and lock.mdb: the umask can only clear bits of it
            )
            # A store made by an older version, or copied back by hand, may be wider: whoever
            # reads data.mdb reads every sealed value disclosed to this node (decision 0030).
            for name in ("data.mdb", "lock.mdb"):
                narrow_to_owner(Path(path) / name)
            return cls(env)
        except (lmdb.Error, OSError) as exc:
            raise StoreError(f"cannot open store at {path}: {exc}", code="store.open") from exc

    def close(self) -> None:
        self._env.close()

    def backup(self, directory: Path | str) -> None:
        """Copy the environment into ``directory`` (new or empty) as one consistent snapshot,
        compacted, while writers go on: LMDB copies from a read transaction.

        Raises:
            StoreError: the copy failed (the target exists and is not empty, the disk is full).
        """
        target = Path(directory)
        if target.exists() and any(target.iterdir()):
            raise StoreError(f"{target} is not empty", code="store.backup")
        make_private_directory(target, exist_ok=True)
        with self._translate("backup"):
            self._env.copy(str(target), compact=True)
            # LMDB creates the copy 0644 less the umask (inside a 0700 directory, so no one else
            # could open it meanwhile); it holds what the store holds.
            (target / "data.mdb").chmod(0o600)

    @contextmanager
    def read(self) -> Iterator[StoreReader]:
        """A consistent read-only snapshot of every log."""
        with self._translate("read"), self._env.begin(buffers=False) as txn:
            reader = StoreReader(txn, self._dbs)
            try:
                yield reader
            finally:
                # py-lmdb frees a read transaction's slot in the reader table only when the
                # transaction object is deallocated, not when it ends; a reader kept alive past
                # its block (by an exception's traceback until the next collection, say) would
                # hold a slot, and enough of them at once make every read fail with
                # MDB_READERS_FULL. So the block's end drops every reference we handed out.
                reader.release()
                del reader, txn

    @contextmanager
    def write(self) -> Iterator[StoreWriter]:
        """One write transaction, committed durably when the block exits normally.

        If the block raises, the transaction is aborted and the store is exactly as before.
        """
        with self._translate("write"):
            txn = self._env.begin(write=True)
            try:
                yield StoreWriter(txn, self._dbs)
            except BaseException:
                txn.abort()
                raise
            # Durability point: commit returns after fsync of data, then meta (see module doc).
            txn.commit()

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        try:
            yield
        except lmdb.MapFullError as exc:
            raise StoreError(f"store is full during {what}", code="store.full") from exc
        except lmdb.Error as exc:
            raise StoreError(f"store {what} failed: {exc}", code="store.failed") from exc


class _Released:
    """Stands for a read transaction whose block has ended."""

    def __getattr__(self, name: str) -> Any:
        raise StoreError("a store reader was used after its block ended", code="store.failed")


class StoreReader:
    """Read access to every log within one transaction."""

    def __init__(self, txn: Any, dbs: dict[str, Any]) -> None:
        self._txn = txn
        self._dbs = dbs
        self._logs: list[LogReader] = []

    def log(self, log: str) -> LogReader:
        reader = LogReader(self._txn, self._dbs, log)
        self._logs.append(reader)
        return reader

    def release(self) -> None:
        """Drop the transaction from this reader and every log reader it made; using them
        afterwards fails."""
        self._txn = _Released()
        for reader in self._logs:
            reader._txn = self._txn
        self._logs.clear()

    def position(self, entry_hash: bytes) -> tuple[str, int] | None:
        """The (log, seq) of the entry with this hash, if the store holds it."""
        value = self._txn.get(entry_hash, db=self._dbs["positions"])
        if value is None:
            return None
        log, _, seq = bytes(value).partition(b"\x00")
        return log.decode("ascii"), int.from_bytes(seq, "big")

    def entry_for_record(self, record_hash: bytes) -> bytes | None:
        """The hash of the entry that appended this record, if any."""
        value = self._txn.get(record_hash, db=self._dbs["records"])
        return None if value is None else bytes(value)

    def logs(self) -> list[str]:
        """Every log with at least one checkpoint."""
        found: list[str] = []
        cursor = self._txn.cursor(db=self._dbs["checkpoints"])
        key = b""
        while cursor.set_range(key):
            log = bytes(cursor.key()).partition(b"\x00")[0]
            found.append(log.decode("ascii"))
            key = log + b"\x01"  # just past every key of this log
        return found

    def get(self, db: str, key: bytes) -> bytes | None:
        value = self._txn.get(key, db=self._dbs[db])
        return None if value is None else bytes(value)

    def scan(
        self, db: str, prefix: bytes, *, start: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) of a table whose key starts with ``prefix``, in key order, from
        the first key at or after ``start`` (by default, the prefix itself)."""
        cursor = self._txn.cursor(db=self._dbs[db])
        if not cursor.set_range(prefix if start is None or start < prefix else start):
            return
        for key, value in cursor:
            if not bytes(key).startswith(prefix):
                return
            yield bytes(key), bytes(value)

    def last_key(self, db: str, prefix: bytes) -> bytes | None:
        """The largest key of a table that starts with ``prefix``, which ends in a byte below
        0xFF (a log prefix ends in NUL)."""
        cursor = self._txn.cursor(db=self._dbs[db])
        past = prefix[:-1] + bytes((prefix[-1] + 1,))  # just past every key with the prefix
        if not (cursor.prev() if cursor.set_range(past) else cursor.last()):
            return None
        key = bytes(cursor.key())
        return key if key.startswith(prefix) else None

    def last_key_before(self, db: str, prefix: bytes, bound: bytes) -> bytes | None:
        """The largest key of a table that starts with ``prefix`` and sorts below ``bound``."""
        cursor = self._txn.cursor(db=self._dbs[db])
        if not (cursor.prev() if cursor.set_range(bound) else cursor.last()):
            return None
        key = bytes(cursor.key())
        return key if key.startswith(prefix) else None

    def log_size(self, log: str) -> int:
        return self.log(log).size()

    def entry_bytes(self, log: str, seq: int) -> bytes | None:
        value = self._txn.get(_log_prefix(log) + _u64(seq), db=self._dbs["entries"])
        return None if value is None else bytes(value)

    @property
    def txn(self) -> Any:
        return self._txn


class StoreWriter(StoreReader):
    """Write access within the one write transaction."""

    def log(self, log: str) -> LogWriter:
        return LogWriter(self._txn, self._dbs, log)

    def put(self, db: str, key: bytes, value: bytes) -> None:
        self._txn.put(key, value, db=self._dbs[db])

    def delete(self, db: str, key: bytes) -> None:
        self._txn.delete(key, db=self._dbs[db])


class LogReader:
    """One log seen through a transaction: entries, tree, proofs, checkpoints."""

    def __init__(self, txn: Any, dbs: dict[str, Any], log: str) -> None:
        self.log = log
        self._txn = txn
        self._dbs = dbs
        self._prefix = _log_prefix(log)

    def size(self) -> int:
        cursor = self._txn.cursor(db=self._dbs["nodes"])
        # The last level-0 key of this log: position past it, then step back.
        if cursor.set_range(self._prefix + b"\x01"):
            if not cursor.prev():
                return 0
        elif not cursor.last():
            return 0
        key = bytes(cursor.key())
        if not key.startswith(self._prefix + b"\x00"):
            return 0
        return int.from_bytes(key[-_U64:], "big") + 1

    def entry(self, seq: int) -> bytes:
        return self._get("entries", self._prefix + _u64(seq), f"entry {seq}")

    def entries(self, start: int, end: int) -> Iterator[bytes]:
        """The entries with start <= seq < end, in order (end is clipped to the size)."""
        cursor = self._txn.cursor(db=self._dbs["entries"])
        if not cursor.set_key(self._prefix + _u64(start)):
            return
        for key, value in cursor:
            if not key.startswith(self._prefix) or int.from_bytes(key[-_U64:], "big") >= end:
                return
            yield bytes(value)

    def leaf_hash(self, seq: int) -> bytes:
        return self.subtree(0, seq)

    def subtree(self, level: int, index: int) -> bytes:
        """The stored hash of a complete subtree; a ``merkle.SubtreeHash``."""
        key = self._prefix + bytes((level,)) + _u64(index)
        return self._get("nodes", key, f"tree node ({level}, {index})")

    def root(self, size: int) -> bytes:
        return merkle.root_from(self.subtree, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        return merkle.inclusion_proof_from(self.subtree, index, size)

    def inclusion_proofs(self, indexes: list[int], size: int) -> list[list[bytes]]:
        """Proofs for several leaves against one size, reading shared subtrees once."""
        self._check_size(size)
        return merkle.inclusion_proofs_from(self.subtree, indexes, size)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        self._check_size(new)
        return merkle.consistency_proof_from(self.subtree, old, new)

    def checkpoint(self, size: int) -> str | None:
        """The signed checkpoint note for exactly this size, if one was stored."""
        value = self._txn.get(self._prefix + _u64(size), db=self._dbs["checkpoints"])
        return None if value is None else bytes(value).decode("utf-8")

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """The stored checkpoint of the largest size, with that size."""
        return self._checkpoint_at_or_before(2**64 - 1)

    def checkpoint_covering(self, seq: int) -> tuple[int, str] | None:
        """The first stored checkpoint whose tree contains entry ``seq``."""
        cursor = self._txn.cursor(db=self._dbs["checkpoints"])
        if not cursor.set_range(self._prefix + _u64(seq + 1)):
            return None
        key = bytes(cursor.key())
        if not key.startswith(self._prefix):
            return None
        return int.from_bytes(key[-_U64:], "big"), bytes(cursor.value()).decode("utf-8")

    def _checkpoint_at_or_before(self, size: int) -> tuple[int, str] | None:
        cursor = self._txn.cursor(db=self._dbs["checkpoints"])
        positioned = cursor.set_range(self._prefix + _u64(size) + b"\x00")
        if not (cursor.prev() if positioned else cursor.last()):
            return None
        key = bytes(cursor.key())
        if not key.startswith(self._prefix):
            return None
        return int.from_bytes(key[-_U64:], "big"), bytes(cursor.value()).decode("utf-8")

    def _check_size(self, size: int) -> None:
        if size > self.size():
            raise StoreError(
                f"log {self.log} has fewer than {size} entries", code="store.beyond_size"
            )

    def _get(self, db: str, key: bytes, what: str) -> bytes:
        value = self._txn.get(key, db=self._dbs[db])
        if value is None:
            raise LogCorruptError(f"log {self.log}: {what} is missing")
        return bytes(value)


class LogWriter(LogReader):
    """Appends to one log inside the store's write transaction."""

    def __init__(self, txn: Any, dbs: dict[str, Any], log: str) -> None:
        super().__init__(txn, dbs, log)
        self._size: int | None = None

    def size(self) -> int:
        if self._size is None:
            self._size = super().size()
        return self._size

    def append(
        self, entry: bytes, record_hash: bytes, *, leaf: bytes | None = None
    ) -> tuple[int, bytes]:
        """Append canonical entry bytes as the next leaf; return its seq and leaf hash.

        Also stores every complete subtree the new leaf completes (the leaf itself, and each
        parent whose right child it closes), the hash-to-position index and the record index.
        The caller has checked that ``entry`` is canonical and chains to the previous leaf.
        Nothing is durable until the store's write transaction commits.

        Args:
            entry: the canonical entry bytes.
            record_hash: the hash of the signed record it holds.
            leaf: ``merkle.leaf_hash(entry)``, when the caller has computed it already (to
                validate the entry): it is not computed again.
        """
        seq = self.size()
        if leaf is None:
            leaf = merkle.leaf_hash(entry)
        put = self._txn.put
        position = self._prefix + _u64(seq)
        if not put(position, entry, db=self._dbs["entries"], overwrite=False):
            raise LogCorruptError(f"log {self.log}: entry {seq} already exists")
        if not put(leaf, position, db=self._dbs["positions"], overwrite=False):
            raise LogCorruptError(f"log {self.log}: entry hash {leaf.hex()} already stored")
        put(record_hash, leaf, db=self._dbs["records"])
        nodes = self._dbs["nodes"]
        level, index, node = 0, seq, leaf
        put(self._prefix + b"\x00" + _u64(seq), leaf, db=nodes)
        # A node at an odd index closes its parent: hash the pair and go up.
        while index & 1:
            node = merkle.node_hash(self.subtree(level, index - 1), node)
            level, index = level + 1, index >> 1
            put(self._prefix + bytes((level,)) + _u64(index), node, db=nodes)
        self._size = seq + 1
        return seq, leaf

    def put_checkpoint(self, size: int, note: str) -> None:
        """Store the signed checkpoint note for ``size`` (durable with the transaction)."""
        self._txn.put(self._prefix + _u64(size), note.encode("utf-8"), db=self._dbs["checkpoints"])
