"""RepeatFilter: identical warnings and errors are written once per interval, with a count."""

from __future__ import annotations

import logging

import pytest

from node.server.jsonlog import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _record(
    message: str = "socket.accept() out of system resource",
    *,
    level: int = logging.ERROR,
    args: tuple[object, ...] = (),
    code: str | None = None,
    logger: str = "asyncio",
) -> logging.LogRecord:
    record = logging.LogRecord(logger, level, __file__, 1, message, args, None)
    if code is not None:
        record.code = code
    return record


def test_repeats_within_the_interval_are_left_out_and_counted_on_the_next_line() -> None:
    clock = Clock()
    folding = RepeatFilter(interval=10.0, clock=clock)
    assert folding.filter(_record())
    passed = []
    for _ in range(500):
        clock.now += 0.01
        passed.append(folding.filter(_record()))
    assert not any(passed)
    clock.now += 10.0
    after = _record()
    assert folding.filter(after)
    assert after.repeated == 500
    clock.now += 10.0
    quiet = _record()
    assert folding.filter(quiet)
    assert not hasattr(quiet, "repeated")  # nothing was left out in between


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(_record("a"), _record("b"), id="message"),
        pytest.param(_record(code="x"), _record(code="y"), id="code"),
        pytest.param(_record(logger="uvicorn.error"), _record(), id="logger"),
        pytest.param(_record(level=logging.WARNING), _record(), id="level"),
    ],
)
def test_records_that_differ_are_both_written(
    first: logging.LogRecord, second: logging.LogRecord
) -> None:
    folding = RepeatFilter(clock=Clock())
    assert folding.filter(first)
    assert folding.filter(second)


def test_same_template_with_other_arguments_is_a_repeat() -> None:
    folding = RepeatFilter(clock=Clock())
    assert folding.filter(_record("peer %s failed", args=("EU",)))
    assert not folding.filter(_record("peer %s failed", args=("IN",)))


def test_info_lines_all_pass() -> None:
    folding = RepeatFilter(clock=Clock())
    assert all(folding.filter(_record("request", level=logging.INFO)) for _ in range(10))


def test_too_many_kinds_at_once_are_written_not_remembered() -> None:
    folding = RepeatFilter(clock=Clock(), max_kinds=4)
    assert all(folding.filter(_record(f"error {i}")) for i in range(4))
    assert folding.filter(_record("error 5"))
    assert folding.filter(_record("error 5"))  # no room to remember it: written again
    assert not folding.filter(_record("error 0"))  # those remembered still fold
