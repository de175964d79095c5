"""RFC 9421 HTTP Message Signatures for member reads (DESIGN §2, §10).

``GET /v1/disclosures/{hash}`` answers sealed commercial values to members only: a participant's
KP authority, signing with its log key (key id ``BW``), or one of its registered operators
(key id ``BW:debswana``). The member signs the request with Ed25519 per RFC 9421; the node
resolves the key id from its ledger state and verifies.

The profile, on top of RFC 9421:

- one signature, labelled ``kp``, in ``Signature-Input`` and ``Signature``;
- covering at least ``@method``, ``@target-uri`` and ``@authority``, and ``content-digest``
  (RFC 9530, sha-256) whenever the request has a body;
- with the metadata parameters ``created``, ``keyid``, ``alg="ed25519"`` and a random ``nonce``;
- ``created`` no older than ``max_age`` and no further ahead than ``max_skew`` seconds.

The signature base, the Structured Field serialization and the Content-Digest check are the
``http_message_signatures`` library's; this module adds the policy above, reads the clock only in
``sign_request``, and translates every library exception into an ``AuthError``.

Replay: disclosure reads are idempotent, so a request replayed within ``max_age`` only reads the
same values again, to the same member. ``verify_request`` returns the signed ``nonce`` so a caller
that wants more may keep a bounded cache of ``(key_id, nonce)`` pairs for ``max_age + max_skew``
seconds and refuse a repeat.
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import http_sf
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from node.core.clock import wall_ms
from node.core.errors import AuthError

__all__ = [
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

SIGNATURE_LABEL = "kp"
SIGNATURE_ALGORITHM = "ed25519"  # RFC 9421 §3.3.6
# Derived components every signature must cover (RFC 9421 §2.2); ``content-digest`` joins them
# when the request has a body.
COVERED_COMPONENTS = ("@method", "@target-uri", "@authority")
_CONTENT_DIGEST = "content-digest"

# Bounds on what an unauthenticated caller can make the node parse. A ``kp`` signature input is
# about 150 bytes and its Ed25519 signature 91, so 4 KiB leaves room and nothing more.
MAX_SIGNATURE_FIELD_BYTES = 4096
MAX_NONCE_CHARS = 128
_NONCE_BYTES = 16  # 128 random bits: collisions within max_age are not a concern

# DESIGN §2: a participant (``BW``, observers up to 8 letters) or ``participant:operator``.
_KEY_ID = re.compile(r"[A-Z]{2,8}(?::[A-Za-z0-9._-]{1,64})?")


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """What an authentic ``kp`` signature vouches for.

    Attributes:
        key_id: the signer, ``BW`` (a participant's log key) or ``BW:debswana`` (an operator).
        created: the signed creation time, Unix seconds.
        nonce: the signed nonce, for a caller that keeps a replay cache.
    """

    key_id: str
    created: int
    nonce: str


def sign_request(
    request: httpx.Request,
    key_id: str,
    key: Ed25519PrivateKey,
    *,
    created: int | None = None,
) -> None:
    """Sign an httpx request in place with the ``kp`` profile.

    Adds ``Signature-Input`` and ``Signature`` (replacing earlier ones), and ``Content-Digest``
    when the request has a body. Headers changed after this call break the signature only if
    they are covered; the body always is, through its digest.

    Args:
        request: a request whose body has been read (``httpx.Client.build_request`` with
            ``content``/``json`` does this; ``HttpxSigner`` asks httpx to).
        key_id: ``"<participant>"`` or ``"<participant>:<operator>"``.
        key: the Ed25519 private key registered under ``key_id``.
        created: signature creation time in Unix seconds; the current time when omitted.

    Raises:
        AuthError: ``auth.malformed`` for a key id outside DESIGN §2, ``auth.failed`` when the
            request cannot be signed (a streaming body not yet read, a URL the library refuses).
    """
    if _KEY_ID.fullmatch(key_id) is None:
        raise AuthError(
            f"key id {key_id!r} is neither '<participant>' nor '<participant>:<operator>'",
            code="auth.malformed",
        )
    try:
        body = request.content
    except httpx.RequestNotRead as exc:
        raise AuthError("read the request body before signing it") from exc
    when = wall_ms() // 1000 if created is None else created
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: key}),
    )
    # An empty body is covered only if a Content-Digest is already there to vouch for it.
    digest_body = body if body or _CONTENT_DIGEST in request.headers else None
    try:
        signer.sign(
            request,
            key_id=key_id,
            created=datetime.datetime.fromtimestamp(when, tz=datetime.UTC),
            nonce=secrets.token_urlsafe(_NONCE_BYTES),
            label=SIGNATURE_LABEL,
            include_alg=True,
            covered_component_ids=COVERED_COMPONENTS,
            body=digest_body,
            use_existing_digest=digest_body is not None,
        )
    except (HTTPMessageSignaturesException, ValueError, TypeError, OverflowError) as exc:
        raise AuthError(f"cannot sign the request: {exc}") from exc


class HttpxSigner(httpx.Auth):
    """httpx authentication that signs every request: ``httpx.Client(auth=HttpxSigner(...))``.

    Works for ``httpx.AsyncClient`` too. Each request (a redirect or retry included) gets a fresh
    ``created`` and nonce.
    """

    # The body must be in memory to compute its Content-Digest.
    requires_request_body = True

    def __init__(self, key_id: str, key: Ed25519PrivateKey) -> None:
        """Sign as ``key_id`` with ``key``.

        Raises:
            AuthError: ``auth.malformed`` for a key id outside DESIGN §2.
        """
        if _KEY_ID.fullmatch(key_id) is None:
            raise AuthError(
                f"key id {key_id!r} is neither '<participant>' nor '<participant>:<operator>'",
                code="auth.malformed",
            )
        self._key_id = key_id
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sign_request(request, self._key_id, self._key)
        yield request


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    resolve: Callable[[str], Ed25519PublicKey | None],
    now: int,
    max_age: int = 300,
    max_skew: int = 30,
) -> VerifiedRequest:
    """Verify the ``kp`` signature of a request; a pure function of its parts and ``now``.

    Checks run cheapest first: field sizes and syntax, the label, covered components and
    parameters, the key, the signature (the library builds the base and verifies), the body
    against the signed Content-Digest, then ``created`` (so a stale request is reported as
    expired only when its signature is authentic).

    Args:
        method: the request method, upper case as sent (``GET``).
        url: the absolute URL as sent, percent-encoding intact; ``@target-uri`` and
            ``@authority`` are derived from it. Behind Starlette, ``str(request.url)`` rebuilds
            it from the Host header and the decoded path, which is exact for the ``/v1`` paths
            (hex hashes, no escapes).
        headers: the request headers; a mapping whose ``items()`` yields every field line
            (Starlette's ``Headers`` does) keeps repeated fields exact.
        body: the request content as received, before any decoding.
        resolve: maps a key id to its registered Ed25519 public key, or ``None`` if unknown.
        now: current time, Unix seconds.
        max_age: oldest acceptable ``created``, seconds before ``now``.
        max_skew: latest acceptable ``created``, seconds after ``now`` (signer clock ahead).

    Returns:
        The signer's key id, the signed creation time and nonce.

    Raises:
        AuthError: with the ``auth.*`` code of the first check that failed (see ``AuthError``).
    """
    lines = tuple((str(name), str(value)) for name, value in headers.items())
    fields = _combine_field_lines(lines)
    if "signature-input" not in fields or "signature" not in fields:
        raise AuthError(
            f"request is not signed: RFC 9421 Signature-Input and Signature with label "
            f"{SIGNATURE_LABEL!r} are required",
            code="auth.missing",
        )
    for name in ("signature-input", "signature", _CONTENT_DIGEST):
        if len(fields.get(name, "")) > MAX_SIGNATURE_FIELD_BYTES:
            raise AuthError(
                f"{name} field exceeds {MAX_SIGNATURE_FIELD_BYTES} bytes", code="auth.malformed"
            )
    inputs = _parse_dictionary(fields["signature-input"], "Signature-Input")
    signatures = _parse_dictionary(fields["signature"], "Signature")
    if SIGNATURE_LABEL not in inputs or SIGNATURE_LABEL not in signatures:
        raise AuthError(
            f"no signature labelled {SIGNATURE_LABEL!r} (found {sorted(inputs)})",
            code="auth.missing",
        )
    if set(inputs) != {SIGNATURE_LABEL} or set(signatures) != {SIGNATURE_LABEL}:
        raise AuthError(
            f"exactly one signature, labelled {SIGNATURE_LABEL!r}, is allowed "
            f"(found {sorted(set(inputs) | set(signatures))})",
            code="auth.malformed",
        )
    member, params = inputs[SIGNATURE_LABEL]
    if not isinstance(member, list):
        raise AuthError("Signature-Input member 'kp' is not an inner list", code="auth.malformed")
    if not isinstance(signatures[SIGNATURE_LABEL][0], bytes):
        raise AuthError("Signature member 'kp' is not a byte sequence", code="auth.malformed")
    _check_components(member, has_body=bool(body))
    key_id, created, nonce, expires = _check_parameters(params)

    public_key = resolve(key_id)
    if public_key is None:
        raise AuthError(
            f"key id {key_id!r} is not a registered member key", code="auth.unknown_key"
        )
    verifier = _Verifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={key_id: public_key}, private_keys={}),
    )
    message = _RequestView(method=method, url=url, headers=_FieldLines(lines))
    try:
        results = verifier.verify(message, max_age=None, require_components=COVERED_COMPONENTS)
    except Exception as exc:  # the library's contract, not ours: nothing foreign escapes
        # OpenSSL's InvalidSignature carries no text; the library's own errors say what failed.
        reason = str(exc) or "Ed25519 verification failed over the covered components"
        raise AuthError(
            f"signature of {key_id!r} does not verify: {reason}", code="auth.bad_signature"
        ) from exc
    try:
        # RFC 9530: the authenticated Content-Digest must match the bytes received.
        verifier.verify_body(message, results, bytes(body))
    except Exception as exc:
        raise AuthError(
            f"request body is not covered by a matching signed Content-Digest: {exc}",
            code="auth.components",
        ) from exc

    if created < now - max_age:
        raise AuthError(
            f"signature created at {created} is older than {max_age} s (now {now})",
            code="auth.expired",
        )
    if created > now + max_skew:
        raise AuthError(
            f"signature created at {created} is more than {max_skew} s in the future (now {now})",
            code="auth.expired",
        )
    if expires is not None and expires < now:
        raise AuthError(f"signature expired at {expires} (now {now})", code="auth.expired")
    return VerifiedRequest(key_id=key_id, created=created, nonce=nonce)


def _combine_field_lines(lines: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Field values by lower-case name, repeated lines joined as RFC 9110 §5.3 does."""
    values: dict[str, list[str]] = {}
    for name, value in lines:
        values.setdefault(name.lower(), []).append(value.strip(" \t"))
    return {name: ", ".join(parts) for name, parts in values.items()}


def _parse_dictionary(value: str, field: str) -> dict[str, Any]:
    """Parse an RFC 8941 Dictionary field; labels map to ``(member, parameters)``."""

    def reject_duplicate(key: str, context: str) -> None:
        if context == "dictionary":
            raise AuthError(f"{field} repeats the label {key!r}", code="auth.malformed")

    try:
        parsed = http_sf.parse(
            value.encode("ascii"), tltype="dictionary", on_duplicate_key=reject_duplicate
        )
    except AuthError:
        raise
    except Exception as exc:
        raise AuthError(
            f"{field} is not a Structured Field Dictionary: {exc}", code="auth.malformed"
        ) from exc
    if not isinstance(parsed, dict):
        raise AuthError(f"{field} is not a Structured Field Dictionary", code="auth.malformed")
    return parsed


def _check_components(member: list[Any], *, has_body: bool) -> None:
    """The covered components must include the profile's, and the digest for a body."""
    plain: set[str] = set()
    digest = False
    for entry in member:
        if not (isinstance(entry, tuple) and len(entry) == 2 and type(entry[0]) is str):
            raise AuthError(
                "covered components must be Structured Field strings", code="auth.malformed"
            )
        name, component_params = entry
        if not component_params:
            plain.add(name)
        # RFC 9421 §2.1: ``content-digest``, ``;sf`` or ``;key="sha-256"`` all cover the digest.
        if name == _CONTENT_DIGEST:
            digest = True
    missing = [component for component in COVERED_COMPONENTS if component not in plain]
    if has_body and not digest:
        missing.append(_CONTENT_DIGEST)
    if missing:
        raise AuthError(
            f"signature does not cover the required components {missing}",
            code="auth.components",
        )


def _check_parameters(params: Mapping[str, Any]) -> tuple[str, int, str, int | None]:
    """The ``kp`` metadata: ``alg``, ``keyid``, ``created``, ``nonce`` and optional ``expires``."""
    alg = params.get("alg")
    if type(alg) is not str or alg != SIGNATURE_ALGORITHM:
        raise AuthError(
            f"signature algorithm must be alg={SIGNATURE_ALGORITHM!r}, not {alg!r}",
            code="auth.algorithm",
        )
    key_id = params.get("keyid")
    if type(key_id) is not str:
        raise AuthError("signature has no keyid string parameter", code="auth.malformed")
    if _KEY_ID.fullmatch(key_id) is None:
        raise AuthError(
            f"key id {key_id!r} is neither '<participant>' nor '<participant>:<operator>'",
            code="auth.unknown_key",
        )
    created = params.get("created")
    if type(created) is not int:
        raise AuthError("signature has no created integer parameter", code="auth.malformed")
    nonce = params.get("nonce")
    if type(nonce) is not str or not 0 < len(nonce) <= MAX_NONCE_CHARS:
        raise AuthError(
            f"signature needs a nonce string parameter of 1 to {MAX_NONCE_CHARS} characters",
            code="auth.malformed",
        )
    expires = params.get("expires")
    if expires is not None and type(expires) is not int:
        raise AuthError("signature expires parameter is not an integer", code="auth.malformed")
    return key_id, created, nonce, expires


class _Verifier(HTTPMessageVerifier):
    """The library's verifier with the clock taken out: times are checked against ``now``."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        # ``created`` and ``expires`` were type-checked in _check_parameters; verify_request
        # compares the authenticated values with the caller's ``now`` once the signature holds.
        return None


@dataclass(frozen=True, slots=True)
class _FieldLines:
    """Read-only header view for the library: every field line, in order."""

    lines: tuple[tuple[str, str], ...]

    def items(self) -> tuple[tuple[str, str], ...]:
        return self.lines

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self.lines))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self.lines)


@dataclass(frozen=True, slots=True)
class _RequestView:
    """The request parts the library's component resolver reads."""

    method: str
    url: str
    headers: _FieldLines
