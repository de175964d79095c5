"""Each package and public module exports exactly what it says, and every name it lists exists."""

from __future__ import annotations

import importlib

import pytest

import client
import node

MODULES = [f"node.{name}" for name in node.__all__] + [f"client.{name}" for name in client.__all__]


def test_node_package_lists_its_modules() -> None:
    assert node.__all__ == [
        "charter",
        "config",
        "crypto",
        "encoding",
        "errors",
        "httpsig",
        "ingress",
        "jsonlog",
        "log",
        "merkle",
        "notes",
        "provenance",
        "records",
        "rules",
        "sealing",
        "sequencer_process",
        "state",
        "store",
    ]
    assert client.__all__ == [
        "audit",
        "cli",
        "findings",
        "online",
        "replay",
        "sdk",
        "stats",
        "verify",
    ]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_exported_name_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    for name in exported:
        assert hasattr(module, name), f"{module_name}.{name} is listed but missing"


@pytest.mark.parametrize("module_name", MODULES)
def test_public_functions_and_classes_are_exported(module_name: str) -> None:
    module = importlib.import_module(module_name)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == module_name
        and callable(value)
    }
    assert public <= set(module.__all__), (
        f"{module_name} does not export {public - set(module.__all__)}"
    )
