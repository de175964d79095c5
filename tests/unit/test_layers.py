"""The verifier installs without the server (DESIGN §11, decision 0035).

``pip install kp-ledger`` gives the SDK, the verifier and ``kp``, without lmdb, FastAPI,
uvicorn or the Prometheus client; the node's modules that need them come with
``kp-ledger[node]``. Each check imports in a fresh interpreter, so what an earlier test loaded
cannot hide a leak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CLIENT = sorted(
    f"client.{path.stem}" if path.stem != "__init__" else "client"
    for path in (REPO / "client").glob("*.py")
)
"""Every client module: the SDK, verification, audit, statistics and ``kp``."""

CORE = {"node", "node.core"} | {
    f"node.core.{path.stem}"
    for path in (REPO / "node" / "core").glob("*.py")
    if path.stem != "__init__"
}
"""The node modules a verifier may load: node.core, pure code over records, notes and state."""

SERVER_LIBRARIES = {"lmdb", "fastapi", "starlette", "uvicorn", "prometheus_client", "pydantic"}


def _loaded_by(modules: list[str]) -> set[str]:
    program = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))


def test_the_client_loads_only_the_core_and_no_server_library() -> None:
    loaded = _loaded_by(CLIENT)
    assert {name.split(".")[0] for name in loaded} & SERVER_LIBRARIES == set()
    node_modules = {name for name in loaded if name == "node" or name.startswith("node.")}
    assert node_modules <= CORE, f"server modules loaded by the client: {node_modules - CORE}"


@pytest.mark.parametrize("module", sorted(CORE))
def test_each_core_module_loads_no_server_library(module: str) -> None:
    loaded = _loaded_by([module])
    assert {name.split(".")[0] for name in loaded} & SERVER_LIBRARIES == set()
    assert {n for n in loaded if n.startswith("node.")} <= CORE
