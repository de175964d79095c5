"""A real ``kp-node`` over HTTP: set up with the command line, driven with httpx, restarted.

One node (Botswana) is made the long way — ``kp-node init``, ``charter genesis``, ``charter sign``
by each member, ``charter adopt``, ``operator add`` — and served by ``kp-node run``. Records go in
over HTTP; receipts, proofs and checkpoints are checked with node.core.merkle and
node.core.notes; the process is stopped and started again and everything is still there.
"""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgpack
import pytest

from node.core import crypto, httpsig, merkle, notes
from node.core.receipt import Receipt
from node.core.records import Entry
from tests.support.network import REPO, Devnet, Submitter, free_port_block, kp_node

NETWORK = "kp.itest"


@dataclass
class Node:
    root: Path
    url: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.root / "BW" / "node.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(self.root / "BW")],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError((self.root / "BW" / "node.log").read_text()[-3000:])

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert self.process.wait(timeout=20) in (0, -signal.SIGTERM)
        self.process = None
        assert '"message": "stopped"' in (self.root / "BW" / "node.log").read_text()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("net")
    port = free_port_block(1)
    for member, name in (("BW", "Botswana"), ("EU", "European Union"), ("IN", "India")):
        kp_node(
            "init",
            "--dir",
            str(root / member),
            "--participant",
            member,
            "--network",
            NETWORK,
            "--name",
            f"KP authority of {name}",
            "--port",
            str(port if member == "BW" else port + 1),
        )
    genesis = root / "genesis.charter"
    made = kp_node(
        "charter",
        "genesis",
        "--network",
        NETWORK,
        *[
            a
            for m in ("BW", "EU", "IN")
            for a in ("--participant-file", str(root / m / "participant.json"))
        ],
        "-o",
        str(genesis),
    )
    genesis_hash = made.stdout.strip()
    # The defaulted policy is shown to the founders who will sign it; stdout is the hash alone.
    assert "charter_threshold 2 of 3 participants, witness_quorum 2" in made.stderr
    # Until every member signed, the genesis does not verify; then it does.
    assert (
        kp_node(
            "charter", "verify", "--genesis", genesis_hash, str(genesis), check=False
        ).returncode
        == 1
    )
    # A genesis hash mistyped is a usage error that says what a hash is, not a traceback.
    mistyped = kp_node("charter", "verify", "--genesis", "XX", str(genesis), check=False)
    assert mistyped.returncode == 2
    assert "64 hex digits" in mistyped.stderr
    assert "Traceback" not in mistyped.stderr
    for member in ("BW", "EU", "IN"):
        kp_node("charter", "sign", "--dir", str(root / member), str(genesis))
    assert (
        "valid: version 1"
        in kp_node("charter", "verify", "--genesis", genesis_hash, str(genesis)).stdout
    )
    kp_node("charter", "adopt", "--dir", str(root / "BW"), str(genesis))
    operators = root / "BW" / "operators"
    operators.mkdir()
    for name, kind in (("officer", "authority"), ("mine", "mine"), ("trader", "trader")):
        # Each operator makes its own key; the authority registers only the public half.
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "client.cli",
                "key",
                "new",
                "-o",
                str(operators / f"{name}.pem"),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        assert f"{name}.pem.pub" in made.stdout
        public_pem = (operators / f"{name}.pem.pub").read_bytes()
        assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
        kp_node(
            "operator",
            "add",
            "--dir",
            str(root / "BW"),
            name,
            "--kind",
            kind,
            "--key-file",
            str(operators / f"{name}.pem.pub"),
        )
    listing = kp_node("operator", "list", "--dir", str(root / "BW")).stdout
    assert {"officer", "mine", "trader"} <= {line.split()[0] for line in listing.splitlines()}
    served = Node(root, f"http://127.0.0.1:{port}")
    served.start()
    yield served
    if served.process is not None:
        served.stop()


def _net(node: Node) -> Devnet:
    operators = {
        name: {"key_file": str(node.root / "BW" / "operators" / f"{name}.pem")}
        for name in ("officer", "mine", "trader")
    }
    return Devnet(node.root, {"participants": {"BW": {"url": node.url, "operators": operators}}})


def _log_vkey(node: Node) -> str:
    network = httpx.get(f"{node.url}/v1/network").json()
    return str(network["participants"]["BW"]["log_vkey"])


def _check_receipt(node: Node, receipt: Receipt) -> notes.Checkpoint:
    text, names = notes.verify_note(receipt.checkpoint, [_log_vkey(node)])
    assert names == [f"{NETWORK}/BW"]
    checkpoint = notes.Checkpoint.parse(text)
    proof = list(receipt.proof)
    merkle.verify_inclusion(
        receipt.entry_hash,
        receipt.seq,
        checkpoint.size,
        proof,
        checkpoint.root,
    )
    assert notes.TlogProof.parse(receipt.tlog_proof()).index == receipt.seq
    return checkpoint


def _produce(s: Submitter, parcel: str, centicarats: int) -> Receipt:
    return s.submit(
        "parcel.produce",
        {
            "parcel": parcel,
            "mine": "mine",
            "produced_on": time.strftime("%Y-%m-%d", time.gmtime()),
            "centicarats": centicarats,
            "hs_code": "7102.10",
            "holder": "mine",
        },
        by="mine",
    )


def test_records_receipts_proofs_and_restart(node: Node) -> None:
    s = Submitter(_net(node), "BW")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    expiry = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86_400))
    first = _produce(s, "BW-JW-0001", 250_000)
    before = _check_receipt(node, first)
    parcel = ["BW", first.seq, first.entry_hash, 0]
    transfer = s.submit(
        "parcel.transfer",
        {"parcel": parcel, "to": "trader", "warranty": True},
        by="mine",
        sealed_values={"invoice": "INV-77"},
    )
    split = s.submit(
        "parcel.transform",
        {
            "inputs": [parcel],
            "kind": "sort",
            "outputs": [
                {"parcel": "BW-S-1", "centicarats": 150_000, "hs_code": "7102.31"},
                {"parcel": "BW-S-2", "centicarats": 99_900, "hs_code": "7102.21"},
            ],
        },
        by="trader",
    )
    out0 = ["BW", split.seq, split.entry_hash, 0]
    certificate = s.submit(
        "certificate.issue",
        {
            "number": "BW-2026-000001",
            "exporter": "trader",
            "importing": "EU",
            "parcels": [out0],
            "parcel_count": 1,
            "centicarats": 150_000,
            "hs_codes": ["7102.31"],
            "origins": ["BW"],
            "issued_on": today,
            "expires_on": expiry,
        },
        by="officer",
        sealed_values={
            "value_usd_cents": 410_000_000,
            "exporter_name": "Okavango Diamond Co",
            "importer_name": "Antwerp Rough NV",
            "seal_number": "S-1",
        },
    )
    after = _check_receipt(node, certificate)
    for receipt in (transfer, split):
        _check_receipt(node, receipt)

    # The checkpoints are consistent: the later tree extends the earlier one.
    proof = httpx.get(
        f"{node.url}/v1/logs/BW/proof/consistency", params={"old": before.size, "new": after.size}
    ).json()
    merkle.verify_consistency(
        before.size,
        after.size,
        before.root,
        after.root,
        [base64.b64decode(h) for h in proof["hashes"]],
    )
    # Entries fetched as msgpack chain from the genesis and hash to the receipts.
    page = httpx.get(f"{node.url}/v1/logs/BW/entries", params={"start": 0})
    assert page.headers["content-type"] == "application/msgpack"
    raw = msgpack.unpackb(page.content)
    assert len(raw) == after.size
    assert merkle.root([merkle.leaf_hash(e) for e in raw]) == after.root
    assert Entry.parse(raw[certificate.seq]).leaf_hash.hex() == certificate.entry_hash.hex()

    state = httpx.get(f"{node.url}/v1/certificates/BW/BW-2026-000001").json()
    assert state["status"] == "usable"
    assert state["origins"] == ["BW"]
    assert (state["received_on"], state["recorded_on"]) == (None, None)  # not confirmed yet
    held = httpx.get(f"{node.url}/v1/parcels/BW/{split.seq}/1").json()
    assert (held["holder"], held["centicarats"], held["live"]) == ("trader", 99_900, True)
    entry = httpx.get(f"{node.url}/v1/entries/{certificate.entry_hash.hex()}").json()
    assert entry["entry"]["signed"]["record"]["type"] == "certificate.issue"
    url = f"{node.url}/v1/provenance/{certificate.entry_hash.hex()}"
    bundle = httpx.get(url, params={"depth": "all"})
    assert bundle.headers["content-type"].startswith("application/vnd.kp-ledger.bundle.v1+json")
    assert {e["hash"] for e in bundle.json()["entries"]} >= {
        first.entry_hash.hex(),
        transfer.entry_hash.hex(),
        split.entry_hash.hex(),
        certificate.entry_hash.hex(),
    }
    assert "seeds" not in bundle.json()
    # By default the certificate and the split that made its parcel; the produced parcel the
    # split consumed is seeded as it was just before, transferred to the trader.
    bounded = httpx.get(url).json()
    assert bounded["depth"] == 1
    assert {e["hash"] for e in bounded["entries"]} >= {
        split.entry_hash.hex(),
        certificate.entry_hash.hex(),
    }
    assert first.entry_hash.hex() not in {e["hash"] for e in bounded["entries"]}
    [seed] = bounded["seeds"]
    assert (seed["hash"], seed["holder"], seed["origins"]) == (
        first.entry_hash.hex(),
        "trader",
        ["BW"],
    )
    for wrong in ("-1", "deep", "1.5", "9999999"):
        refused = httpx.get(url, params={"depth": wrong})
        assert (refused.status_code, refused.json()["code"]) == (400, "request.invalid"), wrong

    # Disclosures: members only.
    url = f"{node.url}/v1/disclosures/{certificate.entry_hash.hex()}"
    assert httpx.get(url).status_code == 401
    officer = crypto.load_private_key(node.root / "BW" / "operators" / "officer.pem")
    with httpx.Client(auth=httpsig.HttpxSigner("BW:officer", officer)) as member:
        opened = member.get(url)
    assert opened.status_code == 200, opened.text
    assert opened.json()["fields"]["value_usd_cents"]["value"] == 410_000_000
    stranger = crypto.generate_private_key()
    with httpx.Client(auth=httpsig.HttpxSigner("BW:officer", stranger)) as impostor:
        assert impostor.get(url).status_code == 401

    # A restart keeps everything; a resubmission gets the original receipt.
    checkpoint_before = httpx.get(f"{node.url}/v1/logs/BW/checkpoint?latest=1").text
    node.stop()
    node.start()
    assert httpx.get(f"{node.url}/v1/logs/BW/checkpoint?latest=1").text == checkpoint_before
    replay = httpx.get(f"{node.url}/v1/entries/{first.entry_hash.hex()}")
    assert replay.status_code == 200
    state = httpx.get(f"{node.url}/v1/certificates/BW/BW-2026-000001").json()
    assert state["status"] == "usable"
    later = _produce(s, "BW-JW-0002", 1_000)
    assert later.seq == after.size
    s.close()


def test_resubmission_returns_the_original_receipt(node: Node) -> None:
    s = Submitter(_net(node), "BW")
    submission = s.signed(
        "parcel.produce",
        {
            "parcel": "BW-JW-R",
            "mine": "mine",
            "produced_on": time.strftime("%Y-%m-%d", time.gmtime()),
            "centicarats": 5_000,
            "hs_code": "7102.10",
            "holder": "mine",
        },
        by="mine",
    )
    first = s.post(submission)
    second = s.post(submission)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    s.close()


def test_refusals_are_problem_json_and_change_nothing(node: Node) -> None:
    s = Submitter(_net(node), "BW")
    size = httpx.get(f"{node.url}/healthz").json()["size"]
    stranger = crypto.generate_private_key()
    forged = s.signed(
        "parcel.produce",
        {
            "parcel": "BW-F",
            "mine": "mine",
            "produced_on": "2026-01-01",
            "centicarats": 1,
            "hs_code": "7102.10",
            "holder": "mine",
        },
        by="mine",
        key=stranger,
    )
    refused = s.post(forged)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "signature.invalid"
    assert httpx.get(f"{node.url}/healthz").json()["size"] == size
    s.close()


def test_metrics_exported(node: Node) -> None:
    text = httpx.get(f"{node.url}/metrics").text
    for name in (
        "kp_http_request_seconds",
        "kp_sequencer_batch_records",
        "kp_sequencer_commit_seconds",
        "kp_log_size",
    ):
        assert name in text


def test_log_size_metric_counts_entries_appended_by_admin_commands(node: Node) -> None:
    operator = crypto.generate_private_key()
    kp_node(
        "operator",
        "add",
        "--dir",
        str(node.root / "BW"),
        "metrics-probe",
        "--kind",
        "trader",
        "--public-key",
        base64.b64encode(crypto.public_key_bytes(operator.public_key())).decode(),
    )
    size = httpx.get(f"{node.url}/healthz").json()["size"]
    text = httpx.get(f"{node.url}/metrics").text
    assert f'kp_log_size{{log="BW"}} {float(size)}' in text


def test_charter_successor_suspends_by_threshold_and_backup_restores(
    node: Node, tmp_path: Path
) -> None:
    root = node.root
    genesis = root / "genesis.charter"
    successor = tmp_path / "v2.charter"
    # Suspending one of three members leaves one other active member to cosign each log.
    refused = kp_node(
        "charter", "successor", str(genesis), "--suspend", "IN", "-o", str(successor), check=False
    )
    assert "charter.quorum_unreachable" in refused.stderr
    made = kp_node(
        "charter",
        "successor",
        str(genesis),
        "--suspend",
        "IN",
        "--witness-quorum",
        "1",
        "-o",
        str(successor),
    )
    assert made.stdout.startswith("version 2: ")
    genesis_hash = kp_node("charter", "verify", "--genesis", _genesis_hash(node), str(genesis))
    assert "valid: version 1" in genesis_hash.stdout
    # One signature is not the threshold (2 of the 3 members); two are.
    kp_node("charter", "sign", "--dir", str(root / "BW"), str(successor))
    short = kp_node(
        "charter",
        "verify",
        "--genesis",
        _genesis_hash(node),
        str(genesis),
        str(successor),
        check=False,
    )
    assert short.returncode == 1
    assert "threshold_not_met" in short.stderr
    kp_node("charter", "sign", "--dir", str(root / "EU"), str(successor))
    kp_node("charter", "sign", "--dir", str(root / "IN"), str(successor))
    done = kp_node(
        "charter", "verify", "--genesis", _genesis_hash(node), str(genesis), str(successor)
    )
    assert "valid: version 2" in done.stdout
    adopted = kp_node("charter", "adopt", "--dir", str(root / "BW"), str(successor))
    assert adopted.stdout.startswith("adopted version 2 in BW")
    # A consistent copy of the store while the node serves, which opens on its own.
    backup = tmp_path / "backup"
    kp_node("backup", "--dir", str(root / "BW"), "--to", str(backup))
    assert (backup / "data.mdb").stat().st_mode & 0o777 == 0o600
    size = httpx.get(f"{node.url}/healthz").json()["size"]
    from node.engine.store import Store

    copy = Store.open(backup, map_size=1 << 30)
    try:
        with copy.read() as reader:
            assert reader.log("BW").size() == size
    finally:
        copy.close()


def _genesis_hash(node: Node) -> str:
    return str(httpx.get(f"{node.url}/v1/network").json()["genesis"])
