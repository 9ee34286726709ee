"""The checkpoint policy of a search (docs/search.md, "Checkpoints"): a checkpoint every epoch of every
trial, one kept per running trial, and a finished trial keeping only what the analysis and the export read.

Why not Ray's ``CheckpointConfig(num_to_keep=1)``: it forces an experiment-state snapshot after every
checkpoint of every trial, several a second with small models; so Ray keeps every checkpoint and
``PruneCheckpoints`` deletes a trial's previous one as soon as Ray reports the next."""

from __future__ import annotations

import logging
import posixpath
from typing import Any

import pyarrow.fs as pafs
from ray import tune

from tune_mnist.core.config import pack_members
from tune_mnist.core.layout import CHECKPOINT_PREFIX, TRAINING_STATE_FILE

#: Ray Train's loggers, whose INFO lines in a trial process include one per persisted checkpoint.
RAY_TRAIN_LOGGER = "ray.train"

log = logging.getLogger(__name__)


def checkpoint_config() -> Any:
    """Every checkpoint kept by Ray (no forced snapshot per checkpoint); ``PruneCheckpoints`` trims them."""
    return tune.CheckpointConfig(num_to_keep=None)


def quiet_checkpoint_log() -> None:
    """In a trial process: no INFO line per persisted checkpoint (see the module docstring)."""
    logging.getLogger(RAY_TRAIN_LOGGER).setLevel(logging.WARNING)


class PruneCheckpoints(tune.Callback):
    """Delete a trial's superseded checkpoint once Ray reports a newer one, and a finished trial's
    optimizer state."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[Any, str]] = {}  # trial id -> (filesystem, path) of its newest checkpoint

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        previous = self._latest.get(trial.trial_id)
        if previous is not None and previous[1] != checkpoint.path:
            _delete(*previous)
        self._latest[trial.trial_id] = (checkpoint.filesystem, checkpoint.path)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A finished trial keeps its model only (a pack's members' directories hold every model)."""
        self._latest.pop(trial.trial_id, None)
        latest = getattr(trial, "checkpoint", None)
        if latest is None:
            return
        single = pack_members(trial.config) is None
        if single:
            _delete(latest.filesystem, f"{latest.path.rstrip('/')}/{TRAINING_STATE_FILE}", directory=False)
        keep_only(latest.filesystem, latest.path, keep_latest=single)


def keep_only(filesystem: Any, latest: str, keep_latest: bool = True) -> None:
    """Delete every ``checkpoint_*`` directory beside ``latest`` in its trial directory (and ``latest``
    too unless ``keep_latest``)."""
    trial_dir = posixpath.dirname(latest.rstrip("/"))
    try:
        entries = filesystem.get_file_info(pafs.FileSelector(trial_dir, allow_not_found=True))
    except OSError as exc:
        log.warning("Could not list the checkpoints in %s: %s", trial_dir, exc)
        return
    for entry in entries:
        if (
            entry.type == pafs.FileType.Directory
            and entry.base_name.startswith(CHECKPOINT_PREFIX)
            and (entry.path.rstrip("/") != latest.rstrip("/") or not keep_latest)
        ):
            _delete(filesystem, entry.path)


def _delete(filesystem: Any, path: str, directory: bool = True) -> None:
    """A checkpoint that cannot be deleted only costs disk space: say so and go on."""
    try:
        kind = filesystem.get_file_info(path).type
        if directory and kind == pafs.FileType.Directory:
            filesystem.delete_dir(path)
        elif not directory and kind == pafs.FileType.File:
            filesystem.delete_file(path)
    except OSError as exc:
        log.warning("Could not delete %s: %s", path, exc)
