"""A full (or failing) storage ends the search with one sentence, and nothing written is lost
(docs/robustness.md).

``StorageGuard`` watches the trials' errors (the ``StorageErrors`` callback) and Ray's sync warnings (a
logging handler) for storage write failures; on the first it stops the search as Ctrl-C does (Ray's
SIGUSR1 handler), which leaves unfinished trials resumable, and raises ``StorageFailed`` naming the
storage and the fix. ``--resume`` then trains again what the full disk cut short."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ray import tune

from tune_mnist.core.errors import InputError
from tune_mnist.experiment.ray_log import log_note
from tune_mnist.experiment.storage import is_uri

#: The storage errors, each with its words as the sentence gives them and as they read in an error's text.
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
    errno.EFBIG: "file too large",
}
# Ray reports failed uploads of results and experiment state as warnings of its Tune and Train
# modules instead of raising: a handler on these two parents hears every module below them.
RAY_SYNC_LOGGERS = ("ray.tune", "ray.train")


class StorageFailed(InputError):
    """The storage refused a write: exit status 2 like any input the user must fix (here: the storage)."""


def storage_errno(error: BaseException | str | None) -> int | None:
    """The storage errno behind an exception (its whole cause/context chain) or an error text, else None."""
    seen: set[int] = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
            return error.errno
        found = storage_errno(str(error))
        if found is not None:
            return found
        error = error.__cause__ or error.__context__
    if isinstance(error, str):  # how Ray writes these errors out (trial errors travel as text)
        text = error.lower()
        for number, words in STORAGE_ERRNOS.items():
            if words in text or f"[errno {number}]" in text:
                return number
    return None


def free_bytes(storage: str) -> int | None:
    """Free space of a local storage path (None behind a URI, where it has no meaning)."""
    if is_uri(storage) and not storage.startswith("file://"):
        return None
    path = Path(storage.removeprefix("file://"))
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def failure_sentence(storage: str, name: str, number: int) -> str:
    what = STORAGE_ERRNOS.get(number, os.strerror(number))
    free = free_bytes(storage)
    room = f", {free / 1e6:.1f} MB free" if free is not None else ""
    fix = (
        "free space on it or enlarge it"
        if number in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        else "make it writable again"
        if number == errno.EROFS
        else "repair or remount it"
    )
    return (
        f"The storage {storage} failed a write ({what}{room}), so the search stopped with every finished "
        f"trial kept: {fix}, then continue with python -m tune_mnist.search --resume --name {name} "
        f"--storage-path {storage}{log_note()}."
    )


def check_free_space(storage: str, needed: int, what: str, allow: bool) -> None:
    """Before the search starts: refuse a storage with less free space than ``needed`` bytes in one sentence,
    or with ``allow`` (``--allow-low-space``) warn and run until it fills (then stop as any full storage does)."""
    free = free_bytes(storage)
    if free is None or free >= needed:
        return
    sentence = f"The storage {storage} has {free / 1e6:,.1f} MB free, less than the about {needed / 1e6:,.1f} MB {what}"
    if allow:
        print(f"warning: {sentence}; starting anyway (--allow-low-space).", file=sys.stderr)
        return
    raise InputError(
        f"{sentence}: free space on it or choose another --storage-path, or pass --allow-low-space to start "
        "anyway (the search then stops when the storage fills, every finished trial kept)."
    )


class _SyncLogHandler(logging.Handler):
    """Ray reports failed uploads of results and experiment state as warnings, not exceptions."""

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        number = storage_errno(error) if error is not None else storage_errno(record.getMessage())
        if number is not None and _ACTIVE is not None:
            _ACTIVE.record(number)


class StorageErrors(tune.Callback):
    """A trial failed on a storage write: tell the active guard. Stateless, so that Ray can pickle it into
    its saved Tuner, and every copy reports to the one guard of this driver."""

    def _check(self, trial: Any) -> None:
        try:
            text = Path(trial.error_file).read_text(errors="replace") if trial.error_file else ""
        except OSError:
            text = ""
        number = storage_errno(text)
        if number is not None and _ACTIVE is not None:
            _ACTIVE.record(number)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._check(trial)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._check(trial)  # a failure Ray retries: on a full disk the retry fails too


class StorageGuard:
    """``with StorageGuard(storage, name):`` around fit: the first storage write failure stops the search like
    Ctrl-C, and the block ends in one sentence instead of a summary of the stopped search."""

    def __init__(self, storage: str, name: str) -> None:
        self.storage, self.name = storage, name
        self.errno: int | None = None
        self._lock = threading.Lock()
        self._handler = _SyncLogHandler(logging.WARNING)

    def record(self, number: int) -> None:
        with self._lock:
            first = self.errno is None
            if first:
                self.errno = number
        if first:
            self._stop_search()

    @staticmethod
    def _stop_search() -> None:
        # Ray's tune.run installs a SIGUSR1 handler that ends the run as Ctrl-C does, leaving running
        # trials resumable (a Stopper would mark them finished); without it (not the main thread)
        # SIGUSR1 would kill the driver, so the search then simply runs out.
        if threading.current_thread() is threading.main_thread() and callable(signal.getsignal(signal.SIGUSR1)):
            os.kill(os.getpid(), signal.SIGUSR1)

    def __enter__(self) -> StorageGuard:
        global _ACTIVE
        _ACTIVE = self
        for name in RAY_SYNC_LOGGERS:
            logging.getLogger(name).addHandler(self._handler)
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, tb: Any) -> bool:
        global _ACTIVE
        _ACTIVE = None
        for name in RAY_SYNC_LOGGERS:
            logging.getLogger(name).removeHandler(self._handler)
        if isinstance(error, (InputError, KeyboardInterrupt)):
            return False
        if error is not None and self.errno is None:
            self.errno = storage_errno(error)
        if self.errno is not None:  # also after a fit that returned: no summary of a stopped search
            # replaces Ray's traceback (e.g. EOFError from a truncated error.pkl)
            raise StorageFailed(failure_sentence(self.storage, self.name, self.errno)) from None
        return False


_ACTIVE: StorageGuard | None = None
