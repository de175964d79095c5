"""Sealed fields: commercial values kept out of the public log, committed to inside it (DESIGN §5).

A record carries ``sealed[field] = SHA-256(b"kp-ledger/seal/v1\\n" + salt16 + canonical(value))``;
the submitter hands the node ``{field: [salt, value]}`` disclosures beside the record. The node
checks them against the commitments, stores them apart from the log, and shows them only to
members. The 16-byte random salt keeps a low-entropy value (a price, a company name) from being
found by hashing guesses.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

from node.core.encoding import Value, decode, encode
from node.core.errors import DisclosureError
from node.core.records import SignedRecord

__all__ = [
    "MAX_DISCLOSURE_SIZE",
    "SALT_SIZE",
    "SEAL_DOMAIN",
    "Disclosures",
    "check_disclosures",
    "commit",
    "encode_disclosures",
    "parse_disclosures",
    "seal",
]

SEAL_DOMAIN = b"kp-ledger/seal/v1\n"
SALT_SIZE = 16
MAX_DISCLOSURE_SIZE = 16 * 1024

Disclosures = dict[str, tuple[bytes, Value]]
"""``{field: (salt, value)}`` for the sealed fields of one record."""

# What each sealed field may hold: amounts are integers (US cents), the rest short text.
_FIELD_FORMS: dict[str, type] = {
    "value_usd_cents": int,
    "exporter_name": str,
    "importer_name": str,
    "seal_number": str,
    "invoice": str,
}
_MAX_TEXT = 500


def commit(field: str, salt: bytes, value: Value) -> bytes:
    """The commitment to one sealed value.

    ``field`` is not hashed (DESIGN §5 fixes the formula); it selects the form the value must
    have, so a commitment is never made to a value its field cannot hold.

    Raises:
        DisclosureError: an unknown field, a salt that is not 16 bytes, or a value of the wrong
            form for its field.
    """
    _check_value(field, salt, value)
    return hashlib.sha256(SEAL_DOMAIN + salt + encode(value)).digest()


def seal(values: Mapping[str, Value]) -> tuple[dict[str, bytes], Disclosures]:
    """Commit to each value with a fresh random salt: the record's ``sealed`` map and the
    disclosures to send beside it."""
    disclosures: Disclosures = {field: (os.urandom(SALT_SIZE), v) for field, v in values.items()}
    sealed = {field: commit(field, salt, v) for field, (salt, v) in disclosures.items()}
    return sealed, disclosures


def check_disclosures(signed: SignedRecord, disclosures: Disclosures) -> None:
    """Check that ``disclosures`` opens every commitment of the record, and nothing else.

    Raises:
        DisclosureError: a sealed field undisclosed (``disclosure.missing``), a disclosed field
            the record does not seal (``disclosure.unexpected``), or a value that does not match
            its commitment (``disclosure.mismatch``).
    """
    sealed = signed.record["sealed"]
    if not isinstance(sealed, dict):  # the record parser guarantees a map
        raise DisclosureError("record has no sealed map", code="disclosure.unexpected")
    missing = sorted(sealed.keys() - disclosures.keys())
    if missing:
        raise DisclosureError(f"sealed fields not disclosed: {missing}", code="disclosure.missing")
    unexpected = sorted(disclosures.keys() - sealed.keys())
    if unexpected:
        raise DisclosureError(
            f"disclosed fields the record does not seal: {unexpected}",
            code="disclosure.unexpected",
        )
    for field, (salt, value) in disclosures.items():
        if commit(field, salt, value) != sealed[field]:
            raise DisclosureError(
                f"disclosed {field} does not match its commitment", code="disclosure.mismatch"
            )


def encode_disclosures(disclosures: Disclosures) -> bytes:
    """Canonical bytes of disclosures, as sent beside a record and stored apart from the log."""
    return encode({field: [salt, value] for field, (salt, value) in disclosures.items()})


def parse_disclosures(data: bytes) -> Disclosures:
    """Strictly decode ``{field: [salt, value]}``.

    Raises:
        EncodingError: not canonical msgpack within ``MAX_DISCLOSURE_SIZE``.
        DisclosureError: not of that shape, or a value of the wrong form for its field.
    """
    value = decode(data, max_size=MAX_DISCLOSURE_SIZE)
    if not isinstance(value, dict):
        raise DisclosureError("disclosures must be a map", code="disclosure.malformed")
    result: Disclosures = {}
    for field, pair in value.items():
        if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], bytes):
            raise DisclosureError(
                f"disclosure of {field} must be [salt, value]", code="disclosure.malformed"
            )
        _check_value(field, pair[0], pair[1])
        result[field] = (pair[0], pair[1])
    return result


def _check_value(field: str, salt: bytes, value: Value) -> None:
    form = _FIELD_FORMS.get(field)
    if form is None:
        raise DisclosureError(f"unknown sealed field {field!r}", code="disclosure.malformed")
    if len(salt) != SALT_SIZE:
        raise DisclosureError(f"salt of {field} must be 16 bytes", code="disclosure.malformed")
    if form is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
    else:
        ok = isinstance(value, str) and 1 <= len(value) <= _MAX_TEXT and value.isprintable()
    if not ok:
        raise DisclosureError(f"{field} has a value of the wrong form", code="disclosure.malformed")
