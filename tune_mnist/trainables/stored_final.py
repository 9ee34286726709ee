"""A finished trial that Ray restores from an older checkpoint than the storage holds.

Ray restores a trial from the checkpoint that its saved experiment state names, and it writes that
state every 10 s or so (``tune_mnist.trainables.checkpoints``); a trial's checkpoints and rows reach the
storage in between. A driver killed with SIGKILL after a trial's last epoch reached the storage, but
before a snapshot said the trial finished, would make ``--resume`` train that epoch again and append a
second row for it to ``result.json``. ``stored_final`` finds such a trial's last checkpoint on the
storage (only when the storage's ``result.json`` holds its row, which proves the checkpoint was
written whole), so the trial restores from it, trains nothing, and reports the saved last row once
more with ``REPLAYED`` set: the searcher and the scheduler are told what they would have been told,
and the result loggers and MLflow do not write that row again. A trial that had not reached its last
epoch still repeats the epoch after Ray's checkpoint, as a restarted trial does."""

from __future__ import annotations

import json
import math
import posixpath
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from tune_mnist.core.layout import CHECKPOINT_PREFIX, CONFIG_FILE, MODEL_FILE, RESULT_FILE
from tune_mnist.core.metrics import EPOCH
from tune_mnist.trainables.unpack import read_rows


@dataclass(frozen=True)
class StoredFinal:
    """The storage's checkpoint of a trial's last epoch, and the row saved with it."""

    filesystem: Any
    path: str
    row: dict[str, Any]


def _read(filesystem: Any, path: str) -> str:
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode()


def logged_epochs(filesystem: Any, trial_dir: str) -> set[int]:
    """The epochs of the rows in the storage's ``result.json`` (none when it cannot be read)."""
    try:
        rows = read_rows(filesystem, posixpath.join(trial_dir, RESULT_FILE))
    except (OSError, UnicodeDecodeError):
        return set()
    return {int(row[EPOCH]) for row in rows if isinstance(row, dict) and isinstance(row.get(EPOCH), int)}


def stored_final(checkpoint: Any, epochs: int) -> StoredFinal | None:
    """The storage's checkpoint of epoch ``epochs`` when it is newer than ``checkpoint`` (the one Ray
    restores) and the storage's rows hold that epoch; else None and Ray's restore stands."""
    filesystem, given = checkpoint.filesystem, checkpoint.path.rstrip("/")
    trial_dir = posixpath.dirname(given)
    try:
        entries = filesystem.get_file_info(pafs.FileSelector(trial_dir, allow_not_found=True))
    except OSError:
        return None
    newer = sorted(
        (
            e.path.rstrip("/")
            for e in entries
            if e.type == pafs.FileType.Directory
            and e.base_name.startswith(CHECKPOINT_PREFIX)
            and e.base_name > posixpath.basename(given)
        ),
        key=posixpath.basename,
        reverse=True,
    )
    for path in newer:
        try:
            row = json.loads(_read(filesystem, posixpath.join(path, CONFIG_FILE))).get("metrics") or {}
            has_model = filesystem.get_file_info(posixpath.join(path, MODEL_FILE)).type == pafs.FileType.File
        except (OSError, ValueError):
            continue
        if not has_model or int(row.get(EPOCH) or 0) != epochs:
            return None  # the newest whole checkpoint is not the last epoch's: Ray's restore stands
        if epochs not in logged_epochs(filesystem, trial_dir):
            return None  # its row never reached the storage: Ray's restore trains and reports it
        # saved as JSON, a missing split's NaN became null: the row goes back as it was reported
        return StoredFinal(filesystem, path, {k: math.nan if v is None else v for k, v in row.items()})
    return None


def copy_to(stored: StoredFinal, directory: str) -> None:
    """The stored checkpoint's files into a local ``directory`` (reported again as the trial's last)."""
    local = pafs.LocalFileSystem()
    pafs.copy_files(stored.path, directory, source_filesystem=stored.filesystem, destination_filesystem=local)
