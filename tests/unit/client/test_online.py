"""Online verification when a node answers the provenance request with no well-formed bundle:
INVALID with the parse's code, as the same answer verified offline, never undecided."""

from __future__ import annotations

import httpx

from client.online import verify_online
from node.core.bundle import BUNDLE_MEDIA_TYPE

SUBJECT = "ab" * 32


def _node(provenance: object) -> httpx.MockTransport:
    """A node that serves ``provenance`` for every entry, holds no log and no evidence."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/provenance/"):
            return httpx.Response(200, json=provenance)
        if request.url.path in ("/v1/logs", "/v1/evidence"):
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"code": "test.unknown", "detail": request.url.path})

    return httpx.MockTransport(answer)


def test_a_node_serving_another_media_type_makes_the_verdict_invalid() -> None:
    served = {"media_type": "application/json", "entries": []}
    online = verify_online(["http://node"], SUBJECT, bytes(32), transport=_node(served))
    assert online.decided
    assert online.verdict.status == "INVALID"
    assert [f.code for f in online.verdict.findings] == ["bundle.malformed"]


def test_a_node_serving_a_malformed_proof_makes_the_verdict_invalid() -> None:
    item = {"log": "BW", "seq": 0, "hash": SUBJECT, "entry": "", "proof": "no proof"}
    served = {
        "media_type": BUNDLE_MEDIA_TYPE,
        "network": "kp.test",
        "genesis": "00" * 32,
        "subject": SUBJECT,
        "charters": [],
        "checkpoints": {},
        "entries": [item],
    }
    online = verify_online(["http://node"], SUBJECT, bytes(32), transport=_node(served))
    assert online.decided
    assert [f.code for f in online.verdict.findings] == ["tlog_proof.malformed"]
