"""A node that lies to a verifier — it serves a forked copy of a log — is caught when the
verifier asks several nodes.

Botswana's node signs two histories: the network sees one; a second node, started from a copy of
Botswana's data directory taken earlier and extended differently, serves the other — in which a
parcel the honest chain split was split another way: a double spend. A customs officer's
verifier that asks only the lying node may be fooled offline at most; asked together with
honest nodes, ``verify_online`` names the lying node, for the fork and for the double spend,
from the one batch of parcel states it asks each node for.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from client.online import verify_online
from client.sdk import LedgerClient, Operator
from node.core import crypto
from node.core.receipt import Receipt
from tests.support.network import REPO, Devnet, devnet, free_port_block


def _split(
    client: LedgerClient, mine: Operator, parcel: Receipt, names: tuple[str, str]
) -> Receipt:
    """Split the parcel ``parcel`` made into two halves named ``names``."""
    return client.submit(
        *mine.transform(
            [parcel.parcel_ref()],
            [(names[0], 500, "7102.10"), (names[1], 500, "7102.10")],
            kind="split",
        ),
        wait="witnessed",
    )


def _produce(client: LedgerClient, mine: Operator, parcel: str) -> Receipt:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    return client.submit(
        *mine.produce(parcel, centicarats=1_000, hs_code="7102.10", produced_on=today),
        wait="witnessed",
    )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    os.environ["KP_NODE_REPLICATION_INTERVAL"] = "0.5"
    try:
        with devnet(tmp_path_factory.mktemp("net"), "BW,EU,IN") as running:
            yield running
    finally:
        del os.environ["KP_NODE_REPLICATION_INTERVAL"]


def test_a_node_serving_a_forked_log_is_named(net: Devnet, tmp_path: Path) -> None:
    info = net.description["participants"]["BW"]
    mine = Operator(
        "BW", "mine", crypto.load_private_key(Path(info["operators"]["mine"]["key_file"]))
    )
    bw = LedgerClient(net.url("BW"))
    spent = _produce(bw, mine, "BW-BEFORE")
    # Copy Botswana's data directory as it stands (LMDB files copied while the node runs are
    # a consistent snapshot only between commits; the node is idle now).
    fork_dir = tmp_path / "BW-fork"
    shutil.copytree(info["data_dir"], fork_dir, ignore=shutil.ignore_patterns("node.log"))
    port = free_port_block(1)
    settings = (fork_dir / "node.toml").read_text()
    settings = settings.replace(f"port = {int(info['url'].rsplit(':', 1)[1])}", f"port = {port}")
    (fork_dir / "node.toml").write_text(settings)
    # The honest history goes on, and verifies against the honest nodes…
    subject = _produce(bw, mine, "BW-HONEST-1")
    _produce(bw, mine, "BW-HONEST-2")
    split = _split(bw, mine, spent, ("BW-HONEST-A", "BW-HONEST-B"))
    genesis = bytes.fromhex(net.description["genesis"])
    honest = [net.url("BW"), net.url("EU"), net.url("IN")]
    assert verify_online(honest, subject.entry_hash.hex(), genesis).verdict.valid
    assert verify_online(honest, split.entry_hash.hex(), genesis).verdict.valid
    # …and the fork, with Botswana's own keys, grows another way, further.
    fork_url = f"http://127.0.0.1:{port}"
    with (fork_dir / "node.log").open("ab") as log:
        liar = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(fork_dir)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "KP_NODE_REPLICATION_INTERVAL": "3600",
                "KP_NODE_REPLICATION_MAX_INTERVAL": "3600",
            },
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{fork_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with LedgerClient(fork_url) as forked:
            today = datetime.datetime.now(datetime.UTC).date().isoformat()
            for name in ("BW-FORK-1", "BW-FORK-2", "BW-FORK-3"):
                forked.submit(
                    *mine.produce(name, centicarats=9_999, hs_code="7102.10", produced_on=today)
                )
            # The parcel the honest chain split, split again in the fork: spent twice.
            forked.submit(
                *mine.transform(
                    [spent.parcel_ref()], [("BW-FORK-A", 1_000, "7102.10")], kind="split"
                )
            )
        caught = verify_online([*honest, fork_url], subject.entry_hash.hex(), genesis)
        assert caught.decided
        assert not caught.verdict.valid
        named = [f for f in caught.verdict.findings if f.code == "node.fork"]
        assert named, caught.verdict.findings
        assert fork_url in named[0].detail
        twice = verify_online([*honest, fork_url], split.entry_hash.hex(), genesis)
        assert twice.decided
        assert not twice.verdict.valid
        codes = {f.code: f for f in twice.verdict.findings}
        assert {"node.fork", "parcel.double_spent"} <= set(codes), twice.verdict.findings
        double = codes["parcel.double_spent"]
        assert fork_url in double.detail
        assert (double.log, double.seq) == ("BW", spent.seq)
        # Only the lying node is named: the honest ones agree with the chain.
        assert all(fork_url in f.detail for f in twice.verdict.findings)
    finally:
        liar.terminate()
        liar.wait(timeout=20)
        bw.close()
