"""Replicas: entries fetched from anywhere are written only if they hash to the signed root and
every one of them passes the rules; a rule-breaking entry becomes evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto, merkle, notes
from node.core.errors import InvalidEntryError, QuarantinedError, ReplicaMismatchError
from node.core.records import LOG_SIGNER, Entry
from node.core.state import LedgerState, LedgerView
from node.engine.replica import (
    clear_quarantine,
    extend,
    list_evidence,
    quarantined,
    record_evidence,
    verify_ahead,
)
from node.engine.store import Store
from tests.support.scenario import run_scenario
from tests.support.world import NETWORK, World


def _export(world: World, log: str) -> tuple[list[bytes], notes.SignedCheckpoint]:
    assert world.store is not None
    with world.store.read() as reader:
        source = reader.log(log)
        size = source.size()
        entries = list(source.entries(0, size))
        latest = source.latest_checkpoint()
    assert latest is not None
    signed = notes.SignedCheckpoint.parse(latest[1])
    origin = f"{NETWORK}/{log}"
    signed.verify(
        [crypto.verifier_key(origin, world.members[log].log_key.public_key())], origin=origin
    )
    return entries, signed


@pytest.fixture
def origin(tmp_path: Path) -> World:
    world = World(store=tmp_path / "origin")
    run_scenario(world)
    return world


@pytest.fixture
def replica(tmp_path: Path, origin: World) -> Store:
    store = Store.open(tmp_path / "replica", map_size=1 << 30)
    with store.write() as writer:
        LedgerState(writer, writer).put_charter(origin.genesis)
    return store


def test_replaying_every_log_rebuilds_the_same_state(origin: World, replica: Store) -> None:
    pending_seen = False
    remaining = ["IN", "AE", "EU", "CA", "BW"]  # the worst order: importers before exporters
    for _ in range(10):
        for log in list(remaining):
            entries, signed = _export(origin, log)
            with replica.read() as reader:
                have = reader.log(log).size()
            with replica.write() as writer:
                done = extend(writer, log, signed, entries[have:])
            if done.pending is None:
                remaining.remove(log)
            else:
                pending_seen = True
                assert done.pending.code == "reference.unknown"
    assert not remaining
    assert pending_seen, "importers had to wait for exporters"
    with replica.read() as reader, origin.read_state() as expected:
        got = LedgerView(reader, reader)
        for log in ("BW", "CA", "EU", "AE", "IN"):
            assert reader.log(log).root(reader.log(log).size()) == _export(origin, log)[1].root
            assert got.head(log) == expected.head(log)
            for op in expected.operators(log):
                assert got.operator(log, op.operator) == op
    # Every state table, byte for byte: state is a function of the logs.
    assert origin.store is not None
    with replica.read() as got, origin.store.read() as expected:
        for table in ("heads", "operators", "parcels", "certificates", "numbers", "adoptions"):
            assert dict(got.scan(table, b"")) == dict(expected.scan(table, b"")), table
    origin.close()
    replica.close()


def test_entries_that_do_not_hash_to_the_signed_root_change_nothing(
    origin: World, replica: Store
) -> None:
    entries, signed = _export(origin, "BW")
    tampered = list(entries)
    tampered[3] = tampered[3][:-1] + bytes([tampered[3][-1] ^ 1])
    with pytest.raises(ReplicaMismatchError), replica.write() as writer:
        extend(writer, "BW", signed, tampered)
    with pytest.raises(ReplicaMismatchError), replica.write() as writer:
        extend(writer, "BW", signed, entries[:-1])
    with replica.read() as reader:
        assert reader.log("BW").size() == 0
    origin.close()
    replica.close()


def test_a_signed_entry_that_breaks_a_rule_is_evidence(tmp_path: Path) -> None:
    world = World(store=tmp_path / "liar")
    world.setup_log("BW")
    assert world.store is not None
    # The liar appends, bypassing its own rules, a production by an operator it never
    # registered, and signs a checkpoint over it.
    signed, _ = world.signed_record(
        "BW",
        "parcel.produce",
        {
            "parcel": "FAKE",
            "mine": "ghost",
            "produced_on": world.today,
            "centicarats": 10**9,
            "hs_code": "7102.10",
            "holder": "trader",
        },
        by=LOG_SIGNER,
    )
    with world.store.write() as writer:
        log = writer.log("BW")
        size = log.size()
        entry = Entry(seq=size, prev=log.leaf_hash(size - 1), time=world.time, signed=signed)
        log.append(entry.encode(), signed.record_hash)
        text = notes.Checkpoint(f"{NETWORK}/BW", size + 1, log.root(size + 1)).to_text()
        log.put_checkpoint(
            size + 1, notes.sign_note(text, f"{NETWORK}/BW", world.members["BW"].log_key)
        )
    entries, signed = _export(world, "BW")
    replica = Store.open(tmp_path / "honest", map_size=1 << 30)
    with replica.write() as writer:
        LedgerState(writer, writer).put_charter(world.genesis)
    with pytest.raises(InvalidEntryError) as found, replica.write() as writer:
        extend(writer, "BW", signed, entries)
    evidence = found.value.evidence
    assert evidence.code == "mine.unknown"
    assert evidence.material["seq"] == size
    # The evidence stands on its own: the entry is in the signed tree.
    proof = evidence.material["proof"]
    assert isinstance(proof, list)
    merkle.verify_inclusion(merkle.leaf_hash(entries[size]), size, signed.size, proof, signed.root)  # type: ignore[arg-type]
    with replica.write() as writer:
        assert record_evidence(writer, evidence)
        assert not record_evidence(writer, evidence)
    with replica.read() as reader:
        assert quarantined(reader, "BW")
        assert reader.log("BW").size() == 0
        [stored] = list_evidence(reader)
        assert stored["code"] == "mine.unknown"
    with pytest.raises(QuarantinedError), replica.write() as writer:
        extend(writer, "BW", signed, entries[:size])
    with replica.write() as writer:
        assert clear_quarantine(writer, "BW")
    world.close()
    replica.close()


def test_signatures_verified_ahead_give_the_same_replica(origin: World, replica: Store) -> None:
    entries, signed = _export(origin, "BW")
    keys = {op: key.public_key() for (log, op), key in origin.operator_keys.items() if log == "BW"}
    raw_keys = {op: {crypto.public_key_bytes(k)} for op, k in keys.items()}
    raw_keys[LOG_SIGNER] = {crypto.public_key_bytes(origin.members["BW"].log_key)}
    ahead = verify_ahead(entries, raw_keys)
    # Every signature of the log verified ahead (all its signers were known up front).
    assert len(ahead) == sum(len(Entry.parse(e).signed.sigs) for e in entries)
    with replica.write() as writer:
        done = extend(writer, "BW", signed, entries, verified=lambda offset: ahead)
    assert done.size == signed.size
    origin.close()
    replica.close()


def test_a_verified_triple_never_covers_another_payload(tmp_path: Path) -> None:
    world = World(store=tmp_path / "liar")
    world.setup_log("BW")
    assert world.store is not None
    stranger = Ed25519PrivateKey.generate()
    genuine, _ = world.signed_record(
        "BW",
        "parcel.produce",
        {
            "parcel": "P-1",
            "mine": "mine",
            "produced_on": world.today,
            "centicarats": 5,
            "hs_code": "7102.10",
            "holder": "mine",
        },
        by="mine",
    )
    forged, _ = world.signed_record(
        "BW",
        "parcel.produce",
        {
            "parcel": "P-2",
            "mine": "mine",
            "produced_on": world.today,
            "centicarats": 5,
            "hs_code": "7102.10",
            "holder": "mine",
        },
        by="mine",
        key=stranger,
    )
    with world.store.write() as writer:
        log = writer.log("BW")
        size = log.size()
        entry = Entry(seq=size, prev=log.leaf_hash(size - 1), time=world.time, signed=forged)
        log.append(entry.encode(), forged.record_hash)
        text = notes.Checkpoint(f"{NETWORK}/BW", size + 1, log.root(size + 1)).to_text()
        log.put_checkpoint(
            size + 1, notes.sign_note(text, f"{NETWORK}/BW", world.members["BW"].log_key)
        )
    entries, signed = _export(world, "BW")
    mine = crypto.public_key_bytes(world.operator_keys[("BW", "mine")])
    # A triple for the genuine record, and one pairing the forged signature with the genuine
    # record: neither may let the forged entry through.
    lies = {
        (mine, genuine.sigs[0].sig, genuine.record_hash),
        (mine, forged.sigs[0].sig, genuine.record_hash),
    }
    replica = Store.open(tmp_path / "honest", map_size=1 << 30)
    with replica.write() as writer:
        LedgerState(writer, writer).put_charter(world.genesis)
    with pytest.raises(InvalidEntryError) as found, replica.write() as writer:
        extend(writer, "BW", signed, entries, verified=lambda offset: lies)
    assert found.value.evidence.code == "signature.invalid"
    assert verify_ahead(entries[size:], {"mine": {mine}}) == frozenset()
    world.close()
    replica.close()
