"""One process per data directory, and files only their owner reads (decision 0030), on real
``kp-node`` processes: a second ``run`` is refused naming the first, restore and key promotion
wait for the node to stop, a killed node leaves no stale lock, and every file ``init`` and the
store create is 0600, every directory 0700, under a umask of 000."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.network import REPO, free_port_block

NETWORK = "kp.lock-test"


def _kp_node(*args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def _start(directory: Path) -> subprocess.Popen[bytes]:
    log = (directory / "node.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "run", "--dir", str(directory)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed whole below
        preexec_fn=lambda: os.umask(0),  # the store is created under it
    )
    log.close()
    return process


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_healthy(url: str, process: subprocess.Popen[bytes], directory: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _healthy(url):
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError((directory / "node.log").read_text()[-3000:])


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


@pytest.fixture
def data_dir(tmp_path: Path) -> tuple[Path, str]:
    directory = tmp_path / "BW"
    port = free_port_block(1)
    made = _kp_node(
        "init", "--dir", str(directory), "--participant", "BW", "--network", NETWORK,
        "--name", "KP authority of Botswana", "--port", str(port), umask=0,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    # An unsigned genesis of one member: enough for `restore` to get as far as the lock.
    genesis = _kp_node(
        "charter", "genesis", "--network", NETWORK, "--participant-file",
        str(directory / "participant.json"), "--witness-quorum", "0", "-o",
        str(tmp_path / "genesis.charter"),
    )  # fmt: skip
    assert genesis.returncode == 0, genesis.stderr
    return directory, f"http://127.0.0.1:{port}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_is_the_owners_alone_whatever_the_umask(data_dir: tuple[Path, str]) -> None:
    directory, url = data_dir
    process = _start(directory)
    try:
        _wait_healthy(url, process, directory)
        for path in [directory, *directory.rglob("*")]:
            if path.name == "node.log":
                continue  # written by the test harness's redirect, not by kp-node
            expected = 0o700 if path.is_dir() else 0o600
            assert _mode(path) == expected, f"{path} is {_mode(path):04o}"
        assert {"data.mdb", "lock.mdb"} <= {p.name for p in (directory / "store").iterdir()}
        assert (directory / "node.lock").exists()
    finally:
        _kill(process)


def test_a_second_node_on_one_directory_is_refused_naming_the_first(
    data_dir: tuple[Path, str],
) -> None:
    directory, url = data_dir
    first = _start(directory)
    try:
        _wait_healthy(url, first, directory)
        second = _kp_node("run", "--dir", str(directory))
        assert second.returncode != 0
        assert "datadir.locked" in second.stderr
        assert f"pid {first.pid}, run" in second.stderr
        # What would replace the keys or the log under the running node waits for it to stop.
        for command in (
            ("restore", "--dir", str(directory), str(directory.parent / "genesis.charter")),
            ("keys", "promote", "--dir", str(directory)),
        ):
            refused = _kp_node(*command)
            assert refused.returncode != 0, command
            assert "datadir.locked" in refused.stderr, refused.stderr
        assert _healthy(url)  # the first still serves
        # A killed node's lock goes with it: a new node starts at once.
        _kill(first)
        again = _start(directory)
        try:
            _wait_healthy(url, again, directory)
        finally:
            _kill(again)
    finally:
        _kill(first)


def test_a_key_directory_others_may_write_is_refused(data_dir: tuple[Path, str]) -> None:
    directory, _ = data_dir
    (directory / "keys").chmod(0o777)
    refused = _kp_node("run", "--dir", str(directory))
    assert refused.returncode != 0
    assert "datadir.key_directory_permissions" in refused.stderr
    assert f"chmod 0700 {directory / 'keys'}" in refused.stderr
