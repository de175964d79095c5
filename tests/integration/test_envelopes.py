"""A certificate's sealed values travel with the log, encrypted to those entitled (decision 0041).

Three participants on loopback. BW issues a certificate to EU. EU's authority officer reads its
values from EU's own node, which opens the envelope addressed to EU; it still does once BW's
node is stopped. IN, a third participant, reads them nowhere, though it holds the ciphertexts.
EU's store is then wiped and restored from IN alone, and EU serves the values again.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from client.sdk import LedgerClient, Operator
from node.core import crypto, httpsig
from node.core.encoding import decode
from node.core.envelope import parse_envelopes
from node.engine.datadir import DataDir
from tests.support.network import REPO, Devnet, devnet, fast_replication

HS = "7102.10"
VALUE = 987_654_321
SEAL = "SEAL-ENVELOPE-1"


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _data_dir(net: Devnet, member: str) -> Path:
    return Path(net.description["participants"][member]["data_dir"])


def _operator(net: Devnet, member: str, name: str) -> Operator:
    return Operator(member, name, net.operator_key(member, name))


def _day(offset: int = 0) -> str:
    return (
        datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=offset)
    ).isoformat()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _stop(net: Devnet, member: str) -> None:
    pid = net.description["participants"][member]["pid"]
    os.kill(pid, signal.SIGTERM)
    _wait(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 20, f"{member} to stop")


_STARTED: list[subprocess.Popen[bytes]] = []


def _start(net: Devnet, member: str) -> None:
    data_dir = _data_dir(net, member)
    with (data_dir / "node.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(data_dir)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _STARTED.append(process)
    net.description["participants"][member]["pid"] = process.pid
    (net.root / "devnet.json").write_text(json.dumps(net.description))
    _wait(lambda: httpx.get(f"{net.url(member)}/healthz", timeout=1).is_success, 30, member)


def _read(net: Devnet, at: str, reader: str) -> httpx.Response:
    """``GET /v1/disclosures/{hash}`` at ``at``'s node, signed by ``reader``'s officer."""
    signer = httpsig.HttpxSigner(f"{reader}:officer", net.operator_key(reader, "officer"))
    with httpx.Client(auth=signer, timeout=10) as client:
        return client.get(f"{net.url(at)}/v1/disclosures/{net.description['certificate']}")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with (
        fast_replication(),
        devnet(tmp_path_factory.mktemp("envelopes"), "BW,EU,IN", observers="WDC") as running,
    ):
        try:
            mine, officer = _operator(running, "BW", "mine"), _operator(running, "BW", "officer")
            with LedgerClient(running.url("BW"), timeout=30) as botswana:
                parcel = botswana.submit(
                    *mine.produce(
                        "BW-P-1",
                        centicarats=1_000,
                        hs_code=HS,
                        produced_on=_day(),
                        holder="trader",
                    )
                )
                certificate = botswana.submit(
                    *officer.certify(
                        "BW-2026-0001",
                        exporter="trader",
                        importing="EU",
                        parcels=[parcel.parcel_ref()],
                        centicarats=1_000,
                        hs_codes=[HS],
                        origins=["BW"],
                        issued_on=_day(),
                        expires_on=_day(30),
                        value_usd_cents=VALUE,
                        exporter_name="Okavango Diamond Company",
                        importer_name="Antwerp Rough Traders NV",
                        seal_number=SEAL,
                    )
                )
            running.description["certificate"] = certificate.entry_hash.hex()
            running.description["certificate_seq"] = certificate.seq
            yield running
        finally:  # the nodes this module started are its own to stop
            for process in _STARTED:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()


def _value_read(net: Devnet, at: str, reader: str) -> bool:
    response = _read(net, at, reader)
    return (
        response.status_code == 200
        and response.json()["fields"]["value_usd_cents"]["value"] == VALUE
    )


def test_the_importing_authority_reads_its_certificate_from_its_own_node(net: Devnet) -> None:
    _wait(lambda: _value_read(net, "EU", "EU"), 60, "EU to open its envelope")
    answer = _read(net, "EU", "EU").json()
    assert answer["fields"]["seal_number"]["value"] == SEAL
    assert answer["member"] == "EU:officer"
    # The read is recorded where it happened, and shown there to the authority of BW's log.
    signer = httpsig.HttpxSigner("BW:officer", net.operator_key("BW", "officer"))
    with httpx.Client(auth=signer, timeout=10) as client:
        page = client.get(f"{net.url('EU')}/v1/disclosures/access").json()
    reads = [(r["key_id"], r["entry_hash"], r["allowed"]) for r in page["records"]]
    assert ("EU:officer", net.description["certificate"], True) in reads


def test_envelopes_are_public_ciphertexts_on_every_copy(net: Devnet) -> None:
    seq = net.description["certificate_seq"]
    for holder in ("BW", "EU", "IN"):

        def held(holder: str = holder) -> bool:
            response = httpx.get(
                f"{net.url(holder)}/v1/logs/BW/envelopes",
                params={"start": seq, "end": seq + 1},
                timeout=5,
            )
            page = decode(response.content, max_size=1 << 20)
            return isinstance(page, dict) and bool(page["envelopes"])

        _wait(held, 60, f"{holder} to hold the certificate's envelopes")
        response = httpx.get(
            f"{net.url(holder)}/v1/logs/BW/envelopes",
            params={"start": seq, "end": seq + 1},
            timeout=5,
        )
        assert SEAL.encode() not in response.content
        assert VALUE.to_bytes(4, "big") not in response.content
        page = decode(response.content, max_size=1 << 20)
        assert isinstance(page, dict)
        [[at, raw]] = page["envelopes"]  # type: ignore[misc]
        assert at == seq
        assert isinstance(raw, bytes)
        assert sorted(parse_envelopes(raw)) == ["BW", "EU"]


def test_a_third_participant_reads_it_nowhere(net: Devnet) -> None:
    for at in ("BW", "EU", "IN"):
        response = _read(net, at, "IN")
        assert response.status_code in (403, 404), (at, response.text)
        assert str(VALUE) not in response.text
        assert SEAL not in response.text
        code = response.json()["code"]
        # BW and EU hold the values and refuse IN; IN holds no envelope it can open.
        assert code == ("disclosure.unknown" if at == "IN" else "disclosure.not_entitled")


def test_nothing_sealed_appears_in_any_public_response(net: Devnet) -> None:
    """Every read an anonymous caller can make, on every node, envelopes included: the values
    travel only as commitments and ciphertexts."""
    certificate = net.description["certificate"]
    seq = net.description["certificate_seq"]
    secrets = [
        SEAL.encode(),
        b"Okavango Diamond Company",
        b"Antwerp Rough Traders NV",
        str(VALUE).encode(),
        VALUE.to_bytes(4, "big"),  # as canonical msgpack carries it
    ]
    # The search finds them where they are meant to be: a signed read by the exporter's officer.
    assert all(s in _read(net, "BW", "BW").content for s in secrets[:4])
    paths = [
        "/",
        "/?q=BW-2026-0001",
        f"/?q={certificate}",
        f"/verify/{certificate}",  # the certificate's public page: sealed names as placeholders
        "/network",
        f"/parcels/BW/{seq - 1}/0",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/v1/network",
        "/v1/charters",
        "/v1/logs",
        "/v1/evidence",
        f"/v1/entries/{certificate}",
        "/v1/certificates/BW/BW-2026-0001",
        f"/v1/provenance/{certificate}",
        f"/v1/provenance/{certificate}?depth=all",
        f"/v1/disclosures/{certificate}",  # unsigned: refused
        *(
            path
            for log in ("BW", "EU", "IN")
            for path in (
                f"/v1/logs/{log}/checkpoint?latest=1",
                f"/v1/logs/{log}/entries?start=0",
                f"/v1/logs/{log}/envelopes?start=0",
            )
        ),
        f"/v1/logs/BW/envelopes?start={seq}&end={seq + 1}",
    ]
    for node in ("BW", "EU", "IN"):
        for path in paths:
            response = httpx.get(f"{net.url(node)}{path}", timeout=10)
            assert response.status_code < 500, (node, path, response.status_code)
            for secret in secrets:
                assert secret not in response.content, (node, path, secret)
        seen = httpx.post(
            f"{net.url(node)}/v1/parcels/states",
            json={"parcels": [["BW", seq - 1, "00" * 32, 0]]},
            timeout=10,
        )
        assert all(secret not in seen.content for secret in secrets), node


def test_an_observer_reads_it_nowhere(net: Devnet) -> None:
    """An observer (WDC) holds every log and its envelopes, none addressed to it: with its own
    log key it is given aggregates only, on every node."""
    key = DataDir(_data_dir(net, "WDC")).key("log")
    with httpx.Client(auth=httpsig.HttpxSigner("WDC", key), timeout=10) as client:
        for at in ("BW", "EU", "IN", "WDC"):
            response = client.get(f"{net.url(at)}/v1/disclosures/{net.description['certificate']}")
            assert SEAL.encode() not in response.content
            if at in ("BW", "EU"):  # they can open the values, and refuse them to WDC
                assert response.status_code == 403, (at, response.text)
                assert response.json()["code"] == "disclosure.aggregates_only", at
            else:  # nothing here WDC's node or IN's can open
                assert response.status_code == 404, (at, response.text)


def test_an_operator_past_its_registration_reads_it_nowhere(net: Devnet) -> None:
    """EU registers an authority officer whose registration has already ended: EU's node can
    open the values, and refuses them to that key; no other node knows it in force either."""
    key = crypto.generate_private_key()
    added = subprocess.run(
        [
            sys.executable, "-m", "node.cli", "operator", "add", "--dir",
            str(_data_dir(net, "EU")), "lapsed", "--kind", "authority", "--public-key",
            base64.b64encode(crypto.public_key_bytes(key)).decode(), "--valid-until",
            "2026-01-01",
        ],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    path = f"/v1/disclosures/{net.description['certificate']}"
    with httpx.Client(auth=httpsig.HttpxSigner("EU:lapsed", key), timeout=10) as client:

        def refused_at_eu() -> bool:
            return client.get(f"{net.url('EU')}{path}").status_code == 403

        _wait(refused_at_eu, 30, "EU to know its lapsed officer")
        for at in ("BW", "EU", "IN"):
            response = client.get(f"{net.url(at)}{path}")
            assert SEAL.encode() not in response.content
            assert response.status_code in (401, 403, 404), (at, response.text)
        answer = client.get(f"{net.url('EU')}{path}")
        assert answer.json()["code"] == "disclosure.key_not_in_force"


def test_the_importer_still_reads_with_the_exporters_node_stopped(net: Devnet) -> None:
    _stop(net, "BW")
    assert _value_read(net, "EU", "EU")


def test_a_wiped_importer_restored_from_its_peers_serves_it_again(net: Devnet) -> None:
    # BW is still stopped: IN alone serves the restore, and with it BW's log and envelopes.
    _stop(net, "EU")
    data_dir = _data_dir(net, "EU")
    shutil.rmtree(data_dir / "store")
    (data_dir / "store").mkdir(mode=0o700)
    restore = subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "restore",
            "--dir",
            str(data_dir),
            str(net.root / "genesis.charter"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert restore.returncode == 0, restore.stderr
    _start(net, "EU")
    _wait(lambda: _value_read(net, "EU", "EU"), 90, "the restored EU to serve its values")
