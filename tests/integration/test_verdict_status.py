"""``kp verify`` of certificates in every status, online and offline, on three real nodes.

BW certifies two shipments to EU through ``kp submit``; the test verifies each as it becomes
usable, expired (judged on a later date), rejected, voided and confirmed, and checks the first
line, the ``--json`` status and the exit code a customs officer's script would act on.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_kp_cli import kp, kp_json, wait_until
from tests.support.network import Devnet, devnet, fast_replication

MEMBERS = ("BW", "EU", "IN")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with fast_replication(), devnet(tmp_path_factory.mktemp("net"), ",".join(MEMBERS)) as running:
        yield running


def _nodes(net: Devnet) -> list[str]:
    return [arg for m in MEMBERS for arg in ("--node", net.url(m))]


def _trust(net: Devnet) -> list[str]:
    return ["--trust", str(net.description["genesis"])]


def _as(net: Devnet, member: str, operator: str) -> list[str]:
    key = net.description["participants"][member]["operators"][operator]["key_file"]
    return ["--key-file", str(key), "--operator", operator, "--log", member]


def _submit(net: Devnet, *args: str) -> dict[str, Any]:
    code, receipt = kp_json("submit", *args, *_nodes(net), "--wait", "witnessed")
    assert code == 0, receipt
    return receipt


def _certify(net: Devnet, number: str, parcel: str) -> dict[str, Any]:
    produced = _submit(
        net, "produce", parcel, "--centicarats", "20000", "--hs-code", "7102.10",
        *_as(net, "BW", "mine"),
    )  # fmt: skip
    [ref] = produced["parcels"]
    return _submit(
        net, "certify", number, "--exporter", "mine", "--importing", "EU", "--parcel", ref,
        "--value-usd-cents", "1000000", "--exporter-name", "Jwaneng Diamonds",
        "--importer-name", "Antwerp Rough NV", "--seal-number", "S-1",
        *_as(net, "BW", "officer"),
    )  # fmt: skip


def _verify(net: Devnet, subject: str, *extra: str) -> tuple[int, dict[str, Any]]:
    return kp_json("verify", subject, *_nodes(net), *_trust(net), *extra)


def _verify_offline(net: Devnet, subject: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    bundle = tmp_path / f"{subject}.json"
    code, written = kp_json("bundle", "export", subject, "-o", str(bundle), *_nodes(net))
    assert code == 0, written
    return kp_json("verify", "--bundle", str(bundle), *_trust(net))


def _settled(net: Devnet, number: str, state: str) -> bool:
    code, verdict = _verify(net, number)
    return code in (0, 3) and verdict["certificate"]["state"] == state


def test_a_certificate_through_its_life(net: Devnet, tmp_path: Path) -> None:
    wait_until(lambda: _replicated(net), 60, "the network to form")
    usable = _certify(net, "BW-2026-0101", "BW-LIFE-1")
    refused = _certify(net, "BW-2026-0102", "BW-LIFE-2")

    # Usable: exit 0, and it says until when and as of when.
    code, verdict = _verify(net, "BW-2026-0101")
    assert code == 0, verdict
    assert verdict["usable"] is True
    assert verdict["headline"].startswith("VALID — USABLE for import into EU until")
    code, offline = _verify_offline(net, usable["entry_hash"], tmp_path)
    assert (code, offline["certificate"]["state"]) == (0, "usable")
    assert offline["certificate"]["as_of"]

    # Expired: judged on a date after its expiry, online and offline.
    later = (datetime.date.today() + datetime.timedelta(days=45)).isoformat()
    code, verdict = _verify(net, "BW-2026-0101", "--date", later)
    assert (code, verdict["certificate"]["state"]) == (3, "expired")
    assert verdict["headline"].startswith("VALID — EXPIRED on")
    human = kp("verify", "BW-2026-0101", *_nodes(net), *_trust(net), "--date", later)
    assert human.returncode == 3
    assert human.stdout.startswith("VALID — EXPIRED on")

    # Rejected by the importer, then voided by the issuer with the rejection as evidence.
    rejection = _submit(
        net, "reject", "BW-2026-0102", "--reason", "seal number differs",
        *_as(net, "EU", "officer"),
    )  # fmt: skip
    wait_until(lambda: _settled(net, "BW-2026-0102", "rejected"), 30, "the rejection")
    code, verdict = _verify(net, "BW-2026-0102")
    assert code == 3
    assert verdict["headline"].startswith("VALID — REJECTED by EU on")
    assert verdict["certificate"]["decided_by"] == rejection["entry_hash"]
    code, offline = _verify_offline(net, refused["entry_hash"], tmp_path)
    assert (code, offline["certificate"]["state"]) == (3, "rejected")

    evidence = f"EU:{rejection['seq']}:{rejection['entry_hash']}"
    void = _submit(
        net, "void", "BW-2026-0102", "--reason", "rejected by EU", "--evidence", evidence,
        *_as(net, "BW", "officer"),
    )  # fmt: skip
    # The receipt names the parcels the void gave back, to be certified anew.
    assert void["parcels"] == [f"BW:{void['seq']}:{void['entry_hash']}:0"]
    wait_until(lambda: _settled(net, "BW-2026-0102", "voided"), 30, "the void")
    code, verdict = _verify(net, "BW-2026-0102")
    assert code == 3
    assert verdict["headline"].startswith("VALID — VOIDED by BW on")
    assert verdict["certificate"]["decided_by"] == void["entry_hash"]
    code, offline = _verify_offline(net, refused["entry_hash"], tmp_path)
    assert (code, offline["certificate"]["state"]) == (3, "voided")

    # Confirmed by the importer: valid history, not usable again.
    confirmation = _submit(
        net, "confirm", "BW-2026-0101", "--parcel", "EU-LIFE-1:20000:7102.10",
        "--holder", "trader", *_as(net, "EU", "officer"),
    )  # fmt: skip
    wait_until(lambda: _settled(net, "BW-2026-0101", "confirmed"), 30, "the confirmation")
    code, verdict = _verify(net, "BW-2026-0101")
    assert code == 3
    assert verdict["headline"].startswith("VALID — CONFIRMED by EU on")
    assert verdict["certificate"]["decided_by"] == confirmation["entry_hash"]
    code, offline = _verify_offline(net, usable["entry_hash"], tmp_path)
    assert (code, offline["certificate"]["state"]) == (3, "confirmed")
    # The confirmation itself is a valid entry, and says what it confirmed.
    code, verdict = _verify(net, confirmation["entry_hash"])
    assert code == 0, verdict
    assert verdict["certificate"]["state"] == "confirmed"


def _replicated(net: Devnet) -> bool:
    code, _ = kp_json("audit", "--all", "--node", net.url("IN"), *_trust(net))
    return code == 0
