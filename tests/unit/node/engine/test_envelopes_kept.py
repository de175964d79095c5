"""``replica.keep_envelopes``: a peer's envelopes are kept only when well-formed, addressed as the
policy says, and, addressed to this node, opening against the entry (decision 0041)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.core.encoding import encode
from node.core.envelope import (
    SUITE,
    encode_envelopes,
    envelope_info,
    parse_envelopes,
)
from node.core.records import EntryRef
from node.core.sealing import encode_disclosures, seal
from node.engine.replica import KeptEnvelopes, keep_envelopes
from tests.support.world import NETWORK, World


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = World(store=tmp_path / "store")
    world.setup_log("BW")
    world.setup_log("EU", mine=False)
    return world


def _certificate(world: World) -> tuple[EntryRef, bytes]:
    """A certificate BW → EU; its envelopes taken out of the store, as a replica lacks them."""
    parcel = world.produce("BW", 100_000, holder="trader")
    ref = world.certify("BW", "BW-2026-0001", [parcel], "EU")
    assert world.store is not None
    with world.store.write() as writer:
        raw = writer.get("envelopes", ref.hash)
        writer.delete("envelopes", ref.hash)
    assert raw is not None
    return ref, raw


def _keep(
    world: World, seq: int, raw: bytes, *, member: str = "EU", key: X25519PrivateKey | None = None
) -> tuple[KeptEnvelopes, bytes | None]:
    assert world.store is not None
    with world.store.write() as writer:
        kept = keep_envelopes(
            writer,
            "BW",
            {seq: raw},
            network=NETWORK,
            participant=member,
            keys=(key or world.members[member].disclosure_key,),
        )
    with world.store.read() as reader:
        log = reader.log("BW")
        return kept, reader.get("envelopes", log.leaf_hash(seq)) if seq < log.size() else None


def test_well_formed_envelopes_that_open_here_are_kept(world: World) -> None:
    ref, raw = _certificate(world)
    kept, stored = _keep(world, ref.seq, raw)
    assert kept == KeptEnvelopes(stored=(ref.seq,))
    assert stored == raw
    # Already held: passed over, the first stays.
    assert _keep(world, ref.seq, raw)[0] == KeptEnvelopes()


def test_an_envelope_to_this_node_that_does_not_open_is_refused(world: World) -> None:
    ref, raw = _certificate(world)
    envelopes = parse_envelopes(raw)
    # Encrypted to EU for this very entry, of values the record does not commit to.
    _, other = seal(
        {"value_usd_cents": 1, "exporter_name": "x", "importer_name": "y"} | {"seal_number": "z"}
    )
    info = envelope_info(NETWORK, ref.hash, "EU")
    eu_key = world.members["EU"].disclosure_key.public_key()
    forged = envelopes | {"EU": SUITE.encrypt(encode_disclosures(other), eu_key, info=info)}
    kept, stored = _keep(world, ref.seq, encode_envelopes(forged))
    assert kept.refused == ((ref.seq, "envelope.invalid"),)
    assert stored is None


def test_a_tampered_envelope_to_this_node_is_refused(world: World) -> None:
    ref, raw = _certificate(world)
    envelopes = parse_envelopes(raw)
    tampered = bytearray(envelopes["EU"])
    tampered[-1] ^= 1
    kept, stored = _keep(world, ref.seq, encode_envelopes(envelopes | {"EU": bytes(tampered)}))
    assert kept.refused == ((ref.seq, "envelope.invalid"),)
    assert stored is None


def test_an_envelope_to_another_is_kept_unopened(world: World) -> None:
    """IN cannot open BW's or EU's envelopes; it keeps them for them."""
    ref, raw = _certificate(world)
    kept, stored = _keep(world, ref.seq, raw, member="IN")
    assert kept.stored == (ref.seq,)
    assert stored == raw


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param("stray", "envelope.not_recipient", id="addressed-beyond-the-policy"),
        pytest.param("garbage", "envelope.malformed", id="not-envelopes"),
    ],
)
def test_envelopes_not_of_their_form_are_refused(world: World, change: str, code: str) -> None:
    ref, raw = _certificate(world)
    envelopes = parse_envelopes(raw)
    served = (
        encode_envelopes(envelopes | {"IN": envelopes["EU"]})
        if change == "stray"
        else encode(["not", "envelopes"])
    )
    kept, stored = _keep(world, ref.seq, served, member="IN")
    assert kept.refused == ((ref.seq, code),)
    assert stored is None


def test_envelopes_of_entries_not_held_are_passed_over(world: World) -> None:
    ref, raw = _certificate(world)
    assert _keep(world, ref.seq + 100, raw)[0] == KeptEnvelopes()
