"""Envelopes (node/core/envelope.py, decision 0041): disclosures encrypted with HPKE to each
participant the policy names, bound to network, entry and recipient, refused unless they open the
record's commitments."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.core import crypto
from node.core.charter import Charter, Participant, Policy, make_genesis
from node.core.encoding import Value, encode
from node.core.envelope import (
    ENVELOPE_DOMAIN,
    MAX_CIPHERTEXT_SIZE,
    MAX_ENVELOPES,
    SUITE,
    check_addressed,
    encode_envelopes,
    envelope_info,
    open_envelope,
    open_with_any,
    parse_envelopes,
    seal_envelopes,
)
from node.core.errors import EnvelopeError
from node.core.records import SignedRecord, sign_record
from node.core.sealing import Disclosures, encode_disclosures, seal

NETWORK = "kp.test"
ENTRY = hashlib.sha256(b"entry 7 of BW").digest()
OTHER_ENTRY = hashlib.sha256(b"entry 8 of BW").digest()
VALUES: dict[str, Value] = {
    "value_usd_cents": 125_000_000,
    "exporter_name": "Okavango Diamond Company",
    "importer_name": "Antwerp Rough Traders NV",
    "seal_number": "SEAL-77801",
}
KEYS = {member: X25519PrivateKey.generate() for member in ("BW", "EU", "IN")}


def _member(member: str, *, with_key: bool = True) -> Participant:
    log, witness, governance = (crypto.generate_private_key() for _ in range(3))
    return Participant(
        id=member,
        name=f"KP authority of {member}",
        kind="participant",
        status="active",
        log_key=crypto.public_key_bytes(log),
        witness_key=crypto.public_key_bytes(witness),
        governance_key=crypto.public_key_bytes(governance),
        disclosure_key=KEYS[member].public_key().public_bytes_raw() if with_key else None,
    )


def _charter(*, eu_has_key: bool = True) -> Charter:
    members = [_member("BW"), _member("EU", with_key=eu_has_key), _member("IN")]
    return make_genesis(NETWORK, members, Policy(2, 1, 1000, 60, 30))


def _certificate(values: dict[str, Value] | None = None) -> tuple[SignedRecord, Disclosures]:
    sealed, disclosures = seal(VALUES if values is None else values)
    record: dict[str, Value] = {
        "v": 1,
        "type": "certificate.issue",
        "log": "BW",
        "time": 1_780_000_000_000,
        "body": {
            "number": "BW-2026-0001",
            "exporter": "trader",
            "importing": "EU",
            "parcels": [["BW", 3, hashlib.sha256(b"parcel").digest(), 0]],
            "parcel_count": 1,
            "centicarats": 100_000,
            "hs_codes": ["7102.10"],
            "origins": ["BW"],
            "issued_on": "2026-03-02",
            "expires_on": "2026-04-01",
        },
        "sealed": sealed,  # type: ignore[dict-item]
    }
    return sign_record(record, [("officer", Ed25519PrivateKey.generate())]), disclosures


def _open(
    envelopes: dict[str, bytes],
    signed: SignedRecord,
    member: str = "EU",
    *,
    network: str = NETWORK,
    entry_hash: bytes = ENTRY,
    key: X25519PrivateKey | None = None,
) -> Disclosures:
    return open_envelope(
        envelopes,
        network=network,
        entry_hash=entry_hash,
        participant=member,
        key=key or KEYS[member],
        signed=signed,
    )


def test_each_recipient_opens_its_envelope_to_the_disclosures() -> None:
    signed, disclosures = _certificate()
    envelopes = seal_envelopes(_charter(), signed, ENTRY, disclosures)
    assert sorted(envelopes) == ["BW", "EU"]  # the log's and the importing participant's
    again = parse_envelopes(encode_envelopes(envelopes))
    assert again == envelopes
    for member in ("BW", "EU"):
        assert _open(again, signed, member) == disclosures


def test_the_info_binds_network_entry_and_recipient() -> None:
    assert envelope_info(NETWORK, ENTRY, "EU") == ENVELOPE_DOMAIN + encode([NETWORK, ENTRY, "EU"])
    signed, disclosures = _certificate()
    ciphertext = seal_envelopes(_charter(), signed, ENTRY, disclosures)["EU"]
    assert SUITE.decrypt(ciphertext, KEYS["EU"], info=envelope_info(NETWORK, ENTRY, "EU")) == (
        encode_disclosures(disclosures)
    )


def test_a_member_listed_without_a_disclosure_key_gets_no_envelope() -> None:
    signed, disclosures = _certificate()
    assert sorted(seal_envelopes(_charter(eu_has_key=False), signed, ENTRY, disclosures)) == ["BW"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"key": KEYS["IN"]}, id="another-participants-key"),
        pytest.param({"entry_hash": OTHER_ENTRY}, id="another-entry"),
        pytest.param({"network": "kp.other"}, id="another-network"),
    ],
)
def test_an_envelope_opens_only_with_its_key_and_context(change: dict[str, Any]) -> None:
    signed, disclosures = _certificate()
    envelopes = seal_envelopes(_charter(), signed, ENTRY, disclosures)
    with pytest.raises(EnvelopeError) as refused:
        _open(envelopes, signed, **change)
    assert refused.value.code == "envelope.invalid"


def test_an_envelope_moved_to_another_recipient_does_not_open() -> None:
    signed, disclosures = _certificate()
    envelopes = seal_envelopes(_charter(), signed, ENTRY, disclosures)
    # IN holds EU's ciphertext under its own name: the info names EU, so IN's key fails.
    with pytest.raises(EnvelopeError) as refused:
        _open({"IN": envelopes["EU"]}, signed, "IN")
    assert refused.value.code == "envelope.invalid"


def test_a_third_participant_has_no_envelope() -> None:
    signed, disclosures = _certificate()
    envelopes = seal_envelopes(_charter(), signed, ENTRY, disclosures)
    with pytest.raises(EnvelopeError) as refused:
        _open(envelopes, signed, "IN")
    assert refused.value.code == "envelope.absent"


@pytest.mark.parametrize("position", [0, 31, 32, -17, -1], ids=lambda p: f"byte{p}")
def test_a_tampered_ciphertext_is_refused(position: int) -> None:
    signed, disclosures = _certificate()
    envelopes = seal_envelopes(_charter(), signed, ENTRY, disclosures)
    tampered = bytearray(envelopes["EU"])
    tampered[position] ^= 0x01
    with pytest.raises(EnvelopeError) as refused:
        _open({"EU": bytes(tampered)}, signed)
    assert refused.value.code == "envelope.invalid"


def test_values_that_do_not_open_the_commitments_are_refused() -> None:
    signed, _ = _certificate()
    _, other = _certificate(VALUES | {"value_usd_cents": 1})  # salts and a value not committed
    # Properly encrypted to EU for this very entry, by whoever: it still must open the record.
    envelopes = seal_envelopes(_charter(), signed, ENTRY, other)
    with pytest.raises(EnvelopeError) as refused:
        _open(envelopes, signed)
    assert refused.value.code == "envelope.invalid"


def test_a_plaintext_that_is_no_disclosures_is_refused() -> None:
    signed, _ = _certificate()
    info = envelope_info(NETWORK, ENTRY, "EU")
    ciphertext = SUITE.encrypt(b"\x91\x01", KEYS["EU"].public_key(), info=info)
    with pytest.raises(EnvelopeError) as refused:
        _open({"EU": ciphertext}, signed)
    assert refused.value.code == "envelope.invalid"


def test_envelopes_addressed_beyond_the_policy_are_refused() -> None:
    signed, disclosures = _certificate()
    envelopes = seal_envelopes(_charter(), signed, ENTRY, disclosures)
    check_addressed(signed, envelopes)
    with pytest.raises(EnvelopeError) as refused:
        check_addressed(signed, envelopes | {"IN": envelopes["EU"]})
    assert refused.value.code == "envelope.not_recipient"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(encode({}), id="no-envelopes"),
        pytest.param(encode([b"x" * 64]), id="not-a-map"),
        pytest.param(encode({"eu": b"x" * 64}), id="lowercase-id"),
        pytest.param(encode({"E": b"x" * 64}), id="short-id"),
        pytest.param(encode({"EU": "x" * 64}), id="text-ciphertext"),
        pytest.param(encode({"EU": b"x" * 48}), id="shorter-than-any-ciphertext"),
        pytest.param(encode({"EU": b"x" * (MAX_CIPHERTEXT_SIZE + 1)}), id="over-the-bound"),
        pytest.param(
            encode({f"A{chr(65 + i)}": b"x" * 64 for i in range(MAX_ENVELOPES + 1)}),
            id="too-many",
        ),
        pytest.param(b"\x81\xa2EU\xc4\x40" + b"x" * 64 + b"\x00", id="trailing-bytes"),
    ],
)
def test_malformed_envelopes_are_refused(data: bytes) -> None:
    with pytest.raises(EnvelopeError) as refused:
        parse_envelopes(data)
    assert refused.value.code == "envelope.malformed"


def test_a_retired_key_still_opens_what_was_sealed_to_it() -> None:
    signed, disclosures = _certificate()
    envelopes = seal_envelopes(_charter(), signed, ENTRY, disclosures)
    newer = X25519PrivateKey.generate()
    opened = open_with_any(
        envelopes,
        network=NETWORK,
        entry_hash=ENTRY,
        participant="EU",
        keys=(newer, KEYS["EU"]),
        signed=signed,
    )
    assert opened == disclosures
    with pytest.raises(EnvelopeError) as refused:
        open_with_any(
            envelopes,
            network=NETWORK,
            entry_hash=ENTRY,
            participant="EU",
            keys=(newer,),
            signed=signed,
        )
    assert refused.value.code == "envelope.invalid"
