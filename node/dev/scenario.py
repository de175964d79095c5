"""The multi-country chain of custody, run against a live network over HTTP.

Mines in Botswana and Canada produce; each certifies its parcel to the EU, which confirms; an
Antwerp trader merges both imports and splits the result; the EU certifies part to India and part
to the UAE; both confirm; the UAE re-exports to India, which confirms. Every record is signed
with the operator keys ``kp-node devnet up`` wrote and submitted to its own participant's node
with ``?wait=witnessed``. ``kp-node devnet scenario`` runs it and records every step's entry hash
in ``devnet.json``; the demo and the integration tests use it.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

from client.sdk import LedgerClient, Operator, ProblemError
from node.core import crypto, notes
from node.core.encoding import Value
from node.core.errors import ScenarioError
from node.core.receipt import Receipt

__all__ = ["run_scenario"]

MEMBERS = ("BW", "CA", "EU", "AE", "IN")
PENDING_SECONDS = 30.0
SETTLE_SECONDS = 60.0


class _Participant:
    """One participant's node and operator keys, as ``devnet.json`` describes them."""

    def __init__(self, member: str, info: dict[str, Any], client: LedgerClient) -> None:
        self.member = member
        self.client = client
        self.operators = {
            name: Operator(member, name, crypto.load_private_key(Path(op["key_file"])))
            for name, op in info["operators"].items()
        }

    def submit(
        self,
        record_type: str,
        body: dict[str, Value],
        *,
        by: str,
        sealed: dict[str, Value] | None = None,
    ) -> Receipt:
        signed = self.operators[by].sign(record_type, body, sealed_values=sealed)
        deadline = time.monotonic() + PENDING_SECONDS
        while True:
            try:
                return self.client.submit(*signed, wait="witnessed")
            except ProblemError as refused:
                # The node has not replicated the log this record points into yet: wait.
                if refused.code != "reference.unknown" or time.monotonic() > deadline:
                    raise ScenarioError(
                        f"{self.member} refused {record_type}: {refused.message}"
                    ) from refused
            time.sleep(0.2)


def _settle(clients: dict[str, LedgerClient]) -> None:
    """Wait until every node serves every log witnessed at its full size.

    Each record was answered once its own node's checkpoint was witnessed. The copies on the
    other nodes, and the cosignatures those copies carry, follow in the background (replication,
    and the sharing of witnessed checkpoints). Whoever verifies next may ask any node, so the
    scenario ends only when they all agree.

    Raises:
        ScenarioError: the network did not settle within ``SETTLE_SECONDS``.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        sizes = {m: _size(clients[m].checkpoint(m, latest=True)) for m in MEMBERS}
        behind = [
            f"{holder}'s copy of {log}"
            for holder, client in clients.items()
            for log in MEMBERS
            if _witnessed_size(client, log) < sizes[log]
        ]
        if not behind:
            return
        if time.monotonic() > deadline:
            raise ScenarioError(f"not witnessed at full size in time: {', '.join(behind)}")
        time.sleep(0.2)


def _witnessed_size(client: LedgerClient, log: str) -> int:
    try:
        return _size(client.checkpoint(log))
    except ProblemError as missing:
        if missing.code != "checkpoint.unwitnessed":
            raise
        return 0


def _size(checkpoint: str) -> int:
    return notes.SignedCheckpoint.parse(checkpoint).size


def run_scenario(description: dict[str, Any]) -> dict[str, str]:
    """Run the scenario against the network ``description`` (devnet.json); return each step's
    entry hash, ``final`` being India's confirmation of the UAE re-export.

    It returns once every node serves every log witnessed at its full size, so that a verifier
    asking any node next sees the whole chain witnessed.

    Raises:
        ScenarioError: a participant is missing, a node refused a record, or the network did not
            settle in time.
    """
    members = description["participants"]
    missing = [m for m in MEMBERS if m not in members]
    if missing:
        raise ScenarioError(f"the scenario needs participants {missing}")
    today = datetime.datetime.now(datetime.UTC).date()
    day = today.isoformat()
    expires = (today + datetime.timedelta(days=30)).isoformat()
    steps: dict[str, str] = {}
    clients = {m: LedgerClient(members[m]["url"], timeout=60) for m in MEMBERS}
    try:
        p = {m: _Participant(m, members[m], clients[m]) for m in MEMBERS}

        def record(step: str, receipt: Receipt) -> Receipt:
            steps[step] = receipt.entry_hash.hex()
            return receipt

        def produce(member: str, parcel: str, centicarats: int, hs: str) -> Receipt:
            return record(
                f"{member.lower()}_produce",
                p[member].submit(
                    "parcel.produce",
                    {
                        "parcel": parcel,
                        "mine": "mine",
                        "produced_on": day,
                        "centicarats": centicarats,
                        "hs_code": hs,
                        "holder": "mine",
                    },
                    by="mine",
                ),
            )

        def certify(
            member: str,
            number: str,
            parcel: list[Value],
            importing: str,
            centicarats: int,
            hs: str,
            origins: list[Value],
            step: str,
        ) -> Receipt:
            return record(
                step,
                p[member].submit(
                    "certificate.issue",
                    {
                        "number": number,
                        "exporter": "trader",
                        "importing": importing,
                        "parcels": [parcel],
                        "parcel_count": 1,
                        "centicarats": centicarats,
                        "hs_codes": [hs],
                        "origins": origins,
                        "issued_on": day,
                        "expires_on": expires,
                    },
                    by="officer",
                    sealed={
                        "value_usd_cents": centicarats * 15_000,
                        "exporter_name": f"{member} Exports",
                        "importer_name": f"{importing} Imports",
                        "seal_number": f"SEAL-{number}",
                    },
                ),
            )

        def confirm(
            member: str,
            certificate: Receipt,
            parcel: str,
            centicarats: int,
            hs: str,
            step: str,
        ) -> Receipt:
            return record(
                step,
                p[member].submit(
                    "certificate.confirm",
                    {
                        "certificate": certificate.entry_ref(),
                        "received_on": day,
                        "centicarats_received": centicarats,
                        "seal_intact": True,
                        "parcels": [{"parcel": parcel, "centicarats": centicarats, "hs_code": hs}],
                        "holder": "trader",
                    },
                    by="officer",
                ),
            )

        def transfer(member: str, receipt: Receipt, step: str) -> None:
            record(
                step,
                p[member].submit(
                    "parcel.transfer",
                    {"parcel": receipt.parcel_ref(0), "to": "trader", "warranty": True},
                    by="mine",
                    sealed={"invoice": f"INV-{member}-1"},
                ),
            )

        bw = produce("BW", "BW-JW-2026-0001", 1_250_000, "7102.10")
        ca = produce("CA", "CA-DV-2026-0001", 830_000, "7102.10")
        transfer("BW", bw, "bw_transfer")
        transfer("CA", ca, "ca_transfer")
        bw_cert = certify(
            "BW",
            "BW-2026-0001",
            bw.parcel_ref(0),
            "EU",
            1_250_000,
            "7102.10",
            ["BW"],
            "bw_certificate",
        )
        ca_cert = certify(
            "CA",
            "CA-2026-0001",
            ca.parcel_ref(0),
            "EU",
            830_000,
            "7102.10",
            ["CA"],
            "ca_certificate",
        )
        eu_bw = confirm("EU", bw_cert, "EU-BW-1", 1_250_000, "7102.10", "eu_confirms_bw")
        eu_ca = confirm("EU", ca_cert, "EU-CA-1", 830_000, "7102.10", "eu_confirms_ca")
        merged = record(
            "antwerp_merge",
            p["EU"].submit(
                "parcel.transform",
                {
                    "inputs": [eu_bw.parcel_ref(0), eu_ca.parcel_ref(0)],
                    "kind": "merge",
                    "outputs": [
                        {"parcel": "ANT-MIX-1", "centicarats": 2_080_000, "hs_code": "7102.10"}
                    ],
                },
                by="trader",
            ),
        )
        split = record(
            "antwerp_split",
            p["EU"].submit(
                "parcel.transform",
                {
                    "inputs": [merged.parcel_ref(0)],
                    "kind": "split",
                    "outputs": [
                        {"parcel": "ANT-IN-1", "centicarats": 1_000_000, "hs_code": "7102.10"},
                        {"parcel": "ANT-AE-1", "centicarats": 1_079_000, "hs_code": "7102.10"},
                    ],
                },
                by="trader",
            ),
        )
        to_in = certify(
            "EU",
            "EU-2026-0101",
            split.parcel_ref(0),
            "IN",
            1_000_000,
            "7102.10",
            ["BW", "CA"],
            "eu_certificate_in",
        )
        to_ae = certify(
            "EU",
            "EU-2026-0102",
            split.parcel_ref(1),
            "AE",
            1_079_000,
            "7102.10",
            ["BW", "CA"],
            "eu_certificate_ae",
        )
        confirm("IN", to_in, "IN-EU-1", 1_000_000, "7102.10", "in_confirms_eu")
        ae = confirm("AE", to_ae, "AE-EU-1", 1_079_000, "7102.10", "ae_confirms_eu")
        re_export = certify(
            "AE",
            "AE-2026-0007",
            ae.parcel_ref(0),
            "IN",
            1_079_000,
            "7102.10",
            ["BW", "CA"],
            "ae_certificate_in",
        )
        final = confirm("IN", re_export, "IN-AE-1", 1_079_000, "7102.10", "in_confirms_ae")
        steps["final"] = final.entry_hash.hex()
        _settle(clients)
    finally:
        for client in clients.values():
            client.close()
    return steps
