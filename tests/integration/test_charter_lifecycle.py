"""A network through the life of its charter, on real processes, built with the command line.

Three participants (BW, EU, IN) form the network with ``kp-node init``, ``charter genesis``,
``charter sign``, ``charter adopt`` and ``operator add``, and serve it with ``kp-node run``. Then:
version 2 admits ZA, which starts its log by adopting version 2; ZA and EU trade both ways; version
3 suspends ZA and trade is refused both ways with its code; version 4 reinstates ZA and trade goes
on; version 5 rotates BW's log key, BW restarts on the new key, and every peer replicates and
cosigns its entries signed with the old key and with the new. While a member has not adopted the
newest version, the others' ``/v1/network``, ``/metrics`` and ``kp-node charter status`` say it is
behind, and the node logs a warning; once it has, they do not.

Records are signed by registered operators with the SDK (``client/sdk.py``) and go over HTTP.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from client.answers import NetworkInfo
from client.sdk import LedgerClient, Operator, ProblemError
from node.core import crypto, httpsig, notes
from node.core.encoding import Value
from node.core.receipt import Receipt
from tests.support.network import REPO, free_port_block, kp_node

NETWORK = "kp.lifecycle"
FOUNDERS = ("BW", "EU", "IN")
MEMBERS = (*FOUNDERS, "ZA")
MASS = 50_000  # 500 ct
HS = "7102.10"
TIMEOUT = 60.0  # for any one thing the network must do by itself

T = TypeVar("T")


def eventually(check: Callable[[], T | None], what: str, timeout: float = TIMEOUT) -> T:
    """Poll ``check`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@dataclass
class Member:
    id: str
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    operators: dict[str, Operator] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return self.root / self.id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.dir / "node.log"

    def client(self) -> LedgerClient:
        return LedgerClient(self.url, timeout=30, retries=0)

    def start(self) -> None:
        log = self.log_file.open("ab")
        environment = {**os.environ, "KP_NODE_REPLICATION_INTERVAL": "0.5"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(self.dir)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        log.close()
        eventually(self._healthy, f"{self.id} to serve", timeout=30)

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(self.log_file.read_text()[-3000:])
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def network(self) -> NetworkInfo:
        with self.client() as client:
            return client.network()

    def adopted(self, log: str) -> tuple[int | None, bool] | None:
        """(adopted_version, behind) of ``log`` as this node reports it in /v1/network."""
        member = self.network().participants.get(log)
        return None if member is None else (member.adopted_version, member.behind)


@dataclass
class Network:
    root: Path
    members: dict[str, Member]
    charters: list[Path]  # genesis.charter, v2.charter, ...

    def __getitem__(self, member: str) -> Member:
        return self.members[member]

    def successor(self, *flags: str) -> Path:
        """The next charter version, made by ``charter successor`` and signed by the founders."""
        path = self.root / f"v{len(self.charters) + 1}.charter"
        kp_node("charter", "successor", str(self.charters[-1]), *flags, "-o", str(path))
        for member in FOUNDERS:
            kp_node("charter", "sign", "--dir", str(self[member].dir), str(path))
        genesis = self.network_id
        verified = kp_node(
            "charter", "verify", "--genesis", genesis, *map(str, [*self.charters, path])
        )
        assert f"valid: version {len(self.charters) + 1}" in verified.stdout
        self.charters.append(path)
        return path

    @property
    def network_id(self) -> str:
        return str(json.loads((self.root / "genesis.json").read_text())["hash"])

    def adopt(self, member: str, *files: Path) -> str:
        return kp_node("charter", "adopt", "--dir", str(self[member].dir), *map(str, files)).stdout


def _register_operators(member: Member) -> None:
    keys = member.root / "operators"
    keys.mkdir(exist_ok=True)
    for name, kind in (("officer", "authority"), ("mine", "mine"), ("trader", "trader")):
        path = keys / f"{member.id}-{name}.pem"
        key = crypto.generate_private_key()
        crypto.save_private_key(path, key)
        kp_node(
            "operator",
            "add",
            "--dir",
            str(member.dir),
            name,
            "--kind",
            kind,
            "--key-file",
            str(path),
        )
        member.operators[name] = Operator(member.id, name, key)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root = tmp_path_factory.mktemp("lifecycle")
    base = free_port_block(len(MEMBERS))
    members = {m: Member(m, root, base + i) for i, m in enumerate(MEMBERS)}
    for member in members.values():
        kp_node(
            "init",
            "--dir",
            str(member.dir),
            "--participant",
            member.id,
            "--network",
            NETWORK,
            "--name",
            f"KP authority of {member.id}",
            "--port",
            str(member.port),
        )
    genesis = root / "genesis.charter"
    made = kp_node(
        "charter",
        "genesis",
        "--network",
        NETWORK,
        *[
            a
            for m in FOUNDERS
            for a in ("--participant-file", str(members[m].dir / "participant.json"))
        ],
        "-o",
        str(genesis),
    )
    (root / "genesis.json").write_text(json.dumps({"hash": made.stdout.strip()}))
    for member in FOUNDERS:
        kp_node("charter", "sign", "--dir", str(members[member].dir), str(genesis))
    net = Network(root, members, [genesis])
    for member in FOUNDERS:
        assert "adopted version 1" in net.adopt(member, genesis)
        _register_operators(members[member])
    try:
        for member in FOUNDERS:
            members[member].start()
        yield net
    finally:
        for member in members.values():
            member.stop()


# --- trading with the SDK -------------------------------------------------------------------


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def _in_days(days: int) -> str:
    return (datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=days)).isoformat()


def _submit(member: Member, record: Any) -> Receipt:
    """Submit at the member's own node, retrying while it waits for a log it has not reached
    (409 ``reference.unknown``: the referenced certificate is still replicating)."""
    signed, disclosures = record

    def attempt() -> Receipt | None:
        with member.client() as client:
            try:
                return client.submit(signed, disclosures)
            except ProblemError as problem:
                if problem.status == 409 and problem.code == "reference.unknown":
                    return None
                raise

    return eventually(attempt, f"{member.id} to accept a {signed.type}")


def _disclosures(reader: Member, node: Member, entry_hash: str) -> httpx.Response:
    """``reader``'s log key asks ``node`` for the sealed values of an entry."""
    key = crypto.load_private_key(reader.dir / "keys" / "log.pem")
    return httpx.get(
        f"{node.url}/v1/disclosures/{entry_hash}",
        auth=httpsig.HttpxSigner(reader.id, key),
        timeout=30,
    )


def _refused(member: Member, record: Any) -> ProblemError:
    with pytest.raises(ProblemError) as refused:
        _submit(member, record)
    return refused.value


def _produce(member: Member, parcel: str) -> list[Value]:
    receipt = _submit(
        member,
        member.operators["mine"].produce(
            parcel, centicarats=MASS, hs_code=HS, produced_on=_today(), holder="trader"
        ),
    )
    return receipt.parcel_ref()


def _certificate(
    exporter: Member, number: str, parcel: list[Value], importing: str, *, centicarats: int
) -> Any:
    """A certificate over one parcel of ZA origin (every parcel here was mined in ZA)."""
    return exporter.operators["officer"].certify(
        number,
        exporter="trader",
        importing=importing,
        parcels=[parcel],
        centicarats=centicarats,
        hs_codes=[HS],
        origins=["ZA"],
        issued_on=_today(),
        expires_on=_in_days(30),
        value_usd_cents=10_000_000,
        exporter_name=f"Exporter in {exporter.id}",
        importer_name=f"Importer in {importing}",
        seal_number=f"SEAL-{number}",
    )


def _confirmation(
    importer: Member, certificate: Receipt, centicarats: int, parcels: list[str]
) -> Any:
    share = centicarats // len(parcels)
    return importer.operators["officer"].confirm(
        certificate.entry_ref(),
        received_on=_today(),
        parcels=[(name, share, HS) for name in parcels],
        holder="trader",
    )


# --- what the nodes report ----------------------------------------------------------------


def _reported(observer: Member, log: str, version: int | None, behind: bool) -> bool:
    return observer.adopted(log) == (version, behind)


def _metric(member: Member, name: str) -> float | None:
    text = httpx.get(f"{member.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[-1])
    return None


def _warned(member: Member, log: str, adopted: int, newest: int) -> bool:
    """Whether the node logged a WARNING that ``log`` is at ``adopted`` behind ``newest``."""
    for line in member.log_file.read_text().splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if (event.get("level"), event.get("log")) == ("WARNING", log) and (
            event.get("adopted_version"),
            event.get("newest_version"),
        ) == (adopted, newest):
            return "behind the newest charter version" in str(event.get("message"))
    return False


def _status(member: Member) -> subprocess.CompletedProcess[str]:
    return kp_node("charter", "status", "--dir", str(member.dir), "--json", check=False)


# --- the life of the network --------------------------------------------------------------


def test_admit_trade_suspend_reinstate_rotate(network: Network) -> None:
    bw, eu, india, za = (network[m] for m in MEMBERS)

    # Version 2 admits ZA. BW and IN adopt it at once, EU later: meanwhile EU is behind.
    v2 = network.successor("--admit", str(za.dir / "participant.json"))
    network.adopt("BW", v2)
    network.adopt("IN", v2)
    eventually(lambda: _reported(bw, "IN", 2, False), "BW to see IN at version 2")
    eventually(lambda: _reported(bw, "EU", 1, True), "BW to report EU behind")
    assert _reported(bw, "ZA", None, True)
    assert _metric(bw, "kp_charter_peers_behind") == 2.0  # EU, and ZA with no log yet
    assert _metric(bw, "kp_charter_newest_version") == 2.0
    status = _status(bw)
    assert status.returncode == 3, status.stderr
    report = {log["log"]: log for log in json.loads(status.stdout)["logs"]}
    assert report["EU"] == {"log": "EU", "adopted_version": 1, "behind": True}
    eventually(lambda: _warned(bw, "EU", 1, 2), "BW to warn that EU is behind")

    # ZA cannot start its log on the genesis, which does not list it; it adopts version 2,
    # given the chain from the genesis.
    refused = kp_node(
        "charter", "adopt", "--dir", str(za.dir), str(network.charters[0]), check=False
    )
    assert refused.returncode == 1
    assert "participant.unknown" in refused.stderr
    assert "adopted version 2 in ZA at seq 0" in network.adopt("ZA", network.charters[0], v2)
    network.adopt("EU", v2)
    _register_operators(za)
    za.start()
    for observer in (bw, india):
        eventually(lambda o=observer: _reported(o, "EU", 2, False), f"{observer.id} to see EU")
        eventually(lambda o=observer: _reported(o, "ZA", 2, False), f"{observer.id} to see ZA")
    assert _metric(bw, "kp_charter_peers_behind") == 0.0
    assert _status(bw).returncode == 0
    assert za.network().genesis.hex() == network.network_id

    # Trade with the new member: ZA produces and certifies to EU, EU confirms (in two parcels);
    # then EU certifies one of them on to ZA, and ZA confirms.
    half = MASS // 2
    first = _submit(
        za, _certificate(za, "ZA-2026-0001", _produce(za, "ZA-1"), "EU", centicarats=MASS)
    )
    confirmed = _submit(eu, _confirmation(eu, first, MASS, ["EU-1", "EU-2"]))
    eu_1, eu_2 = confirmed.parcel_ref(0), confirmed.parcel_ref(1)
    back = _submit(eu, _certificate(eu, "EU-2026-0001", eu_1, "ZA", centicarats=half))
    _submit(za, _confirmation(za, back, half, ["ZA-2"]))

    # ZA certifies another parcel to EU while still at version 2; then version 3 suspends ZA.
    pending = _submit(
        za, _certificate(za, "ZA-2026-0002", _produce(za, "ZA-3"), "EU", centicarats=MASS)
    )
    v3 = network.successor("--suspend", "ZA")
    for member in MEMBERS:
        network.adopt(member, v3)
    eventually(lambda: _reported(eu, "ZA", 3, False), "EU to see ZA adopt version 3")
    # Refused both ways: EU confirms nothing from ZA, and issues nothing to it.
    assert _refused(eu, _confirmation(eu, pending, MASS, ["EU-3"])).code == "participant.suspended"
    to_za = _certificate(eu, "EU-2026-0002", eu_2, "ZA", centicarats=half)
    assert _refused(eu, to_za).code == "participant.suspended"
    # A suspended participant's keys read no sealed values either (decision 0023).
    refused = _disclosures(za, eu, back.entry_hash.hex())
    assert (refused.status_code, refused.json()["code"]) == (403, "disclosure.suspended")
    # ZA's own charter suspends it too: it issues nothing.
    own = _certificate(za, "ZA-2026-0003", _produce(za, "ZA-4"), "EU", centicarats=MASS)
    assert _refused(za, own).code == "participant.suspended"

    # Version 4 reinstates ZA: the same trade goes through.
    v4 = network.successor("--reinstate", "ZA")
    for member in MEMBERS:
        network.adopt(member, v4)
    eventually(lambda: _reported(eu, "ZA", 4, False), "EU to see ZA adopt version 4")
    _submit(eu, _confirmation(eu, pending, MASS, ["EU-3"]))
    assert _disclosures(za, eu, back.entry_hash.hex()).status_code == 200
    again = _submit(eu, _certificate(eu, "EU-2026-0003", eu_2, "ZA", centicarats=half))
    _submit(za, _confirmation(za, again, half, ["ZA-5"]))

    # Version 5 rotates BW's log key. Every other member adopts it first: BW is behind.
    made = kp_node(
        "keys", "next", "--dir", str(bw.dir), "--log", "-o", str(network.root / "BW-next.json")
    )
    assert "keys/next" in made.stderr
    v5 = network.successor("--rotate", str(network.root / "BW-next.json"))
    for member in ("EU", "IN", "ZA"):
        network.adopt(member, v5)
    eventually(lambda: _reported(eu, "BW", 4, True), "EU to report BW behind")
    # BW adopts it, signed with its old key; the old key then signs nothing more.
    before = bw.network().participants["BW"].log_vkey
    assert "adopted version 5 in BW" in network.adopt("BW", v5)
    refused_key = _refused(
        bw,
        bw.operators["mine"].produce(
            "BW-1", centicarats=MASS, hs_code=HS, produced_on=_today(), holder="trader"
        ),
    )
    assert (refused_key.status, refused_key.code) == (503, "key.not_in_force")
    # BW restarts on the new key.
    bw.stop()
    promoted = kp_node("keys", "promote", "--dir", str(bw.dir))
    assert "log keys of version 5 now in force" in promoted.stdout
    assert not (bw.dir / "keys" / "next").exists()  # nothing left waiting
    bw.start()
    after = bw.network().participants["BW"].log_vkey
    assert after != before
    produced = _produce(bw, "BW-1")
    size = int(produced[1]) + 1
    for observer in (eu, india, za):
        eventually(lambda o=observer: _reported(o, "BW", 5, False), f"{observer.id} to see BW at 5")

    # Every peer holds BW's log to its new size, old entries and new, and has cosigned it.
    def witnessed_by_all() -> str | None:
        with bw.client() as client:
            note = client.checkpoint("BW")
        text, _ = notes.verify_note(note, [after])
        if notes.Checkpoint.parse(text).size != size:
            return None
        cosigners = {f"{NETWORK}/{m}/witness" for m in ("EU", "IN", "ZA")}
        lines = note.rstrip("\n").split("\n")
        return note if all(any(f"— {c} " in line for line in lines) for c in cosigners) else None

    eventually(witnessed_by_all, "every peer to cosign BW's log at its new size")
    for observer in (eu, india, za):
        with observer.client() as client:
            sizes = {log.log: log.size for log in client.logs()}
            assert sizes["BW"] == size
            assert client.evidence() == []
    # Old entries (signed with the old log key) and the new one verify at every peer.
    for observer in (eu, india, za):
        with observer.client() as client:
            assert len(client.entries("BW", 0, size)) == size
