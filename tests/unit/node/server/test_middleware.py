"""Security headers, compression and the offline API documentation, over the in-process node.

Every answer — a page, JSON, msgpack, a problem, a refusal by the header budget before any route
— carries the security headers; bodies of a kilobyte and more are gzipped for a client that
accepts it, except msgpack (hashes and signatures, node to node); the limits on requests hold as
before; ``/docs`` and ``/redoc`` load only assets the node serves itself.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from node.core.encoding import decode, encode
from node.server.api_docs import ASSETS
from node.server.middleware import (
    COMPRESSED_MINIMUM_BYTES,
    SECURITY_HEADERS,
    Compression,
    SecurityHeaders,
)
from tests.support.asgi import Api

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _get(api: Api, path: str, **headers: str) -> httpx.Response:
    return api._portal.call(lambda: api._client.get(path, headers=headers))


def _assert_secured(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    for name, _ in SECURITY_HEADERS:  # once each, never doubled
        assert len(response.headers.get_list(name)) == 1, name


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/healthz", 200, id="json"),
        pytest.param("/", 200, id="explorer page"),
        pytest.param("/metrics", 200, id="metrics"),
        pytest.param("/openapi.json", 200, id="openapi"),
        pytest.param("/v1/logs/BW/entries?start=0&end=1", 200, id="msgpack"),
        pytest.param("/docs", 200, id="swagger ui"),
        pytest.param("/docs/assets/swagger-init.js", 200, id="docs asset"),
        pytest.param("/no/such/route", 404, id="unknown route"),
        pytest.param("/v1/logs/BW/entries?start=-1", 400, id="invalid request"),
        pytest.param("/docs/assets/nothing.js", 404, id="unknown docs asset"),
    ],
)
def test_every_answer_carries_the_security_headers(api: Api, path: str, status: int) -> None:
    response = _get(api, path)
    assert response.status_code == status, response.text
    _assert_secured(response)


def test_redoc_alone_may_style_inline_and_nothing_more(api: Api) -> None:
    response = _get(api, "/redoc")
    assert response.headers.get_list("content-security-policy") == [
        CSP.replace("style-src 'self';", "style-src 'self' 'unsafe-inline';")
    ]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_refusal_before_any_route_carries_them_too(api: Api) -> None:
    limit = api.node.settings.max_header_bytes
    response = _get(api, "/healthz", **{"x-padding": "a" * (limit + 1)})
    assert response.status_code == 431
    assert response.json()["code"] == "request.headers_too_large"
    _assert_secured(response)


def test_a_body_over_the_limit_is_still_refused_with_the_headers(api: Api) -> None:
    too_large = b"\x00" * (api.node.settings.max_body_bytes + 1)
    response = api.post(
        "/v1/records", content=too_large, headers={"content-type": "application/msgpack"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"
    _assert_secured(response)


def test_a_header_the_answer_set_itself_is_kept_not_doubled() -> None:
    async def framable(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("ok", headers={"Referrer-Policy": "same-origin"})(
            scope, receive, send
        )

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=SecurityHeaders(framable))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/")

    response = asyncio.run(get())
    assert response.headers.get_list("referrer-policy") == ["same-origin"]
    assert response.headers["content-security-policy"] == CSP


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/openapi.json", id="json"),
        pytest.param("/metrics", id="metrics"),
        pytest.param("/redoc", id="not compressed: a small page"),
    ],
)
def test_large_text_answers_are_gzipped_for_a_client_that_accepts_it(api: Api, path: str) -> None:
    plain = _get(api, path, **{"accept-encoding": "identity"})
    packed = _get(api, path, **{"accept-encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    if len(plain.content) >= COMPRESSED_MINIMUM_BYTES:
        assert packed.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in packed.headers["vary"].lower()
        assert int(packed.headers["content-length"]) < len(plain.content)
    else:
        assert "content-encoding" not in packed.headers

    # httpx decodes it, as the SDK, replication and every browser do; the metrics counted the
    # first request meanwhile, so their names are compared, not their values.
    def names(response: httpx.Response) -> list[str]:
        return [line.split(" ")[0] for line in response.text.splitlines()]

    assert names(packed) == names(plain)


def test_a_streamed_answer_is_compressed_chunk_by_chunk_and_arrives_whole() -> None:
    chunks = [f"line {i:05d} of a streamed page\n".encode() * 40 for i in range(50)]

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def streamed(scope: Scope, receive: Receive, send: Send) -> None:
        await StreamingResponse(stream(), media_type="text/plain")(scope, receive, send)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=Compression(streamed))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/", headers={"accept-encoding": "gzip"})

    response = asyncio.run(get())
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers  # streamed: chunked, not buffered whole
    assert response.content == b"".join(chunks)


def test_openapi_compresses_to_a_fraction(api: Api) -> None:
    raw = _get(api, "/openapi.json", **{"accept-encoding": "identity"}).content
    assert len(raw) > COMPRESSED_MINIMUM_BYTES
    assert len(gzip.compress(raw, 6)) < len(raw) / 3
    json.loads(raw)


def test_msgpack_goes_uncompressed(api: Api) -> None:
    # Enough entries for a page over the threshold: the charter's and the operators'.
    response = _get(api, "/v1/logs/BW/entries?start=0", **{"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/msgpack"
    assert len(response.content) >= COMPRESSED_MINIMUM_BYTES
    assert "content-encoding" not in response.headers
    assert decode(response.content, max_size=len(response.content) + 1)


def test_a_compressed_request_body_is_not_inflated(api: Api) -> None:
    # The middleware compresses answers only: a gzipped body is judged as the bytes sent, so
    # a small body cannot inflate past the body limit.
    body = gzip.compress(encode({"signed": b"\x00" * 100_000}))
    response = api.post(
        "/v1/records",
        content=body,
        headers={"content-type": "application/msgpack", "content-encoding": "gzip"},
    )
    assert response.status_code == 400, response.text


# --- the API documentation ----------------------------------------------------------------------

_REFERENCE = re.compile(r"""\b(?:src|href|spec-url|data-openapi-url)="([^"]*)\"""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_what_the_node_serves(api: Api, page: str) -> None:
    response = _get(api, page)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    references = _REFERENCE.findall(response.text)
    assert references, response.text
    for reference in references:
        assert reference.startswith("/"), reference  # same origin: no scheme, no host
        assert not reference.startswith("//"), reference
        assert _get(api, reference).status_code == 200, reference
    assert "<script>" not in response.text  # no inline script: every <script> has a src
    assert response.text.count("<script") == response.text.count("<script src=")
    assert "<style" not in response.text
    assert "style=" not in response.text


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_each_docs_asset_is_served_gzipped_or_not(api: Api, name: str) -> None:
    plain = _get(api, f"/docs/assets/{name}", **{"accept-encoding": "identity"})
    packed = _get(api, f"/docs/assets/{name}", **{"accept-encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    media_type = "text/css" if name.endswith(".css") else "text/javascript"
    assert plain.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers.get_list("content-encoding") == ["gzip"]  # not gzipped twice
    assert packed.content == plain.content
    assert plain.headers["cache-control"].startswith("public")


def test_the_swagger_bundle_is_the_packaged_one(api: Api) -> None:
    bundle = _get(api, "/docs/assets/swagger-ui-bundle.js").content
    assert len(bundle) > 500_000
    assert b"SwaggerUIBundle" in bundle


def test_an_unknown_docs_asset_is_an_unknown_route(api: Api) -> None:
    response = _get(api, "/docs/assets/..%2F..%2Fetc%2Fpasswd")
    assert response.status_code == 404
    assert response.json()["code"] == "route.unknown"
