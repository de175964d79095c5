"""The one table from error to HTTP status (node/server/problems.py) is exhaustive, and a refusal
keeps its code and status across the sequencer socket whatever module its class lives in."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest

import node
from node.core.errors import (
    ApiError,
    ClientBusyError,
    DevnetError,
    LedgerError,
    PendingError,
    RestoringError,
    RuleError,
    ScenarioError,
    WitnessError,
)
from node.server.problems import STATUS, status_of
from node.server.sequencer_process import _encoded, _refusal

# Development tools: their errors end a command, never an HTTP request.
NOT_SERVED = {DevnetError, ScenarioError}


def _subclasses(kind: type[LedgerError]) -> Iterator[type[LedgerError]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _server_errors() -> list[type[LedgerError]]:
    for info in pkgutil.walk_packages(node.__path__, "node."):
        importlib.import_module(info.name)
    return sorted(
        (
            kind
            for kind in set(_subclasses(LedgerError))
            if kind.__module__.startswith("node.") and kind not in NOT_SERVED
        ),
        key=lambda kind: f"{kind.__module__}.{kind.__qualname__}",
    )


@pytest.mark.parametrize("kind", _server_errors(), ids=lambda kind: kind.__qualname__)
def test_every_error_the_server_raises_has_a_status(kind: type[LedgerError]) -> None:
    if kind is ApiError:
        return  # carries its own
    assert any(issubclass(kind, mapped) for mapped, _ in STATUS), (
        f"{kind.__module__}.{kind.__qualname__} has no status in node/server/problems.py STATUS"
    )


def test_subclasses_come_before_their_parents() -> None:
    for i, (kind, _) in enumerate(STATUS):
        for later, _ in STATUS[i + 1 :]:
            assert not issubclass(later, kind) or later is kind, (later, kind)


def test_an_unmapped_error_is_a_server_fault_not_a_silent_400() -> None:
    class UnmappedError(LedgerError):
        code = "test.unmapped"

    assert status_of(UnmappedError("x")) == 500


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (PendingError("later"), 409),
        (RuleError("no", code="mass.exceeds"), 422),
        (ClientBusyError("wait"), 429),
        (RestoringError("restoring"), 503),
        (WitnessError("bad proof line"), 400),
    ],
)
def test_a_refusal_crosses_the_sequencer_socket_as_code_status_and_detail(
    error: LedgerError, status: int
) -> None:
    back = _refusal(_encoded(error))
    assert isinstance(back, ApiError)
    assert (back.code, status_of(back), back.message) == (error.code, status, error.message)
