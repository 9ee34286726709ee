"""Ray's own warnings, errors and tracebacks go to a log file; the console keeps the project's lines.

On a fault Ray Tune logs tracebacks and advice above the project's one sentence, and a user reads the
traceback first. ``RayLog`` (around a search's fit) writes Ray Tune's and Ray Train's records, INFO and
up, to a local file that each fault's sentence names (``log_note``); trial processes' output stays in
Ray's session logs (``ray.init(log_to_driver=False)``)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

#: The loggers whose warnings and errors leave the console (Ray Tune, Ray Train, their AIR parts, and the
#: driver's "Unhandled error" tracebacks of a trial task that failed as the search stopped).
RAY_LOGGERS = ("ray.tune", "ray.train", "ray.air", "ray._private.worker")
#: Where the log files go unless TUNE_MNIST_LOG_DIR says otherwise: local, so a full storage cannot stop them.
LOG_DIR_ENV = "TUNE_MNIST_LOG_DIR"

_ACTIVE: RayLog | None = None


def log_note() -> str:
    """`` (Ray's messages: PATH)`` for a fault's sentence: the log file of the search running in this driver,
    or nothing outside a search."""
    return "" if _ACTIVE is None else f" (Ray's messages: {_ACTIVE.path})"


class _OffConsole(logging.Filter):
    """On a console handler: no warning or error of Ray's loggers (they are in the log file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from_ray = any(record.name == name or record.name.startswith(name + ".") for name in RAY_LOGGERS)
        return not (record.levelno >= logging.WARNING and from_ray)


class RayLog:
    """``with RayLog(name):`` around a search's fit (see the module docstring)."""

    def __init__(self, name: str) -> None:
        directory = Path(os.environ.get(LOG_DIR_ENV) or Path(tempfile.gettempdir()) / "tune_mnist-logs")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.path = directory / f"{name}-{stamp}-{os.getpid()}.log"
        self._handler: logging.Handler | None = None
        self._filter = _OffConsole()
        self._filtered: list[logging.Handler] = []

    def __enter__(self) -> RayLog:
        global _ACTIVE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handler = logging.FileHandler(self.path, encoding="utf-8")
        self._handler.setLevel(logging.INFO)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in RAY_LOGGERS:
            logging.getLogger(name).addHandler(self._handler)
        self._filtered = [h for h in _console_handlers() if self._filter not in h.filters]
        for handler in self._filtered:
            handler.addFilter(self._filter)
        _ACTIVE = self
        return self

    def __exit__(self, *exc: Any) -> None:
        global _ACTIVE
        _ACTIVE = None
        for handler in self._filtered:
            handler.removeFilter(self._filter)
        if self._handler is not None:
            for name in RAY_LOGGERS:
                logging.getLogger(name).removeHandler(self._handler)
            self._handler.close()


def _console_handlers() -> list[logging.Handler]:
    """The handlers that write Ray's records to the console: on Ray's loggers and the root logger."""
    handlers = []
    for name in ("", "ray", *RAY_LOGGERS):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handlers.append(handler)
    return handlers
