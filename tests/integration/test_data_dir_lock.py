"""One process per data directory, and files only their owner reads (decision 0030), on real
``kp-node`` processes: a second ``run`` is refused naming the first, restore, key promotion and
init wait for the node to stop, the sequencer process holds the lock while it outlives a killed
node, a killed node leaves no stale lock, every file ``kp-node`` creates is 0600 and every
directory 0700 under a umask of 000, and admin commands beside a node under load fork
nothing."""

from __future__ import annotations

import contextlib
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
        str(tmp_path / "genesis.charter"), umask=0,
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
        # What kp-node writes outside the data directory too: charters, backups.
        assert _mode(directory.parent / "genesis.charter") == 0o600
        backup = directory.parent / "backups" / "monday"
        made = _kp_node("backup", "--dir", str(directory), "--to", str(backup), umask=0)
        assert made.returncode == 0, made.stderr
        assert _mode(backup) == 0o700
        assert _mode(backup / "data.mdb") == 0o600
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
        # What would replace the keys, the log or the directory under the running node waits
        # for it to stop.
        for command in (
            ("restore", "--dir", str(directory), str(directory.parent / "genesis.charter")),
            ("keys", "promote", "--dir", str(directory)),
            (
                "init", "--dir", str(directory), "--participant", "BW", "--network", NETWORK,
                "--name", "again",
            ),
        ):  # fmt: skip
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


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_sequencer_process_holds_the_lock_when_only_the_node_is_killed(
    data_dir: tuple[Path, str],
) -> None:
    directory, url = data_dir
    genesis = str(directory.parent / "genesis.charter")
    signed = _kp_node("charter", "sign", "--dir", str(directory), genesis)
    assert signed.returncode == 0, signed.stderr
    adopted = _kp_node("charter", "adopt", "--dir", str(directory), genesis)
    assert adopted.returncode == 0, adopted.stderr
    node = _start(directory)
    try:
        _wait_healthy(url, node, directory)
        holders = (directory / "node.lock").read_text().splitlines()
        assert holders[0] == f"pid {node.pid}, run"
        sequencer = int(holders[1].removeprefix("pid ").removesuffix(", sequencer"))
        assert _alive(sequencer)
        # Stopped, the child cannot notice its parent's death and end: it stays as a
        # sequencer would that is still committing what it was sent.
        os.kill(sequencer, signal.SIGSTOP)
        os.kill(node.pid, signal.SIGKILL)  # the node only, not its process group
        node.wait(timeout=20)
        second = _kp_node("run", "--dir", str(directory))
        assert second.returncode != 0
        assert "datadir.locked" in second.stderr
        assert f"pid {sequencer}, sequencer" in second.stderr
        # Let go, it sees its parent gone, ends, and the lock with it.
        os.kill(sequencer, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while _alive(sequencer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(sequencer)
        again = _start(directory)
        try:
            _wait_healthy(url, again, directory)
        finally:
            _kill(again)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)  # the group outlives its leader
        _kill(node)


@pytest.mark.parametrize(
    ("relative", "mode", "code"),
    [
        ("keys", 0o777, "datadir.permissions"),
        ("keys", 0o755, "datadir.permissions"),
        ("", 0o777, "datadir.permissions"),
        ("keys/governance.pem", 0o644, "key.file_permissions"),
    ],
    ids=["keys-world-writable", "keys-world-readable", "dir-world-writable", "key-file-readable"],
)
def test_keys_others_may_use_make_run_refuse(
    data_dir: tuple[Path, str], relative: str, mode: int, code: str
) -> None:
    directory, url = data_dir
    target = directory / relative
    target.chmod(mode)
    refused = _kp_node("run", "--dir", str(directory))
    assert refused.returncode != 0
    assert code in refused.stderr
    assert f"chmod 0{0o700 if target.is_dir() else 0o600:o} {target}" in refused.stderr
    assert not _healthy(url)  # refused before its port was bound
