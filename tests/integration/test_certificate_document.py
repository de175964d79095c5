"""``kp certificate pdf`` and ``GET /v1/certificates/{log}/{number}/document`` against a real
two-node devnet (BW and EU on loopback): BW certifies a parcel to EU, the PDF is written before
and after EU confirms it, for anyone and for a member, and its QR code is scanned.

``kp`` runs as ``python -m client.cli`` in a subprocess, exactly as a user runs it.
"""

from __future__ import annotations

import datetime
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pypdfium2
import pytest
import zxingcpp

from client.document import AWAITING_CONFIRMATION, SEALED_PLACEHOLDER
from client.sdk import LedgerClient, Operator, ProblemError
from tests.support.network import Devnet, devnet, fast_replication, kp

TODAY = datetime.datetime.now(datetime.UTC).date().isoformat()
EXPIRES_ON = (datetime.date.fromisoformat(TODAY) + datetime.timedelta(days=30)).isoformat()
EXPORTER = "Δέλτα Diamonds (Pty) Ltd"
IMPORTER = "Антверпен Раф НВ"
NUMBER = "BW-2026-0777"


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _operator(net: Devnet, member: str, name: str) -> Operator:
    return Operator(member, name, net.operator_key(member, name))


def _key_file(net: Devnet, member: str, operator: str) -> str:
    return str(net.description["participants"][member]["operators"][operator]["key_file"])


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """BW's certificate to EU, issued: ``description["certificate"]`` holds its receipt."""
    with fast_replication("0.2"), devnet(tmp_path_factory.mktemp("doc")) as running:
        with LedgerClient(running.url("BW")) as bw:
            produced = bw.submit(
                *_operator(running, "BW", "mine").produce(
                    "BW-DOC-7",
                    centicarats=50_000,
                    hs_code="7102.10",
                    produced_on=TODAY,
                    holder="trader",
                )
            )
            issued = bw.submit(
                *_operator(running, "BW", "officer").certify(
                    NUMBER,
                    exporter="trader",
                    importing="EU",
                    parcels=[produced.parcel_ref()],
                    centicarats=50_000,
                    hs_codes=["7102.10"],
                    origins=["BW"],
                    issued_on=TODAY,
                    expires_on=EXPIRES_ON,
                    value_usd_cents=7_500_000_00,
                    exporter_name=EXPORTER,
                    importer_name=IMPORTER,
                    seal_number="SEAL-777",
                )
            )
        running.description["certificate"] = issued
        yield running


def _pdf(net: Devnet, out: Path, subject: str, *extra: str) -> tuple[dict[str, Any], str, bytes]:
    result = kp("certificate", "pdf", subject, "-o", str(out), "--node", net.url("BW"), "--json",
                *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = out.read_bytes()
    (page,) = pypdf.PdfReader(io.BytesIO(body)).pages
    return json.loads(result.stdout), " ".join(page.extract_text().split()), body


def _scanned(body: bytes) -> list[str]:
    image = pypdfium2.PdfDocument(body)[0].render(scale=2).to_pil()
    return [found.text for found in zxingcpp.read_barcodes(image)]


def test_anyone_prints_the_certificate_with_its_sealed_values_hidden(
    net: Devnet, tmp_path: Path
) -> None:
    entry_hash = net.description["certificate"].entry_hash.hex()
    document, text, body = _pdf(net, tmp_path / "cert.pdf", "bw 2026 0777")
    url = f"{net.url('BW')}/verify/{entry_hash}?genesis={net.description['genesis']}"
    assert document["url"] == url
    assert (document["certificate"], document["entry_hash"]) == (NUMBER, entry_hash)
    assert document["sealed"] == ["exporter_name", "importer_name", "value_usd_cents"]
    assert text.count(SEALED_PLACEHOLDER) == 3
    assert EXPORTER not in text
    assert IMPORTER not in text
    assert AWAITING_CONFIRMATION in text
    assert _scanned(body) == [url]
    # The node renders the same inputs to the same bytes.
    served = httpx.get(f"{net.url('BW')}/v1/certificates/BW/{NUMBER}/document")
    assert served.status_code == 200
    assert served.content == body


def test_a_member_prints_the_names_the_policy_gives_it(net: Devnet, tmp_path: Path) -> None:
    member = ["--member", "BW:officer", "--key-file", _key_file(net, "BW", "officer")]
    document, text, _ = _pdf(net, tmp_path / "member.pdf", NUMBER, *member)
    assert document["disclosed"] == ["exporter_name", "importer_name", "value_usd_cents"]
    assert (document["sealed"], document["refused"]) == ([], {})
    assert f"Exporter {EXPORTER}" in text
    assert f"Importer {IMPORTER}" in text
    assert "US$ 7,500,000.00" in text
    assert SEALED_PLACEHOLDER not in text


def test_an_unknown_number_is_not_found_and_another_network_undecided(
    net: Devnet, tmp_path: Path
) -> None:
    out = tmp_path / "none.pdf"
    unknown = kp("certificate", "pdf", "BW-2026-0001", "-o", str(out), "--node", net.url("BW"))
    assert unknown.returncode == 4, unknown.stderr
    assert unknown.stdout.startswith("NOT FOUND")
    other = kp("certificate", "pdf", NUMBER, "-o", str(out), "--node", net.url("BW"),
               "--trust", "00" * 32)  # fmt: skip
    assert other.returncode == 2, other.stderr
    assert "not the trusted" in other.stderr
    assert not out.exists()


def test_once_confirmed_the_document_shows_the_receipt(net: Devnet, tmp_path: Path) -> None:
    issued = net.description["certificate"]
    with LedgerClient(net.url("EU")) as eu:
        # EU judges the confirmation against its replica of BW's log.
        _wait(lambda: _holds(eu, issued.entry_hash.hex()), 30, "EU to replicate the certificate")
        confirmed = eu.submit(
            *_operator(net, "EU", "officer").confirm(
                [issued.log, issued.seq, issued.entry_hash],
                received_on=TODAY,
                parcels=[("EU-DOC-7", 49_990, "7102.10")],
                holder="trader",
                seal_intact=True,
            )
        )
    with LedgerClient(net.url("BW")) as bw:
        _wait(
            lambda: bw.certificate("BW", NUMBER).status == "confirmed",
            30,
            "BW to see EU's confirmation",
        )
    # Asked by the confirmation's hash, the command prints the certificate it confirms.
    document, text, body = _pdf(net, tmp_path / "confirmed.pdf", confirmed.entry_hash.hex())
    assert (document["certificate"], document["certificate_status"]) == (NUMBER, "confirmed")
    assert f"Received on {TODAY}" in text
    assert "Carats received 499.90 carats" in text
    assert "Seal intact yes" in text
    assert f"Confirmation entry {confirmed.entry_hash.hex()}" in text
    assert AWAITING_CONFIRMATION not in text
    served = httpx.get(f"{net.url('BW')}/v1/certificates/BW/{NUMBER}/document")
    assert served.content == body


def _holds(client: LedgerClient, entry_hash: str) -> bool:
    try:
        client.entry(entry_hash)
    except ProblemError:  # entry.unknown: not replicated yet
        return False
    return True
