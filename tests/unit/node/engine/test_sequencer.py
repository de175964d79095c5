"""The sequencer: durable batches, verifying receipts, duplicates, refusals that leave no trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core import crypto, merkle, notes
from node.core.envelope import open_envelope, parse_envelopes
from node.core.errors import EncodingError, RecordError, SignatureError
from node.core.receipt import Receipt
from node.core.records import Entry, SignedRecord
from node.core.sealing import encode_disclosures
from node.engine.sequencer import Sequencer, SignatureCheck
from node.engine.store import Store, StoreWriter
from tests.support.records import GENESIS, ORIGIN, MakeRecord
from tests.support.world import NETWORK, World


def _check_receipt(receipt: Receipt, log_key: Ed25519PrivateKey, store: Store) -> None:
    vkey = crypto.verifier_key(ORIGIN, log_key.public_key())
    text, names = notes.verify_note(receipt.checkpoint, [vkey])
    assert names == [ORIGIN]
    checkpoint = notes.Checkpoint.parse(text)
    assert checkpoint.origin == ORIGIN
    merkle.verify_inclusion(
        receipt.entry_hash, receipt.seq, checkpoint.size, list(receipt.proof), checkpoint.root
    )
    with store.read() as r:
        assert merkle.leaf_hash(r.log("BW").entry(receipt.seq)) == receipt.entry_hash


def _chain(store: Store) -> list[Entry]:
    with store.read() as r:
        log = r.log("BW")
        entries = [Entry.parse(e) for e in log.entries(0, log.size())]
    prev = GENESIS
    for seq, entry in enumerate(entries):
        assert entry.seq == seq
        assert entry.prev == prev
        prev = entry.leaf_hash
    return entries


def test_batch_appends_and_receipts_verify(
    sequencer: Sequencer, store: Store, make_record: MakeRecord, log_key: Ed25519PrivateKey
) -> None:
    first = sequencer.append_batch([make_record().raw for _ in range(3)])
    second = sequencer.append_batch([make_record().raw for _ in range(4)])
    receipts = [r for r in first + second if isinstance(r, Receipt)]
    assert [r.seq for r in receipts] == list(range(7))
    for receipt in receipts:
        _check_receipt(receipt, log_key, store)
    # One checkpoint per commit; the first batch's receipts stay against the first checkpoint.
    assert notes.Checkpoint.parse(receipts[0].checkpoint.split("\n\n")[0] + "\n").size == 3
    entries = _chain(store)
    assert [e.time for e in entries] == sorted(e.time for e in entries)
    with store.read() as r:
        assert r.log("BW").latest_checkpoint() is not None
        assert r.logs() == ["BW"]


def test_refused_record_leaves_no_trace_and_batch_proceeds(
    sequencer: Sequencer, store: Store, make_record: MakeRecord
) -> None:
    stranger = Ed25519PrivateKey.generate()
    good = make_record()
    forged = make_record(key=stranger)
    unknown = make_record(signer="nobody")
    other_log = make_record(log="CA")
    results = sequencer.append_batch(
        [forged.raw, good.raw, unknown.raw, b"\x81\xa1a", other_log.raw, good.raw[:-1]]
    )
    assert [type(r) for r in results] == [
        SignatureError,
        Receipt,
        SignatureError,
        EncodingError,
        RecordError,
        EncodingError,
    ]
    assert [getattr(r, "code", None) for r in results] == [
        "signature.invalid",
        None,
        "signature.unknown_signer",
        "encoding.malformed",
        "record.wrong_log",
        "encoding.malformed",
    ]
    with store.read() as r:
        assert r.log("BW").size() == 1
        assert r.entry_for_record(forged.record_hash) is None
        assert r.log("BW").latest_checkpoint() is not None


def test_all_refused_batch_signs_no_checkpoint(sequencer: Sequencer, store: Store) -> None:
    results = sequencer.append_batch([b"\xc1"])
    assert isinstance(results[0], EncodingError)
    with store.read() as r:
        assert r.log("BW").latest_checkpoint() is None


def test_resubmission_returns_original_receipt(
    sequencer: Sequencer, store: Store, make_record: MakeRecord, operator_key: Ed25519PrivateKey
) -> None:
    record = make_record()
    [original] = sequencer.append_batch([record.raw])
    sequencer.append_batch([make_record().raw for _ in range(5)])
    # Same record, same signature; and the same record within one batch.
    again = sequencer.append_batch([record.raw, make_record().raw, record.raw])
    assert again[0] == original
    assert again[2] == original
    with store.read() as r:
        assert r.log("BW").size() == 7


def test_resubmission_with_other_signatures_is_still_the_same_record(
    sequencer: Sequencer, make_record: MakeRecord, operator_key: Ed25519PrivateKey
) -> None:
    record = make_record()
    [original] = sequencer.append_batch([record.raw])
    extra = Ed25519PrivateKey.generate()
    resigned = SignedRecord.from_value(
        {
            "record": dict(record.record),
            "sigs": [
                {"by": "debswana", "sig": operator_key.sign(record.payload)},
                {"by": "extra", "sig": extra.sign(record.payload)},
            ],
        }
    )
    assert sequencer.append_batch([resigned.raw]) == [original]


class _ExplodingValidator:
    """Fails on purpose in the middle of a batch, after earlier records were written."""

    def __init__(self, inner: SignatureCheck, explode_at: int) -> None:
        self.inner = inner
        self.calls = 0
        self.explode_at = explode_at

    def __call__(self, store: StoreWriter, entry: Entry, entry_hash: bytes) -> None:
        self.calls += 1
        if self.calls == self.explode_at:
            raise OSError("disk vanished")
        self.inner(store, entry, entry_hash)


def test_failure_mid_batch_aborts_whole_transaction(
    store: Store,
    log_key: Ed25519PrivateKey,
    operator_key: Ed25519PrivateKey,
    make_record: MakeRecord,
) -> None:
    validator = _ExplodingValidator(SignatureCheck({"debswana": operator_key.public_key()}), 5)
    seq = Sequencer(
        store, log="BW", origin=ORIGIN, log_key=log_key, genesis=GENESIS, validate=validator
    )
    seq.append_batch([make_record().raw, make_record().raw])
    with pytest.raises(OSError, match="disk vanished"):
        seq.append_batch([make_record().raw for _ in range(4)])
    with store.read() as r:
        assert r.log("BW").size() == 2
        assert r.log("BW").latest_checkpoint() is not None
        size, _ = r.log("BW").latest_checkpoint() or (0, "")
        assert size == 2
    # The log goes on from where the last commit left it.
    results = seq.append_batch([make_record().raw])
    assert isinstance(results[0], Receipt)
    assert results[0].seq == 2
    _chain(store)


def test_each_commit_is_reported_after_it_is_durable(
    sequencer: Sequencer, store: Store, make_record: MakeRecord
) -> None:
    commits: list[tuple[int, int]] = []

    def committed(batch: int, size: int, seconds: float) -> None:
        with store.read() as r:  # another reader already sees the commit
            assert r.log("BW").size() == size
        commits.append((batch, size))

    sequencer.on_commit = committed
    record = make_record()
    sequencer.append_batch([record.raw, make_record().raw, b"\xc1"])
    sequencer.append_batch([make_record(signer="nobody").raw, record.raw])  # appends nothing
    sequencer.append_batch([make_record().raw])
    assert commits == [(2, 2), (1, 3)]


def test_entry_times_never_go_back_across_batches_restarts_and_other_writers(
    store: Store,
    log_key: Ed25519PrivateKey,
    operator_key: Ed25519PrivateKey,
    make_record: MakeRecord,
) -> None:
    now = [5_000]

    def sequencer() -> Sequencer:
        return Sequencer(
            store,
            log="BW",
            origin=ORIGIN,
            log_key=log_key,
            genesis=GENESIS,
            validate=SignatureCheck({"debswana": operator_key.public_key()}),
            clock=lambda: now[0],
        )

    first, other = sequencer(), sequencer()
    first.append_batch([make_record().raw, make_record().raw])
    now[0] = 9_000
    other.append_batch([make_record().raw])  # a writer the first has not seen
    now[0] = 7_000  # the clock went back
    first.append_batch([make_record().raw])
    now[0] = 3_000
    first.append_batch([make_record().raw])
    sequencer().append_batch([make_record().raw])  # as after a restart: nothing remembered
    now[0] = 12_000
    first.append_batch([make_record().raw])
    assert [e.time for e in _chain(store)] == [5_000, 5_000, 9_000, 9_000, 9_000, 9_000, 12_000]


def test_empty_policy_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        SignatureCheck({})


# --- envelopes (decision 0041) --------------------------------------------------------------


def test_a_certificate_is_sealed_to_both_authorities_in_its_append(tmp_path: Path) -> None:
    world = World(store=tmp_path / "store")
    world.setup_log("BW")
    world.setup_log("EU", mine=False)
    parcel = world.produce("BW", 100_000, holder="trader")
    ref = world.certify("BW", "BW-2026-0001", [parcel], "EU")
    assert world.store is not None
    with world.store.read() as store:
        raw = store.get("envelopes", ref.hash)
        disclosed = store.get("disclosures", ref.hash)
        signed = Entry.parse(store.log("BW").entry(ref.seq)).signed
    assert raw is not None
    assert disclosed is not None
    envelopes = parse_envelopes(raw)
    assert sorted(envelopes) == ["BW", "EU"]
    for member in ("BW", "EU"):
        opened = open_envelope(
            envelopes,
            network=NETWORK,
            entry_hash=ref.hash,
            participant=member,
            key=world.members[member].disclosure_key,
            signed=signed,
        )
        assert encode_disclosures(opened) == disclosed


def test_a_record_that_seals_nothing_has_no_envelopes(tmp_path: Path) -> None:
    world = World(store=tmp_path / "store")
    ref = world.adopt("BW")
    assert world.store is not None
    with world.store.read() as store:
        assert store.get("envelopes", ref.hash) is None
