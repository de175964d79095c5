"""The README's chain of custody, told once, and the driver that runs it over HTTP.

Mines in Botswana and Canada produce and transfer their parcels to traders; Botswana and Canada
certify them to the EU, which confirms; an Antwerp trader merges both imports (unsorted rough,
7102.10) and sorts the result into gem-quality (7102.31) and industrial (7102.21) goods; the EU
certifies the first to India and the second to the UAE; both confirm; the UAE re-exports to India,
which confirms.

``chain_of_custody`` tells the story over any ``Custody``, the six acts it needs. Two drivers play
them: ``run_scenario`` here signs every record with the operator keys ``kp-node devnet up`` wrote
and submits it to its own participant's node with ``?wait=witnessed`` (``kp-node devnet scenario``
records every step's entry hash in ``devnet.json``; the demo and the integration tests use it);
``tests/support/scenario.py`` appends the same records in-process to a test ``World``, through
the real rules, for the unit tests.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from client.sdk import LedgerClient, Operator, ProblemError
from node.core import clock, crypto, notes
from node.core.errors import ScenarioError
from node.core.receipt import Receipt
from node.core.records import EntryRef, ParcelOutput, ParcelRef, SignedRecord
from node.core.sealing import Disclosures

__all__ = [
    "MEMBERS",
    "Certificate",
    "Custody",
    "Scenario",
    "chain_of_custody",
    "run_scenario",
]

MEMBERS = ("BW", "CA", "EU", "AE", "IN")
"""The participants the story needs; the mines are Botswana's and Canada's."""

PENDING_SECONDS = 30.0
SETTLE_SECONDS = 60.0
VALUE_USD_CENTS_PER_CENTICARAT = 15_000  # 150 USD, sealed on every certificate
ROUGH, INDUSTRIAL, GEM = "7102.10", "7102.21", "7102.31"  # decision 0021


@dataclass(frozen=True, slots=True)
class Certificate:
    """What a KP certificate of the story states, and the values it seals.

    Attributes:
        number: the certificate's number, starting with the issuer's id (decision 0007).
        importing: the participant it is addressed to.
        centicarats: the shipment's mass.
        hs_codes: its goods.
        origins: its mining origins.
        exporter: the exporting operator.
        valid_days: the days from issue to expiry.
    """

    number: str
    importing: str
    centicarats: int
    hs_codes: tuple[str, ...]
    origins: tuple[str, ...]
    exporter: str = "trader"
    valid_days: int = 30

    @property
    def value_usd_cents(self) -> int:
        return self.centicarats * VALUE_USD_CENTS_PER_CENTICARAT

    @property
    def exporter_name(self) -> str:
        return f"{self.number.split('-')[0]} Exports"

    @property
    def importer_name(self) -> str:
        return f"{self.importing} Imports"

    @property
    def seal_number(self) -> str:
        return f"SEAL-{self.number}"


class Custody(Protocol):
    """The acts of the story; each appends one record to a participant's log and answers
    where it landed (the parcels it made, or its entry).

    The operators are the ones both a devnet and a test world register: ``mine`` produces and
    transfers, ``trader`` transforms, ``officer`` certifies and confirms. Every date in a record
    is the driver's today.
    """

    def produce(self, member: str, lot: ParcelOutput) -> list[ParcelRef]:
        """The mine produces ``lot`` and holds it."""
        ...

    def transfer(self, parcel: ParcelRef, to: str, *, invoice: str) -> EntryRef:
        """The mine hands ``parcel`` on to ``to``, warranted, sealing ``invoice``."""
        ...

    def transform(
        self, member: str, kind: str, inputs: Sequence[ParcelRef], outputs: Sequence[ParcelOutput]
    ) -> list[ParcelRef]:
        """The trader merges, splits or sorts ``inputs`` into ``outputs``."""
        ...

    def certify(
        self, member: str, certificate: Certificate, parcels: Sequence[ParcelRef]
    ) -> EntryRef:
        """The officer issues ``certificate`` for ``parcels``, sealing its values."""
        ...

    def confirm(
        self, member: str, certificate: EntryRef, received: Sequence[ParcelOutput], *, holder: str
    ) -> list[ParcelRef]:
        """The officer confirms ``certificate`` on arrival, as ``received``, held by ``holder``."""
        ...

    def pass_days(self, days: int) -> None:
        """Let ``days`` pass before the next act, where the driver's clock allows it."""
        ...


@dataclass(frozen=True, slots=True)
class Scenario:
    """What the story appended.

    Attributes:
        steps: every record, by step name, in the order appended (``bw_produce`` …
            ``in_confirms_ae``).
        parcels: the parcels it made, by name (``bw_run`` … ``in_2``).
    """

    steps: dict[str, EntryRef]
    parcels: dict[str, ParcelRef]


def chain_of_custody(custody: Custody) -> Scenario:
    """Tell the README's chain of custody through ``custody``.

    Raises:
        LedgerError: a record was refused (each driver says how).
    """
    s: dict[str, EntryRef] = {}
    p: dict[str, ParcelRef] = {}

    def made(step: str, parcels: list[ParcelRef]) -> list[ParcelRef]:
        s[step] = parcels[0].entry
        return parcels

    def confirmed(step: str, member: str, certificate: str, received: ParcelOutput) -> ParcelRef:
        [parcel] = made(step, custody.confirm(member, s[certificate], [received], holder="trader"))
        return parcel

    lot = ParcelOutput
    both = ("BW", "CA")
    [p["bw_run"]] = made("bw_produce", custody.produce("BW", lot("BW-JW-0001", 1_250_000, ROUGH)))
    [p["ca_run"]] = made("ca_produce", custody.produce("CA", lot("CA-DV-0001", 830_000, ROUGH)))
    s["bw_transfer"] = custody.transfer(p["bw_run"], "trader", invoice="INV-BW-1")
    s["ca_transfer"] = custody.transfer(p["ca_run"], "trader", invoice="INV-CA-1")
    custody.pass_days(1)
    bw = Certificate("BW-2026-0001", "EU", 1_250_000, (ROUGH,), ("BW",))
    s["bw_certificate"] = custody.certify("BW", bw, [p["bw_run"]])
    ca = Certificate("CA-2026-0001", "EU", 830_000, (ROUGH,), ("CA",))
    s["ca_certificate"] = custody.certify("CA", ca, [p["ca_run"]])
    custody.pass_days(2)
    p["eu_bw"] = confirmed(
        "eu_confirms_bw", "EU", "bw_certificate", lot("EU-BW-1", 1_250_000, ROUGH)
    )
    p["eu_ca"] = confirmed("eu_confirms_ca", "EU", "ca_certificate", lot("EU-CA-1", 830_000, ROUGH))
    custody.pass_days(1)
    mixed = [lot("ANT-MIX-1", 2_080_000, ROUGH)]
    [p["antwerp_mix"]] = made(
        "antwerp_merge", custody.transform("EU", "merge", [p["eu_bw"], p["eu_ca"]], mixed)
    )
    # The sort loses 1,000 centicarats (10 ct) to cleaning: allowed, never the other way.
    sorted_goods = [lot("ANT-IN-1", 1_000_000, GEM), lot("ANT-AE-1", 1_079_000, INDUSTRIAL)]
    p["to_india"], p["to_uae"] = made(
        "antwerp_sort", custody.transform("EU", "sort", [p["antwerp_mix"]], sorted_goods)
    )
    to_india = Certificate("EU-2026-0101", "IN", 1_000_000, (GEM,), both)
    s["eu_certificate_in"] = custody.certify("EU", to_india, [p["to_india"]])
    to_uae = Certificate("EU-2026-0102", "AE", 1_079_000, (INDUSTRIAL,), both)
    s["eu_certificate_ae"] = custody.certify("EU", to_uae, [p["to_uae"]])
    custody.pass_days(3)
    p["in_1"] = confirmed(
        "in_confirms_eu", "IN", "eu_certificate_in", lot("IN-EU-1", 1_000_000, GEM)
    )
    p["ae_1"] = confirmed(
        "ae_confirms_eu", "AE", "eu_certificate_ae", lot("AE-EU-1", 1_079_000, INDUSTRIAL)
    )
    custody.pass_days(5)
    re_export = Certificate("AE-2026-0007", "IN", 1_079_000, (INDUSTRIAL,), both)
    s["ae_certificate_in"] = custody.certify("AE", re_export, [p["ae_1"]])
    custody.pass_days(2)
    p["in_2"] = confirmed(
        "in_confirms_ae", "IN", "ae_certificate_in", lot("IN-AE-1", 1_079_000, INDUSTRIAL)
    )
    return Scenario(s, p)


# --- over HTTP ---------------------------------------------------------------------------------


class _Participant:
    """One participant's node and operator keys, as ``devnet.json`` describes them."""

    def __init__(self, member: str, info: dict[str, Any], client: LedgerClient) -> None:
        self.member = member
        self.client = client
        self.operators = {
            name: Operator(member, name, crypto.load_private_key(Path(op["key_file"])))
            for name, op in info["operators"].items()
        }

    def submit(self, signed: tuple[SignedRecord, Disclosures]) -> Receipt:
        deadline = time.monotonic() + PENDING_SECONDS
        while True:
            try:
                return self.client.submit(*signed, wait="witnessed")
            except ProblemError as refused:
                # The node has not replicated the log this record points into yet: wait.
                if refused.code != "reference.unknown" or time.monotonic() > deadline:
                    raise ScenarioError(
                        f"{self.member} refused {signed[0].type}: {refused.message}"
                    ) from refused
            time.sleep(0.2)


class _Network:
    """``Custody`` over HTTP: each act signed by its operator and submitted to its participant's
    node, answered once that node's checkpoint holding it is witnessed.

    The nodes append at the wall clock's time and refuse dates after it, so days cannot pass:
    every record is dated the day the run began.
    """

    def __init__(self, participants: dict[str, _Participant], today: str) -> None:
        self._participants = participants
        self._today = today

    def _operator(self, member: str, name: str) -> Operator:
        return self._participants[member].operators[name]

    def _submit(self, member: str, signed: tuple[SignedRecord, Disclosures]) -> Receipt:
        return self._participants[member].submit(signed)

    def produce(self, member: str, lot: ParcelOutput) -> list[ParcelRef]:
        signed = self._operator(member, "mine").produce(
            lot.parcel, centicarats=lot.centicarats, hs_code=lot.hs_code, produced_on=self._today
        )
        return _outputs(self._submit(member, signed), 1)

    def transfer(self, parcel: ParcelRef, to: str, *, invoice: str) -> EntryRef:
        signed = self._operator(parcel.log, "mine").transfer(parcel.to_value(), to, invoice=invoice)
        return _entry(self._submit(parcel.log, signed))

    def transform(
        self, member: str, kind: str, inputs: Sequence[ParcelRef], outputs: Sequence[ParcelOutput]
    ) -> list[ParcelRef]:
        signed = self._operator(member, "trader").transform(
            [p.to_value() for p in inputs],
            [(o.parcel, o.centicarats, o.hs_code) for o in outputs],
            kind=kind,
        )
        return _outputs(self._submit(member, signed), len(outputs))

    def certify(
        self, member: str, certificate: Certificate, parcels: Sequence[ParcelRef]
    ) -> EntryRef:
        c = certificate
        expires = datetime.date.fromisoformat(self._today) + datetime.timedelta(days=c.valid_days)
        signed = self._operator(member, "officer").certify(
            c.number,
            exporter=c.exporter,
            importing=c.importing,
            parcels=[p.to_value() for p in parcels],
            centicarats=c.centicarats,
            hs_codes=list(c.hs_codes),
            origins=list(c.origins),
            issued_on=self._today,
            expires_on=expires.isoformat(),
            value_usd_cents=c.value_usd_cents,
            exporter_name=c.exporter_name,
            importer_name=c.importer_name,
            seal_number=c.seal_number,
        )
        return _entry(self._submit(member, signed))

    def confirm(
        self, member: str, certificate: EntryRef, received: Sequence[ParcelOutput], *, holder: str
    ) -> list[ParcelRef]:
        signed = self._operator(member, "officer").confirm(
            certificate.to_value(),
            received_on=self._today,
            parcels=[(r.parcel, r.centicarats, r.hs_code) for r in received],
            holder=holder,
        )
        return _outputs(self._submit(member, signed), len(received))

    def pass_days(self, days: int) -> None:
        """Nothing: a live network's days are the calendar's."""


def _entry(receipt: Receipt) -> EntryRef:
    return EntryRef(receipt.log, receipt.seq, receipt.entry_hash)


def _outputs(receipt: Receipt, count: int) -> list[ParcelRef]:
    return [ParcelRef(receipt.log, receipt.seq, receipt.entry_hash, i) for i in range(count)]


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


def run_scenario(
    description: dict[str, Any], *, wall: clock.Clock = clock.wall_ms
) -> dict[str, str]:
    """Run the scenario against the network ``description`` (devnet.json); return each step's
    entry hash, ``final`` being India's confirmation of the UAE re-export.

    It returns once every node serves every log witnessed at its full size, so that a verifier
    asking any node next sees the whole chain witnessed.

    Args:
        description: the network, as ``kp-node devnet up`` wrote it.
        wall: the clock the records are dated by (the nodes' own, the wall clock).

    Raises:
        ScenarioError: a participant is missing, a node refused a record, or the network did not
            settle in time.
    """
    members = description["participants"]
    missing = [m for m in MEMBERS if m not in members]
    if missing:
        raise ScenarioError(f"the scenario needs participants {missing}")
    clients = {m: LedgerClient(members[m]["url"], timeout=60) for m in MEMBERS}
    try:
        participants = {m: _Participant(m, members[m], clients[m]) for m in MEMBERS}
        told = chain_of_custody(_Network(participants, clock.today(wall)))
        _settle(clients)
    finally:
        for client in clients.values():
            client.close()
    steps = {step: ref.hash.hex() for step, ref in told.steps.items()}
    steps["final"] = steps["in_confirms_ae"]
    return steps
