"""The record of reads: every member's read of a disclosure on this node, allowed or refused.

Each read of ``GET /v1/disclosures/{hash}`` whose signature verified appends one ``AccessRecord``
to the ``access`` table (node/engine/store.py) under the log whose entry was read, numbered
1, 2, 3 … per log, before any value is answered (decision 0040). The table is appended to only:
nothing here updates or deletes a record. It is shown to the authority of that log
(``node.core.disclosure.check_access_record``) in pages of ``max_page_access``.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.core.encoding import Value, decode, encode
from node.core.errors import LogCorruptError
from node.engine.store import Store, StoreReader

__all__ = ["AccessRecord", "access_page", "record_access"]

_U64 = 8
_MAX_RECORD = 16 * 1024  # a key id, a hash and at most a handful of field codes


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One read of one entry's disclosures.

    Attributes:
        n: its number among the reads of ``log``'s disclosures on this node, from 1.
        time: when the node answered it (node clock, ms).
        key_id: who read (``BW:officer``, or ``BW`` for a log key), as its signature verified.
        log: the log of the entry read.
        seq: the entry's seq in that log.
        entry_hash: the entry's hash.
        fields: each sealed field of the entry, with the policy's code for this reader:
            ``disclosure.allowed`` for a field answered, else the refusal's code.
    """

    n: int
    time: int
    key_id: str
    log: str
    seq: int
    entry_hash: bytes
    fields: dict[str, str]

    @property
    def allowed(self) -> bool:
        """Whether any field was answered."""
        return any(code == "disclosure.allowed" for code in self.fields.values())

    def encode(self) -> bytes:
        return encode(
            {
                "time": self.time,
                "key_id": self.key_id,
                "seq": self.seq,
                "entry": self.entry_hash,
                "fields": dict[str, Value](self.fields),
            }
        )

    @classmethod
    def decode(cls, log: str, n: int, raw: bytes) -> AccessRecord:
        """Raises: LogCorruptError when the stored bytes are not a record of this shape."""
        value = decode(raw, max_size=_MAX_RECORD)
        fields = value.get("fields") if isinstance(value, dict) else None
        if not (
            isinstance(value, dict)
            and isinstance(value.get("time"), int)
            and isinstance(value.get("seq"), int)
            and isinstance(value.get("key_id"), str)
            and isinstance(value.get("entry"), bytes)
            and isinstance(fields, dict)
            and all(isinstance(code, str) for code in fields.values())
        ):
            raise LogCorruptError(f"access record {log} {n} is malformed")
        return cls(
            n=n,
            time=int(value["time"]),  # type: ignore[arg-type]
            key_id=str(value["key_id"]),
            log=log,
            seq=int(value["seq"]),  # type: ignore[arg-type]
            entry_hash=bytes(value["entry"]),  # type: ignore[arg-type]
            fields={str(k): str(v) for k, v in fields.items()},
        )


def _prefix(log: str) -> bytes:
    return log.encode("ascii") + b"\x00"


def record_access(
    store: Store,
    *,
    time: int,
    key_id: str,
    log: str,
    seq: int,
    entry_hash: bytes,
    fields: dict[str, str],
) -> AccessRecord:
    """Append the record of one read, in a write transaction of its own, and return it.

    Durability: the record is committed (fsynced, node/engine/store.py) before the caller
    answers the read. A crash before the commit leaves no record and the reader no answer; a
    crash after it keeps the record of a read whose answer may never have arrived. So no value
    leaves the node unrecorded; a recorded read may be one the reader did not receive.

    Raises:
        StoreError: the write failed; the read must not be answered.
    """
    prefix = _prefix(log)
    with store.write() as writer:
        last = writer.last_key("access", prefix)
        n = 1 if last is None else int.from_bytes(last[len(prefix) :], "big") + 1
        record = AccessRecord(n, time, key_id, log, seq, entry_hash, dict(fields))
        writer.put("access", prefix + n.to_bytes(_U64, "big"), record.encode())
    return record


def access_page(reader: StoreReader, log: str, after: int, limit: int) -> list[AccessRecord]:
    """The records of reads of ``log``'s disclosures numbered above ``after``, at most
    ``limit`` of them, in order."""
    prefix = _prefix(log)
    start = prefix + (after + 1).to_bytes(_U64, "big")
    found: list[AccessRecord] = []
    for key, raw in reader.scan("access", prefix, start=start):
        if len(found) == limit:
            break
        found.append(AccessRecord.decode(log, int.from_bytes(key[len(prefix) :], "big"), raw))
    return found
