"""Who holds an experiment's driver lock, and whether that driver is dead: the lock file's JSON
(``Holder``) and the staleness rules (same host: its pid is gone or reused; another host: its
heartbeat is older than ``STALE_S``). ``driver_lock`` takes and keeps the lock."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STALE_S = 60.0


@dataclass(frozen=True)
class Holder:
    """What a lock file says about the driver that holds it."""

    host: str
    pid: int
    pid_start: str | None  # the process's start time as the kernel counts it (clock ticks since boot)
    started_at: float  # wall clock (seconds since the epoch)
    token: str
    heartbeat: float
    command: str = ""

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(
                host=str(data["host"]),
                pid=int(data["pid"]),
                pid_start=data.get("pid_start"),
                started_at=float(data["started_at"]),
                token=str(data["token"]),
                heartbeat=float(data.get("heartbeat", data["started_at"])),
                command=str(data.get("command", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def dumps(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.started_at))
        return f"host {self.host}, process {self.pid}, since {since}"


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), None when unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def is_stale(
    holder: Holder, mtime: float | None, now: float | None = None, host: str | None = None, stale_s: float = STALE_S
) -> bool:
    """Whether ``holder`` is dead (see the module docstring for the rules)."""
    now = time.time() if now is None else now
    if holder.host == (host or socket.gethostname()):
        if not pid_alive(holder.pid):
            return True
        start = process_start(holder.pid)
        return holder.pid_start is not None and start is not None and start != holder.pid_start
    beat = max(holder.heartbeat, mtime or 0.0)
    return now - beat > stale_s


def this_process(token: str) -> Holder:
    now = time.time()
    return Holder(
        host=socket.gethostname(),
        pid=os.getpid(),
        pid_start=process_start(os.getpid()),
        started_at=now,
        token=token,
        heartbeat=now,
        command=" ".join(sys.argv)[:500],
    )


def with_beat(holder: Holder, mtime: float | None) -> Holder:
    """The holder with its latest heartbeat, whichever of the file's mtime and its field is newer."""
    return Holder(**{**asdict(holder), "heartbeat": max(holder.heartbeat, mtime or 0.0)})
