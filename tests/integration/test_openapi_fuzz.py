"""Schema-driven fuzzing of a real node: the operations of BW's own ``/openapi.json``.

Schemathesis (4.x Python API) reads the schema the node serves and generates requests from it,
valid ones and invalid ones, for every GET operation, for ``POST /v1/records`` (whose body,
declared as binary, goes out as ``application/msgpack``) and for ``POST /v1/parcels/states``
(JSON). Every response must not be a server
error and must agree with the schema: a declared status code, a declared content type and a
body of the declared shape.

Generation is derandomized and keeps no example database, so CI sees what a laptop sees. The
operations are listed here rather than discovered, for readable test ids; a test pins the list
to what the node serves, so a new route cannot escape the fuzzing unnoticed.

Schemathesis's own pytest integration for a schema that only exists once a fixture has run
(``schemathesis.pytest.from_fixture``) does not work with pytest 9 (it writes
``Function._nodeid``, which pytest 9 no longer has), so each operation is run through
``APIOperation.as_strategy`` and Hypothesis's ``@given`` directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgpack
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.network import Submitter, devnet

MSGPACK = "application/msgpack"
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Every fuzzed operation, and whether it takes any input (parameters or a body): an operation
# without inputs has no invalid request to generate.
OPERATIONS = {
    "GET /": True,
    "GET /verify/{entry_hash}": True,
    "GET /network": False,
    "GET /parcels/{log_id}/{seq}/{out}": True,
    "GET /healthz": False,
    "GET /metrics": False,
    "GET /v1/network": False,
    "GET /v1/charters": False,
    "GET /v1/logs": True,  # ?notes=false (decision 0033)
    "GET /v1/logs/{log_id}/checkpoint": True,
    "GET /v1/logs/{log_id}/entries": True,
    "GET /v1/logs/{log_id}/envelopes": True,
    "GET /v1/logs/{log_id}/proof/inclusion": True,
    "GET /v1/logs/{log_id}/proof/consistency": True,
    "GET /v1/entries/{entry_hash}": True,
    "GET /v1/certificates/{log_id}/{number}": True,
    "GET /v1/certificates/{log_id}/{number}/document": True,
    "GET /v1/parcels/{log_id}/{seq}/{out}": True,
    "GET /v1/provenance/{entry_hash}": True,
    "GET /v1/disclosures/access": True,
    "GET /v1/disclosures/{entry_hash}": True,
    "GET /v1/evidence": False,
    "GET /v1/statistics/movements": True,
    "GET /v1/statistics/digest": True,
    "GET /statistics": True,
    "GET /statistics/charts/{name}.svg": True,
    "GET /statistics/statistics.css": False,
    "POST /v1/records": True,
    "POST /v1/parcels/states": True,
}
VALID, INVALID = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
RUNS = [
    *(
        pytest.param(label, mode, None, id=f"{label}-{name}")
        for label, has_inputs in OPERATIONS.items()
        for mode, name in ((VALID, "valid"), (INVALID, "invalid"))
        if has_inputs or mode is VALID
    ),
    # Random log ids almost never name a log the node holds: pin BW's, so that generated
    # ranges, indexes and sizes reach real pages and proofs.
    *(
        pytest.param(label, VALID, {"log_id": "BW"}, id=f"{label}-valid-on-BW")
        for label in OPERATIONS
        if label.startswith("GET /v1/logs/{log_id}/")
    ),
]


def _to_msgpack(ctx: schemathesis.SerializationContext | None, value: Any) -> bytes:
    """Generated bodies go out as msgpack: bytes as they are, anything else packed (negative
    generation puts numbers, maps and arrays where the schema asks for bytes)."""
    if isinstance(value, bytes):
        return value
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _from_msgpack(ctx: schemathesis.DeserializationContext, response: Any) -> Any:
    return msgpack.unpackb(response.content, raw=False)


# Module-wide registrations with schemathesis's transports (its registry decorators return None,
# so the functions stay callable under their own names).
schemathesis.serializer(MSGPACK)(_to_msgpack)
schemathesis.deserializer(MSGPACK)(_from_msgpack)


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """BW's node, with a few entries so that pages and proofs have something to cover."""
    with devnet(tmp_path_factory.mktemp("fuzz"), participants="BW,EU") as net:
        s = Submitter(net, "BW")
        for n in range(3):
            s.submit(
                "parcel.produce",
                {
                    "parcel": f"BW-FUZZ-{n}",
                    "mine": "mine",
                    "produced_on": "2026-01-01",
                    "centicarats": 1_000 + n,
                    "hs_code": "7102.10",
                    "holder": "mine",
                },
                by="mine",
            )
        s.close()
        yield net.url("BW")


@pytest.fixture(scope="module")
def node_schema(node_url: str) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict({"base-url": node_url})
    return schemathesis.openapi.from_url(f"{node_url}/openapi.json", config=config)


def test_every_get_and_the_posts_of_anyone_are_fuzzed(node_schema: schemathesis.BaseSchema) -> None:
    served = {
        result.ok().label for result in node_schema.get_all_operations() if isinstance(result, Ok)
    }
    fuzzable = {label for label in served if label.startswith("GET ")} | {
        "POST /v1/records",
        "POST /v1/parcels/states",
    }
    assert sorted(fuzzable) == sorted(OPERATIONS)
    for label, has_inputs in OPERATIONS.items():
        operation = node_schema.find_operation_by_label(label)
        assert operation is not None
        assert has_inputs == bool(list(operation.iter_parameters()) or operation.body), label


@pytest.mark.parametrize(("label", "mode", "pinned"), RUNS)
def test_generated_requests_get_no_server_error_and_answers_match_the_schema(
    node_schema: schemathesis.BaseSchema,
    label: str,
    mode: schemathesis.GenerationMode,
    pinned: dict[str, str] | None,
) -> None:
    operation = node_schema.find_operation_by_label(label)
    assert operation is not None, label

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=pinned))
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    fuzz()


def test_generated_record_bodies_reach_the_record_parser(node_url: str) -> None:
    """What the serializer above sends for a body is msgpack the node decodes: a packed map is
    refused for its shape, not for its content type or encoding."""
    answer = httpx.post(
        f"{node_url}/v1/records",
        content=_to_msgpack(None, {"signed": 1}),
        headers={"content-type": MSGPACK},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "record.malformed"
