"""Offline verification of a real bundle of the multi-country scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.verify import VerificationError, check_bundle, verify_bundle
from node.core.bundle import BUNDLE_MEDIA_TYPE
from node.core.records import EntryRef
from node.engine.bundling import build_bundle
from tests.support.scenario import run_scenario
from tests.support.witnesses import cosign_latest
from tests.support.world import World


def test_the_scenario_bundle_is_valid_and_reaches_both_mines(tmp_path: Path) -> None:
    world = World(store=tmp_path / "store")
    chain = run_scenario(world)
    cosign_latest(world)
    subject = chain.parcels["in_2"].entry
    assert world.store is not None
    with world.store.read() as reader:
        bundle = build_bundle(
            reader, "kp.test", EntryRef(subject.log, subject.seq, subject.hash), depth=None
        )
    encoded = bundle.to_bytes()
    verdict = verify_bundle(encoded, world.genesis_hash)
    assert verdict.status == "VALID", verdict.findings
    assert verdict.origins == ("BW", "CA")
    assert {s.certificate for s in verdict.chain if s.certificate} == {
        "BW-2026-0001",
        "CA-2026-0001",
        "EU-2026-0102",
        "AE-2026-0007",
    }
    assert all(step.witnesses >= 2 for step in verdict.chain)
    other = World()
    assert check_bundle(encoded, other.genesis_hash).findings[0].code == "bundle.wrong_network"
    world.close()


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ({"log": "BW"}, "bundle.malformed"),
        (
            {"log": "BW", "seq": "0", "hash": "00" * 32, "entry": "", "proof": ""},
            "bundle.malformed",
        ),
        (
            {"log": "BW", "seq": 0, "hash": "00" * 32, "entry": "", "proof": ""},
            "tlog_proof.malformed",
        ),
    ],
    ids=["entry-without-fields", "seq-as-text", "proof-not-a-tlog-proof"],
)
def test_a_malformed_bundle_is_invalid_with_the_parse_code_alone(
    entry: dict[str, object], code: str
) -> None:
    document = {
        "media_type": BUNDLE_MEDIA_TYPE,
        "network": "kp.test",
        "genesis": "00" * 32,
        "subject": "00" * 32,
        "charters": [],
        "checkpoints": {},
        "entries": [entry],
    }
    verdict = check_bundle(json.dumps(document).encode(), bytes(32))
    assert verdict.status == "INVALID"
    assert [f.code for f in verdict.findings] == [code]
    with pytest.raises(VerificationError) as raised:
        verify_bundle(json.dumps(document).encode(), bytes(32))
    assert raised.value.code == code
