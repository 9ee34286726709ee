"""The checkpoint policy of a search: a checkpoint every epoch of every trial (a restarted trial loses
at most one epoch, and a trial stopped early still has its model), one kept per trial in the end.

Ray's way to keep one, ``CheckpointConfig(num_to_keep=1)``, deletes the older checkpoint at once and,
so that its experiment state never names a deleted checkpoint, forces an experiment-state snapshot
(the whole state written and synced, waited for) after every checkpoint of every trial. With small
models that is several snapshots a second, each one logging "Experiment state snapshotting has been
triggered multiple times in the last 5.0 seconds": 1,500 of them in a 10-minute adaptive search.

Here Ray keeps every checkpoint (``num_to_keep=None``), so snapshots stay periodic (Ray's
``TUNE_GLOBAL_CHECKPOINT_S``, 'auto': at least 10 s apart), and ``PruneCheckpoints`` deletes a
superseded checkpoint once two snapshots have been written after it was superseded: the state on
storage then names the newer one. At the end of the search (after Ray's last snapshot, which it waits
for) every trial keeps only its latest checkpoint.

Each persisted checkpoint also makes Ray log "Checkpoint successfully created at: ..." at INFO level
in the trial's process, which Ray forwards to the driver's console: one line per epoch of every trial.
``quiet_checkpoint_log`` raises that one logger to WARNING in a trial process (its warnings and errors
still show); the status table says how far each trial is."""

from __future__ import annotations

import logging
import posixpath
from typing import Any

import pyarrow.fs as pafs
from ray import tune

from tune_mnist.layout import CHECKPOINT_PREFIX

#: The logger of Ray's "Checkpoint successfully created at" line (ray.train._internal.storage, Ray 2.60).
RAY_CHECKPOINT_LOGGER = "ray.train._internal.storage"
#: Snapshots written after a checkpoint was superseded before it is deleted.
SNAPSHOTS_BEFORE_DELETE = 2

log = logging.getLogger(__name__)


def checkpoint_config() -> Any:
    """Every checkpoint kept by Ray (no forced snapshot per checkpoint); ``PruneCheckpoints`` trims them."""
    return tune.CheckpointConfig(num_to_keep=None)


def quiet_checkpoint_log() -> None:
    """In a trial process: no INFO line per persisted checkpoint (see the module docstring)."""
    logging.getLogger(RAY_CHECKPOINT_LOGGER).setLevel(logging.WARNING)


class PruneCheckpoints(tune.Callback):
    """Delete superseded trial checkpoints once Ray's saved experiment state no longer names them.

    Ray calls ``get_state`` of every callback each time it writes an experiment-state snapshot; that
    is how this callback counts snapshots (it has no state of its own to save, so it returns None)."""

    def __init__(self) -> None:
        self._snapshots = 0
        self._latest: dict[str, tuple[Any, str]] = {}  # trial id -> (filesystem, path) of its newest checkpoint
        self._superseded: list[tuple[int, Any, str]] = []  # (snapshots so far, filesystem, path)
        self._snapshot_after_checkpoint = False

    def get_state(self) -> dict | None:
        self._snapshots += 1
        self._snapshot_after_checkpoint = True
        return None

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        previous = self._latest.get(trial.trial_id)
        if previous is not None and previous[1] != checkpoint.path:
            self._superseded.append((self._snapshots, *previous))
        self._latest[trial.trial_id] = (checkpoint.filesystem, checkpoint.path)
        self._snapshot_after_checkpoint = False

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._prune(self._snapshots - SNAPSHOTS_BEFORE_DELETE)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """After Ray's final snapshot (written after the last checkpoint, and waited for): only each
        trial's latest checkpoint is named anywhere, so the others go, a resumed run's old ones too."""
        if not self._snapshot_after_checkpoint:  # the search stopped on an error before its final snapshot
            self._prune(self._snapshots - SNAPSHOTS_BEFORE_DELETE)
            return
        self._prune(self._snapshots)
        for trial in trials:
            latest = getattr(trial, "checkpoint", None)
            if latest is not None:
                keep_only(latest.filesystem, latest.path)

    def _prune(self, up_to: int) -> None:
        keep = []
        for entry in self._superseded:
            snapshots, filesystem, path = entry
            if snapshots <= up_to:
                _delete(filesystem, path)
            else:
                keep.append(entry)
        self._superseded = keep


def keep_only(filesystem: Any, latest: str) -> None:
    """Delete every ``checkpoint_*`` directory beside ``latest`` in its trial directory."""
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
            and entry.path.rstrip("/") != latest.rstrip("/")
        ):
            _delete(filesystem, entry.path)


def _delete(filesystem: Any, path: str) -> None:
    """A checkpoint that cannot be deleted only costs disk space: say so and go on."""
    try:
        if filesystem.get_file_info(path).type == pafs.FileType.Directory:
            filesystem.delete_dir(path)
    except OSError as exc:
        log.warning("Could not delete the superseded checkpoint %s: %s", path, exc)
