"""The wall clock, read in one place.

Entry times, evidence times, cosignature timestamps, request-signature windows and the day that
expiry is judged on all come from here, so a test that needs another time replaces one callable
(a ``Clock``) instead of patching ``time`` wherever it is read. Everything is UTC: the KP's
dates are calendar dates of the records, and a node's zone must not change a verdict.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

__all__ = ["Clock", "timestamp", "today", "utc_date", "wall_ms"]

Clock = Callable[[], int]
"""Milliseconds since the Unix epoch."""


def wall_ms() -> int:
    """The system clock, in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def utc_date(time_ms: int) -> str:
    """The UTC calendar date of a time in milliseconds, as ``YYYY-MM-DD``."""
    return datetime.datetime.fromtimestamp(time_ms / 1000, tz=datetime.UTC).date().isoformat()


def today(clock: Clock = wall_ms) -> str:
    """The UTC date of ``clock``'s now, as ``YYYY-MM-DD``."""
    return utc_date(clock())


def timestamp(clock: Clock = wall_ms) -> str:
    """``clock``'s now to the second, ISO 8601 in UTC (``2026-12-03T11:48:00+00:00``): when a
    report or a verdict was made."""
    moment = datetime.datetime.fromtimestamp(clock() // 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds")
