"""One driver per experiment (docs/robustness.md): filelock's OS lock (``flock``) on
``tune_mnist_driver.lock`` in the experiment directory, taken without waiting before Ray starts, with
the holder (host, pid, since when) written into the file; a second driver is refused in one sentence
naming it. The kernel drops the lock when its process ends, however it ends, so there is no
staleness rule. An experiment behind a URI, or on a file system without ``flock``, is locked by a
file on this machine (``MACHINE_LOCKS``)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from tune_mnist.core.errors import InputError
from tune_mnist.experiment.storage import is_uri

LOCK_FILE = "tune_mnist_driver.lock"
#: This machine's locks of experiments that have no lockable file of their own (URIs, no flock).
MACHINE_LOCKS = Path(tempfile.gettempdir()) / f"tune_mnist-driver-locks-{os.getuid()}"
#: Tries, this far apart, while a lock file is being taken or removed by another driver at this moment.
READ_TRIES, READ_PAUSE_S = 5, 0.2


class ExperimentBusy(InputError):
    """Another live driver holds the experiment."""


@dataclass(frozen=True)
class Holder:
    """Who holds an experiment: the JSON in its lock file."""

    host: str
    pid: int
    started_at: float  # wall clock (seconds since the epoch)
    command: str = ""

    @classmethod
    def this_process(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid(), time.time(), " ".join(sys.argv)[:500])

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(str(data["host"]), int(data["pid"]), float(data["started_at"]), str(data.get("command", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def dumps(self) -> bytes:
        return (json.dumps(asdict(self), indent=2) + "\n").encode()

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.started_at))
        return f"host {self.host}, process {self.pid}, since {since}"


def machine_lock_path(experiment: str) -> Path:
    """The lock file on this machine for an experiment that has none of its own."""
    return MACHINE_LOCKS / f"{hashlib.sha256(experiment.rstrip('/').encode()).hexdigest()[:24]}.lock"


class DriverLock:
    """Hold ``experiment`` for this process: ``with DriverLock(path):`` or acquire()/release()."""

    def __init__(self, experiment: str) -> None:
        self.experiment = experiment
        self.name = experiment.rstrip("/").rsplit("/", 1)[-1]  # its --name, for the refusal's fix
        local = not is_uri(experiment) or experiment.startswith("file://")
        self.directory = Path(experiment.removeprefix("file://")) if local else None
        self.path = self.directory / LOCK_FILE if self.directory is not None else machine_lock_path(experiment)
        self._lock: FileLock | None = None
        self._file_id: tuple[int, int] | None = None  # (device, inode) of the file we locked
        self._created_experiment = False  # the lock made the experiment directory (a new experiment)

    def __enter__(self) -> DriverLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def holder(self) -> Holder | None:
        """Who the lock file names (the live holder while the lock is taken; a dead one's leftover otherwise)."""
        try:
            return Holder.parse(self.path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None

    def check_free(self) -> None:
        """Raise ExperimentBusy when a live driver holds the experiment; writes nothing."""
        if not self.path.exists():
            return
        try:
            with FileLock(self.path, timeout=0).acquire():
                return  # free: at most a dead driver's file, left as it is
        except Timeout:
            raise self._busy() from None
        except OSError:
            return  # no flock here, or the file just went: acquire decides

    def acquire(self) -> None:
        """Take the lock or raise ExperimentBusy naming the live holder."""
        me = Holder.this_process()
        if self.directory is not None:
            self._created_experiment = not self.directory.exists()
        for _ in range(READ_TRIES):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(self.path, timeout=0, on_acquired=lambda fd: self._describe(fd, me))
            try:
                lock.acquire()
            except Timeout:
                if self.path.exists():
                    raise self._busy() from None
                continue  # its holder ended and removed it just now: try again
            except OSError as exc:
                if exc.errno == errno.ENOSYS and self.path.parent != MACHINE_LOCKS:
                    self.path = machine_lock_path(self.experiment)  # no flock on this file system
                    continue
                raise InputError(
                    f"Cannot write the driver lock {self.path} ({exc.strerror or exc}): free space on the storage "
                    "or make it writable, then run the search again."
                ) from None
            self._lock = lock
            return
        raise self._busy()

    def release(self) -> None:
        """Remove the lock file, then let the lock go (waiters that opened the removed file try again)."""
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        try:
            now = os.stat(self.path)
            if (now.st_dev, now.st_ino) == self._file_id:
                self.path.unlink()
        except OSError:
            pass  # gone, or a storage we cannot write: the kernel still drops the lock
        lock.release()
        if self._created_experiment and self.directory is not None:
            try:  # rmdir is atomic: it fails on anything the search wrote meanwhile
                self.directory.rmdir()
            except OSError:
                pass

    def _describe(self, fd: int, me: Holder) -> None:
        """filelock's ``on_acquired``: write the holder into the file we just locked."""
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.dumps(), 0)
        os.fsync(fd)
        stat = os.fstat(fd)
        self._file_id = (stat.st_dev, stat.st_ino)

    def _busy(self) -> ExperimentBusy:
        holder = self.holder()
        for _ in range(READ_TRIES):
            if holder is not None:
                break
            time.sleep(READ_PAUSE_S)  # taken a moment ago: its holder is writing its name
            holder = self.holder()
        who = holder.describe() if holder is not None else f"its lock {self.path} names no holder"
        stop = f" (kill {holder.pid} on {holder.host})" if holder is not None else ""
        return ExperimentBusy(
            f"Experiment {self.experiment} is being driven by another search ({who}): wait for it to end or stop "
            f"it{stop}, then continue it with --resume --name {self.name}."
        )
