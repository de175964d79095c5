"""What an anonymous client can put before the log's one writer, bounded in the HTTP process.

The sequencer process decodes every ``POST /v1/records`` body strictly (decision 0019), and that
costs it time in proportion to the values a body holds, not its bytes: an 8 MiB array of
8 million nils, or of 8 million empty arrays, took it seconds to refuse while valid records
waited. So the HTTP process looks at a body first, at msgpack's C speed, and refuses at once
what no valid submission could be (decision 0028):

* a body over ``IngressBounds.body_bytes`` (413, from ``Content-Length`` before reading, or as
  the streamed body passes it);
* a batch of more than ``max_batch_records`` submissions (400 ``request.batch_size``), read from
  the array header before any of them;
* a submission over ``MAX_SUBMISSION_BYTES`` or ``MAX_SUBMISSION_VALUES``, or a body over
  ``max_body_values`` values (413 ``request.too_large``): every string, bin, array and map
  header is checked against those bounds before the unpacker allocates anything for it;
* anything that is not msgpack at all (the same ``encoding.*`` codes the strict decoder gives).

The walk is not the strict decoding: key order, integer width, types and the record's own
shape stay the sequencer's to judge, once, where the record is validated. It never refuses a
body the sequencer would accept: its bounds are those of an entry (``MAX_ENTRY_SIZE``) and of
disclosures (``MAX_DISCLOSURE_SIZE``), and the largest record the rules admit holds a fraction
of ``MAX_SUBMISSION_VALUES`` (``tests/unit/node/server/test_ingress.py``).

``ClientShares`` then shares the sequencer's queue among client addresses: one address holds at
most ``sequencer_client_max_records`` records and ``sequencer_client_max_bytes`` bytes waiting
for the writer (one request is always taken), and beyond that gets 429 ``sequencer.client_busy``
with ``Retry-After`` while every other address goes on being served.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from node.core.errors import (
    ClientBusyError,
    EncodingError,
    LedgerError,
    RecordError,
    RequestTooLargeError,
)
from node.core.records import MAX_ENTRY_SIZE
from node.core.sealing import MAX_DISCLOSURE_SIZE
from node.engine.config import Settings

__all__ = [
    "MAX_SUBMISSION_BYTES",
    "MAX_SUBMISSION_VALUES",
    "ClientShares",
    "Held",
    "IngressBounds",
    "SubmissionShape",
    "check_submissions",
]

# {signed, disclosures}: a map header and the two keys around an entry's worth of signed record
# and a disclosure's worth of sealed values.
_SUBMISSION_ENVELOPE = 1 + len(b"\xa6signed") + len(b"\xabdisclosures")
MAX_SUBMISSION_BYTES = MAX_ENTRY_SIZE + MAX_DISCLOSURE_SIZE + _SUBMISSION_ENVELOPE
"""The most bytes one submission may take in a body: its signed record, at most an entry
(DESIGN §4), and its disclosures."""

# The largest record the rules admit (a transform of MAX_REFS inputs and outputs, signed
# MAX_SIGNATURES times, with its disclosures) holds about 1,000 values; four times that leaves
# room for records yet to come and still refuses a junk record for the cost of ~4,000 values.
MAX_SUBMISSION_VALUES = 4096
"""The most msgpack values (every scalar, array, map and map key) in one submission."""

_READ_SIZE = 64 * 1024

# {batch: [...]}: a map header, the key and the largest array header.
_BATCH_ENVELOPE = 1 + len(b"\xa5batch") + 5


@dataclass(frozen=True, slots=True)
class IngressBounds:
    """The bounds a ``POST /v1/records`` body is held to before it reaches the sequencer.

    Attributes:
        body_bytes: the most bytes of a body: ``max_batch_records`` submissions of
            ``MAX_SUBMISSION_BYTES`` in a batch, and never more than ``max_body_bytes``.
        batch_records: the most submissions in a batch (``max_batch_records``).
        body_values: the most msgpack values in a body (``max_body_values``).
    """

    body_bytes: int
    batch_records: int
    body_values: int

    @classmethod
    def from_settings(cls, settings: Settings) -> IngressBounds:
        derived = settings.max_batch_records * MAX_SUBMISSION_BYTES + _BATCH_ENVELOPE
        return cls(
            body_bytes=min(settings.max_body_bytes, derived),
            batch_records=settings.max_batch_records,
            body_values=settings.max_body_values,
        )


@dataclass(frozen=True, slots=True)
class SubmissionShape:
    """What the walk found: whether the body is a batch, and how many submissions it holds."""

    batch: bool
    records: int


def check_submissions(body: bytes, bounds: IngressBounds) -> SubmissionShape:
    """Walk a ``POST /v1/records`` body under ``bounds`` without judging its records.

    A body is one submission (a map) or ``{batch: [submission, ...]}``. Every value is
    unpacked by msgpack with its length limits and counted as it is built, so a hostile
    length or count is refused before anything is allocated for it, and a refusal costs at
    most the bounds' worth of values.

    Raises:
        RequestTooLargeError: the body, a submission or a declared length is over a bound.
        RecordError: a batch of the wrong size (``request.batch_size``), or a body that is
            not a map (``request.submission_shape``).
        EncodingError: the body is not msgpack (``encoding.malformed``,
            ``encoding.trailing_bytes``, ``encoding.unsupported_type``).
    """
    if len(body) > bounds.body_bytes:
        raise RequestTooLargeError(f"body larger than {bounds.body_bytes} bytes")
    walk = _Walk(body, bounds)
    try:
        shape = walk.body()
    except msgpack.OutOfData as exc:
        raise EncodingError("truncated msgpack", code="encoding.malformed") from exc
    except _ExtTypeError as exc:
        raise EncodingError(
            "msgpack ext types are not allowed", code="encoding.unsupported_type"
        ) from exc
    except UnicodeDecodeError as exc:
        raise EncodingError(f"malformed msgpack ({exc})", code="encoding.malformed") from exc
    except ValueError as exc:
        # msgpack refuses a declared length over its limit with "<n> exceeds max_<kind>_len",
        # before allocating; every other ValueError (StackError, a reserved byte) is malformed.
        if "exceeds max_" in str(exc):
            raise RequestTooLargeError(
                f"a declared length is over the bounds of a submission ({exc})"
            ) from exc
        raise EncodingError(
            f"malformed msgpack ({type(exc).__name__}: {exc})", code="encoding.malformed"
        ) from exc
    except (TypeError, msgpack.FormatError) as exc:
        raise EncodingError(
            f"malformed msgpack ({type(exc).__name__}: {exc})", code="encoding.malformed"
        ) from exc
    if walk.offset() != len(body):
        raise EncodingError(
            "trailing bytes after the encoded value", code="encoding.trailing_bytes"
        )
    return shape


class _ExtTypeError(Exception):
    """Raised from inside the unpacker so that ext types abort the walk at once."""


def _refuse_ext(code: int, data: bytes) -> object:
    raise _ExtTypeError(code)


class _Walk:
    """One pass over a body, counting values per submission and for the whole body."""

    def __init__(self, body: bytes, bounds: IngressBounds) -> None:
        self._bounds = bounds
        self._size = len(body)
        self._body_values = 0
        self._submission_values = 0
        # Tuples, not lists: the values are counted and dropped, and an empty tuple costs no
        # allocation. A container's length is checked against these limits from its header.
        # The body is read through a stream, so the unpacker buffers a chunk or one value at
        # a time rather than a copy of the whole body.
        self._unpacker = msgpack.Unpacker(
            io.BytesIO(body),
            read_size=min(_READ_SIZE, max(1, len(body))),
            raw=False,
            use_list=False,
            strict_map_key=True,
            max_buffer_size=max(1, len(body)),
            max_str_len=MAX_ENTRY_SIZE,
            max_bin_len=MAX_ENTRY_SIZE,
            max_array_len=MAX_SUBMISSION_VALUES,
            max_map_len=MAX_SUBMISSION_VALUES,
            ext_hook=_refuse_ext,
            list_hook=self._array,
            object_hook=self._map,
        )

    def offset(self) -> int:
        offset: int = self._unpacker.tell()
        return offset

    def body(self) -> SubmissionShape:
        fields = self._header(self._unpacker.read_map_header)
        if fields is None:  # not a map: neither a submission nor a batch
            self._value(limit=self._bounds.body_bytes)
            raise self._after_the_end(
                RecordError(
                    "a submission is {signed, disclosures?}", code="request.submission_shape"
                )
            )
        if fields > MAX_SUBMISSION_VALUES:
            raise RequestTooLargeError(f"a map of {fields} fields is no submission")
        if fields == 1:
            key = self._value(limit=MAX_SUBMISSION_BYTES, start=0)
            if key == "batch":
                return SubmissionShape(True, self._batch())
            self._value(limit=MAX_SUBMISSION_BYTES, start=0)
        else:
            for _ in range(2 * fields):
                self._value(limit=MAX_SUBMISSION_BYTES, start=0)
        return SubmissionShape(False, 1)

    def _batch(self) -> int:
        count = self._header(self._unpacker.read_array_header)
        if count is None or not 1 <= count <= self._bounds.batch_records:
            refusal = RecordError(
                f"a batch holds 1 to {self._bounds.batch_records} submissions",
                code="request.batch_size",
            )
            if count is None:  # malformed, or merely not a list
                self._value(limit=self._bounds.body_bytes)
                raise self._after_the_end(refusal)
            raise refusal  # from the header alone: the submissions are never read
        for _ in range(count):
            self._submission_values = 0
            self._value(limit=MAX_SUBMISSION_BYTES)
        return count

    def _after_the_end(self, refusal: LedgerError) -> LedgerError:
        """``refusal``, once the value is known to be the whole body: as the strict decoder
        does, bytes after it are named first."""
        if self.offset() != self._size:
            return EncodingError(
                "trailing bytes after the encoded value", code="encoding.trailing_bytes"
            )
        return refusal

    def _header(self, read: Callable[[], int]) -> int | None:
        """The length from a map or array header, or None if the next value is another kind."""
        try:
            return read()
        except ValueError:  # "Unexpected type header on stream": nothing was consumed
            return None

    def _value(self, *, limit: int, start: int | None = None) -> Any:
        """Unpack the next value, refusing it if it ends more than ``limit`` bytes after
        ``start`` (by default, where it begins)."""
        begin = self.offset() if start is None else start
        value = self._unpacker.unpack()
        self._count(1)
        if self.offset() - begin > limit:
            raise RequestTooLargeError(f"a submission is larger than {limit} bytes")
        return value

    def _array(self, items: tuple[Any, ...]) -> tuple[Any, ...]:
        self._count(len(items))
        return items

    def _map(self, pairs: dict[Any, Any]) -> dict[Any, Any]:
        self._count(2 * len(pairs))
        return pairs

    def _count(self, values: int) -> None:
        self._submission_values += values
        self._body_values += values
        if self._submission_values > MAX_SUBMISSION_VALUES:
            raise RequestTooLargeError(
                f"a submission holds more than {MAX_SUBMISSION_VALUES} msgpack values"
            )
        if self._body_values > self._bounds.body_values:
            raise RequestTooLargeError(
                f"the body holds more than {self._bounds.body_values} msgpack values"
            )


@dataclass(frozen=True, slots=True)
class Held:
    """One request's place in its client's share: given back once the sequencer answers."""

    client: str
    records: int
    size: int


class ClientShares:
    """Records and bytes each client address has waiting for the sequencer, each bounded.

    Args:
        max_records: the most records one address may have waiting.
        max_bytes: the most body bytes one address may have waiting.

    An address with nothing waiting is always let in with one request, however large (within
    the ingress bounds), so a full batch is never refused for its size alone. The table holds
    only addresses with something waiting, so it is bounded by the sequencer's queue.
    """

    def __init__(self, *, max_records: int, max_bytes: int) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._waiting: dict[str, tuple[int, int]] = {}  # client: (records, bytes)

    def waiting(self, client: str) -> tuple[int, int]:
        """The records and bytes ``client`` has waiting."""
        return self._waiting.get(client, (0, 0))

    def check(self, client: str) -> None:
        """Refuse a client whose share is already full, before its body is read.

        Raises:
            ClientBusyError: the client has its whole share waiting.
        """
        records, size = self.waiting(client)
        if records >= self.max_records or size >= self.max_bytes:
            raise self._busy(records, size)

    def take(self, client: str, records: int, size: int) -> Held:
        """Count a request of ``records`` records and ``size`` bytes against its client.

        Raises:
            ClientBusyError: it would take the client over its share, and the client has
                something waiting already.
        """
        held_records, held_size = self.waiting(client)
        if (held_records or held_size) and (
            held_records + records > self.max_records or held_size + size > self.max_bytes
        ):
            raise self._busy(held_records, held_size)
        self._waiting[client] = (held_records + records, held_size + size)
        return Held(client, records, size)

    def give_back(self, held: Held) -> None:
        """The sequencer answered (or will never): the request leaves its client's share."""
        records, size = self.waiting(held.client)
        records, size = records - held.records, size - held.size
        if records <= 0 and size <= 0:
            self._waiting.pop(held.client, None)
        else:
            self._waiting[held.client] = (records, size)

    def _busy(self, records: int, size: int) -> ClientBusyError:
        return ClientBusyError(
            f"this address has {records} records ({size} bytes) waiting for the sequencer, "
            f"its share of {self.max_records} records or {self.max_bytes} bytes; retry later"
        )
