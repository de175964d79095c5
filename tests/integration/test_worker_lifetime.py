"""Worker processes never outlive their node, even when the node is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.network import REPO, devnet

PARENT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from node.engine.replica import exit_with_parent

if __name__ == "__main__":
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=exit_with_parent, initargs=(os.getpid(),))
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(3600)
"""


def test_a_verifying_worker_ends_when_its_node_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    with subprocess.Popen(
        [sys.executable, str(script)], cwd=REPO, stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert Path(f"/proc/{worker}").exists()
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{worker}").exists(), "the worker outlived its node"


def test_every_child_of_a_served_node_ends_when_it_is_killed(tmp_path: Path) -> None:
    with devnet(tmp_path / "net", participants="BW") as net:
        node = int(net.description["participants"]["BW"]["pid"])
        children = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(node)], capture_output=True, text=True, check=False
            ).stdout.split()
        ]
        assert children, "a served node runs its sequencer in a child process"
        os.kill(node, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{c}").exists() for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [c for c in children if Path(f"/proc/{c}").exists()]
        assert not left, f"children {left} outlived their node"
