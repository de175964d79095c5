"""The node's log lines: one JSON object per line on standard error, for the HTTP process and
the sequencer process alike."""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["JsonLogFormatter", "configure_logging"]

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


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the ``kp`` loggers, at ``level``.

    For the whole process, log records no longer carry thread and process names and ids (a
    ``%(process)d`` elsewhere prints None): every request logs a line, and no line of ours says
    which thread or process wrote it, so the logging module need not look those up for each."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger("kp")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
