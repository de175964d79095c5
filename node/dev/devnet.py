"""A local network on loopback: ``kp-node devnet up`` and ``down``.

``up`` creates, under one directory, a data directory per member (keys, settings), a genesis
charter signed by every member, and for each participant an authority officer, a trader and
(except the EU) a mine, with their key files; it starts one ``kp-node run`` process per member,
waits until each answers ``/healthz``, and writes ``devnet.json``::

    {"network", "genesis": <hex>, "participants": {ID: {"url", "pid", "data_dir", "log_vkey",
     "witness_vkey", "operators": {NAME: {"key_file", "kind", "roles"}}}}}

Integration tests and the demo use it; nothing here is needed to run a real node.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from node.core import crypto
from node.core.charter import Policy, SignedCharter, make_genesis, sign_charter
from node.core.errors import DevnetError
from node.core.rules import KIND_ROLES
from node.engine._owner_only import make_private_directory, write_private_file
from node.engine.config import Settings
from node.engine.datadir import DataDir, init_data_dir
from node.engine.ledger import LedgerNode

__all__ = ["KP_PARTICIPANTS", "devnet_create", "devnet_down", "devnet_up", "participant_ids"]

# Starting is CPU-bound (two interpreters per node, then every node pulls every log), so the time a
# whole network takes grows with its size: 60 nodes on two cores need more than a minute.
STARTUP_SECONDS = 30.0
STARTUP_SECONDS_PER_NODE = 3.0
STOP_SECONDS = 10.0

# Sixty ids of Kimberley Process participants (ISO 3166-1 alpha-2, the Union as EU), the five
# of the README scenario first: ``--participants 20`` takes the first twenty.
# fmt: off
KP_PARTICIPANTS = (
    "BW", "CA", "EU", "AE", "IN", "AO", "AM", "AU", "BD", "BY", "BR", "KH",
    "CM", "CF", "CN", "CI", "CD", "CG", "GA", "GH", "GN", "GY", "ID", "IL",
    "JP", "KZ", "KR", "LA", "LS", "LB", "LR", "MG", "MY", "ML", "MU", "MX",
    "NA", "NZ", "NO", "PA", "RU", "SL", "SG", "ZA", "LK", "CH", "SZ", "TW",
    "TZ", "TG", "TH", "TR", "UA", "GB", "US", "VN", "ZW", "BJ", "CL", "KE",
)
# fmt: on


def participant_ids(spec: str) -> list[str]:
    """Participant ids from ``--participants``: a comma-separated list (``BW,EU``), or a count
    (``20``) taking the first ids of ``KP_PARTICIPANTS``.

    Raises:
        DevnetError: a count beyond the list, or an id repeated.
    """
    if spec.strip().isdigit():
        count = int(spec)
        if not 1 <= count <= len(KP_PARTICIPANTS):
            raise DevnetError(f"a devnet has 1 to {len(KP_PARTICIPANTS)} participants by count")
        return list(KP_PARTICIPANTS[:count])
    ids = [p for p in spec.split(",") if p]
    if len(set(ids)) != len(ids):
        raise DevnetError("a participant id is listed twice")
    return ids


def devnet_up(
    root: Path,
    *,
    network: str = "kp.devnet",
    participants: list[str],
    observers: list[str] | None = None,
    base_port: int = 8400,
) -> dict[str, Any]:
    """Create and start a local network; return what ``devnet.json`` says.

    Raises:
        DevnetError: ``root`` already holds a network, or a node did not become healthy.
    """
    description = devnet_create(
        root, network=network, participants=participants, observers=observers, base_port=base_port
    )
    members = list(description["participants"])
    for member in members:
        description["participants"][member]["pid"] = _start(root / member)
    _write(root, description)
    deadline = time.monotonic() + STARTUP_SECONDS + STARTUP_SECONDS_PER_NODE * len(members)
    try:
        for member in members:
            _wait_healthy(description["participants"][member]["url"], root / member, deadline)
    except DevnetError:
        devnet_down(root)
        raise
    return description


def devnet_create(
    root: Path,
    *,
    network: str = "kp.devnet",
    participants: list[str],
    observers: list[str] | None = None,
    base_port: int = 8400,
) -> dict[str, Any]:
    """Create a local network's data directories, genesis and operators without starting a
    node; return its description (every ``pid`` None). ``devnet_up`` starts it; in-process
    tests open a member's ``LedgerNode`` themselves.

    Raises:
        DevnetError: ``root`` already holds a network.
    """
    observers = observers or []
    if (root / "devnet.json").exists():
        raise DevnetError(f"{root} already holds a network; `kp-node devnet down` it first")
    make_private_directory(root, exist_ok=True)
    members = [*participants, *observers]
    charter_members = []
    for port, member in enumerate(members, start=base_port):
        settings = Settings(participant=member, network=network, port=port)
        kind = "observer" if member in observers else "participant"
        charter_members.append(
            init_data_dir(root / member, settings, name=f"KP authority of {member}", kind=kind)
        )
    policy = Policy(
        charter_threshold=len(participants) // 2 + 1,
        witness_quorum=min(2, len(members) - 1),
        mass_tolerance_ppm=1_000,
        max_certificate_days=60,
        void_grace_days=14,
    )
    signed = SignedCharter(make_genesis(network, charter_members, policy), ())
    for member in members:
        signed = sign_charter(signed, member, DataDir(root / member).key("governance"))
    write_private_file(root / "genesis.charter", signed.encode())

    description: dict[str, Any] = {
        "network": network,
        "genesis": signed.hash.hex(),
        "participants": {},
    }
    for member in members:
        data = DataDir(root / member)
        node = LedgerNode.open(data)
        try:
            node.adopt(signed)
            operators = {} if member in observers else _register_operators(node, data)
            log_vkey = node.log_vkey
        finally:
            node.close()
        witness = data.key("witness").public_key()
        description["participants"][member] = {
            "url": data.settings().url,
            "pid": None,
            "data_dir": str(data.root),
            "log_vkey": log_vkey,
            "witness_vkey": crypto.verifier_key(
                signed.charter.witness_name(member),
                witness,
                key_type=crypto.ED25519_COSIGNATURE_KEY_TYPE,
            ),
            "operators": operators,
        }
    return description


def devnet_down(root: Path) -> None:
    """Stop every node of the network in ``root`` (SIGTERM, then SIGKILL after 10 s)."""
    path = root / "devnet.json"
    if not path.exists():
        raise DevnetError(f"no network in {root}")
    description = json.loads(path.read_text())
    pids = [
        (p["pid"], p["data_dir"])
        for p in description["participants"].values()
        if p.get("pid") is not None
    ]
    for pid, data_dir in pids:
        if _is_our_node(pid, data_dir):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for pid, data_dir in pids:
        while _is_our_node(pid, data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_our_node(pid, data_dir):
            os.kill(pid, signal.SIGKILL)
    path.unlink()


def _register_operators(node: LedgerNode, data: DataDir) -> dict[str, Any]:
    kinds = {"officer": "authority", "trader": "trader"}
    if node.log != "EU":  # the Union has no mines of its own
        kinds["mine"] = "mine"
    operators = {}
    make_private_directory(data.root / "operators")
    for name, kind in kinds.items():
        key = crypto.generate_private_key()
        key_file = data.root / "operators" / f"{name}.pem"
        crypto.save_private_key(key_file, key)
        roles = sorted(KIND_ROLES[kind])
        node.register_operator(
            name,
            kind=kind,
            public_key=crypto.public_key_bytes(key),
            roles=roles,
            licence=f"{node.log}-{name.upper()}-1",
            valid_until="2099-12-31",
        )
        operators[name] = {"key_file": str(key_file), "kind": kind, "roles": roles}
    return operators


def _start(data_dir: Path) -> int:
    log_file = (data_dir / "node.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, a path we made
        [sys.executable, "-m", "node.cli", "run", "--dir", str(data_dir)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the launcher; stopped by `devnet down`
    )
    log_file.close()
    return process.pid


def _wait_healthy(url: str, data_dir: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            # A loaded machine answers slowly; a short timeout would miss a node that is up.
            if httpx.get(f"{url}/healthz", timeout=10.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    tail = (data_dir / "node.log").read_text(errors="replace")[-2000:]
    raise DevnetError(f"node at {url} did not become healthy; its log ends:\n{tail}")


def _is_our_node(pid: int, data_dir: str) -> bool:
    """Whether ``pid`` still runs ``kp-node run`` on ``data_dir`` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\x00")
    except OSError:
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child and has exited
    return data_dir.encode() in cmdline and Path(f"/proc/{pid}").exists()


def _write(root: Path, description: dict[str, Any]) -> None:
    write_private_file(root / "devnet.json", json.dumps(description, indent=2))
