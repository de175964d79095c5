"""The statistics index (node/engine/statistics.py) on real LMDB stores: the rows the sequencer
and the replica write as entries apply are those a full replay makes, they survive reopening,
a store without them gets them rebuilt, pages are bounded and digests agree across stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client.audit import replay_logs
from client.stats import compute_statistics, parse_period, replayed_movements
from node.core.errors import RecordError
from node.core.movements import Movement, chain_digest
from node.core.notes import SignedCheckpoint
from node.core.records import EntryRef
from node.core.state import LedgerState
from node.engine import statistics
from node.engine.replica import extend
from node.engine.store import Store
from tests.support.scenario import run_scenario
from tests.support.world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The scenario, then a mixed certificate, a rejected and voided one, one awaiting."""
    world = World(store=tmp_path / "store")
    run_scenario(world)
    parcels = [
        world.produce("BW", 60_000, hs_code="7102.21"),
        world.produce("BW", 40_000, hs_code="7102.31"),
        world.produce("BW", 5_000),
        world.produce("BW", 7_000),
    ]
    for parcel in parcels:
        world.transfer(parcel, "trader", by="mine")
    mixed = world.certify("BW", "BW-2026-0042", parcels[:2], "EU")
    world.confirm("EU", mixed, [("EU-M1", 60_000, "7102.21"), ("EU-M2", 40_000, "7102.31")])
    refused = world.certify("BW", "BW-2026-0043", [parcels[2]], "EU")
    rejection = world.append(
        "EU",
        "certificate.reject",
        {"certificate": refused.to_value(), "reason": "seal broken"},
        by="officer",
    )
    world.append(
        "BW",
        "certificate.void",
        {
            "certificate": refused.to_value(),
            "reason": "rejected",
            "evidence": EntryRef("EU", rejection.seq, rejection.hash).to_value(),
        },
        by="officer",
    )
    world.certify("BW", "BW-2026-0044", [parcels[3]], "IN")
    yield world
    world.close()


def logs_of(store: Store) -> dict[str, list[bytes]]:
    with store.read() as reader:
        return {
            log: list(reader.log(log).entries(0, reader.log_size(log))) for log in reader.logs()
        }


def indexed(store: Store) -> list[Movement]:
    with store.read() as reader:
        return list(statistics.movements(reader))


def replayed(world: World, store: Store) -> list[Movement]:
    replay = replay_logs([world.genesis], world.genesis.hash, logs_of(store))
    assert replay.findings == ()
    rows = replayed_movements(replay.accepted, replay.state)
    return sorted(rows, key=lambda m: (m.entry.log, m.entry.seq))


def test_the_index_holds_what_the_replay_finds(world: World) -> None:
    assert world.store is not None
    rows = indexed(world.store)
    assert rows == replayed(world, world.store)
    assert [m.kind for m in rows].count("export") == 8
    assert {m.kind for m in rows} == {"production", "export", "import", "reject", "void"}
    [mixed] = [m for m in rows if m.number == "BW-2026-0042" and m.kind == "export"]
    assert mixed.by_hs_code == (("7102.21", 60_000), ("7102.31", 40_000))
    assert mixed.centicarats == 100_000


def test_the_index_and_the_replay_give_the_same_tables(world: World) -> None:
    assert world.store is not None
    period = parse_period(year="2026")
    a = compute_statistics(indexed(world.store), period, today=world.today)
    b = compute_statistics(replayed(world, world.store), period, today=world.today)
    assert [t.to_json() for t in a.tables()] == [t.to_json() for t in b.tables()]
    assert a.to_json() == b.to_json()
    assert [w.number for w in a.awaiting] == ["BW-2026-0044"]


def test_the_index_survives_reopening_and_a_lost_index_is_rebuilt(
    world: World, tmp_path: Path
) -> None:
    assert world.store is not None
    before = indexed(world.store)
    backup = tmp_path / "backup"
    world.store.backup(backup)
    store = Store.open(backup, map_size=1 << 30)
    try:
        assert indexed(store) == before
        assert statistics.ensure_index(store) == len(before)  # never marked built: rebuilt
        assert statistics.ensure_index(store) is None  # and only once
        with store.write() as writer:  # an index lost, or from before there was one
            for key, _ in list(writer.scan("movements", b"")):
                writer.delete("movements", key)
            writer.delete("statistics", b"built")
        assert indexed(store) == []
        assert statistics.ensure_index(store) == len(before)
        assert indexed(store) == before
    finally:
        store.close()


def test_a_replica_indexes_what_it_replicates(world: World, tmp_path: Path) -> None:
    """Every log extended into an empty store, as a peer or a restoring node would: the rows
    and the digests are the origin store's."""
    assert world.store is not None
    replica = Store.open(tmp_path / "replica", map_size=1 << 30)
    try:
        with replica.write() as writer:
            LedgerState(writer, writer).put_charter(world.genesis)
        with world.store.read() as reader:
            notes = {log: reader.log(log).latest_checkpoint() for log in reader.logs()}
        logs = logs_of(world.store)
        done: set[str] = set()
        while len(done) < len(logs):
            for log, entries in sorted(logs.items()):
                if log in done:
                    continue
                with replica.write() as writer:
                    held = writer.log_size(log)
                    _, note = notes[log]  # type: ignore[misc]
                    result = extend(writer, log, SignedCheckpoint.parse(note), entries[held:])
                if result.pending is None:  # else a reference into a log not there yet
                    done.add(log)
        assert indexed(replica) == indexed(world.store)
        with replica.read() as a, world.store.read() as b:
            for log in logs:
                assert statistics.digest_at(a, log, 10**6) == statistics.digest_at(b, log, 10**6)
    finally:
        replica.close()


def test_pages_are_bounded_and_go_on_from_their_cursor(world: World) -> None:
    assert world.store is not None
    rows = indexed(world.store)
    seen: list[Movement] = []
    after = None
    pages = 0
    with world.store.read() as reader:
        while True:
            page = statistics.page(reader, after, 4)
            assert len(page.rows) <= 4
            seen.extend(Movement.decode(row) for row in page.rows)
            pages += 1
            for log, digest in page.digests.items():
                mine = None
                for row in seen:
                    if row.entry.log == log:
                        mine = chain_digest(mine, row.encode())
                assert digest == mine
            if page.next is None:
                break
            after = page.next
        assert page.sizes == {log: reader.log_size(log) for log in reader.logs()}
    assert seen == rows
    assert pages == -(-len(rows) // 4)


def test_a_digest_below_a_size_is_that_of_the_rows_below_it(world: World) -> None:
    assert world.store is not None
    rows = [m for m in indexed(world.store) if m.entry.log == "BW"]
    with world.store.read() as reader:
        assert statistics.digest_at(reader, "BW", 0).digest is None
        assert statistics.digest_at(reader, "ZZ", 10).digest is None
        for cut in (rows[0].entry.seq, rows[0].entry.seq + 1, rows[-1].entry.seq + 1):
            expected = None
            for row in rows:
                if row.entry.seq < cut:
                    expected = chain_digest(expected, row.encode())
            found = statistics.digest_at(reader, "BW", cut)
            assert (found.size, found.digest) == (cut, expected)
        clipped = statistics.digest_at(reader, "BW", 2**63 - 1)
        assert clipped.size == reader.log_size("BW")


def test_a_row_round_trips_through_its_encodings(world: World) -> None:
    assert world.store is not None
    for row in indexed(world.store):
        assert Movement.decode(row.encode()) == row
        assert Movement.from_json(row.to_json()) == row
        assert Movement.from_json(row.to_json()).encode() == row.encode()


def test_a_production_may_seal_its_value_and_the_index_says_so(tmp_path: Path) -> None:
    """``parcel.produce`` with the optional sealed ``value_usd_cents``: appended through the
    sequencer (disclosures checked, an envelope to its own participant), the row marked
    ``valued``; one without it is the record it always was."""
    world = World(store=tmp_path / "valued")
    try:
        world.setup_log("BW")
        body = {
            "parcel": "BW-V-1",
            "mine": "mine",
            "produced_on": world.today,
            "centicarats": 20_000,
            "hs_code": "7102.10",
            "holder": "mine",
        }
        valued = world.append(
            "BW", "parcel.produce", body, by="mine", sealed_values={"value_usd_cents": 3_000_000}
        )
        plain = world.produce("BW", 10_000)
        assert world.store is not None
        with world.store.read() as reader:
            assert reader.get("envelopes", valued.hash) is not None
            assert reader.get("envelopes", plain.hash) is None
        rows = indexed(world.store)
        assert [(m.entry.hash, m.valued) for m in rows] == [
            (valued.hash, True),
            (plain.hash, False),
        ]
        with pytest.raises(RecordError, match="may seal"):
            world.append(
                "BW",
                "parcel.produce",
                {**body, "parcel": "BW-V-2"},
                by="mine",
                sealed_values={"invoice": "INV-1"},
            )
    finally:
        world.close()
