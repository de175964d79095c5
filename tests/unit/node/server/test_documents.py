"""``GET /v1/certificates/{log}/{number}/document`` on a real in-process node (BW of a BW + EU
devnet), and ``client.document.read_document`` through the SDK against the same node: the PDF,
its sealed values for the readers the disclosure policy entitles and for no one else, each
member's read recorded, its QR code, and the refusals.

Member requests are signed for real (RFC 9421) for the node's own configured URL.
"""

from __future__ import annotations

import datetime
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pypdfium2
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client.document import SEALED_PLACEHOLDER, read_document, render_certificate
from client.nodes import Nodes
from client.sdk import Operator, submission_bytes
from node.core import clock, crypto, httpsig
from node.core.receipt import Receipt
from node.engine.datadir import DataDir
from tests.support.asgi import Api

TODAY = clock.today()
EXPIRES_ON = (datetime.date.fromisoformat(TODAY) + datetime.timedelta(days=30)).isoformat()
EXPORTER = "Окаванго Даймонд Компани"
IMPORTER = "Antwerp Rough NV"
NUMBER = "BW/2026/0042"
DOCUMENT = "/v1/certificates/BW/BW-2026-0042/document"


def _operator(network: dict[str, Any], member: str, name: str) -> Operator:
    key_file = Path(network["participants"][member]["operators"][name]["key_file"])
    return Operator(member, name, crypto.load_private_key(key_file))


def _submit(api: Api, record: Any) -> Receipt:
    response = api.post(
        "/v1/records",
        content=submission_bytes(*record),
        headers={"content-type": "application/msgpack"},
    )
    assert response.status_code == 200, response.text
    return Receipt.from_json(response.json())


@pytest.fixture(scope="module")
def certificate(api: Api, network: dict[str, Any], mine: Operator) -> str:
    """The hex entry hash of a certificate of BW's trader's parcel to EU."""
    officer = _operator(network, "BW", "officer")
    produced = _submit(
        api,
        mine.produce(
            "BW-DOC-1",
            centicarats=12_345,
            hs_code="7102.10",
            produced_on=TODAY,
            holder="trader",
        ),
    )
    issued = _submit(
        api,
        officer.certify(
            NUMBER,
            exporter="trader",
            importing="EU",
            parcels=[produced.parcel_ref()],
            centicarats=12_345,
            hs_codes=["7102.10"],
            origins=["BW"],
            issued_on=TODAY,
            expires_on=EXPIRES_ON,
            value_usd_cents=98_765_43,
            exporter_name=EXPORTER,
            importer_name=IMPORTER,
            seal_number="SEAL-DOC",
        ),
    )
    return issued.entry_hash.hex()


@pytest.fixture(scope="module")
def signed_client(api: Api) -> Iterator[Any]:
    """``get(path, key_id, key)``: a GET signed for the node's own URL."""
    clients: list[httpx.Client] = []

    def get(path: str, key_id: str, key: Ed25519PrivateKey) -> httpx.Response:
        client = httpx.Client(
            transport=api.transport,
            base_url=api.node.settings.url,
            auth=httpsig.HttpxSigner(key_id, key),
        )
        clients.append(client)
        return client.get(path)

    yield get
    for client in clients:
        client.close()


def _text(pdf: bytes) -> str:
    (page,) = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return " ".join(page.extract_text().split())


def _key(network: dict[str, Any], key_id: str) -> Ed25519PrivateKey:
    member, _, operator = key_id.partition(":")
    if not operator:
        return DataDir(network["root"] / member).key("log")
    return _operator(network, member, operator).key


def test_an_anonymous_reader_gets_the_pdf_with_placeholders(api: Api, certificate: str) -> None:
    started = time.perf_counter()
    response = api.get(DOCUMENT)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'inline; filename="KP-BW-2026-0042.pdf"'
    text = _text(response.content)
    assert "KIMBERLEY PROCESS CERTIFICATE" in text
    assert f"Unique certificate number {NUMBER}" in text
    assert text.count(SEALED_PLACEHOLDER) == 3
    assert EXPORTER not in text
    assert IMPORTER not in text
    assert "98,765.43" not in text
    assert f"Entry hash {certificate}" in text
    assert "awaiting confirmation by the importing authority" in text
    assert len(response.content) < 64 * 1024
    assert elapsed < 2.0  # one render: about 0.1 s on the 2-core machine


def test_the_qr_code_leads_to_this_nodes_verification_page(api: Api, certificate: str) -> None:
    response = api.get(DOCUMENT)
    image = pypdfium2.PdfDocument(response.content)[0].render(scale=2).to_pil()
    genesis = api.node.genesis()
    assert genesis is not None
    url = f"{api.node.settings.url.rstrip('/')}/verify/{certificate}?genesis={genesis.hex()}"
    assert [found.text for found in zxingcpp.read_barcodes(image)] == [url]


@pytest.mark.parametrize("written", ["BW-2026-0042", "bw%202026%200042", "BW/2026/0042"])
def test_the_number_is_read_any_way_it_is_written(api: Api, certificate: str, written: str) -> None:
    response = api.get(f"/v1/certificates/BW/{written}/document")
    assert response.status_code == 200, response.text
    assert f"Entry hash {certificate}" in _text(response.content)


def test_the_certificate_route_still_answers_beside_it(api: Api, certificate: str) -> None:
    response = api.get("/v1/certificates/BW/BW-2026-0042")
    assert response.status_code == 200, response.text
    assert response.json()["ref"][2] == certificate


@pytest.mark.parametrize(
    ("key_id", "sees"),
    [
        ("BW:officer", True),  # signed the certificate: BW's authority
        ("BW:trader", True),  # the exporter
        ("EU", True),  # the importing participant's authority, by its log key
        ("BW:mine", False),  # neither party nor authority: signed, and given nothing
    ],
)
def test_a_member_sees_what_the_policy_gives_and_the_read_is_recorded(
    network: dict[str, Any],
    certificate: str,
    signed_client: Any,
    key_id: str,
    sees: bool,
) -> None:
    response = signed_client(DOCUMENT, key_id, _key(network, key_id))
    assert response.status_code == 200, response.text
    text = _text(response.content)
    assert (EXPORTER in text, IMPORTER in text, "US$ 98,765.43" in text) == (sees, sees, sees)
    assert (SEALED_PLACEHOLDER in text) is not sees
    access = signed_client("/v1/disclosures/access", "BW", _key(network, "BW"))
    assert access.status_code == 200, access.text
    reads = [
        (r["key_id"], r["allowed"])
        for r in access.json()["records"]
        if r["entry_hash"] == certificate
    ]
    assert reads[-1] == (key_id, sees)


def test_a_bad_signature_is_refused_not_served_as_anonymous(
    network: dict[str, Any], certificate: str, signed_client: Any
) -> None:
    response = signed_client(DOCUMENT, "BW:officer", crypto.generate_private_key())
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"].startswith("auth.")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/certificates/BW/BW-2026-9999/document", 404, "certificate.unknown"),
        ("/v1/certificates/EU/BW-2026-0042/document", 404, "certificate.unknown"),
        ("/v1/certificates/BW/%21%21/document", 400, "certificate.number_invalid"),
        ("/v1/certificates/bw/BW-2026-0042/document", 400, "request.invalid"),
    ],
    ids=["unknown", "other-log", "no-number", "bad-log"],
)
def test_what_is_no_certificate_is_a_problem(
    api: Api, certificate: str, path: str, status: int, code: str
) -> None:
    response = api.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_the_sdk_reads_the_same_document_the_node_renders(
    api: Api, network: dict[str, Any], certificate: str
) -> None:
    url = api.node.settings.url
    with Nodes([url], timeout=10, transport=api.transport) as nodes:
        document, sealed = read_document(nodes, certificate, base_url=url, today=TODAY)
    assert sealed == {}
    assert document.disclosed == {}
    assert render_certificate(document) == api.get(DOCUMENT).content


def test_a_members_sdk_read_fills_the_names_checked_against_their_commitments(
    api: Api, network: dict[str, Any], certificate: str
) -> None:
    url = api.node.settings.url
    officer = _operator(network, "BW", "officer")
    with Nodes([url], timeout=10, transport=api.transport, auth=officer.auth()) as nodes:
        document, sealed = read_document(
            nodes, certificate, base_url=url, today=TODAY, disclose=True
        )
    assert sealed == {}
    assert dict(document.disclosed) == {
        "exporter_name": EXPORTER,
        "importer_name": IMPORTER,
        "value_usd_cents": 98_765_43,
    }
    mine = _operator(network, "BW", "mine")
    with Nodes([url], timeout=10, transport=api.transport, auth=mine.auth()) as nodes:
        document, sealed = read_document(
            nodes, certificate, base_url=url, today=TODAY, disclose=True
        )
    assert document.disclosed == {}
    assert set(sealed.values()) == {"disclosure.not_entitled"}
