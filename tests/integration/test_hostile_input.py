"""Hostile input against a real node: every refusal is a 4xx problem+json that changes nothing.

One devnet (Botswana and the EU) serves the whole module; every row below is sent to Botswana's
``kp-node run`` over loopback, with httpx or, where httpx would tidy the request up (dot
segments, a Content-Length that lies), as raw bytes on a socket. Each row asserts the status, the
RFC 9457 shape and the stable ``code`` of the refusal, that BW's log size and signed checkpoint
are the same afterwards, and that the node logged no error while answering it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgpack
import pytest

from node.core import crypto, httpsig
from node.core.encoding import Value, encode
from node.core.receipt import Receipt
from node.core.records import LOG_SIGNER, signing_payload
from node.engine.datadir import DataDir
from tests.support.network import Devnet, Submitter, devnet

MSGPACK = "application/msgpack"
PROBLEM = "application/problem+json"
NODE = "BW"
HASH_ZERO = "0" * 64
HELD_CENTICARATS = 2_000
CERTIFICATE_SEALS: dict[str, Value] = {
    "value_usd_cents": 12_500_000,
    "exporter_name": "Kalahari Rough Ltd",
    "importer_name": "Antwerp Rough NV",
    "seal_number": "SEAL-0001",
}


# --- the world the rows act on ----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What came back, however it was asked: status, lower-cased headers, body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        return cls(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )


@dataclass
class World:
    """BW's node with a few parcels in known states, made through the real API."""

    net: Devnet
    url: str
    client: httpx.Client
    submitter: Submitter
    eu_submitter: Submitter
    node_log: Path
    spent: list[Value]  # a parcel already consumed by a split
    held: list[Value]  # a live parcel held by BW:trader
    disclosed: str  # an entry whose sealed invoice the node holds
    scratch: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> tuple[int, str]:
        """BW's log as the node reports it: its size and its newest signed checkpoint.

        Only what BW's log key signed is kept: the checkpoint body and BW's own signature line.
        Cosignatures that peers add on their own schedule are witness data, not a change of the
        log, and would make the comparison race with replication.
        """
        health = self.client.get("/healthz")
        checkpoint = self.client.get(f"/v1/logs/{NODE}/checkpoint", params={"latest": 1})
        assert health.status_code == checkpoint.status_code == 200, checkpoint.text
        return int(health.json()["size"]), self.log_signed(checkpoint.text)

    def log_signed(self, note: str) -> str:
        """The part of a checkpoint note that BW's log key signed: body and BW's signature."""
        body, _, signatures = note.partition("\n\n")
        origin = f"{self.net.description['network']}/{NODE}"
        own = [line for line in signatures.splitlines() if line.startswith(f"— {origin} ")]
        assert len(own) == 1, note
        return f"{body}\n\n{own[0]}\n"

    def log_mark(self) -> int:
        return self.node_log.stat().st_size

    def errors_since(self, mark: int) -> list[str]:
        """Errors the node's HTTP layer logged after ``mark`` (a byte offset in its JSON log):
        a 5xx, or an exception it did not expect, whether or not the client saw the answer."""
        with self.node_log.open("rb") as f:
            f.seek(mark)
            lines = f.read().decode(errors="replace").splitlines()
        return [
            line for line in lines if '"level": "ERROR"' in line and '"logger": "kp.api"' in line
        ]


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def _produce(parcel: str, *, holder: str, centicarats: int = 1_000) -> dict[str, Value]:
    return {
        "parcel": parcel,
        "mine": "mine",
        "produced_on": _today(),
        "centicarats": centicarats,
        "hs_code": "7102.10",
        "holder": holder,
    }


def _parcel_ref(receipt: Receipt, out: int = 0) -> list[Value]:
    assert receipt.log == NODE
    return receipt.parcel_ref(out)


def _split(parcel: list[Value], prefix: str) -> dict[str, Value]:
    return {
        "inputs": [parcel],
        "kind": "split",
        "outputs": [
            {"parcel": f"{prefix}-1", "centicarats": 600, "hs_code": "7102.10"},
            {"parcel": f"{prefix}-2", "centicarats": 400, "hs_code": "7102.10"},
        ],
    }


def _certificate(w: World, *, origins: list[Value]) -> dict[str, Value]:
    return {
        "number": "BW-HOSTILE-0001",
        "exporter": "trader",
        "importing": "EU",
        "parcels": [w.held],
        "parcel_count": 1,
        "centicarats": HELD_CENTICARATS,
        "hs_codes": ["7102.10"],
        "origins": origins,
        "issued_on": _today(),
        "expires_on": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86_400)),
    }


MEMBER_KEYS = {name: crypto.generate_private_key() for name in ("lapsed", "former")}


def _registration(operator: str, valid_until: str) -> dict[str, Value]:
    return {
        "operator": operator,
        "kind": "trader",
        "licence": f"{NODE}-LIC-{operator}",
        "public_key": crypto.public_key_bytes(MEMBER_KEYS[operator]),
        "roles": ["parcel.transfer"],
        "valid_until": valid_until,
    }


def _accepted(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with devnet(tmp_path_factory.mktemp("hostile"), participants="BW,EU") as net:
        s = Submitter(net, NODE)
        eu = Submitter(net, "EU")
        spent = _parcel_ref(
            s.submit("parcel.produce", _produce("BW-H-SPENT", holder="trader"), by="mine")
        )
        s.submit("parcel.transform", _split(spent, "BW-H-SPENT-A"), by="trader")
        held = _parcel_ref(
            s.submit(
                "parcel.produce",
                _produce("BW-H-HELD", holder="trader", centicarats=HELD_CENTICARATS),
                by="mine",
            )
        )
        sold = _parcel_ref(
            s.submit("parcel.produce", _produce("BW-H-SOLD", holder="mine"), by="mine")
        )
        transfer = s.submit(
            "parcel.transfer",
            {"parcel": sold, "to": "trader", "warranty": True},
            by="mine",
            sealed_values={"invoice": "INV-HOSTILE-1"},
        )
        log_key = DataDir(Path(net.description["participants"][NODE]["data_dir"])).key("log")
        for operator, valid_until in (("lapsed", "2020-01-01"), ("former", "2099-12-31")):
            _accepted(
                s.post(
                    s.signed(
                        "operator.register",
                        _registration(operator, valid_until),
                        by=LOG_SIGNER,
                        key=log_key,
                    )
                )
            )
        _accepted(
            s.post(
                s.signed(
                    "operator.revoke",
                    {"operator": "former", "reason": "left"},
                    by=LOG_SIGNER,
                    key=log_key,
                )
            )
        )
        client = httpx.Client(base_url=net.url(NODE), timeout=30)
        w = World(
            net=net,
            url=net.url(NODE),
            client=client,
            submitter=s,
            eu_submitter=eu,
            node_log=Path(net.description["participants"][NODE]["data_dir"]) / "node.log",
            spent=spent,
            held=held,
            disclosed=transfer.entry_hash.hex(),
        )
        # The disclosure rows below are refusals of an entry a member *can* read.
        officer = net.operator_key(NODE, "officer")
        opened = client.get(
            f"/v1/disclosures/{w.disclosed}", auth=httpsig.HttpxSigner("BW:officer", officer)
        )
        assert opened.status_code == 200, opened.text
        try:
            yield w
        finally:
            client.close()
            s.close()
            eu.close()


# --- ways of sending ----------------------------------------------------------------------------

Send = Callable[[World], Answer]


def _get(path: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Send:
    return lambda w: Answer.of(w.client.get(path, params=params, **kwargs))


def _request(method: str, path: str) -> Send:
    return lambda w: Answer.of(w.client.request(method, path))


def _post(
    body: bytes | Callable[[World], bytes], content_type: str | None = MSGPACK, **kwargs: Any
) -> Send:
    def send(w: World) -> Answer:
        headers = {} if content_type is None else {"content-type": content_type}
        content = body(w) if callable(body) else body
        return Answer.of(w.client.post("/v1/records", content=content, headers=headers, **kwargs))

    return send


def _post_states(body: Callable[[World], bytes], content_type: str = "application/json") -> Send:
    """POST /v1/parcels/states: the anonymous batch read of parcel states (decision 0039)."""

    def send(w: World) -> Answer:
        headers = {"content-type": content_type}
        return Answer.of(w.client.post("/v1/parcels/states", content=body(w), headers=headers))

    return send


def _states_of(refs: Callable[[World], Any]) -> Callable[[World], bytes]:
    return lambda w: json.dumps({"parcels": refs(w)}).encode()


def _ref_json(parcel: list[Value]) -> list[Any]:
    log, seq, digest, out = parcel
    assert isinstance(digest, bytes)
    return [log, seq, digest.hex(), out]


def _raw_post_states(declared: int) -> Send:
    """POST /v1/parcels/states whose Content-Length declares ``declared`` bytes and sends few."""

    def build(w: World) -> bytes:
        head = (
            "POST /v1/parcels/states HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        )
        return head.encode() + b'{"parcels": []}'

    return _raw(build)


def _signed_get(key_id: str, key: Callable[[World], Any]) -> Send:
    def send(w: World) -> Answer:
        auth = httpsig.HttpxSigner(key_id, key(w))
        return Answer.of(w.client.get(f"/v1/disclosures/{w.disclosed}", auth=auth))

    return send


def raw_exchange(
    url: str, request: bytes, *, segment: int | None = None, half_close: bool = False
) -> bytes:
    """Send ``request`` verbatim on a fresh connection, ``segment`` bytes at a time (all at once
    by default), then return every byte the node sends back until it closes the connection."""
    where = urlsplit(url)
    size = segment or len(request) or 1
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        for start in range(0, len(request), size):
            try:
                sock.sendall(request[start : start + size])
            except (BrokenPipeError, ConnectionResetError):
                break  # refused early and closed: the answer is already on its way
            if segment:
                time.sleep(0.001)  # let each segment arrive on its own
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    return received


def _parse_response(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


def _raw(build: Callable[[World], bytes]) -> Send:
    return lambda w: _parse_response(raw_exchange(w.url, build(w)))


def _raw_get(target: str) -> Send:
    return _raw(lambda w: f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())


def _raw_post(body: Callable[[World], bytes], content_length: Callable[[int], int]) -> Send:
    """POST /v1/records whose Content-Length says ``content_length(len(body))``."""

    def build(w: World) -> bytes:
        content = body(w)
        head = (
            "POST /v1/records HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: {MSGPACK}\r\nContent-Length: {content_length(len(content))}\r\n\r\n"
        )
        return head.encode() + content

    return _raw(build)


# --- hostile bodies -------------------------------------------------------------------------------


def _submission(w: World, parcel: str = "BW-H-NEW") -> dict[str, Value]:
    """A valid submission that would append a new parcel: the raw material of the mutations."""
    return w.submitter.signed("parcel.produce", _produce(parcel, holder="mine"), by="mine")


def _valid(w: World) -> bytes:
    return encode(_submission(w))


def _reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in sorted(value, reverse=True)}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def _with_body_field(name: str, replacement: Any) -> Callable[[World], bytes]:
    """A signed submission whose record body field ``name`` is ``replacement``, packed by plain
    msgpack (so types canonical encoding refuses can be put on the wire)."""

    def build(w: World) -> bytes:
        submission: Any = _submission(w)
        submission["signed"]["record"]["body"][name] = replacement
        packed: bytes = msgpack.packb(submission, use_bin_type=True)
        return packed

    return build


def _wide_int(w: World) -> bytes:
    # "v": 1 is a positive fixint; the same 1 as a uint8 (0xcc 0x01) is a second spelling.
    canonical = _valid(w)
    assert canonical.count(b"\xa1v\x01") == 1
    return canonical.replace(b"\xa1v\x01", b"\xa1v\xcc\x01")


def _nested(depth: int) -> Any:
    value: Any = "BW-DEEP"
    for _ in range(depth):
        value = [value]
    return value


def _forged(w: World) -> bytes:
    # Signed as BW:mine, but with a key nobody registered.
    impostor = crypto.generate_private_key()
    body = _produce("BW-H-FORGED", holder="mine")
    return encode(w.submitter.signed("parcel.produce", body, by="mine", key=impostor))


def _unknown_operator(w: World) -> bytes:
    body = _produce("BW-H-GHOST", holder="mine")
    ghost = crypto.generate_private_key()
    return encode(w.submitter.signed("parcel.produce", body, by="ghost", key=ghost))


def _forged_log_key(w: World) -> bytes:
    body = _produce("BW-H-ATLOG", holder="mine")
    stranger = crypto.generate_private_key()
    return encode(w.submitter.signed("parcel.produce", body, by="@log", key=stranger))


def _short_signature(w: World) -> bytes:
    submission: Any = _submission(w)
    submission["signed"]["sigs"][0]["sig"] = submission["signed"]["sigs"][0]["sig"][:63]
    return encode(submission)


def _wrong_log(w: World) -> bytes:
    # A well-signed EU record, sent to Botswana's node.
    body = {**_produce("EU-H-1", holder="officer"), "mine": "officer"}
    return encode(w.eu_submitter.signed("parcel.produce", body, by="officer"))


def _by_trader(w: World) -> bytes:
    body = _produce("BW-H-TRADER", holder="trader")
    return encode(w.submitter.signed("parcel.produce", body, by="trader"))


def _double_spend(w: World) -> bytes:
    return encode(w.submitter.signed("parcel.transform", _split(w.spent, "BW-H-DS"), by="trader"))


def _unknown_type(w: World) -> bytes:
    body = _produce("BW-H-STEAL", holder="mine")
    submission: Any = _submission(w)
    record = {**submission["signed"]["record"], "type": "parcel.steal", "body": body}
    key = w.net.operator_key(NODE, "mine")
    sig = key.sign(signing_payload(record))
    return encode({"signed": {"record": record, "sigs": [{"by": "mine", "sig": sig}]}})


def _false_origin(w: World) -> bytes:
    body = _certificate(w, origins=["CD"])  # the parcel was mined in Botswana
    return encode(
        w.submitter.signed("certificate.issue", body, by="officer", sealed_values=CERTIFICATE_SEALS)
    )


def _certificate_disclosing(change: Callable[[dict[str, Any]], None]) -> Callable[[World], bytes]:
    """A valid certificate whose disclosures are then altered by ``change``."""

    def build(w: World) -> bytes:
        submission: Any = w.submitter.signed(
            "certificate.issue",
            _certificate(w, origins=[NODE]),
            by="officer",
            sealed_values=CERTIFICATE_SEALS,
        )
        change(submission)
        return encode(submission)

    return build


def _tamper_value(submission: dict[str, Any]) -> None:
    salt, value = submission["disclosures"]["value_usd_cents"]
    submission["disclosures"]["value_usd_cents"] = [salt, value // 10]  # a tenth of the price


def _drop_disclosures(submission: dict[str, Any]) -> None:
    del submission["disclosures"]


def _add_disclosure(submission: dict[str, Any]) -> None:
    submission["disclosures"]["invoice"] = [os.urandom(16), "INV-SNEAKED-IN"]


def _short_salt(submission: dict[str, Any]) -> None:
    salt, value = submission["disclosures"]["seal_number"]
    submission["disclosures"]["seal_number"] = [salt[:3], value]


def _submission_with_extra_key(w: World) -> bytes:
    return encode({**_submission(w), "priority": "urgent"})


def _replay_prepare(w: World) -> None:
    body = encode(_submission(w, parcel="BW-H-REPLAY"))
    first = w.client.post("/v1/records", content=body, headers={"content-type": MSGPACK})
    assert first.status_code == 200, first.text
    w.scratch["replay"] = (body, first.json())


def _replay(w: World) -> Answer:
    body, _ = w.scratch["replay"]
    return Answer.of(w.client.post("/v1/records", content=body, headers={"content-type": MSGPACK}))


def _ten_megabytes_streamed() -> Iterator[bytes]:
    for _ in range(160):
        yield b"\x00" * 65_536


def _signed_for_another_node(w: World) -> Answer:
    """A member request signed for EU's node, sent to BW's with EU's Host: the signature covers
    EU's authority, which BW's node must not take from the Host header."""
    officer = w.net.operator_key(NODE, "officer")
    path = f"/v1/disclosures/{w.disclosed}"
    request = w.client.build_request("GET", w.net.url("EU") + path)
    httpsig.sign_request(request, "BW:officer", officer)
    request.url = httpx.URL(w.url + path)  # the Host header stays EU's
    assert request.headers["host"] == urlsplit(w.net.url("EU")).netloc
    return Answer.of(w.client.send(request))


def _oversized_signature_header(w: World) -> Answer:
    officer = w.net.operator_key(NODE, "officer")
    request = w.client.build_request("GET", f"/v1/disclosures/{w.disclosed}")
    httpsig.sign_request(request, "BW:officer", officer)
    request.headers["signature-input"] += ", pad=" + '"' + "a" * 8_000 + '"'
    return Answer.of(w.client.send(request))


def _nothing(w: World) -> None:
    return None


# --- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """A request the node must refuse with ``status`` and ``code`` and no change to its log.

    ``status`` 200 with ``code`` None marks the one row that must be *accepted* idempotently.
    """

    name: str
    send: Send
    status: int
    code: str | None
    prepare: Callable[[World], None] = _nothing
    concurrent: bool = True  # safe and cheap to fire 50 times at once


def _row(
    name: str, send: Send, status: int, code: str | None, **options: Any
) -> Any:  # a pytest ParameterSet
    return pytest.param(Hostile(name, send, status, code, **options), id=name)


ROWS = [
    # Canonical msgpack (DESIGN §4) -------------------------------------------------------------
    _row("truncated-msgpack", _post(lambda w: _valid(w)[:-7]), 400, "encoding.malformed"),
    _row("trailing-bytes", _post(lambda w: _valid(w) + b"\xc0"), 400, "encoding.trailing_bytes"),
    _row(
        "unsorted-keys",
        _post(lambda w: msgpack.packb(_reversed_keys(_submission(w)), use_bin_type=True)),
        400,
        "encoding.non_canonical",
    ),
    _row("wide-int", _post(_wide_int), 400, "encoding.non_canonical"),
    _row(
        "duplicate-keys",
        _post(b"\x82\xa6signed\x00\xa6signed\x00"),
        400,
        "encoding.non_canonical",
    ),
    _row(
        "float-in-record",
        _post(_with_body_field("centicarats", 1_000.5)),
        400,
        "encoding.unsupported_type",
    ),
    _row(
        "ext-type-in-record",
        _post(_with_body_field("parcel", msgpack.ExtType(42, b"\x00\x01"))),
        400,
        "encoding.unsupported_type",
    ),
    _row(
        "nesting-40-deep",
        _post(_with_body_field("parcel", _nested(40))),
        400,
        "encoding.too_deep",
    ),
    _row("nesting-100000-deep", _post(b"\x91" * 100_000 + b"\xc0"), 400, "encoding.malformed"),
    _row("invalid-utf8", _post(b"\x81\xa6signed\xa2\xff\xfe"), 400, "encoding.malformed"),
    _row("integer-map-key", _post(b"\x81\x01\xc0"), 400, "encoding.malformed"),
    _row("array-header-4g", _post(b"\xdd\xff\xff\xff\xff"), 413, "request.too_large"),
    _row("reserved-byte-c1", _post(b"\xc1"), 400, "encoding.malformed"),
    _row("empty-body", _post(b""), 400, "encoding.malformed"),
    # Size and framing --------------------------------------------------------------------------
    _row(
        "body-10mb",
        _post(b"\x00" * (10 * 1024 * 1024)),
        413,
        "request.too_large",
        concurrent=False,
    ),
    _row(
        "body-10mb-chunked",
        lambda w: Answer.of(
            w.client.post(
                "/v1/records",
                content=_ten_megabytes_streamed(),
                headers={"content-type": MSGPACK},
            )
        ),
        413,
        "request.too_large",
        concurrent=False,
    ),
    _row(
        "content-length-short",
        _raw_post(_valid, lambda n: n - 9),
        400,
        "encoding.malformed",
    ),
    _row(
        "content-length-huge",
        _raw_post(lambda w: b"\x80", lambda n: 10**12),
        413,
        "request.too_large",
    ),
    # Content type --------------------------------------------------------------------------------
    _row("content-type-json", _post(_valid, "application/json"), 415, "request.content_type"),
    _row(
        "content-type-lookalike",
        _post(_valid, "application/msgpack-evil"),
        415,
        "request.content_type",
    ),
    _row("content-type-missing", _post(_valid, None), 415, "request.content_type"),
    _row(
        "json-instead-of-msgpack",
        _post(json.dumps({"signed": {"record": {}}}).encode(), "application/json"),
        415,
        "request.content_type",
    ),
    _row(
        "json-labelled-msgpack",
        _post(json.dumps({"signed": {"record": {}}}).encode()),
        400,
        "encoding.trailing_bytes",
    ),
    # Submission shape --------------------------------------------------------------------------
    _row(
        "submission-unknown-key",
        _post(_submission_with_extra_key),
        400,
        "request.submission_shape",
    ),
    _row("submission-not-a-map", _post(encode([1, 2, 3])), 400, "request.submission_shape"),
    # Issue 12: junk that took the writer seconds to refuse is refused by the HTTP process.
    _row(
        "array-of-8m-nils",
        _post(b"\xdd" + (8_000_000).to_bytes(4, "big") + b"\xc0" * 8_000_000),
        413,
        "request.too_large",
        concurrent=False,
    ),
    _row(
        "batch-of-records-of-60k-nils",
        _post(encode({"batch": [{"signed": [None] * 60_000}] * 100})),
        413,
        "request.too_large",
        concurrent=False,
    ),
    _row(
        "batch-of-1000-arrays-of-3000-nils",
        _post(encode({"batch": [[None] * 3000] * 1000})),
        413,
        "request.too_large",
        concurrent=False,
    ),
    _row("batch-empty", _post(encode({"batch": []})), 400, "request.batch_size"),
    _row("batch-1001", _post(encode({"batch": [0] * 1001})), 400, "request.batch_size"),
    _row("batch-not-a-list", _post(encode({"batch": "all"})), 400, "request.batch_size"),
    _row("record-unknown-type", _post(_unknown_type), 400, "record.unknown_type"),
    _row("signature-63-bytes", _post(_short_signature), 400, "signature.malformed"),
    # Signatures, authority and the rules of DESIGN §6 --------------------------------------------
    _row("forged-signature", _post(_forged), 422, "signature.invalid"),
    _row("forged-log-key-signature", _post(_forged_log_key), 422, "signature.invalid"),
    _row("unknown-operator", _post(_unknown_operator), 422, "operator.unknown"),
    _row(
        "replayed-record",
        _replay,
        200,
        None,
        prepare=_replay_prepare,
        concurrent=False,
    ),
    _row("record-for-another-log", _post(_wrong_log), 400, "record.wrong_log"),
    _row("produce-by-trader", _post(_by_trader), 422, "operator.not_authorized"),
    _row("double-spend", _post(_double_spend), 422, "parcel.not_live"),
    _row("certificate-false-origin", _post(_false_origin), 422, "origin.mismatch"),
    _row(
        "disclosure-mismatch",
        _post(_certificate_disclosing(_tamper_value)),
        422,
        "disclosure.mismatch",
    ),
    _row(
        "disclosure-missing",
        _post(_certificate_disclosing(_drop_disclosures)),
        422,
        "disclosure.missing",
    ),
    _row(
        "disclosure-unexpected",
        _post(_certificate_disclosing(_add_disclosure)),
        422,
        "disclosure.unexpected",
    ),
    _row(
        "disclosure-short-salt",
        _post(_certificate_disclosing(_short_salt)),
        422,
        "disclosure.malformed",
    ),
    # Query parameters of the log endpoints -------------------------------------------------------
    _row(
        "entries-start-negative", _get("/v1/logs/BW/entries", {"start": -1}), 400, "request.invalid"
    ),
    _row(
        "entries-start-beyond-log",
        _get("/v1/logs/BW/entries", {"start": 1_000_000}),
        400,
        "range.invalid",
    ),
    _row(
        "entries-end-equals-start",
        _get("/v1/logs/BW/entries", {"start": 1, "end": 1}),
        400,
        "range.invalid",
    ),
    _row(
        "entries-end-before-start",
        _get("/v1/logs/BW/entries", {"start": 2, "end": 1}),
        400,
        "range.invalid",
    ),
    _row(
        "entries-start-not-int",
        _get("/v1/logs/BW/entries", {"start": "abc"}),
        400,
        "request.invalid",
    ),
    _row(
        "entries-start-exponent",
        _get("/v1/logs/BW/entries", {"start": "1e3"}),
        400,
        "request.invalid",
    ),
    _row(
        "entries-start-2**70", _get("/v1/logs/BW/entries", {"start": 2**70}), 400, "request.invalid"
    ),
    _row(
        "inclusion-index-2**70",
        _get("/v1/logs/BW/proof/inclusion", {"index": 2**70, "size": 1}),
        400,
        "request.invalid",
    ),
    _row(
        "inclusion-size-2**70",
        _get("/v1/logs/BW/proof/inclusion", {"index": 0, "size": 2**70}),
        400,
        "request.invalid",
    ),
    _row(
        "inclusion-size-int64-max",
        _get("/v1/logs/BW/proof/inclusion", {"index": 0, "size": 2**63 - 1}),
        400,
        "range.invalid",
    ),
    _row(
        "inclusion-index-equals-size",
        _get("/v1/logs/BW/proof/inclusion", {"index": 2, "size": 2}),
        400,
        "range.invalid",
    ),
    _row(
        "inclusion-index-not-int",
        _get("/v1/logs/BW/proof/inclusion", {"index": "1.5", "size": 2}),
        400,
        "request.invalid",
    ),
    _row(
        "inclusion-size-missing",
        _get("/v1/logs/BW/proof/inclusion", {"index": 0}),
        400,
        "request.invalid",
    ),
    _row(
        "consistency-old-above-new",
        _get("/v1/logs/BW/proof/consistency", {"old": 3, "new": 2}),
        400,
        "range.invalid",
    ),
    _row(
        "consistency-old-zero",
        _get("/v1/logs/BW/proof/consistency", {"old": 0, "new": 2}),
        400,
        "request.invalid",
    ),
    _row(
        "consistency-new-2**70",
        _get("/v1/logs/BW/proof/consistency", {"old": 1, "new": 2**70}),
        400,
        "request.invalid",
    ),
    _row(
        "consistency-new-not-int",
        _get("/v1/logs/BW/proof/consistency", {"old": 1, "new": "two"}),
        400,
        "request.invalid",
    ),
    _row("parcel-out-64", _get("/v1/parcels/BW/1/64"), 400, "request.invalid"),
    _row("parcel-seq-negative", _get("/v1/parcels/BW/-1/0"), 400, "request.invalid"),
    _row("parcel-seq-2**70", _get(f"/v1/parcels/BW/{2**70}/0"), 400, "request.invalid"),
    _row("parcel-unknown", _get("/v1/parcels/BW/999999/0"), 404, "parcel.unknown"),
    # Logs, entries and ids in paths --------------------------------------------------------------
    _row("log-unknown-checkpoint", _get("/v1/logs/ZZ/checkpoint"), 404, "log.unknown"),
    _row("log-unknown-entries", _get("/v1/logs/ZZ/entries"), 404, "log.unknown"),
    _row(
        "log-unknown-proof",
        _get("/v1/logs/ZZ/proof/consistency", {"old": 1, "new": 1}),
        404,
        "log.unknown",
    ),
    _row("log-id-lowercase", _get("/v1/logs/bw/checkpoint"), 400, "request.invalid"),
    _row("log-id-too-long", _get("/v1/logs/ABCDEFGHI/checkpoint"), 400, "request.invalid"),
    _row(
        "traversal-encoded-log-id",
        _raw_get("/v1/logs/..%2F..%2Fetc/checkpoint"),
        404,
        "route.unknown",
    ),
    _row(
        "traversal-encoded-certificate",
        _raw_get("/v1/certificates/BW/..%2F.."),
        400,
        "certificate.number_invalid",
    ),
    _row(
        "traversal-entry-dot-segments",
        _raw_get("/v1/entries/../../etc/passwd"),
        404,
        "route.unknown",
    ),
    _row("entry-hash-not-hex", _get("/v1/entries/" + "zz" * 32), 400, "request.invalid"),
    _row("entry-hash-63-chars", _get("/v1/entries/" + "a" * 63), 400, "request.invalid"),
    _row("entry-hash-65-chars", _get("/v1/entries/" + "a" * 65), 400, "request.invalid"),
    _row("entry-hash-uppercase", _get("/v1/entries/" + "A" * 64), 400, "request.invalid"),
    _row("entry-unknown", _get(f"/v1/entries/{HASH_ZERO}"), 404, "entry.unknown"),
    _row("provenance-not-hex", _get("/v1/provenance/" + "g" * 64), 400, "request.invalid"),
    _row("provenance-unknown", _get(f"/v1/provenance/{HASH_ZERO}"), 404, "entry.unknown"),
    _row(
        "certificate-number-malformed",
        _get("/v1/certificates/BW/bw%27%3B%20drop%20table"),
        400,
        "certificate.number_invalid",
    ),
    _row(
        "certificate-number-too-long",
        _get("/v1/certificates/BW/BW-" + "1" * 5000),
        400,
        "certificate.number_invalid",
    ),
    _row("certificate-unknown", _get("/v1/certificates/BW/BW-NOPE-1"), 404, "certificate.unknown"),
    _row(
        "certificate-unknown-spaced",
        _get("/v1/certificates/BW/bw%20drop%20table"),
        404,
        "certificate.unknown",
    ),
    # Routes and methods --------------------------------------------------------------------------
    _row("route-unknown", _get("/v2/logs"), 404, "route.unknown"),
    _row("route-unknown-admin", _get("/admin"), 404, "route.unknown"),
    _row("method-get-records", _request("GET", "/v1/records"), 405, "method.not_allowed"),
    _row(
        "method-delete-checkpoint",
        _request("DELETE", "/v1/logs/BW/checkpoint"),
        405,
        "method.not_allowed",
    ),
    _row("method-post-healthz", _request("POST", "/healthz"), 405, "method.not_allowed"),
    # The batch read of parcel states (decision 0039): bounded, strict, read-only ---------------
    _row(
        "states-one-ref-too-many",
        _post_states(_states_of(lambda w: [_ref_json(w.spent)] * 257)),
        400,
        "request.batch_size",
    ),
    _row("states-no-refs", _post_states(_states_of(lambda w: [])), 400, "request.batch_size"),
    _row(
        "states-seq-a-string",
        _post_states(_states_of(lambda w: [[NODE, "1", HASH_ZERO, 0]])),
        400,
        "request.invalid",
    ),
    _row(
        "states-ref-short",
        _post_states(_states_of(lambda w: [_ref_json(w.held)[:3]])),
        400,
        "request.invalid",
    ),
    _row(
        "states-refs-not-a-list",
        _post_states(lambda w: b'{"parcels": {"BW": 1}}'),
        400,
        "request.invalid",
    ),
    _row("states-not-json", _post_states(lambda w: b"\xc1"), 400, "request.invalid"),
    _row(
        "states-as-msgpack",
        _post_states(lambda w: encode({"parcels": []}), content_type=MSGPACK),
        415,
        "request.content_type",
    ),
    _row(
        "states-body-over-its-bound",
        _post_states(lambda w: b" " * (64 + 160 * 256 + 1)),
        413,
        "request.too_large",
    ),
    _row("states-declared-over-its-bound", _raw_post_states(10**9), 413, "request.too_large"),
    # Members-only disclosures (RFC 9421) ---------------------------------------------------------
    _row(
        "disclosure-unsigned",
        lambda w: Answer.of(w.client.get(f"/v1/disclosures/{w.disclosed}")),
        401,
        "auth.missing",
    ),
    _row(
        "disclosure-unregistered-operator",
        _signed_get("BW:ghost", lambda w: crypto.generate_private_key()),
        401,
        "auth.unknown_key",
    ),
    _row(
        "disclosure-unknown-participant",
        _signed_get("ZZ", lambda w: crypto.generate_private_key()),
        401,
        "auth.unknown_key",
    ),
    _row(
        "disclosure-impostor-key",
        _signed_get("BW:officer", lambda w: crypto.generate_private_key()),
        401,
        "auth.bad_signature",
    ),
    _row(
        "disclosure-operator-past-valid-until",
        _signed_get("BW:lapsed", lambda w: MEMBER_KEYS["lapsed"]),
        403,
        "disclosure.key_not_in_force",
    ),
    _row(
        "disclosure-operator-revoked",
        _signed_get("BW:former", lambda w: MEMBER_KEYS["former"]),
        403,
        "disclosure.key_not_in_force",
    ),
    _row("disclosure-signed-for-another-node", _signed_for_another_node, 401, "auth.bad_signature"),
    _row(
        "disclosure-garbage-signature",
        _get(
            f"/v1/disclosures/{HASH_ZERO}",
            headers={"signature-input": "kp=(((", "signature": "kp=:!!:"},
        ),
        401,
        "auth.malformed",
    ),
    _row(
        "disclosure-oversized-signature-input",
        _oversized_signature_header,
        401,
        "auth.malformed",
    ),
]


def _assert_problem(answer: Answer, status: int, code: str) -> None:
    assert 400 <= answer.status < 500, (answer.status, answer.body[:500])
    assert answer.status == status, answer.body[:500]
    assert answer.headers.get("content-type") == PROBLEM, (answer.headers, answer.body[:200])
    problem = json.loads(answer.body)
    assert {"type", "title", "status", "detail", "code"} <= problem.keys(), problem
    assert problem["code"] == code, problem
    assert problem["status"] == answer.status
    for member in ("type", "title", "detail"):
        assert isinstance(problem[member], str)
        assert problem[member], problem


@pytest.mark.parametrize("row", ROWS)
def test_hostile_request_is_refused_and_changes_nothing(world: World, row: Hostile) -> None:
    row.prepare(world)
    before = world.snapshot()
    mark = world.log_mark()

    answer = row.send(world)

    if row.code is None:  # the replay: accepted again, with the original receipt
        assert answer.status == 200, answer.body[:500]
        first, again = world.scratch["replay"][1], json.loads(answer.body)
        same = ("entry_hash", "log", "seq", "proof")
        assert {k: again[k] for k in same} == {k: first[k] for k in same}
        # The same checkpoint, though witnesses may have cosigned it since the first answer.
        assert world.log_signed(again["checkpoint"]) == world.log_signed(first["checkpoint"])
    else:
        _assert_problem(answer, row.status, row.code)
    assert world.snapshot() == before
    assert world.errors_since(mark) == []


CONCURRENT = [p.values[0] for p in ROWS if p.values[0].concurrent]


def test_fifty_hostile_requests_at_once_leave_the_node_healthy(world: World) -> None:
    before = world.snapshot()
    mark = world.log_mark()
    rows = [CONCURRENT[i * len(CONCURRENT) // 50] for i in range(50)]  # spread over the table

    def fire(row: Hostile) -> tuple[Hostile, Answer]:
        with httpx.Client(base_url=world.url, timeout=60) as client:
            return row, row.send(dataclasses.replace(world, client=client))

    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(fire, rows))

    assert len(results) == 50
    failures = []
    for row, answer in results:
        assert row.code is not None
        try:
            _assert_problem(answer, row.status, row.code)
        except AssertionError:
            kind = answer.headers.get("content-type")
            failures.append(f"{row.name}: {answer.status} {kind} {answer.body[:120]!r}")
    assert failures == []
    health = world.client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert world.snapshot() == before
    assert world.errors_since(mark) == []


# --- below the application: the HTTP layer -------------------------------------------------------

HEADER_BOMB = "a" * 65_536


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/healthz", id="healthz"),
        pytest.param("GET", "/v1/logs/BW/checkpoint", id="checkpoint"),
        pytest.param("POST", "/v1/records", id="records"),
    ],
)
@pytest.mark.parametrize(
    "segment",
    [pytest.param(None, id="one-write"), pytest.param(4096, id="4k-segments")],
)
def test_header_bomb_is_refused_without_a_server_error(
    world: World, method: str, path: str, segment: int | None
) -> None:
    """A 64 KiB header value is refused with a 4xx (400 or 431), however the bytes arrive.

    Raw sockets, so that the delivery is what the test says: httpx's write may or may not
    reach the node in one read, and the answer must not depend on that.
    """
    before = world.snapshot()
    mark = world.log_mark()
    # A valid record rides along on the POST: if the bomb got through, the log would grow.
    body = _valid(world) if method == "POST" else b""
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: {MSGPACK}\r\nContent-Length: {len(body)}\r\n"
        f"X-Bomb: {HEADER_BOMB}\r\n\r\n"
    ).encode() + body
    answer = raw_exchange(world.url, request, segment=segment)
    assert answer, "the node hung up without answering"
    status = _parse_response(answer).status
    assert 400 <= status < 500, answer[:300]
    assert world.snapshot() == before
    assert world.errors_since(mark) == []


def test_client_hanging_up_mid_body_is_not_a_server_error(world: World) -> None:
    """A body shorter than its Content-Length, then EOF: a client fault, not a node failure."""
    before = world.snapshot()
    mark = world.log_mark()
    head = (
        "POST /v1/records HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: {MSGPACK}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    answer = raw_exchange(world.url, head + b"\x81\xa6signed", half_close=True)
    if answer:  # the node may answer the truncated request or just close; never with a 5xx
        assert 400 <= _parse_response(answer).status < 500
    assert world.snapshot() == before
    assert world.errors_since(mark) == []
