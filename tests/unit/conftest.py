"""The in-process node several unit test modules drive: BW and EU made as a devnet makes them
(data directories, genesis, operators), never started; BW's application served in-process.

Module-scoped, so each module that asks gets a network of its own. A module that defines a
fixture of the same name uses its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.sdk import Operator
from node.core import crypto
from node.dev.devnet import devnet_create
from tests.support.asgi import Api, serve_in_process
from tests.support.network import free_port_block


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("net")
    # Never bound in-process, but peers' URLs: free ports, so that replication's attempts to
    # reach EU find nobody rather than some other network on this machine.
    description = devnet_create(root, participants=["BW", "EU"], base_port=free_port_block(2))
    description["root"] = root
    return description


@pytest.fixture(scope="module")
def api(network: dict[str, Any]) -> Iterator[Api]:
    with serve_in_process(network["root"] / "BW") as served:
        yield served


@pytest.fixture(scope="module")
def mine(network: dict[str, Any]) -> Operator:
    key_file = Path(network["participants"]["BW"]["operators"]["mine"]["key_file"])
    return Operator("BW", "mine", crypto.load_private_key(key_file))
