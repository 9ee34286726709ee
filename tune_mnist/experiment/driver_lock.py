"""One driver per experiment: a lock file in the experiment directory, held while a search drives it.

Two drivers on one experiment (a run and a ``--resume`` of it from another shell) would train the same
trials into the same directories at once. A driver therefore creates ``tune_mnist_driver.lock`` (JSON:
host, pid, the process's start time, started_at, a random token, heartbeat) before Ray starts, refreshes
it from a heartbeat thread and removes it when it ends (with the experiment directory, where the lock
created it and nothing else was written: a search refused before it began leaves no trace). A second
driver is refused with one sentence naming the live holder; a holder that died does not block anyone:

- same host: stale when its pid is gone, or the pid now belongs to a process started at another time
  (pid reuse);
- another host: stale when its heartbeat (the file's mtime, or the ``heartbeat`` field) is older than
  ``STALE_S``, which assumes the hosts' clocks agree to well within that (NTP).

Local paths and NFS get an atomic create-if-absent (``O_CREAT | O_EXCL``; atomic on NFSv3+ servers).
URIs (s3://, gs://) reached through pyarrow have no such operation: there the lock is best effort,
write then read back after a pause, so two drivers starting within that pause can both believe they
won; the later write wins and the other driver's heartbeat notices that it lost the lock."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from tune_mnist.core.errors import InputError
from tune_mnist.experiment.lock_holder import (
    STALE_S,
    Holder,
    is_stale,
    this_process,
    with_beat,
)
from tune_mnist.experiment.storage import Location, is_uri

LOCK_FILE = "tune_mnist_driver.lock"
HEARTBEAT_S = 10.0
READ_BACK_S = 2.0  # URIs: how long to wait before reading our write back
YOUNG_S = 5.0  # an unreadable lock younger than this is being written by its creator right now


class ExperimentBusy(InputError):
    """Another live driver holds the experiment."""


class DriverLock:
    """Hold ``experiment`` for this process: ``with DriverLock(path, name):`` or acquire()/release()."""

    def __init__(
        self,
        experiment: str,
        name: str | None = None,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        stale_s: float = STALE_S,
        read_back_s: float = READ_BACK_S,
    ) -> None:
        self.experiment = experiment
        self.name = name or experiment.rstrip("/").rsplit("/", 1)[-1]
        self.heartbeat_s, self.stale_s, self.read_back_s = heartbeat_s, stale_s, read_back_s
        self.token = uuid.uuid4().hex
        self.lost: Holder | None = None  # set by the heartbeat when another driver took the lock over
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held = False
        self._created_experiment = False  # the lock made the experiment directory (a new experiment)
        uri = is_uri(experiment) and not experiment.startswith("file://")
        self.local_path = None if uri else Path(experiment.removeprefix("file://")) / LOCK_FILE
        self.location = Location(experiment) if uri else None

    # ------------------------------------------------------------ public

    def __enter__(self) -> DriverLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def holder(self) -> tuple[Holder | None, float | None, bool]:
        """(the holder, the lock's mtime, whether a lock file exists) as the storage shows them now."""
        text, mtime = self._read()
        if text is None:
            return None, None, False
        return Holder.parse(text), mtime, True

    def live_holder(self) -> Holder | None:
        """The live driver holding the experiment, if any (a dead one's lock is left for acquire to take)."""
        holder, mtime, present = self.holder()
        if not present or holder is None or is_stale(holder, mtime, stale_s=self.stale_s):
            return None
        return None if holder.token == self.token else with_beat(holder, mtime)

    def check_free(self) -> None:
        """Raise ExperimentBusy when a live driver holds the experiment; writes nothing."""
        holder = self.live_holder()
        if holder is not None:
            raise self._busy(holder)

    def acquire(self) -> None:
        """Take the lock or raise ExperimentBusy naming the live holder; starts the heartbeat."""
        me = this_process(self.token)
        self._created_experiment = not self._experiment_exists()
        for _ in range(5):
            if self._create(me):
                break
            holder, mtime, present = self.holder()
            if not present:
                continue  # released in between: try again
            if holder is None:
                if mtime is not None and time.time() - mtime < YOUNG_S:
                    time.sleep(0.5)  # its creator is writing it right now
                    continue
                self._take_over(None)
                continue
            if holder.token == self.token:
                break
            if not is_stale(holder, mtime, stale_s=self.stale_s):
                raise self._busy(with_beat(holder, mtime))
            self._take_over(holder)
        else:
            holder = self.live_holder()
            if holder is not None:
                raise self._busy(holder)
            raise ExperimentBusy(
                f"Cannot take the driver lock {self._where()}: other drivers keep changing it; "
                f"stop them, then run the search again with --resume --name {self.name}."
            )
        self._held = True
        self._thread = threading.Thread(target=self._beat, name="tune-mnist-driver-lock", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not self._held:
            return
        self._held = False
        holder, _, present = self.holder()
        if present and holder is not None and holder.token == self.token:
            self._delete()
            if self._created_experiment:
                self._remove_if_empty()

    def _experiment_exists(self) -> bool:
        if self.local_path is not None:
            return self.local_path.parent.exists()
        assert self.location is not None
        return self.location.kind() != pafs.FileType.NotFound

    def _remove_if_empty(self) -> None:
        """A new experiment's directory, made only to hold the lock, goes with it when nothing else was
        written there (a search refused before Ray started, a cluster check failed): the storage is
        left as it was found and the same ``--name`` can be run again. Locally ``rmdir`` is atomic (it
        fails on anything written meanwhile); behind a URI an empty listing is checked first."""
        try:
            if self.local_path is not None:
                self.local_path.parent.rmdir()
                return
            assert self.location is not None
            if not self.location.children():
                self.location.fs.delete_dir(self.location.root)
        except OSError:
            pass  # not empty (the search wrote something) or gone: leave it

    # ------------------------------------------------------------ internals

    def _busy(self, holder: Holder) -> ExperimentBusy:
        ago = max(0, int(time.time() - holder.heartbeat))
        return ExperimentBusy(
            f"Experiment {self.experiment} is being driven by another search ({holder.describe()}, last heartbeat "
            f"{ago} s ago): wait for it to end or stop it (kill {holder.pid} on {holder.host}), then continue it "
            f"with --resume --name {self.name}."
        )

    def _where(self) -> str:
        return str(self.local_path) if self.local_path is not None else f"{self.experiment}/{LOCK_FILE}"

    def _read(self) -> tuple[str | None, float | None]:
        if self.local_path is not None:
            try:
                with open(self.local_path, encoding="utf-8", errors="replace") as f:
                    return f.read(), os.fstat(f.fileno()).st_mtime
            except FileNotFoundError:
                return None, None
        assert self.location is not None
        path = self.location.join(LOCK_FILE)
        info = self.location.fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return None, None
        try:
            text = self.location.read_text(path)
        except (FileNotFoundError, OSError):
            return None, None
        return text, info.mtime.timestamp() if info.mtime is not None else None

    def _create(self, me: Holder) -> bool:
        """Create the lock if absent: atomically on a file system, by write-and-read-back behind a URI."""
        if self.local_path is not None:
            self.local_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.local_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(me.dumps())
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                self.local_path.unlink(missing_ok=True)
                raise InputError(
                    f"Cannot write the driver lock {self.local_path} ({exc.strerror}): free space on "
                    f"the storage or make it writable, then run the search again."
                ) from None
            return True
        assert self.location is not None
        if self.holder()[2]:
            return False
        self.location.write_text(me.dumps(), self.location.join(LOCK_FILE))
        time.sleep(self.read_back_s)
        holder, _, _ = self.holder()
        return holder is not None and holder.token == self.token

    def _take_over(self, stale: Holder | None) -> None:
        """Move a dead holder's lock away so that _create can make ours; a lock renewed meanwhile is put back."""
        if self.local_path is None:
            assert self.location is not None
            self.location.fs.delete_file(self.location.join(LOCK_FILE))  # best effort, see the module docstring
            return
        moved = self.local_path.with_name(f"{LOCK_FILE}.stale-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.local_path, moved)
        except FileNotFoundError:
            return
        again = Holder.parse(moved.read_text(errors="replace"))
        if stale is not None and (again is None or again.token != stale.token):
            try:  # we moved a lock another driver had just created: give it back
                os.link(moved, self.local_path)
            except FileExistsError:
                pass
        moved.unlink(missing_ok=True)

    def _delete(self) -> None:
        try:
            if self.local_path is not None:
                self.local_path.unlink(missing_ok=True)
            else:
                assert self.location is not None
                self.location.fs.delete_file(self.location.join(LOCK_FILE))
        except OSError:
            pass  # a lock we cannot remove (storage gone) is judged stale later by the rules above

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                holder, _, _ = self.holder()
                if holder is not None and holder.token != self.token:
                    self.lost = holder
                    print(
                        f"warning: another driver took over {self.experiment} ({holder.describe()}); this "
                        "search no longer holds it.",
                        file=sys.stderr,
                    )
                    return
                if self.local_path is not None:
                    os.utime(self.local_path)  # the heartbeat other hosts read: a rewrite could be read half-done
                elif holder is not None:
                    now = time.time()
                    fresh = Holder(**{**asdict(holder), "heartbeat": now})
                    self.location.write_text(fresh.dumps(), self.location.join(LOCK_FILE))  # objects replace whole
            except OSError:
                continue  # a full or unreachable storage: keep trying; the search reports the storage itself
