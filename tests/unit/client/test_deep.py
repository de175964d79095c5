"""Deep verification as a chain of bounded bundles (decision 0039), against a pooling hub whose
bundles are built from a witnessed store and served by a mock node: as strong as one replay of
the whole DAG, a seed that lies is caught by the page that made its parcel, and a bound reached
is said."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from client.deep import verify_deep
from client.verify import check_bundle
from node.core.bundle import Bundle
from node.core.records import EntryRef
from node.engine.bundling import build_bundle
from node.server.schemas import parcel_model
from tests.support.hub import Hub
from tests.support.witnesses import cosign_latest
from tests.support.world import NETWORK, World

ROUNDS = 30
URL = "http://node"

Tamper = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    world = World(store=tmp_path_factory.mktemp("hub") / "store")
    hub = Hub.start(world)
    hub.run_to(ROUNDS)
    cosign_latest(world)
    try:
        yield hub
    finally:
        world.close()


def _bundle(world: World, subject: EntryRef, depth: int | None) -> Bundle:
    assert world.store is not None
    with world.store.read() as reader:
        return build_bundle(reader, NETWORK, subject, depth)


class _Node:
    """A node serving the World's store: bounded bundles and parcel states, each answer
    passed through ``tamper`` (a lying node), and each provenance request counted."""

    def __init__(self, world: World, tamper: Tamper | None = None) -> None:
        self.world = world
        self.tamper = tamper or (lambda _path, document: document)
        self.provenance: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        store = self.world.store
        assert store is not None
        path = request.url.path
        if path.startswith("/v1/provenance/"):
            digest = path.rsplit("/", 1)[1]
            self.provenance.append(digest)
            with store.read() as reader:
                position = reader.position(bytes.fromhex(digest))
                if position is None:
                    return httpx.Response(404, json={"code": "entry.unknown", "detail": digest})
                subject = EntryRef(*position, bytes.fromhex(digest))
                depth = request.url.params["depth"]
                bundle = build_bundle(
                    reader, NETWORK, subject, None if depth == "all" else int(depth)
                )
            return httpx.Response(200, json=self.tamper(path, bundle.to_json()))
        if path == "/v1/parcels/states":
            asked = json.loads(request.content)["parcels"]
            answered = []
            with self.world.read_state() as state:
                for log, seq, digest, out in asked:
                    found = state.parcel(log, seq, out)
                    ok = found is not None and found.ref.hash.hex() == digest
                    answered.append(parcel_model(found).model_dump(mode="json") if ok else None)
            return httpx.Response(200, json=self.tamper(path, {"parcels": answered}))
        return httpx.Response(404, json={"code": "test.unknown", "detail": path})


def _deep(hub: Hub, node: _Node, **options: Any) -> Any:
    subject = hub.exports[-1].confirmation.hash.hex()
    return verify_deep(
        [URL], subject, hub.world.genesis_hash, transport=httpx.MockTransport(node), **options
    )


def test_deep_paged_verification_replays_what_the_whole_dag_does(hub: Hub) -> None:
    last = hub.exports[-1]
    full = check_bundle(_bundle(hub.world, last.confirmation, None), hub.world.genesis_hash)
    assert full.status == "VALID", full.findings
    node = _Node(hub.world)
    deep = _deep(hub, node)
    verdict = deep.verdict
    assert verdict.status == "VALID", verdict.findings
    assert deep.complete
    assert verdict.seeds == ()
    assert verdict.depth is None
    assert verdict.replayed == full.replayed
    assert verdict.origins == full.origins == ("AE", "BW", "CA", "IN")
    assert {s.hash for s in verdict.chain} == {s.hash for s in full.chain}
    assert verdict.replayed_summary.endswith("back to the mines")
    assert deep.pages == len(node.provenance) > 1  # bounded pages, not one bundle
    assert len(set(node.provenance)) == len(node.provenance)  # no entry's bundle twice
    # Each page is a bounded bundle, far smaller than the whole DAG.
    assert all(
        len(_bundle(hub.world, _ref(hub, d), 8).entries) < len(full.chain) / 2
        for d in node.provenance
    )


def _ref(hub: Hub, digest: str) -> EntryRef:
    store = hub.world.store
    assert store is not None
    with store.read() as reader:
        position = reader.position(bytes.fromhex(digest))
    assert position is not None
    return EntryRef(*position, bytes.fromhex(digest))


def test_a_seed_that_disagrees_with_the_page_that_made_it_is_invalid(hub: Hub) -> None:
    subject = hub.exports[-1].confirmation.hash.hex()

    def lie(path: str, document: dict[str, Any]) -> dict[str, Any]:
        # The subject's bundle seeds its parcel under another id: no rule of the subject's own
        # bundle reads the id, so only the bundle that made the parcel can tell.
        if path.endswith(subject) and document.get("seeds"):
            document["seeds"][0]["parcel"] = "EU-FORGED"
        return document

    node = _Node(hub.world, lie)
    first = check_bundle(
        Bundle.from_json(
            lie(f"/v1/provenance/{subject}", _bundle(hub.world, _ref(hub, subject), 8).to_json())
        ),
        hub.world.genesis_hash,
    )
    assert first.status == "VALID", first.findings  # the bounded check alone cannot see it
    verdict = _deep(hub, node).verdict
    assert verdict.status == "INVALID"
    [finding] = [f for f in verdict.findings if f.code == "bundle.seed_disagrees"]
    assert "EU-FORGED" in finding.detail
    assert verdict.findings[0].code == "bundle.seed_disagrees"


def test_a_seed_lying_deep_in_the_chain_is_named_with_its_page(hub: Hub) -> None:
    subject = hub.exports[-1].confirmation.hash.hex()

    def lie(path: str, document: dict[str, Any]) -> dict[str, Any]:
        if path.startswith("/v1/provenance/") and not path.endswith(subject):
            for seed in document.get("seeds", []):
                seed["parcel"] = "EU-FORGED"
        return document

    deep = _deep(hub, _Node(hub.world, lie))
    verdict = deep.verdict
    assert verdict.status == "INVALID"
    lies = [f for f in verdict.findings if f.code == "bundle.seed_disagrees"]
    assert lies
    assert all("EU-FORGED" in f.detail and "replaying the bundle of " in f.detail for f in lies)


def test_a_node_naming_another_consumer_of_a_seed_is_a_double_spend(hub: Hub) -> None:
    other = hub.imports[0]

    def lie(path: str, document: dict[str, Any]) -> dict[str, Any]:
        if path == "/v1/parcels/states":
            for parcel in document["parcels"]:
                if parcel is not None:
                    parcel["consumed_by"] = [other.log, other.seq, other.hash.hex()]
        return document

    verdict = _deep(hub, _Node(hub.world, lie)).verdict
    assert verdict.status == "INVALID"
    assert "parcel.double_spent" in {f.code for f in verdict.findings}


def test_a_bound_reached_is_said_and_the_seeds_where_it_stopped_are_kept(hub: Hub) -> None:
    node = _Node(hub.world)
    deep = _deep(hub, node, max_pages=2)
    verdict = deep.verdict
    assert deep.pages == 2 == len(node.provenance)
    assert not deep.complete
    assert verdict.seeds  # where it stopped, resting on the witnesses
    assert verdict.depth == 8
    assert [n.code for n in verdict.notes if n.code.startswith("deep.")] == ["deep.bounded"]
    assert "rests on the witnesses" in verdict.replayed_summary
    full = check_bundle(
        _bundle(hub.world, hub.exports[-1].confirmation, None), hub.world.genesis_hash
    )
    assert verdict.replayed < full.replayed


def test_a_page_no_node_serves_leaves_its_seeds_and_says_so(hub: Hub) -> None:
    subject = hub.exports[-1].confirmation.hash.hex()
    node = _Node(hub.world)
    serve = node.__call__

    def refusing(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/v1/provenance/") and not path.endswith(subject):
            return httpx.Response(413, json={"code": "provenance.too_large", "detail": "too large"})
        return serve(request)

    deep = verify_deep(
        [URL], subject, hub.world.genesis_hash, transport=httpx.MockTransport(refusing)
    )
    assert not deep.complete
    assert deep.verdict.seeds
    assert "deep.unavailable" in {n.code for n in deep.verdict.notes}
