"""Canonical msgpack (DESIGN §4): round trips, and every second spelling refused."""

from __future__ import annotations

import struct

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.core.encoding import MAX_DEPTH, decode, encode, encode_trusted
from node.core.errors import EncodingError

LIMIT = 1 << 20

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@given(values)
def test_round_trip(value: object) -> None:
    data = encode(value)  # type: ignore[arg-type]
    assert decode(data, max_size=LIMIT) == value
    assert encode(decode(data, max_size=LIMIT)) == data


@given(values)
def test_a_decoded_value_and_its_parts_encode_trusted_as_canonical(value: object) -> None:
    decoded = decode(encode(value), max_size=LIMIT)  # type: ignore[arg-type]
    assert encode_trusted(decoded) == encode(decoded)
    parts = list(decoded.values()) if isinstance(decoded, dict) else decoded
    for part in parts if isinstance(parts, list) else []:
        assert encode_trusted(part) == encode(part)


@given(st.dictionaries(st.text(max_size=8), scalars, min_size=2, max_size=6))
def test_unsorted_keys_rejected(value: dict[str, object]) -> None:
    items = sorted(value.items(), key=lambda kv: kv[0].encode())
    items.reverse()
    data = msgpack.packb(dict(items), use_bin_type=True)
    with pytest.raises(EncodingError) as err:
        decode(data, max_size=LIMIT)
    assert err.value.code == "encoding.non_canonical"


def test_a_type_outside_the_model_is_named_before_a_key_order() -> None:
    # Unsorted outer keys, and a float deep inside a later value: the float is what is named.
    data = msgpack.packb({"b": {"y": 1, "x": 2}, "a": [1, {"f": 1.5}]}, use_bin_type=True)
    with pytest.raises(EncodingError) as err:
        decode(data, max_size=LIMIT)
    assert err.value.code == "encoding.unsupported_type"


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_wide_integer_rejected(n: int) -> None:
    # uint 64 (0xcf) is never the smallest form for a value below 2**32.
    data = b"\xcf" + struct.pack(">Q", n)
    with pytest.raises(EncodingError) as err:
        decode(data, max_size=LIMIT)
    assert err.value.code == "encoding.non_canonical"


@given(st.text(max_size=20))
def test_wide_string_header_rejected(s: str) -> None:
    raw = s.encode()
    data = b"\xdb" + struct.pack(">I", len(raw)) + raw  # str 32 where a shorter header fits
    with pytest.raises(EncodingError):
        decode(data, max_size=LIMIT)


@given(values, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_rejected(value: object, tail: bytes) -> None:
    with pytest.raises(EncodingError) as err:
        decode(encode(value) + tail, max_size=LIMIT)  # type: ignore[arg-type]
    assert err.value.code == "encoding.trailing_bytes"


@given(values)
def test_truncation_rejected(value: object) -> None:
    data = encode(value)  # type: ignore[arg-type]
    for cut in range(len(data)):
        with pytest.raises(EncodingError):
            decode(data[:cut], max_size=LIMIT)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(msgpack.packb(1.5), "encoding.unsupported_type", id="float64"),
        pytest.param(
            msgpack.packb(1.5, use_single_float=True), "encoding.unsupported_type", id="float32"
        ),
        pytest.param(b"\xd4\x01\x00", "encoding.unsupported_type", id="fixext1"),
        pytest.param(b"\xd6\xff\x00\x00\x00\x00", "encoding.unsupported_type", id="timestamp"),
        pytest.param(b"\x82\xa1a\x01\xa1a\x02", "encoding.non_canonical", id="duplicate-key"),
        pytest.param(b"\x81\x01\x02", "encoding.malformed", id="int-key"),
        pytest.param(b"\x81\xc4\x01a\x02", "encoding.unsupported_type", id="bin-key"),
        pytest.param(b"\xcc\x05", "encoding.non_canonical", id="uint8-for-fixint"),
        pytest.param(b"\xd0\x05", "encoding.non_canonical", id="int8-for-positive"),
        pytest.param(b"\xc1", "encoding.malformed", id="reserved-byte"),
        pytest.param(b"\xa2\xff\xfe", "encoding.malformed", id="invalid-utf8"),
        pytest.param(b"\xa3ab", "encoding.malformed", id="short-string"),
        pytest.param(b"\xdd\xff\xff\xff\xff", "encoding.malformed", id="huge-array-header"),
        pytest.param(b"\x91" * 2000 + b"\xc0", "encoding.malformed", id="nesting-2000"),
        pytest.param(b"\x91" * (MAX_DEPTH + 1) + b"\xc0", "encoding.too_deep", id="nesting-33"),
        pytest.param(b"", "encoding.malformed", id="empty"),
    ],
)
def test_hostile_inputs_rejected(data: bytes, code: str) -> None:
    with pytest.raises(EncodingError) as err:
        decode(data, max_size=LIMIT)
    assert err.value.code == code


def test_size_limit_checked_before_parsing() -> None:
    data = encode(b"x" * 100)
    assert decode(data, max_size=len(data)) == b"x" * 100
    with pytest.raises(EncodingError) as err:
        decode(data, max_size=len(data) - 1)
    assert err.value.code == "encoding.too_large"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1.0, id="float"),
        pytest.param(2**64, id="int-too-big"),
        pytest.param(-(2**63) - 1, id="int-too-small"),
        pytest.param({1: 2}, id="int-key"),
        pytest.param({b"k": 2}, id="bytes-key"),
        pytest.param({"a": {1, 2}}, id="set"),
        pytest.param("\ud800", id="lone-surrogate"),
    ],
)
def test_encode_refuses_values_outside_the_model(value: object) -> None:
    with pytest.raises(EncodingError):
        encode(value)  # type: ignore[arg-type]


def test_keys_sorted_by_utf8_bytes() -> None:
    data = encode({"é": 1, "z": 2, "A": 3, "": 4})
    assert decode(data, max_size=LIMIT) == {"": 4, "A": 3, "z": 2, "é": 1}
    assert data == msgpack.packb({"": 4, "A": 3, "z": 2, "é": 1}, use_bin_type=True)
