"""Canonical msgpack: the one encoding of everything that is signed, hashed or stored (DESIGN §4).

One value has exactly one encoding:

* types are nil, bool, int (-2**63 .. 2**64-1), str (UTF-8), bin, array and map with str keys;
  no float, no ext (and so no msgpack timestamps);
* map keys are sorted by their UTF-8 bytes, without duplicates;
* integers take their smallest msgpack form, which msgpack-python's packer always chooses.

``decode`` is strict: it bounds the input, unpacks, checks the types and that every map's keys
are in order, re-packs and rejects the input unless the bytes are identical. That comparison
catches duplicate keys, non-minimal integers, str8 where fixstr fits, and any other second
spelling of a value.
"""

from __future__ import annotations

from typing import TypeAlias, cast

import msgpack

from node.core.errors import EncodingError

__all__ = [
    "MAX_DEPTH",
    "Value",
    "decode",
    "decode_trusted",
    "encode",
    "encode_array",
    "encode_map",
    "encode_trusted",
]

Value: TypeAlias = (
    "bool | int | str | bytes | list[Value] | tuple[Value, ...] | dict[str, Value] | None"
)

# Records are shallow (record → body → outputs → output); 32 levels is generous and keeps a
# hostile "[[[[…]]]]" from costing more than a few microseconds to refuse.
MAX_DEPTH = 32

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def encode(value: Value) -> bytes:
    """Return the canonical msgpack encoding of ``value``.

    Tuples encode as arrays (and decode back as lists).

    Raises:
        EncodingError: ``value`` holds a type outside DESIGN §4, an out-of-range integer, a
            non-str map key, a string that is not valid Unicode, or nests deeper than
            ``MAX_DEPTH``.
    """
    try:
        packed: bytes = msgpack.packb(_canonical(value, 0), use_bin_type=True, strict_types=True)
        return packed
    except UnicodeEncodeError as exc:
        raise EncodingError("string is not valid UTF-8", code="encoding.invalid_utf8") from exc


def encode_map(fields: dict[str, bytes]) -> bytes:
    """The canonical encoding of a map whose values are given already canonically encoded.

    A canonical map is its header followed by each key and value in key order, so a large
    value (a signed record inside an entry) need not be walked and encoded a second time.
    """
    out = [msgpack.Packer().pack_map_header(len(fields))]
    for key in sorted(fields):  # code-point order is UTF-8 byte order
        out.append(encode(key))
        out.append(fields[key])
    return b"".join(out)


def encode_array(items: list[bytes]) -> bytes:
    """The canonical encoding of an array whose items are given already canonically encoded
    (a batch of submissions, each holding a signed record's bytes as they were signed)."""
    header: bytes = msgpack.Packer().pack_array_header(len(items))
    return header + b"".join(items)


def decode(data: bytes, *, max_size: int) -> Value:
    """Decode canonical msgpack, refusing anything but the one canonical spelling.

    Args:
        data: the encoded bytes.
        max_size: the largest input accepted, in bytes; checked before any parsing.

    Raises:
        EncodingError: with code ``encoding.too_large``, ``encoding.malformed``,
            ``encoding.trailing_bytes``, ``encoding.unsupported_type`` or
            ``encoding.non_canonical``.
    """
    if len(data) > max_size:
        raise EncodingError(
            f"encoded value is {len(data)} bytes, more than the limit of {max_size}",
            code="encoding.too_large",
        )
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_refuse_ext,
        )
    except msgpack.ExtraData as exc:
        raise EncodingError(
            "trailing bytes after the encoded value", code="encoding.trailing_bytes"
        ) from exc
    except _ExtTypeError as exc:
        raise EncodingError(
            "msgpack ext types are not allowed", code="encoding.unsupported_type"
        ) from exc
    except (ValueError, TypeError, msgpack.StackError, msgpack.FormatError) as exc:
        # ValueError covers truncation, invalid UTF-8 and the unpacker's own length limits.
        raise EncodingError(
            f"malformed msgpack ({type(exc).__name__}: {exc})", code="encoding.malformed"
        ) from exc
    try:
        _check_decoded(value, 0)
    except EncodingError as exc:
        if exc.code == "encoding.non_canonical":
            _canonical(value, 0)  # a type outside §4 anywhere is named before a key order
        raise
    if msgpack.packb(value, use_bin_type=True) != bytes(data):
        raise EncodingError(
            "not the canonical encoding (key order, duplicate keys or integer width)",
            code="encoding.non_canonical",
        )
    result: Value = value
    return result


def encode_trusted(value: Value) -> bytes:
    """Encode a value that ``decode`` returned (or part of one), without walking it again.

    Such a value is canonical already: its maps are in key order and its types are those of
    DESIGN §4, so the packer alone gives the canonical bytes. Anything built in code goes
    through ``encode``.
    """
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def decode_trusted(data: bytes) -> Value:
    """Decode bytes this node encoded itself (its ledger state), without the canonical check.

    Never for anything that arrived from outside: that goes through ``decode``.
    """
    value: Value = msgpack.unpackb(data, raw=False, use_list=True)
    return value


class _ExtTypeError(Exception):
    """Raised from inside the unpacker so that ext types abort decoding at once."""


def _refuse_ext(code: int, data: bytes) -> object:
    raise _ExtTypeError(code)


_SCALARS = frozenset({type(None), bool, str, bytes})
_DECODED_SCALARS = _SCALARS | {int}  # an unpacked int is within the msgpack range already


def _check_decoded(value: object, depth: int) -> None:
    """Check what the unpacker returned against DESIGN §4 without rebuilding it as ``encode``
    does: its types (no float), string keys, depth, and every map's keys in order, which the
    packer, keeping insertion order, would not notice."""
    kind = type(value)
    if kind in _DECODED_SCALARS:
        return
    if kind is not list and kind is not dict:
        raise EncodingError(
            f"type {kind.__name__} is not allowed in canonical msgpack",
            code="encoding.unsupported_type",
        )
    if depth >= MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH}", code="encoding.too_deep")
    if kind is list:
        for item in cast(list[object], value):
            _check_decoded(item, depth + 1)
        return
    mapping = cast(dict[object, object], value)
    keys = list(mapping)
    for key in keys:
        if type(key) is not str:
            raise EncodingError(
                f"map key {key!r} is not a string", code="encoding.unsupported_type"
            )
    if keys != sorted(cast(list[str], keys)):  # code-point order is UTF-8 byte order
        raise EncodingError("map keys are not in canonical order", code="encoding.non_canonical")
    for item in mapping.values():
        _check_decoded(item, depth + 1)


def _canonical(value: object, depth: int) -> object:
    """Check ``value`` against DESIGN §4 and return it with every map in canonical key order.

    Types are matched exactly (a bool is not an int, a str subclass is refused): the packer
    runs with ``strict_types`` and would otherwise meet a type it does not know.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is int:
        if not _INT_MIN <= cast(int, value) <= _INT_MAX:
            raise EncodingError(
                f"integer {value} is outside -2**63 .. 2**64-1", code="encoding.int_range"
            )
        return value
    if kind is list or kind is tuple or kind is dict:
        if depth >= MAX_DEPTH:
            raise EncodingError(f"nesting deeper than {MAX_DEPTH}", code="encoding.too_deep")
        if kind is not dict:
            return [_canonical(item, depth + 1) for item in cast(list[object], value)]
        mapping = cast(dict[str, object], value)
        for key in mapping:
            if type(key) is not str:
                raise EncodingError(
                    f"map key {key!r} is not a string", code="encoding.unsupported_type"
                )
        # Code-point order equals UTF-8 byte order: sorting the str keys sorts their bytes.
        return {key: _canonical(mapping[key], depth + 1) for key in sorted(mapping)}
    raise EncodingError(
        f"type {kind.__name__} is not allowed in canonical msgpack",
        code="encoding.unsupported_type",
    )
