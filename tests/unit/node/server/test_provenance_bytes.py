"""The provenance route's body: ``Bundle.to_bytes()`` is byte for byte what the route answered
when it rendered the bundle's JSON document with the framework's ``JSONResponse``, so bundles
exported, stored or pinned before the ``Bundle`` type read the same."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import JSONResponse

from node.core.bundle import Bundle
from node.core.records import EntryRef
from node.engine.bundling import build_bundle
from tests.support.scenario import run_scenario
from tests.support.witnesses import cosign_latest
from tests.support.world import World


def test_the_served_bytes_are_the_json_response_of_the_document(tmp_path: Path) -> None:
    world = World(store=tmp_path / "store")
    try:
        chain = run_scenario(world)
        cosign_latest(world)
        subject = chain.parcels["in_2"].entry
        assert world.store is not None
        with world.store.read() as reader:
            bundle = build_bundle(
                reader, "kp.test", EntryRef(subject.log, subject.seq, subject.hash)
            )
    finally:
        world.close()
    assert bundle.to_bytes() == JSONResponse(bundle.to_json()).body
    assert Bundle.parse(bundle.to_bytes()) == bundle
