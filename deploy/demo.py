"""The demo: a five-participant network on this machine, the multi-country chain, verified.

    python3 deploy/demo.py

needs only Python 3.11+ and the package registry. It creates `.venv` with KP Ledger installed,
starts nodes for Botswana, Canada, the EU, the UAE and India on loopback (`kp-node devnet up`),
runs the scenario through the HTTP API (`kp-node devnet scenario`): mines in Botswana and Canada,
certificates to the EU, an Antwerp merge and sort, certificates to India and the UAE, the UAE's
re-export to India. Then it verifies India's final confirmation with `kp verify --deep` online,
against every node, printing the chain from the mines, and offline from an exported bundle, which
replays the last steps and says what rests on the witnesses (decision 0039); it leaves the network
running until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
NET = ROOT / ".demo-net"
BASE_PORT = int(os.environ.get("KP_DEMO_PORT", "8400"))


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def run(*command: str | Path, capture: bool = False) -> str:
    result = subprocess.run(
        [str(c) for c in command],
        cwd=ROOT,
        check=False,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    if result.returncode != 0:
        sys.exit(f"demo: {' '.join(str(c) for c in command[:4])} ... exited {result.returncode}")
    return result.stdout or ""


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - runs under whatever python3 the machine has
        sys.exit("KP Ledger needs Python 3.11 or newer")
    step("installing KP Ledger into .venv")
    if not PYTHON.exists():
        venv.create(VENV, with_pip=True)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--editable", ".[node]")

    if (NET / "devnet.json").exists():
        run(PYTHON, "-m", "node.cli", "devnet", "down", "--dir", NET)
    shutil.rmtree(NET, ignore_errors=True)
    step(f"starting five participants on 127.0.0.1:{BASE_PORT}-{BASE_PORT + 4}")
    run(
        PYTHON,
        "-m",
        "node.cli",
        "devnet",
        "up",
        "--dir",
        NET,
        "--participants",
        "BW,CA,EU,AE,IN",
        "--base-port",
        str(BASE_PORT),
        capture=True,
    )
    try:
        step("running the multi-country scenario through the HTTP API")
        run(PYTHON, "-m", "node.cli", "devnet", "scenario", "--dir", NET)
        description = json.loads((NET / "devnet.json").read_text())
        final = description["scenario"]["final"]
        nodes = ",".join(p["url"] for p in description["participants"].values())
        env = {**os.environ, "KP_NODES": nodes, "KP_TRUST": description["genesis"]}

        step("verifying India's confirmation of the UAE re-export, online, against every node")
        verify = subprocess.run(
            [str(PYTHON), "-m", "client.cli", "verify", final, "--deep"],
            cwd=ROOT,
            env=env,
            check=False,
        )
        bundle = NET / "final.bundle.json"
        step("exporting its bundle, and verifying it offline")
        subprocess.run(
            [str(PYTHON), "-m", "client.cli", "bundle", "export", final, "-o", str(bundle)],
            cwd=ROOT,
            env=env,
            check=True,
        )
        offline_env = {k: v for k, v in env.items() if k != "KP_NODES"}
        offline = subprocess.run(
            [str(PYTHON), "-m", "client.cli", "verify", "--bundle", str(bundle)],
            cwd=ROOT,
            env=offline_env,
            check=False,
        )
        if verify.returncode or offline.returncode:
            sys.exit("demo: the final certificate did not verify")
        step("the network is running")
        for member, info in description["participants"].items():
            print(
                f"  {member}: {info['url']}  (explorer: {info['url']}/ , API docs: "
                f"{info['url']}/docs)"
            )
        print(f"  genesis (KP_TRUST): {description['genesis']}")
        print(f"  final confirmation: {final}")
        print("\nCtrl-C stops the network.", flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not leave nodes running behind a half-finished shutdown.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        step("stopping the network")
        subprocess.run(
            [str(PYTHON), "-m", "node.cli", "devnet", "down", "--dir", str(NET)],
            cwd=ROOT,
            check=False,
        )


if __name__ == "__main__":
    main()
