"""The node's log lines: one JSON object per line on standard error, for the HTTP process and
the sequencer process alike.

Warnings and errors that repeat are written once per interval (``RepeatFilter``): a node that
meets the same failure on every connection, as an ``accept()`` out of file descriptors does
(issue 12), writes one line and a count, not a traceback each time."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["JsonLogFormatter", "RepeatFilter", "configure_logging"]

REPEAT_INTERVAL = 10.0

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields.

    It runs for every request, so the time text is made once a second, not once a line."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._time = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._time = second, self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        line: dict[str, Any] = {
            "time": self._time,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "repeated"}
)


class RepeatFilter(logging.Filter):
    """Lets the first of identical warnings and errors through, then none for ``interval``
    seconds; the next one after that carries ``repeated``: how many were left out meanwhile.

    Identical means the same logger, level, message template (its arguments may differ), error
    code (an ``extra`` field ``code``), exception type, and the other ``extra`` fields. A count
    still held when the repeats stop is reported with the next occurrence, whenever that is.
    Records below WARNING (one per request or commit) all pass. At most ``max_kinds`` kinds are
    remembered at once.
    """

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = 1024,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.max_kinds = max_kinds
        self._lock = threading.Lock()
        self._kinds: dict[tuple[object, ...], list[float | int]] = {}  # [since, left out]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exception = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        code = getattr(record, "code", "")
        # The extra fields tell two lines apart ("EU is behind at 1", "ZA is behind at 2").
        about = tuple(
            (key, repr(value))
            for key, value in sorted(record.__dict__.items())
            if key not in _STANDARD_ATTRIBUTES
        )
        kind = (record.name, record.levelno, str(record.msg), code, exception, about)
        now = self.clock()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is not None and now - seen[0] < self.interval:
                seen[1] += 1
                return False
            if seen is not None and seen[1]:
                record.repeated = int(seen[1])
            if seen is None and len(self._kinds) >= self.max_kinds:
                self._kinds = {k: v for k, v in self._kinds.items() if now - v[0] < self.interval}
                if len(self._kinds) >= self.max_kinds:
                    return True  # too many kinds at once to fold: write, remember none
            self._kinds[kind] = [now, 0]
        return True


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the ``kp`` loggers, at ``level``, and for every other logger
    (uvicorn's, asyncio's) at WARNING; repeated warnings and errors folded by ``RepeatFilter``.

    For the whole process, log records no longer carry thread and process names and ids (a
    ``%(process)d`` elsewhere prints None): every request logs a line, and no line of ours says
    which thread or process wrote it, so the logging module need not look those up for each."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RepeatFilter())
    ours = logging.getLogger("kp")
    ours.handlers[:] = [handler]
    ours.setLevel(level)
    ours.propagate = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
