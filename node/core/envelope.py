"""Envelopes: an entry's disclosures encrypted to each participant entitled to them (decision 0041).

The disclosures of a record (node/core/sealing.py, ``{field: [salt, value]}``) are encrypted, when
the record is appended, to the charter-listed ``disclosure_key`` of each participant that
``disclosure.recipients`` names, with HPKE (RFC 9180) in base mode::

    suite = DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM
    info  = ENVELOPE_DOMAIN + canonical([network, entry hash, participant])
    ciphertext = enc (32 bytes) || AEAD ciphertext of encode_disclosures(...) (with its 16-byte tag)

The ``info`` string binds each ciphertext to its network, its entry and its recipient: one cut
from another entry, another network or addressed to another participant does not decrypt. The
envelopes of one entry are stored and replicated as the canonical msgpack map
``{participant: ciphertext}`` (``encode_envelopes``): public bytes, which only the recipient can
open. Opening checks what was decrypted against the record's commitments (``sealing``'s check),
so a recipient never takes from an envelope a value the public log does not commit to.

Pure functions of bytes, keys and the charter: the keys are read by the caller
(node/engine/datadir.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from node.core.charter import Charter
from node.core.disclosure import Subject, recipients
from node.core.encoding import decode, encode
from node.core.errors import DisclosureError, EncodingError, EnvelopeError
from node.core.records import SignedRecord
from node.core.sealing import (
    MAX_DISCLOSURE_SIZE,
    Disclosures,
    check_disclosures,
    encode_disclosures,
    parse_disclosures,
)

__all__ = [
    "ENVELOPE_DOMAIN",
    "MAX_CIPHERTEXT_SIZE",
    "MAX_ENVELOPES",
    "MAX_ENVELOPES_SIZE",
    "SUITE",
    "Envelopes",
    "check_addressed",
    "encode_envelopes",
    "envelope_info",
    "open_envelope",
    "open_with_any",
    "parse_envelopes",
    "seal_envelopes",
]

ENVELOPE_DOMAIN = b"kp-ledger/envelope/v1\n"
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
_ENC_SIZE = 32  # RFC 9180 §7.1: Nenc of DHKEM(X25519, HKDF-SHA256)
_TAG_SIZE = 16  # Nt of AES-128-GCM
MAX_CIPHERTEXT_SIZE = _ENC_SIZE + MAX_DISCLOSURE_SIZE + _TAG_SIZE
# ``recipients`` names at most two participants (the log's and a certificate's importing one);
# the bound leaves room should the policy name more, and no more.
MAX_ENVELOPES = 8
# The map header, and per envelope an id of at most 8 letters and a bin32 header.
MAX_ENVELOPES_SIZE = 1 + MAX_ENVELOPES * (1 + 8 + 5 + MAX_CIPHERTEXT_SIZE)

Envelopes = dict[str, bytes]
"""``{participant: ciphertext}``: the envelopes of one entry."""


def envelope_info(network: str, entry_hash: bytes, participant: str) -> bytes:
    """The HPKE ``info`` of the envelope of ``entry_hash`` addressed to ``participant``."""
    return ENVELOPE_DOMAIN + encode([network, entry_hash, participant])


def seal_envelopes(
    charter: Charter, signed: SignedRecord, entry_hash: bytes, disclosures: Disclosures
) -> Envelopes:
    """Encrypt ``disclosures`` to each participant the policy names for the record that
    ``charter`` lists with a disclosure key (a member listed before envelopes gets none).

    Args:
        charter: the charter the record's log adopted (its network and members' keys).
        signed: the record; its type, log and importing participant choose the recipients.
        entry_hash: the hash of the entry that holds it (RFC 9162 leaf hash).
        disclosures: its disclosures, already checked against its commitments.

    Returns:
        The envelopes; empty when no recipient has a disclosure key.
    """
    plaintext = encode_disclosures(disclosures)
    sealed: Envelopes = {}
    for participant in recipients(Subject.of(signed)):
        member = charter.participants.get(participant)
        if member is None or member.disclosure_key is None:
            continue
        key = X25519PublicKey.from_public_bytes(member.disclosure_key)
        info = envelope_info(charter.network, entry_hash, participant)
        sealed[participant] = SUITE.encrypt(plaintext, key, info=info)
    return sealed


def encode_envelopes(envelopes: Mapping[str, bytes]) -> bytes:
    """The canonical bytes stored and replicated for one entry's envelopes."""
    return encode(dict(envelopes))


def parse_envelopes(data: bytes) -> Envelopes:
    """Strictly decode ``{participant: ciphertext}``.

    Raises:
        EnvelopeError: ``envelope.malformed``: not canonical msgpack within
            ``MAX_ENVELOPES_SIZE``, not such a map, more than ``MAX_ENVELOPES``, an id that is
            no member id, or a ciphertext shorter than an empty one or over its bound.
    """
    try:
        value = decode(data, max_size=MAX_ENVELOPES_SIZE)
    except EncodingError as exc:
        raise EnvelopeError(f"envelopes: {exc.message}", code="envelope.malformed") from None
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_ENVELOPES:
        raise EnvelopeError(
            f"envelopes must be a map of 1 to {MAX_ENVELOPES} ciphertexts",
            code="envelope.malformed",
        )
    envelopes: Envelopes = {}
    for participant, ciphertext in value.items():
        if not (isinstance(participant, str) and 2 <= len(participant) <= 8):
            raise EnvelopeError(
                "an envelope's recipient is no member id", code="envelope.malformed"
            )
        if not (participant.isascii() and participant.isalpha() and participant.isupper()):
            raise EnvelopeError(
                "an envelope's recipient is no member id", code="envelope.malformed"
            )
        if (
            not isinstance(ciphertext, bytes)
            or not _ENC_SIZE + _TAG_SIZE < len(ciphertext) <= MAX_CIPHERTEXT_SIZE
        ):
            raise EnvelopeError(
                f"the envelope to {participant} is not a ciphertext of its bounds",
                code="envelope.malformed",
            )
        envelopes[participant] = ciphertext
    return envelopes


def check_addressed(signed: SignedRecord, envelopes: Mapping[str, bytes]) -> None:
    """Check that every envelope is addressed to a participant the policy names for the record.

    Raises:
        EnvelopeError: ``envelope.not_recipient``.
    """
    entitled = recipients(Subject.of(signed))
    stray = sorted(set(envelopes) - set(entitled))
    if stray:
        raise EnvelopeError(
            f"envelopes addressed to {stray}, whom the policy does not name for this {signed.type}",
            code="envelope.not_recipient",
        )


def open_envelope(
    envelopes: Mapping[str, bytes],
    *,
    network: str,
    entry_hash: bytes,
    participant: str,
    key: X25519PrivateKey,
    signed: SignedRecord,
) -> Disclosures:
    """Decrypt the envelope addressed to ``participant`` and check it against the record.

    Args:
        envelopes: the entry's envelopes.
        network: the network the charter names.
        entry_hash: the entry's hash.
        participant: who opens (the node's own participant).
        key: that participant's disclosure key.
        signed: the record of the entry, whose commitments the values must open.

    Returns:
        The disclosures, which open every commitment of the record.

    Raises:
        EnvelopeError: ``envelope.absent`` when none is addressed to ``participant``;
            ``envelope.invalid`` when it does not decrypt (another key, entry, network or
            recipient, a changed byte), or what it holds is not disclosures that open the
            record's commitments.
    """
    ciphertext = envelopes.get(participant)
    if ciphertext is None:
        raise EnvelopeError(f"no envelope addressed to {participant}", code="envelope.absent")
    info = envelope_info(network, entry_hash, participant)
    try:
        plaintext = SUITE.decrypt(ciphertext, key, info=info)
    except (InvalidTag, ValueError):
        raise EnvelopeError(
            f"the envelope to {participant} does not decrypt with its key for this entry",
            code="envelope.invalid",
        ) from None
    try:
        opened = parse_disclosures(plaintext)
        check_disclosures(signed, opened)
    except (EncodingError, DisclosureError) as exc:
        raise EnvelopeError(
            f"the envelope to {participant} does not open the record's commitments: {exc.code}",
            code="envelope.invalid",
        ) from None
    return opened


def open_with_any(
    envelopes: Mapping[str, bytes],
    *,
    network: str,
    entry_hash: bytes,
    participant: str,
    keys: Sequence[X25519PrivateKey],
    signed: SignedRecord,
) -> Disclosures:
    """``open_envelope`` with each of ``keys`` in turn (the current disclosure key, then retired
    ones: an envelope is sealed to the key the charter listed when its entry was appended).

    Raises:
        EnvelopeError: ``envelope.absent`` when none is addressed to ``participant`` (or no key
            is given); ``envelope.invalid`` when no key opens it.
    """
    if not keys:
        raise EnvelopeError(f"no disclosure key of {participant}", code="envelope.absent")
    failure = EnvelopeError(f"no key opens the envelope to {participant}")
    for key in keys:
        try:
            return open_envelope(
                envelopes,
                network=network,
                entry_hash=entry_hash,
                participant=participant,
                key=key,
                signed=signed,
            )
        except EnvelopeError as exc:
            if exc.code == "envelope.absent":
                raise
            failure = exc
    raise failure
