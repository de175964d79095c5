"""Each package and public module exports exactly what it says, and every name it lists exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import node

PACKAGES = ["node", *(f"node.{name}" for name in node.__all__ if name != "cli"), "client"]
MODULES = [
    *(
        f"{package}.{name}"
        for package in PACKAGES
        for name in importlib.import_module(package).__all__
    ),
]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_lists_exactly_its_modules(package: str) -> None:
    listed = importlib.import_module(package).__all__
    found = sorted(
        info.name
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__)
        if not info.name.startswith("_")
    )
    assert listed == found


@pytest.mark.parametrize("module_name", MODULES)
def test_every_exported_name_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    for name in exported:
        if not hasattr(module, name) and hasattr(module, "__path__"):
            # A package lists its modules: loaded on first import, not by the package itself.
            importlib.import_module(f"{module_name}.{name}")
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
