"""What a node answers at ``GET /v1/statistics/movements`` and ``GET /v1/statistics/digest``,
parsed strictly: a page of movements (node/core/movements.py) and a log's movement digest."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from client.errors import MalformedAnswerError
from node.core.errors import LedgerError
from node.core.movements import Movement

__all__ = ["MovementDigest", "MovementPage"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class MovementPage:
    """A page of movements: ``raw`` the bytes as served (what the digests hash), ``rows`` the
    same decoded."""

    rows: tuple[Movement, ...]
    raw: tuple[bytes, ...]
    digests: dict[str, bytes]
    sizes: dict[str, int]
    next: str | None

    @classmethod
    def from_json(cls, value: object) -> MovementPage:
        """Raises ``MalformedAnswerError`` on any other shape."""
        if not isinstance(value, dict):
            raise MalformedAnswerError("movements: not an object")
        rows, digests, sizes, cursor = (value.get(k) for k in ("rows", "digests", "sizes", "next"))
        if not isinstance(rows, list) or not isinstance(digests, dict):
            raise MalformedAnswerError("movements: rows or digests missing")
        if not isinstance(sizes, dict) or not (cursor is None or isinstance(cursor, str)):
            raise MalformedAnswerError("movements: sizes or next missing")
        try:
            raw = tuple(base64.b64decode(item, validate=True) for item in rows)
            parsed = tuple(Movement.decode(item) for item in raw)
        except (TypeError, ValueError, LedgerError) as exc:
            raise MalformedAnswerError(f"movements: a row that is not one: {exc}") from exc
        return cls(
            parsed,
            raw,
            {str(log): _digest(d) for log, d in digests.items()},
            {str(log): _size(s) for log, s in sizes.items()},
            cursor,
        )


@dataclass(frozen=True, slots=True)
class MovementDigest:
    log: str
    size: int
    digest: bytes | None

    @classmethod
    def from_json(cls, value: object) -> MovementDigest:
        """Raises ``MalformedAnswerError`` on any other shape."""
        if not isinstance(value, dict) or not isinstance(value.get("log"), str):
            raise MalformedAnswerError("movement digest: not an object with a log")
        digest = value.get("digest")
        return cls(
            value["log"], _size(value.get("size")), None if digest is None else _digest(digest)
        )


def _digest(value: object) -> bytes:
    if not isinstance(value, str) or _HEX64.fullmatch(value) is None:
        raise MalformedAnswerError("movements: a digest that is not 64 hex digits")
    return bytes.fromhex(value)


def _size(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedAnswerError("movements: a size that is not a count")
    return value
