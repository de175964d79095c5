"""Real nodes on loopback for integration tests: free ports, devnet up/down, signed submissions.

Nothing is simulated: ``kp-node`` processes serve real HTTP on 127.0.0.1, and records are signed
with the operator keys ``devnet up`` wrote.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from node.core import crypto
from node.core.encoding import Value, encode
from node.core.receipt import Receipt
from node.core.records import sign_record
from node.core.sealing import seal
from node.dev.devnet import participant_ids

REPO = Path(__file__).resolve().parents[2]


def free_port_block(count: int) -> int:
    """A base port with ``count`` consecutive free ports above it, below the kernel's ephemeral
    range: a port in that range may be taken by any outgoing connection between this check and
    the node's bind — and sixty nodes starting make thousands of them."""
    low = _ephemeral_low()
    for _ in range(200):
        base = random.randrange(10_000, low - count)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no block of free ports")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _free(port: int) -> bool:
    with closing(socket.socket()) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kp_node(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``kp-node`` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def kp(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the real ``kp`` entry point; ``KP_NODES`` and ``KP_TRUST`` only as given."""
    clean = {k: v for k, v in os.environ.items() if k not in ("KP_NODES", "KP_TRUST")}
    return subprocess.run(
        [sys.executable, "-m", "client.cli", *args],
        cwd=REPO,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Devnet:
    root: Path
    description: dict[str, Any]

    def url(self, member: str) -> str:
        return str(self.description["participants"][member]["url"])

    def operator_key(self, member: str, operator: str) -> Any:
        info = self.description["participants"][member]["operators"][operator]
        return crypto.load_private_key(Path(info["key_file"]))


@contextmanager
def fast_replication(seconds: str = "0.5", longest: str | None = None) -> Iterator[None]:
    """Nodes started meanwhile run anti-entropy every ``seconds``, backing off to ``longest``
    (four times ``seconds`` unless given) while nothing changes, so tests wait less."""
    wanted = {
        "KP_NODE_REPLICATION_INTERVAL": seconds,
        "KP_NODE_REPLICATION_MAX_INTERVAL": longest or str(4 * float(seconds)),
    }
    previous = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


@contextmanager
def devnet(
    root: Path, participants: str = "BW,EU", observers: str = "", timeout: float = 120
) -> Iterator[Devnet]:
    """A devnet of ``participants`` (ids, or a count: ``node.dev.devnet.participant_ids``)."""
    base = free_port_block(
        len(participant_ids(participants)) + len([o for o in observers.split(",") if o])
    )
    args = [
        "devnet",
        "up",
        "--dir",
        str(root),
        "--participants",
        participants,
        "--base-port",
        str(base),
    ]
    if observers:
        args += ["--observers", observers]
    result = kp_node(*args, timeout=timeout)
    try:
        yield Devnet(root, json.loads(result.stdout))
    finally:
        kp_node("devnet", "down", "--dir", str(root), check=False, timeout=timeout)


class Submitter:
    """Signs records with operator keys and posts them to a node as canonical msgpack."""

    def __init__(self, net: Devnet, member: str) -> None:
        self.net = net
        self.member = member
        self.client = httpx.Client(base_url=net.url(member), timeout=30)
        self.clock = int(time.time() * 1000)

    def signed(
        self,
        record_type: str,
        body: dict[str, Value],
        *,
        by: str,
        sealed_values: Mapping[str, Value] | None = None,
        key: Any = None,
    ) -> dict[str, Value]:
        """The submission map ``{signed, disclosures?}`` for one record."""
        self.clock += 1
        sealed, disclosures = seal(sealed_values or {})
        record: dict[str, Value] = {
            "v": 1,
            "type": record_type,
            "log": self.member,
            "time": self.clock,
            "body": body,
            "sealed": dict(sealed),
        }
        signer = key or self.net.operator_key(self.member, by)
        signed = sign_record(record, [(by, signer)])
        submission: dict[str, Value] = {"signed": signed.to_value()}
        if disclosures:
            submission["disclosures"] = {f: [s, v] for f, (s, v) in disclosures.items()}
        return submission

    def post(self, submission: Mapping[str, Value]) -> httpx.Response:
        return self.client.post(
            "/v1/records",
            content=encode(dict(submission)),
            headers={"content-type": "application/msgpack"},
        )

    def submit(
        self,
        record_type: str,
        body: dict[str, Value],
        *,
        by: str,
        sealed_values: Mapping[str, Value] | None = None,
    ) -> Receipt:
        response = self.post(self.signed(record_type, body, by=by, sealed_values=sealed_values))
        assert response.status_code == 200, response.text
        return Receipt.from_json(response.json())

    def close(self) -> None:
        self.client.close()
