"""RFC 9421 member-request signatures: round trips, the rejection table, and a FastAPI app."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

import node.core.httpsig
from node.core.errors import AuthError, LedgerError
from node.core.httpsig import (
    COVERED_COMPONENTS,
    MAX_SIGNATURE_FIELD_BYTES,
    SIGNATURE_LABEL,
    HttpxSigner,
    VerifiedRequest,
    sign_request,
    verify_request,
)

NOW = 1_800_000_000
OPERATOR = "BW:debswana"
PARTICIPANT = "BW"
GET_URL = "https://node.kp.example/v1/disclosures/" + "ab" * 32
POST_URL = "https://node.kp.example:8443/v1/records?dry_run=1"

MEMBER_KEY = Ed25519PrivateKey.generate()
LOG_KEY = Ed25519PrivateKey.generate()
STRANGER_KEY = Ed25519PrivateKey.generate()
KEYS: dict[str, Ed25519PublicKey] = {
    OPERATOR: MEMBER_KEY.public_key(),
    PARTICIPANT: LOG_KEY.public_key(),
}


def resolve(key_id: str) -> Ed25519PublicKey | None:
    return KEYS.get(key_id)


@dataclass(frozen=True)
class Parts:
    """A request as the server sees it."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @classmethod
    def of(cls, request: httpx.Request) -> Parts:
        return cls(request.method, str(request.url), dict(request.headers), request.content)

    def header(self, name: str, value: str | None) -> Parts:
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return replace(self, headers=headers)

    def verify(self, *, now: int = NOW) -> VerifiedRequest:
        return verify_request(
            self.method, self.url, self.headers, self.body, resolve=resolve, now=now
        )


def build(method: str = "GET", url: str = GET_URL, content: bytes | None = None) -> httpx.Request:
    with httpx.Client() as client:
        return client.build_request(method, url, content=content)


def signed(
    method: str = "GET",
    url: str = GET_URL,
    content: bytes | None = None,
    *,
    key_id: str = OPERATOR,
    key: Ed25519PrivateKey = MEMBER_KEY,
    created: int = NOW,
) -> Parts:
    request = build(method, url, content)
    sign_request(request, key_id, key, created=created)
    return Parts.of(request)


def library_signed(
    method: str = "GET",
    url: str = GET_URL,
    content: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> Parts:
    """Sign with the library directly, to make signatures our own signer never would."""
    request = build(method, url, content)
    request.headers.update(headers or {})
    key_id = str(options.pop("key_id", OPERATOR))
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: MEMBER_KEY}),
    )
    settings: dict[str, Any] = {
        "key_id": key_id,
        "label": SIGNATURE_LABEL,
        "nonce": "n0nce",
        "created": _datetime(NOW),
        **options,
    }
    signer.sign(request, **settings)
    return Parts.of(request)


def _datetime(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


# --- round trips ----------------------------------------------------------------------------


def test_get_without_body_round_trips() -> None:
    parts = signed()
    assert parts.verify() == VerifiedRequest(
        key_id=OPERATOR, created=NOW, nonce=parts.verify().nonce
    )
    assert "content-digest" not in parts.headers
    assert parts.headers["signature-input"].startswith(
        'kp=("@method" "@target-uri" "@authority");created=1800000000;keyid="BW:debswana";'
        'alg="ed25519";nonce="'
    )


def test_post_with_body_round_trips_and_covers_the_digest() -> None:
    parts = signed("POST", POST_URL, b'{"hash": "00"}')
    verified = parts.verify()
    assert (verified.key_id, verified.created) == (OPERATOR, NOW)
    digest = base64.b64encode(hashlib.sha256(b'{"hash": "00"}').digest()).decode()
    assert parts.headers["content-digest"] == f"sha-256=:{digest}:"
    assert '"content-digest");' in parts.headers["signature-input"]


def test_participant_log_key_round_trips() -> None:
    assert signed(key_id=PARTICIPANT, key=LOG_KEY).verify().key_id == PARTICIPANT


def test_each_signature_has_a_fresh_nonce() -> None:
    first, second = signed().verify(), signed().verify()
    assert first.nonce != second.nonce
    assert len(first.nonce) >= 16


def test_created_defaults_to_the_clock() -> None:
    request = build()
    sign_request(request, OPERATOR, MEMBER_KEY)
    before = int(time.time())
    assert abs(Parts.of(request).verify(now=before).created - before) <= 2


@pytest.mark.parametrize(
    "created",
    [NOW - 300, NOW + 30],
    ids=["exactly-max-age-old", "exactly-max-skew-ahead"],
)
def test_window_edges_are_accepted(created: int) -> None:
    assert signed(created=created).verify().created == created


def test_library_signed_baseline_verifies() -> None:
    """The rejection cases built with the library fail for their mutation, not the helper."""
    assert library_signed().verify().nonce == "n0nce"
    assert library_signed("POST", POST_URL, b"body", body=b"body").verify().key_id == OPERATOR


def test_headers_are_case_insensitive() -> None:
    parts = signed("POST", POST_URL, b"body")
    upper = replace(parts, headers={k.title(): v for k, v in parts.headers.items()})
    assert upper.verify().key_id == OPERATOR


def test_httpx_signer_signs_each_client_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    transport = httpx.MockTransport(handler)
    with httpx.Client(transport=transport, auth=HttpxSigner(OPERATOR, MEMBER_KEY)) as client:
        client.get(GET_URL)
        client.post(POST_URL, content=b"payload")
    now = int(time.time())
    for request in seen:
        assert Parts.of(request).verify(now=now).key_id == OPERATOR
    assert "content-digest" in seen[1].headers


# --- rejections -----------------------------------------------------------------------------


def _without_signature(p: Parts) -> Parts:
    return p.header("signature", None).header("signature-input", None)


def _relabel(p: Parts) -> Parts:
    return p.header("signature-input", "other" + p.headers["signature-input"][2:]).header(
        "signature", "other" + p.headers["signature"][2:]
    )


def _second_label(p: Parts) -> Parts:
    return p.header(
        "signature-input",
        p.headers["signature-input"] + ", other" + p.headers["signature-input"][2:],
    ).header("signature", p.headers["signature"] + ", other" + p.headers["signature"][2:])


def _set_alg(alg: str) -> Callable[[Parts], Parts]:
    def mutate(p: Parts) -> Parts:
        value = p.headers["signature-input"].replace('alg="ed25519"', alg)
        return p.header("signature-input", value)

    return mutate


def _new_digest(p: Parts) -> Parts:
    body = b"tampered"
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return replace(p.header("content-digest", f"sha-256=:{digest}:"), body=body)


REJECTIONS: list[tuple[str, Callable[[], Parts], str]] = [
    ("no-signature-headers", lambda: _without_signature(signed()), "auth.missing"),
    ("signature-input-only", lambda: signed().header("signature", None), "auth.missing"),
    ("wrong-label", lambda: _relabel(signed()), "auth.missing"),
    ("second-label", lambda: _second_label(signed()), "auth.malformed"),
    ("changed-path", lambda: replace(signed(), url=GET_URL[:-1] + "c"), "auth.bad_signature"),
    (
        "changed-query",
        lambda: replace(signed(url=GET_URL + "?a=1"), url=GET_URL + "?a=2"),
        "auth.bad_signature",
    ),
    (
        "changed-authority",
        lambda: replace(signed(), url=GET_URL.replace("node.kp", "evil.kp")),
        "auth.bad_signature",
    ),
    ("changed-method", lambda: replace(signed(), method="DELETE"), "auth.bad_signature"),
    (
        "body-changed-after-signing",
        lambda: replace(signed("POST", POST_URL, b"original"), body=b"tampered"),
        "auth.components",
    ),
    (
        "body-added-to-get",
        lambda: replace(signed(), body=b"smuggled"),
        "auth.components",
    ),
    (
        "digest-replaced-to-match-new-body",
        lambda: _new_digest(signed("POST", POST_URL, b"original")),
        "auth.bad_signature",
    ),
    ("unknown-key-id", lambda: signed(key_id="BW:nobody"), "auth.unknown_key"),
    ("key-id-outside-design", lambda: library_signed(key_id="bw debswana"), "auth.unknown_key"),
    ("another-key", lambda: signed(key=STRANGER_KEY), "auth.bad_signature"),
    ("log-key-for-operator-id", lambda: signed(key=LOG_KEY), "auth.bad_signature"),
    ("created-too-old", lambda: signed(created=NOW - 301), "auth.expired"),
    ("created-beyond-skew", lambda: signed(created=NOW + 31), "auth.expired"),
    (
        "expires-passed",
        lambda: library_signed(expires=_datetime(NOW - 1)),
        "auth.expired",
    ),
    ("alg-hmac", lambda: _set_alg('alg="hmac-sha256"')(signed()), "auth.algorithm"),
    ("alg-token", lambda: _set_alg("alg=ed25519")(signed()), "auth.algorithm"),
    ("alg-absent", lambda: library_signed(include_alg=False), "auth.algorithm"),
    (
        "only-method-covered",
        lambda: library_signed(covered_component_ids=("@method",)),
        "auth.components",
    ),
    (
        "post-without-digest",
        lambda: replace(library_signed("POST", POST_URL), body=b"unsigned body"),
        "auth.components",
    ),
    (
        "path-instead-of-target-uri",
        lambda: library_signed(covered_component_ids=("@method", "@authority", "@path")),
        "auth.components",
    ),
    ("nonce-absent", lambda: library_signed(nonce=None), "auth.malformed"),
    ("nonce-too-long", lambda: library_signed(nonce="n" * 129), "auth.malformed"),
    (
        "oversize-signature-input",
        lambda: signed().header(
            "signature-input",
            signed().headers["signature-input"] + ";tag=" + '"' + "x" * 4096 + '"',
        ),
        "auth.malformed",
    ),
    (
        "oversize-signature",
        lambda: signed().header("signature", "kp=:" + "A" * MAX_SIGNATURE_FIELD_BYTES + ":"),
        "auth.malformed",
    ),
    (
        "garbage-signature-input",
        lambda: signed().header("signature-input", "kp=(("),
        "auth.malformed",
    ),
    (
        "non-ascii-signature-input",
        lambda: signed().header("signature-input", 'kp=("@méthod")'),
        "auth.malformed",
    ),
    (
        "signature-input-not-inner-list",
        lambda: signed().header("signature-input", 'kp="@method"'),
        "auth.malformed",
    ),
    ("signature-not-bytes", lambda: signed().header("signature", 'kp="abc"'), "auth.malformed"),
    (
        "signature-truncated",
        lambda: signed().header("signature", "kp=:AAAA:"),
        "auth.bad_signature",
    ),
    (
        "duplicate-label",
        lambda: signed().header(
            "signature-input",
            signed().headers["signature-input"] + ", " + signed().headers["signature-input"],
        ),
        "auth.malformed",
    ),
    (
        "unknown-covered-header",
        lambda: library_signed(
            headers={"x-absent": "present when signed"},
            covered_component_ids=(*COVERED_COMPONENTS, "x-absent"),
        ).header("x-absent", None),
        "auth.bad_signature",
    ),
    (
        "lowercase-method",
        lambda: replace(signed(), method="get"),
        "auth.bad_signature",
    ),
]


@pytest.mark.parametrize(
    ("make", "code"),
    [pytest.param(make, code, id=name) for name, make, code in REJECTIONS],
)
def test_rejections(make: Callable[[], Parts], code: str) -> None:
    parts = make()
    with pytest.raises(AuthError) as caught:
        parts.verify()
    assert caught.value.code == code
    assert isinstance(caught.value, LedgerError)
    assert caught.value.message


def test_unresolvable_key_is_not_verified_at_all() -> None:
    asked: list[str] = []

    def resolver(key_id: str) -> Ed25519PublicKey | None:
        asked.append(key_id)
        return None

    parts = signed()
    with pytest.raises(AuthError) as caught:
        verify_request(
            parts.method, parts.url, parts.headers, parts.body, resolve=resolver, now=NOW
        )
    assert caught.value.code == "auth.unknown_key"
    assert asked == [OPERATOR]


def test_custom_window_is_honoured() -> None:
    parts = signed(created=NOW - 60)
    with pytest.raises(AuthError) as caught:
        verify_request(
            parts.method,
            parts.url,
            parts.headers,
            parts.body,
            resolve=resolve,
            now=NOW,
            max_age=59,
        )
    assert caught.value.code == "auth.expired"


# --- signing errors -------------------------------------------------------------------------


def test_sign_refuses_a_key_id_outside_design() -> None:
    with pytest.raises(AuthError) as caught:
        sign_request(build(), "debswana", MEMBER_KEY)
    assert caught.value.code == "auth.malformed"
    with pytest.raises(AuthError):
        HttpxSigner("BW:", MEMBER_KEY)


def test_sign_refuses_an_unread_streaming_body() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"chunk"

    request = httpx.Request("POST", POST_URL, content=chunks())
    with pytest.raises(AuthError, match="read the request body"):
        sign_request(request, OPERATOR, MEMBER_KEY)


def test_sign_translates_library_errors() -> None:
    request = build()
    request.method = "get"  # the library insists on an upper-case method
    with pytest.raises(AuthError) as caught:
        sign_request(request, OPERATOR, MEMBER_KEY)
    assert caught.value.code == "auth.failed"


def test_exported_names() -> None:
    assert sorted(node.core.httpsig.__all__) == sorted(
        [
            "COVERED_COMPONENTS",
            "MAX_NONCE_CHARS",
            "MAX_SIGNATURE_FIELD_BYTES",
            "SIGNATURE_ALGORITHM",
            "SIGNATURE_LABEL",
            "HttpxSigner",
            "VerifiedRequest",
            "sign_request",
            "verify_request",
        ]
    )
    assert AuthError.code == "auth.failed"
    assert SIGNATURE_LABEL == "kp"
    assert COVERED_COMPONENTS == ("@method", "@target-uri", "@authority")


# --- end to end through FastAPI -------------------------------------------------------------


def _app() -> FastAPI:
    app = FastAPI()

    async def authenticated(request: Request) -> JSONResponse:
        try:
            verified = verify_request(
                request.method,
                str(request.url),
                request.headers,
                await request.body(),
                resolve=resolve,
                now=int(time.time()),
            )
        except AuthError as exc:
            return JSONResponse({"code": exc.code}, status_code=401)
        return JSONResponse({"key_id": verified.key_id})

    app.add_api_route("/v1/disclosures/{entry_hash}", authenticated, methods=["GET"])
    app.add_api_route("/v1/echo", authenticated, methods=["POST"])
    return app


def _through_app(
    method: str, path: str, *, auth: httpx.Auth | None, content: bytes | None = None
) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app())
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", auth=auth
        ) as client:
            return await client.request(method, path, content=content)

    return asyncio.run(call())


def test_fastapi_signed_get_answers_the_key_id() -> None:
    response = _through_app(
        "GET", "/v1/disclosures/" + "cd" * 32, auth=HttpxSigner(OPERATOR, MEMBER_KEY)
    )
    assert (response.status_code, response.json()) == (200, {"key_id": OPERATOR})


def test_fastapi_signed_post_with_body_answers_the_key_id() -> None:
    response = _through_app(
        "POST", "/v1/echo", auth=HttpxSigner(PARTICIPANT, LOG_KEY), content=b'{"x": 1}'
    )
    assert (response.status_code, response.json()) == (200, {"key_id": PARTICIPANT})


def test_fastapi_unsigned_get_is_401() -> None:
    response = _through_app("GET", "/v1/disclosures/" + "cd" * 32, auth=None)
    assert (response.status_code, response.json()) == (401, {"code": "auth.missing"})


def test_fastapi_wrong_key_is_401() -> None:
    response = _through_app(
        "GET", "/v1/disclosures/" + "cd" * 32, auth=HttpxSigner(OPERATOR, STRANGER_KEY)
    )
    assert (response.status_code, response.json()) == (401, {"code": "auth.bad_signature"})
