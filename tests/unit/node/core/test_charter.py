"""The charter (node/core/charter.py): shape, canonical bytes, genesis, TUF-style successors."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import node.core.charter as charter_module
from node.core import crypto
from node.core.charter import (
    CHARTER_DOMAIN,
    MAX_CHARTER_SIZE,
    MAX_KEY_FILE_SIZE,
    Charter,
    CharterCheck,
    CharterSignature,
    Participant,
    Policy,
    SignedCharter,
    check_genesis,
    check_successor,
    load_participant_key_files,
    make_genesis,
    make_successor,
    parse_participant_key_file,
    participant_key_file,
    sign_charter,
    verify_chain,
    verify_genesis,
    verify_successor,
    with_status,
)
from node.core.encoding import Value, decode, encode
from node.core.errors import CharterError, EncodingError

NETWORK = "kp.test"
POLICY = Policy(
    charter_threshold=2,
    witness_quorum=1,
    mass_tolerance_ppm=1000,
    max_certificate_days=60,
    void_grace_days=30,
)


# --- factories ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A member as the charter lists it, with the governance private key it signs with."""

    participant: Participant
    governance: Ed25519PrivateKey

    @property
    def id(self) -> str:
        return self.participant.id

    def rotated(self) -> Member:
        """The same member with a fresh governance key."""
        key = crypto.generate_private_key()
        return Member(replace(self.participant, governance_key=crypto.public_key_bytes(key)), key)


MakeMember = Callable[..., Member]


def new_member(
    member_id: str,
    *,
    kind: str = "participant",
    status: str = "active",
    endpoints: tuple[str, ...] = (),
) -> Member:
    log, witness, governance = (crypto.generate_private_key() for _ in range(3))
    participant = Participant(
        id=member_id,
        name=f"KP authority of {member_id}",
        kind=kind,
        status=status,
        log_key=crypto.public_key_bytes(log),
        witness_key=crypto.public_key_bytes(witness),
        governance_key=crypto.public_key_bytes(governance),
        endpoints=endpoints or (f"https://{member_id.lower()}.kp.test",),
    )
    return Member(participant, governance)


@pytest.fixture
def make_member() -> MakeMember:
    return new_member


@dataclass(frozen=True)
class Network:
    """A network's members by id and its signed genesis."""

    members: dict[str, Member]
    genesis: SignedCharter

    @property
    def charter(self) -> Charter:
        return self.genesis.charter

    def sign(self, target: Charter | SignedCharter, *ids: str) -> SignedCharter:
        signed = target if isinstance(target, SignedCharter) else SignedCharter(target)
        for member_id in ids:
            signed = sign_charter(signed, member_id, self.members[member_id].governance)
        return signed


MakeNetwork = Callable[..., Network]


@pytest.fixture
def make_network(make_member: MakeMember) -> MakeNetwork:
    """Build a genesis signed by everyone: participants active unless listed as suspended."""

    def make(
        participants: Sequence[str] = ("BW", "EU", "IN", "ZA"),
        *,
        observers: Sequence[str] = ("WDC",),
        suspended: Sequence[str] = (),
        policy: Policy = POLICY,
    ) -> Network:
        members = {
            pid: make_member(pid, status="suspended" if pid in suspended else "active")
            for pid in participants
        }
        members |= {oid: make_member(oid, kind="observer") for oid in observers}
        genesis = make_genesis(NETWORK, (m.participant for m in members.values()), policy)
        network = Network(members, SignedCharter(genesis))
        return replace(network, genesis=network.sign(genesis, *members))

    return make


@pytest.fixture
def network(make_network: MakeNetwork) -> Network:
    return make_network()


def codes(check: CharterCheck) -> list[str]:
    return [failure.code for failure in check.failures]


def participants_with(charter: Charter, *members: Member) -> dict[str, Participant]:
    """The charter's members with the given members added or replaced."""
    return {**charter.participants, **{m.id: m.participant for m in members}}


# --- values, bytes and hashes ---------------------------------------------------------------


def test_charter_value_has_the_shape_of_design_section_3(network: Network) -> None:
    value = network.charter.to_value()
    assert value.keys() == {"v", "network", "version", "previous", "participants", "policy"}
    assert value["v"] == 1
    assert value["previous"] is None
    participants = value["participants"]
    assert isinstance(participants, dict)
    assert list(participants) == ["BW", "EU", "IN", "WDC", "ZA"]
    assert participants["WDC"] == {
        "name": "KP authority of WDC",
        "kind": "observer",
        "status": "active",
        "log_key": network.members["WDC"].participant.log_key,
        "witness_key": network.members["WDC"].participant.witness_key,
        "governance_key": network.members["WDC"].participant.governance_key,
        "endpoints": ["https://wdc.kp.test"],
    }
    assert value["policy"] == {
        "charter_threshold": 2,
        "witness_quorum": 1,
        "mass_tolerance_ppm": 1000,
        "max_certificate_days": 60,
        "void_grace_days": 30,
    }


def test_round_trip_through_value_and_bytes(network: Network) -> None:
    signed = network.genesis
    assert Charter.from_value(signed.charter.to_value()) == signed.charter
    data = signed.encode()
    assert data == encode(signed.to_value())
    parsed = SignedCharter.parse(data)
    assert parsed == signed
    assert parsed.encode() == data
    assert parsed.hash == signed.hash


def test_payload_is_the_domain_and_the_canonical_charter(network: Network) -> None:
    charter = network.charter
    assert charter.payload() == CHARTER_DOMAIN + encode(charter.to_value())
    assert charter.hash == hashlib.sha256(charter.payload()).digest()


def test_collecting_signatures_never_changes_the_hash(network: Network) -> None:
    unsigned = SignedCharter(network.charter)
    one = network.sign(unsigned, "BW")
    assert unsigned.hash == one.hash == network.genesis.hash == network.charter.hash
    assert one.encode() != network.genesis.encode()


def test_any_change_to_the_charter_changes_the_hash(network: Network) -> None:
    changed = replace(network.charter, policy=replace(POLICY, void_grace_days=31))
    assert changed.hash != network.charter.hash


def test_participants_are_read_only_and_ordered_by_id(make_member: MakeMember) -> None:
    members = [make_member(pid).participant for pid in ("ZA", "BW", "IN")]
    forward = make_genesis(NETWORK, members, POLICY)
    backward = make_genesis(NETWORK, reversed(members), POLICY)
    assert isinstance(forward.participants, MappingProxyType)
    assert list(forward.participants) == ["BW", "IN", "ZA"]
    assert forward == backward
    assert forward.payload() == backward.payload()
    assert hash(forward) == hash(backward)
    with pytest.raises(TypeError):
        forward.participants["XX"] = members[0]  # type: ignore[index]


def test_signatures_are_kept_in_one_order_whoever_collects_them(network: Network) -> None:
    one_way = network.sign(network.charter, "BW", "ZA", "EU")
    other_way = network.sign(network.charter, "EU", "BW", "ZA")
    assert one_way == other_way
    assert one_way.encode() == other_way.encode()
    assert [s.participant for s in one_way.signatures] == ["BW", "EU", "ZA"]


def test_parse_refuses_signatures_out_of_canonical_order(network: Network) -> None:
    value = network.genesis.to_value()
    signatures = value["signatures"]
    assert isinstance(signatures, list)
    signatures.reverse()
    with pytest.raises(CharterError) as info:
        SignedCharter.parse(encode(value))
    assert info.value.code == "charter.malformed"


def test_parse_refuses_non_canonical_and_oversized_bytes(network: Network) -> None:
    data = network.genesis.encode()
    with pytest.raises(EncodingError) as info:
        SignedCharter.parse(data + b"\x00")
    assert info.value.code == "encoding.trailing_bytes"
    with pytest.raises(EncodingError) as info:
        SignedCharter.parse(encode({"charter": b"x" * MAX_CHARTER_SIZE, "signatures": []}))
    assert info.value.code == "encoding.too_large"


def test_origin_membership_and_governors(make_network: MakeNetwork) -> None:
    charter = make_network(suspended=["ZA"]).charter
    assert charter.origin("BW") == "kp.test/BW"
    assert crypto.is_valid_key_name(charter.origin("WDC"))
    assert charter.is_active("BW")
    assert charter.is_active("WDC")
    assert not charter.is_active("ZA")
    assert not charter.is_active("XX")
    # Observers and suspended participants do not govern.
    assert charter.governors() == ["BW", "EU", "IN"]


_IDS = st.from_regex(r"[A-Z]{2,8}", fullmatch=True)
_URLS = st.from_regex(
    r"https?://[a-z0-9]{1,20}(\.[a-z]{2,5}){0,2}(:[1-9][0-9]{0,3})?", fullmatch=True
)


# Printable by construction (letters, marks, digits, punctuation, symbols and the space), so the
# filter, which refuses blank names, rarely refuses anything and generation stays fast.
_NAMES = st.text(
    st.characters(categories=["L", "M", "N", "P", "S"], include_characters=" ", codec="utf-8"),
    min_size=1,
    max_size=40,
).filter(lambda name: name.isprintable() and name.strip() != "")


@st.composite
def charters(draw: st.DrawFn) -> Charter:
    ids = draw(st.lists(_IDS, min_size=1, max_size=12, unique=True))
    keys = draw(
        st.lists(
            st.binary(min_size=32, max_size=32),
            min_size=3 * len(ids),
            max_size=3 * len(ids),
            unique=True,
        )
    )
    members = []
    for index, member_id in enumerate(ids):
        kind = "participant" if index == 0 else draw(st.sampled_from(["participant", "observer"]))
        status = "active" if index == 0 else draw(st.sampled_from(["active", "suspended"]))
        members.append(
            Participant(
                id=member_id,
                name=draw(_NAMES),
                kind=kind,
                status=status,
                log_key=keys[3 * index],
                witness_key=keys[3 * index + 1],
                governance_key=keys[3 * index + 2],
                endpoints=tuple(draw(st.lists(_URLS, max_size=3, unique=True))),
            )
        )
    governors = sum(1 for m in members if m.kind == "participant" and m.status == "active")
    active = sum(1 for m in members if m.status == "active")
    policy = Policy(
        charter_threshold=draw(st.integers(1, governors)),
        witness_quorum=draw(st.integers(0, active - 1)),
        mass_tolerance_ppm=draw(st.integers(0, 100_000)),
        max_certificate_days=draw(st.integers(1, 3650)),
        void_grace_days=draw(st.integers(0, 3650)),
    )
    version = draw(st.integers(1, 2**63 - 1))
    previous = None if version == 1 else draw(st.binary(min_size=32, max_size=32))
    network = draw(st.from_regex(r"[a-z0-9.-]{1,64}", fullmatch=True))
    return Charter(network, version, previous, {m.id: m for m in members}, policy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    charter=charters(),
    signatures=st.lists(
        st.tuples(_IDS, st.binary(min_size=64, max_size=64)), max_size=4, unique_by=lambda s: s[0]
    ),
)
def test_any_charter_round_trips_canonically(
    charter: Charter, signatures: list[tuple[str, bytes]]
) -> None:
    signed = SignedCharter(charter, tuple(CharterSignature(p, s) for p, s in signatures))
    data = signed.encode()
    parsed = SignedCharter.parse(data)
    assert parsed == signed
    assert parsed.encode() == data
    assert parsed.charter.payload() == charter.payload()
    assert decode(data, max_size=MAX_CHARTER_SIZE) == signed.to_value()


# --- malformed charters ---------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, new: object) -> Mutation:
    """Set (or, with ``DELETE``, remove) the field at a dotted path of the charter value."""

    def mutate(value: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = value
        for part in parents:
            target = target[part]
        if new is DELETE:
            del target[last]
        else:
            target[last] = new

    return mutate


DELETE = object()
KEY = bytes(range(32))


def _share_governance_key(value: dict[str, Any]) -> None:
    members = value["participants"]
    members["EU"]["governance_key"] = members["BW"]["governance_key"]


def _reuse_log_key_as_governance_key(value: dict[str, Any]) -> None:
    member = value["participants"]["BW"]
    member["governance_key"] = member["log_key"]


def _suspend_all_but_one(value: dict[str, Any]) -> None:
    for member_id in ("EU", "IN", "ZA"):
        value["participants"][member_id]["status"] = "suspended"


def _version_2_without_previous(value: dict[str, Any]) -> None:
    value["version"] = 2
    value["previous"] = None


MALFORMED: list[Any] = [
    pytest.param(_set("extra", 1), "charter.malformed", id="unknown-field"),
    pytest.param(_set("policy", DELETE), "charter.malformed", id="missing-field"),
    pytest.param(
        _set("policy.void_grace_days", DELETE), "charter.malformed", id="missing-policy-field"
    ),
    pytest.param(
        _set("participants.BW.role", "x"), "charter.malformed", id="unknown-participant-field"
    ),
    pytest.param(
        _set("participants.BW.endpoints", DELETE),
        "charter.malformed",
        id="missing-participant-field",
    ),
    pytest.param(_set("version", True), "charter.malformed", id="bool-as-version"),
    pytest.param(
        _set("policy.charter_threshold", True), "charter.malformed", id="bool-as-threshold"
    ),
    pytest.param(_set("network", b"kp.test"), "charter.malformed", id="network-as-bytes"),
    pytest.param(_set("participants", []), "charter.malformed", id="participants-not-a-map"),
    pytest.param(_set("participants.BW.log_key", "AAAA"), "charter.malformed", id="key-as-string"),
    pytest.param(
        _set("participants.BW.endpoints", "https://bw.kp.test"),
        "charter.malformed",
        id="endpoints-not-a-list",
    ),
    pytest.param(
        _set("participants.BW.endpoints", [7]), "charter.malformed", id="endpoint-not-a-string"
    ),
    pytest.param(_set("v", 2), "charter.unsupported_format", id="format-v2"),
    pytest.param(_set("v", True), "charter.malformed", id="bool-as-format"),
    pytest.param(_set("network", "KP.TEST"), "charter.bad_network", id="network-upper-case"),
    pytest.param(_set("network", ""), "charter.bad_network", id="network-empty"),
    pytest.param(_set("network", "kp/test"), "charter.bad_network", id="network-with-slash"),
    pytest.param(_set("version", 0), "charter.bad_version", id="version-zero"),
    pytest.param(
        _set("previous", bytes(32)), "charter.bad_previous", id="previous-set-on-version-1"
    ),
    pytest.param(
        _version_2_without_previous, "charter.bad_previous", id="previous-missing-on-version-2"
    ),
    pytest.param(_set("participants", {}), "charter.participant_count", id="no-participants"),
    pytest.param(_set("participants.BW.log_key", bytes(31)), "charter.bad_key", id="key-31-bytes"),
    pytest.param(
        _set("participants.BW.governance_key", bytes(33)), "charter.bad_key", id="key-33-bytes"
    ),
    pytest.param(_share_governance_key, "charter.duplicate_key", id="shared-governance-key"),
    pytest.param(
        _reuse_log_key_as_governance_key, "charter.duplicate_key", id="online-key-governs"
    ),
    pytest.param(_set("participants.BW.name", ""), "charter.bad_name", id="empty-name"),
    pytest.param(_set("participants.BW.name", "   "), "charter.bad_name", id="blank-name"),
    pytest.param(
        _set("participants.BW.name", "Botswana\nKP"), "charter.bad_name", id="name-with-newline"
    ),
    pytest.param(_set("participants.BW.name", "x" * 201), "charter.bad_name", id="name-too-long"),
    pytest.param(_set("participants.BW.kind", "auditor"), "charter.bad_kind", id="unknown-kind"),
    pytest.param(
        _set("participants.BW.status", "retired"), "charter.bad_status", id="unknown-status"
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["ftp://bw.kp.test"]),
        "charter.bad_endpoint",
        id="url-scheme-ftp",
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["HTTPS://bw.kp.test"]),
        "charter.bad_endpoint",
        id="url-scheme-upper-case",
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["https://"]),
        "charter.bad_endpoint",
        id="url-without-host",
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["https://u:p@bw.kp.test"]),
        "charter.bad_endpoint",
        id="url-with-credentials",
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["https://bw.kp.test/#x"]),
        "charter.bad_endpoint",
        id="url-with-fragment",
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["https://bw.kp.test/a b"]),
        "charter.bad_endpoint",
        id="url-with-space",
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["https://bw.kp.test:99999"]),
        "charter.bad_endpoint",
        id="url-bad-port",
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["https://b.kp/" + "x" * 188]),
        "charter.bad_endpoint",
        id="url-too-long",
    ),
    pytest.param(
        _set("participants.BW.endpoints", [f"https://{i}.kp.test" for i in range(9)]),
        "charter.bad_endpoint",
        id="nine-endpoints",
    ),
    pytest.param(
        _set("participants.BW.endpoints", ["https://bw.kp.test"] * 2),
        "charter.bad_endpoint",
        id="duplicate-endpoint",
    ),
    pytest.param(
        _set("policy.charter_threshold", 5),
        "charter.threshold_unreachable",
        id="threshold-above-governors",
    ),
    pytest.param(
        _suspend_all_but_one, "charter.threshold_unreachable", id="threshold-above-active-governors"
    ),
    pytest.param(_set("policy.charter_threshold", 0), "charter.bad_policy", id="threshold-zero"),
    pytest.param(
        _set("policy.witness_quorum", 5),
        "charter.quorum_unreachable",
        id="quorum-above-other-members",
    ),
    pytest.param(_set("policy.witness_quorum", -1), "charter.bad_policy", id="negative-quorum"),
    pytest.param(
        _set("policy.mass_tolerance_ppm", -1), "charter.bad_policy", id="negative-tolerance"
    ),
    pytest.param(
        _set("policy.mass_tolerance_ppm", 100_001),
        "charter.bad_policy",
        id="tolerance-above-10-percent",
    ),
    pytest.param(
        _set("policy.max_certificate_days", 0), "charter.bad_policy", id="certificate-days-zero"
    ),
    pytest.param(
        _set("policy.max_certificate_days", 3651),
        "charter.bad_policy",
        id="certificate-days-above-10-years",
    ),
    pytest.param(_set("policy.void_grace_days", -1), "charter.bad_policy", id="negative-grace"),
]


@pytest.mark.parametrize(("mutate", "code"), MALFORMED)
def test_malformed_charter_is_rejected_with_its_code(
    network: Network, mutate: Mutation, code: str
) -> None:
    value = copy.deepcopy(network.charter.to_value())
    mutate(value)
    with pytest.raises(CharterError) as info:
        Charter.from_value(value)
    assert info.value.code == code
    signed: dict[str, Value] = {"charter": value, "signatures": []}
    with pytest.raises(CharterError) as info:
        SignedCharter.parse(encode(signed))
    assert info.value.code == code


@pytest.mark.parametrize(
    ("member_id", "code"),
    [
        pytest.param("bw", "charter.bad_id", id="lower-case"),
        pytest.param("B", "charter.bad_id", id="one-letter"),
        pytest.param("ABCDEFGHI", "charter.bad_id", id="nine-letters"),
        pytest.param("B1", "charter.bad_id", id="digit"),
        pytest.param("BW\n", "charter.bad_id", id="trailing-newline"),
    ],
)
def test_malformed_member_id_is_rejected(network: Network, member_id: str, code: str) -> None:
    value = copy.deepcopy(network.charter.to_value())
    participants = value["participants"]
    assert isinstance(participants, dict)
    participants[member_id] = participants.pop("EU")
    with pytest.raises(CharterError) as info:
        Charter.from_value(value)
    assert info.value.code == code


def test_charter_too_large_to_sign_is_refused_when_built() -> None:
    endpoints = tuple(f"https://n{i}.kp.test/" + "x" * 170 for i in range(8))
    members = [
        new_member(f"P{chr(65 + i // 26)}{chr(65 + i % 26)}", endpoints=endpoints)
        for i in range(40)
    ]
    with pytest.raises(CharterError) as info:
        make_genesis(NETWORK, (m.participant for m in members), POLICY)
    assert info.value.code == "charter.too_large"


def test_a_participant_uses_three_distinct_keys(make_member: MakeMember) -> None:
    member = make_member("BW").participant
    with pytest.raises(CharterError) as info:
        replace(member, witness_key=member.log_key)
    assert info.value.code == "charter.duplicate_key"


def test_make_genesis_refuses_a_member_listed_twice(make_member: MakeMember) -> None:
    member = make_member("BW").participant
    with pytest.raises(CharterError) as info:
        make_genesis(NETWORK, [member, member], replace(POLICY, charter_threshold=1))
    assert info.value.code == "charter.duplicate_participant"


def test_charter_refuses_a_member_under_another_id(network: Network) -> None:
    participants = dict(network.charter.participants)
    participants["XX"] = participants["BW"]
    with pytest.raises(CharterError) as info:
        replace(network.charter, participants=participants)
    assert info.value.code == "charter.malformed"


SIGNATURE_MALFORMED: list[Any] = [
    pytest.param({"participant": "BW", "sig": bytes(63)}, "charter.malformed", id="sig-63-bytes"),
    pytest.param({"participant": "BW", "sig": "x" * 64}, "charter.malformed", id="sig-as-string"),
    pytest.param({"participant": "bw", "sig": bytes(64)}, "charter.bad_id", id="signer-lower-case"),
    pytest.param({"participant": "BW"}, "charter.malformed", id="sig-missing"),
    pytest.param(
        {"participant": "BW", "sig": bytes(64), "key": 1}, "charter.malformed", id="extra-field"
    ),
    pytest.param("BW", "charter.malformed", id="not-a-map"),
]


@pytest.mark.parametrize(("signature", "code"), SIGNATURE_MALFORMED)
def test_malformed_signature_is_rejected(network: Network, signature: object, code: str) -> None:
    value = {"charter": network.charter.to_value(), "signatures": [signature]}
    with pytest.raises(CharterError) as info:
        SignedCharter.parse(encode(value))  # type: ignore[arg-type]
    assert info.value.code == code


def test_a_participant_signs_at_most_twice(network: Network) -> None:
    bw = network.members["BW"]
    signed = sign_charter(network.charter, "BW", bw.governance)
    signed = sign_charter(signed, "BW", bw.rotated().governance)
    with pytest.raises(CharterError) as info:
        sign_charter(signed, "BW", crypto.generate_private_key())
    assert info.value.code == "charter.too_many_signatures"


def test_signing_twice_with_one_key_is_idempotent(network: Network) -> None:
    once = network.sign(network.charter, "BW")
    assert network.sign(once, "BW") == once
    assert len(once.signatures) == 1


def test_a_repeated_signature_is_refused(network: Network) -> None:
    signature = network.genesis.signatures[0]
    with pytest.raises(CharterError) as info:
        SignedCharter(network.charter, (signature, signature))
    assert info.value.code == "charter.duplicate_signature"


# --- genesis --------------------------------------------------------------------------------


def test_genesis_signed_by_every_member_verifies(network: Network) -> None:
    check = check_genesis(network.genesis, network.genesis.hash)
    assert check.ok
    assert check.failures == ()
    assert check.version == 1
    assert check.hash == network.genesis.hash
    assert "signed by all 5 members" in check.passed
    assert verify_genesis(network.genesis, network.genesis.hash) == network.charter


@pytest.mark.parametrize("missing", ["ZA", "WDC"], ids=["participant", "observer"])
def test_genesis_missing_one_signature_is_unsigned(network: Network, missing: str) -> None:
    others = [m for m in network.members if m != missing]
    signed = network.sign(network.charter, *others)
    check = check_genesis(signed, signed.hash)
    assert codes(check) == ["charter.unsigned"]
    assert missing in check.failures[0].message
    with pytest.raises(CharterError) as info:
        verify_genesis(signed, signed.hash)
    assert info.value.code == "charter.unsigned"


def test_genesis_needs_a_suspended_members_signature_too(make_network: MakeNetwork) -> None:
    network = make_network(suspended=["ZA"])
    assert check_genesis(network.genesis, network.genesis.hash).ok
    signed = network.sign(network.charter, "BW", "EU", "IN", "WDC")
    assert codes(check_genesis(signed, signed.hash)) == ["charter.unsigned"]


def test_genesis_with_a_forged_signature_fails(network: Network) -> None:
    others = [m for m in network.members if m != "IN"]
    signed = sign_charter(
        network.sign(network.charter, *others), "IN", Ed25519PrivateKey.generate()
    )
    check = check_genesis(signed, signed.hash)
    assert codes(check) == ["charter.bad_signature", "charter.unsigned"]


def test_genesis_with_a_mutated_signature_byte_fails(network: Network) -> None:
    first = network.genesis.signatures[0]
    flipped = CharterSignature(first.participant, bytes([first.sig[0] ^ 1]) + first.sig[1:])
    signed = SignedCharter(network.charter, (flipped, *network.genesis.signatures[1:]))
    check = check_genesis(signed, signed.hash)
    assert "charter.bad_signature" in codes(check)
    assert not check.ok


def test_genesis_with_an_unknown_signer_fails(network: Network) -> None:
    signed = sign_charter(network.genesis, "XX", Ed25519PrivateKey.generate())
    assert codes(check_genesis(signed, signed.hash)) == ["charter.unknown_signer"]


def test_genesis_of_another_network_is_refused(network: Network) -> None:
    check = check_genesis(network.genesis, hashlib.sha256(b"another network").digest())
    assert codes(check) == ["charter.wrong_network"]
    with pytest.raises(CharterError) as info:
        verify_genesis(network.genesis, bytes(32))
    assert info.value.code == "charter.wrong_network"


def test_a_later_version_is_not_a_genesis(network: Network) -> None:
    successor = network.sign(make_successor(network.charter), *network.members)
    check = check_genesis(successor, successor.hash)
    assert codes(check) == ["charter.not_genesis"]


def test_check_lists_every_failure_and_verify_raises_the_first(network: Network) -> None:
    signed = network.sign(network.charter, "BW")
    check = check_genesis(signed, bytes(32))
    assert codes(check) == ["charter.wrong_network", "charter.unsigned"]
    assert not check.ok
    assert any("version 1" in line for line in check.passed)
    with pytest.raises(CharterError) as info:
        verify_genesis(signed, bytes(32))
    assert info.value.code == check.failures[0].code


def test_a_check_that_checked_nothing_is_not_ok() -> None:
    assert not CharterCheck(1, bytes(32), (), ()).ok
    assert CharterCheck(1, bytes(32), ("something",), ()).ok


# --- successors -----------------------------------------------------------------------------


def test_successor_signed_by_threshold_on_both_sides_verifies(network: Network) -> None:
    candidate = network.sign(make_successor(network.charter), "BW", "EU")
    check = check_successor(network.charter, candidate)
    assert check.ok, check.failures
    assert check.version == 2
    assert check.hash == candidate.hash
    assert verify_successor(network.charter, candidate) == candidate.charter
    assert candidate.charter.previous == network.charter.hash


def test_successor_with_too_few_old_signatures_fails(network: Network) -> None:
    candidate = network.sign(make_successor(network.charter), "BW")
    check = check_successor(network.charter, candidate)
    assert codes(check) == ["charter.threshold_not_met", "charter.threshold_not_met"]
    assert "current version 1 requires 2" in check.failures[0].message
    with pytest.raises(CharterError) as info:
        verify_successor(network.charter, candidate)
    assert info.value.code == "charter.threshold_not_met"


def test_successor_with_too_few_new_signatures_after_admitting_members(
    network: Network, make_member: MakeMember
) -> None:
    newcomers = [make_member("AO"), make_member("CD")]
    successor = make_successor(
        network.charter,
        participants=participants_with(network.charter, *newcomers),
        policy=replace(POLICY, charter_threshold=4),
    )
    candidate = network.sign(successor, "BW", "EU")
    check = check_successor(network.charter, candidate)
    assert codes(check) == ["charter.threshold_not_met"]
    assert "candidate version 2 requires 4" in check.failures[0].message
    for newcomer in newcomers:
        candidate = sign_charter(candidate, newcomer.id, newcomer.governance)
    assert check_successor(network.charter, candidate).ok


def test_rotating_participant_signing_with_both_keys_counts_on_both_sides(
    network: Network,
) -> None:
    old_bw = network.members["BW"]
    new_bw = old_bw.rotated()
    successor = make_successor(
        network.charter, participants=participants_with(network.charter, new_bw)
    )
    # BW alone with both keys is one governor per side, short of the threshold of 2.
    alone = sign_charter(sign_charter(successor, "BW", old_bw.governance), "BW", new_bw.governance)
    assert codes(check_successor(network.charter, alone)) == ["charter.threshold_not_met"] * 2
    # With EU, whose key is unchanged, both sides reach 2.
    both = network.sign(alone, "EU")
    assert check_successor(network.charter, both).ok
    # Only the new key: the current version does not know it.
    new_only = network.sign(sign_charter(successor, "BW", new_bw.governance), "EU")
    check = check_successor(network.charter, new_only)
    assert codes(check) == ["charter.threshold_not_met"]
    assert "current" in check.failures[0].message
    # Only the old key: the candidate does not know it.
    old_only = network.sign(sign_charter(successor, "BW", old_bw.governance), "EU")
    check = check_successor(network.charter, old_only)
    assert codes(check) == ["charter.threshold_not_met"]
    assert "candidate" in check.failures[0].message


def test_a_suspended_participants_signature_does_not_count(make_network: MakeNetwork) -> None:
    network = make_network(suspended=["ZA"])
    candidate = network.sign(make_successor(network.charter), "BW", "ZA")
    check = check_successor(network.charter, candidate)
    assert codes(check) == ["charter.threshold_not_met"] * 2
    assert "(BW)" in check.failures[0].message


def test_an_observers_signature_does_not_count(network: Network) -> None:
    candidate = network.sign(make_successor(network.charter), "BW", "WDC")
    check = check_successor(network.charter, candidate)
    assert codes(check) == ["charter.threshold_not_met"] * 2
    assert check.failures[0].message.endswith("got 1 (BW)")


def test_a_participant_suspended_by_the_candidate_counts_only_on_the_old_side(
    network: Network,
) -> None:
    successor = make_successor(
        network.charter, participants=with_status(network.charter.participants, "ZA", "suspended")
    )
    candidate = network.sign(successor, "BW", "ZA")
    check = check_successor(network.charter, candidate)
    assert codes(check) == ["charter.threshold_not_met"]
    assert "candidate" in check.failures[0].message
    assert check_successor(network.charter, network.sign(candidate, "EU")).ok


def test_a_removed_member_signs_for_the_old_side(network: Network) -> None:
    remaining = {k: v for k, v in network.charter.participants.items() if k != "IN"}
    candidate = network.sign(make_successor(network.charter, participants=remaining), "IN", "BW")
    # IN counts for the current version (2 of 2) but is no governor of the candidate (1 of 2).
    assert codes(check_successor(network.charter, candidate)) == ["charter.threshold_not_met"]
    assert check_successor(network.charter, network.sign(candidate, "EU")).ok


def test_a_bad_signature_fails_the_successor_even_above_threshold(network: Network) -> None:
    candidate = network.sign(make_successor(network.charter), "BW", "EU", "IN")
    candidate = sign_charter(candidate, "ZA", Ed25519PrivateKey.generate())
    assert codes(check_successor(network.charter, candidate)) == ["charter.bad_signature"]


def test_a_signer_of_neither_version_is_unknown(network: Network) -> None:
    candidate = network.sign(make_successor(network.charter), "BW", "EU")
    candidate = sign_charter(candidate, "XX", Ed25519PrivateKey.generate())
    assert codes(check_successor(network.charter, candidate)) == ["charter.unknown_signer"]


def test_a_version_gap_is_refused(network: Network) -> None:
    skipped = replace(make_successor(network.charter), version=3)
    check = check_successor(network.charter, network.sign(skipped, "BW", "EU"))
    assert codes(check) == ["charter.version_gap"]


def test_a_wrong_previous_hash_is_refused(network: Network) -> None:
    forked = replace(make_successor(network.charter), previous=bytes(32))
    check = check_successor(network.charter, network.sign(forked, "BW", "EU"))
    assert codes(check) == ["charter.wrong_previous"]


def test_a_successor_on_another_network_is_refused(network: Network) -> None:
    moved = replace(make_successor(network.charter), network="other.test")
    check = check_successor(network.charter, network.sign(moved, "BW", "EU"))
    assert codes(check) == ["charter.wrong_network"]
    with pytest.raises(CharterError) as info:
        verify_successor(network.charter, network.sign(moved, "BW", "EU"))
    assert info.value.code == "charter.wrong_network"


def test_with_status_refuses_unknown_members_and_statuses(network: Network) -> None:
    with pytest.raises(CharterError) as info:
        with_status(network.charter.participants, "XX", "suspended")
    assert info.value.code == "charter.unknown_participant"
    with pytest.raises(CharterError) as info:
        with_status(network.charter.participants, "BW", "expelled")
    assert info.value.code == "charter.bad_status"


# --- chains ---------------------------------------------------------------------------------


def test_chain_admit_suspend_rotate_returns_the_last_version(
    network: Network, make_member: MakeMember
) -> None:
    angola = make_member("AO")
    v2 = make_successor(network.charter, participants=participants_with(network.charter, angola))
    signed_v2 = sign_charter(network.sign(v2, "BW", "EU"), "AO", angola.governance)

    v3 = make_successor(v2, participants=with_status(v2.participants, "IN", "suspended"))
    signed_v3 = network.sign(v3, "BW", "ZA")

    old_eu = network.members["EU"]
    new_eu = old_eu.rotated()
    v4 = make_successor(v3, participants=participants_with(v3, new_eu))
    signed_v4 = sign_charter(
        sign_charter(network.sign(v4, "ZA"), "EU", old_eu.governance), "EU", new_eu.governance
    )

    chain = [network.genesis, signed_v2, signed_v3, signed_v4]
    latest = verify_chain(chain, network.genesis.hash)
    assert latest == v4
    assert latest.version == 4
    assert latest.participants["AO"] == angola.participant
    assert not latest.is_active("IN")
    assert latest.participants["EU"].governance_key == new_eu.participant.governance_key
    assert verify_chain(chain[:1], network.genesis.hash) == network.charter


def test_chain_with_a_broken_link_is_refused(network: Network) -> None:
    v2 = make_successor(network.charter)
    v3 = make_successor(v2)
    chain = [network.genesis, network.sign(v2, "BW"), network.sign(v3, "BW", "EU")]
    with pytest.raises(CharterError) as info:
        verify_chain(chain, network.genesis.hash)
    assert info.value.code == "charter.threshold_not_met"
    with pytest.raises(CharterError) as info:
        verify_chain([network.genesis, chain[2]], network.genesis.hash)
    assert info.value.code == "charter.version_gap"


def test_chain_from_the_wrong_genesis_is_refused(network: Network) -> None:
    with pytest.raises(CharterError) as info:
        verify_chain([network.genesis], bytes(32))
    assert info.value.code == "charter.wrong_network"


def test_empty_chain_is_refused(network: Network) -> None:
    with pytest.raises(CharterError) as info:
        verify_chain([], network.genesis.hash)
    assert info.value.code == "charter.empty_chain"


# --- participant key files ------------------------------------------------------------------


def test_participant_key_file_round_trip(make_member: MakeMember) -> None:
    member = make_member(
        "WDC", kind="observer", endpoints=("https://wdc.kp.test", "http://10.0.0.1:8080")
    ).participant
    text = participant_key_file(member)
    document = json.loads(text)
    assert list(document) == sorted(document)
    assert text == json.dumps(document, sort_keys=True, indent=2) + "\n"
    assert base64.b64decode(document["governance_key"]) == member.governance_key
    assert parse_participant_key_file(text) == member


def test_a_key_file_admits_a_member_as_active(make_member: MakeMember) -> None:
    suspended = make_member("ZA", status="suspended").participant
    parsed = parse_participant_key_file(participant_key_file(suspended))
    assert parsed.status == "active"
    assert parsed == replace(suspended, status="active")


def _key_file_document() -> dict[str, Any]:
    return json.loads(participant_key_file(new_member("BW").participant))  # type: ignore[no-any-return]


def _edit(change: Callable[[dict[str, Any]], object]) -> str:
    document = _key_file_document()
    change(document)
    return json.dumps(document)


_NON_CANONICAL_B64 = base64.b64encode(bytes(32))[:-2].decode() + "B="  # non-zero pad bits

KEY_FILE_MALFORMED: list[Any] = [
    pytest.param("not json", "charter.key_file_malformed", id="not-json"),
    pytest.param("[]", "charter.key_file_malformed", id="array"),
    pytest.param('{"id": "BW", "id": "EU"}', "charter.key_file_malformed", id="duplicate-key"),
    pytest.param(
        _edit(lambda d: d.pop("witness_key")), "charter.key_file_malformed", id="missing-field"
    ),
    pytest.param(
        _edit(lambda d: d.update(status="active")), "charter.key_file_malformed", id="status-field"
    ),
    pytest.param(
        _edit(lambda d: d.update(name=7)), "charter.key_file_malformed", id="number-as-name"
    ),
    pytest.param(
        _edit(lambda d: d.update(name=None)), "charter.key_file_malformed", id="null-name"
    ),
    pytest.param(
        _edit(lambda d: d.update(endpoints="https://x.test")),
        "charter.key_file_malformed",
        id="endpoints-not-list",
    ),
    pytest.param(
        _edit(lambda d: d.update(endpoints=[1])),
        "charter.key_file_malformed",
        id="endpoint-not-string",
    ),
    pytest.param(
        _edit(lambda d: d.update(log_key="not base64!")),
        "charter.key_file_malformed",
        id="key-not-base64",
    ),
    pytest.param(
        _edit(lambda d: d.update(log_key=_NON_CANONICAL_B64)),
        "charter.key_file_malformed",
        id="key-non-canonical-base64",
    ),
    pytest.param(
        _edit(lambda d: d.update(log_key=base64.b64encode(bytes(31)).decode())),
        "charter.bad_key",
        id="key-31-bytes",
    ),
    pytest.param(_edit(lambda d: d.update(id="bw")), "charter.bad_id", id="bad-id"),
    pytest.param(_edit(lambda d: d.update(kind="auditor")), "charter.bad_kind", id="bad-kind"),
    pytest.param(
        _edit(lambda d: d.update(endpoints=["gopher://bw.test"])),
        "charter.bad_endpoint",
        id="bad-url",
    ),
    pytest.param('{"id": NaN}', "charter.key_file_malformed", id="nan"),
    pytest.param(" " * (MAX_KEY_FILE_SIZE + 1), "charter.key_file_too_large", id="too-large"),
]


@pytest.mark.parametrize(("text", "code"), KEY_FILE_MALFORMED)
def test_malformed_key_file_is_rejected(text: str, code: str) -> None:
    with pytest.raises(CharterError) as info:
        parse_participant_key_file(text)
    assert info.value.code == code


def test_load_participant_key_files_reads_in_order(tmp_path: Path, make_member: MakeMember) -> None:
    members = [make_member(pid).participant for pid in ("ZA", "BW")]
    paths = []
    for member in members:
        path = tmp_path / f"{member.id}.json"
        path.write_text(participant_key_file(member), encoding="utf-8")
        paths.append(path)
    assert load_participant_key_files(paths) == members
    genesis = make_genesis(
        NETWORK, load_participant_key_files(paths), replace(POLICY, charter_threshold=1)
    )
    assert list(genesis.participants) == ["BW", "ZA"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        pytest.param(None, "charter.key_file_unreadable", id="missing"),
        pytest.param(b"\xff\xfe{}", "charter.key_file_unreadable", id="not-utf8"),
        pytest.param(b" " * (MAX_KEY_FILE_SIZE + 1), "charter.key_file_too_large", id="too-large"),
        pytest.param(b"{}", "charter.key_file_malformed", id="empty-object"),
    ],
)
def test_load_participant_key_files_refuses_bad_files(
    tmp_path: Path, content: bytes | None, code: str
) -> None:
    path = tmp_path / "member.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CharterError) as info:
        load_participant_key_files([path])
    assert info.value.code == code


# --- surface --------------------------------------------------------------------------------


def test_module_exports_its_public_names() -> None:
    exported = set(charter_module.__all__)
    assert len(exported) == len(charter_module.__all__)
    assert all(hasattr(charter_module, name) for name in exported)
    public = {
        name
        for name, value in vars(charter_module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == "node.core.charter"
        and callable(value)
    }
    assert public <= exported


# --- disclosure keys (decision 0041) --------------------------------------------------------


def _disclosure_key() -> bytes:
    return X25519PrivateKey.generate().public_key().public_bytes_raw()


def test_a_member_without_a_disclosure_key_encodes_as_before(make_member: MakeMember) -> None:
    member = make_member("BW").participant
    assert "disclosure_key" not in member.to_value()
    assert "disclosure_key" not in json.loads(participant_key_file(member))


def test_a_disclosure_key_round_trips_through_charter_and_key_file(
    make_member: MakeMember,
) -> None:
    member = replace(make_member("BW").participant, disclosure_key=_disclosure_key())
    genesis = make_genesis(NETWORK, [member, new_member("EU").participant], POLICY)
    again = Charter.from_value(decode(encode(genesis.to_value()), max_size=MAX_CHARTER_SIZE))
    assert again == genesis
    assert again.participants["BW"].disclosure_key == member.disclosure_key
    assert again.participants["EU"].disclosure_key is None
    document = json.loads(participant_key_file(member))
    assert base64.b64decode(document["disclosure_key"]) == member.disclosure_key
    assert parse_participant_key_file(participant_key_file(member)) == member


@pytest.mark.parametrize(
    ("key", "code"),
    [
        pytest.param(bytes(31), "charter.bad_key", id="short"),
        pytest.param(bytes(33), "charter.bad_key", id="long"),
        pytest.param("a" * 32, "charter.malformed", id="not-bytes"),
    ],
)
def test_a_malformed_disclosure_key_is_refused(
    make_member: MakeMember, key: Any, code: str
) -> None:
    with pytest.raises(CharterError) as caught:
        replace(make_member("BW").participant, disclosure_key=key)
    assert caught.value.code == code


def test_a_disclosure_key_of_the_wrong_type_in_a_charter_map_is_refused(
    make_member: MakeMember,
) -> None:
    value = make_member("BW").participant.to_value() | {"disclosure_key": "AAAA"}
    with pytest.raises(CharterError) as caught:
        Participant.from_value("BW", value)
    assert caught.value.code == "charter.malformed"


def test_two_members_may_not_share_a_disclosure_key(make_member: MakeMember) -> None:
    shared = _disclosure_key()
    bw = replace(make_member("BW").participant, disclosure_key=shared)
    eu = replace(make_member("EU").participant, disclosure_key=shared)
    with pytest.raises(CharterError) as caught:
        make_genesis(NETWORK, [bw, eu], POLICY)
    assert caught.value.code == "charter.duplicate_key"


def test_a_non_canonical_disclosure_key_in_a_key_file_is_refused() -> None:
    document = _key_file_document()
    document["disclosure_key"] = base64.b64encode(_disclosure_key()).decode()[:-1] + "B"
    with pytest.raises(CharterError) as caught:
        parse_participant_key_file(json.dumps(document))
    assert caught.value.code in {"charter.key_file_malformed", "charter.bad_key"}
