"""The checkpoint policy of a search: a checkpoint every epoch of every trial (a restarted trial loses
at most one epoch, and a trial stopped early still has its model), one resumable checkpoint kept per
running trial, and a finished trial keeping only what the analysis and the export read: its rows and
its model's weights (``model.pt``, ``config.json``), not its optimizer state.

Ray's own way to keep one checkpoint, ``CheckpointConfig(num_to_keep=1)``, deletes the older one at
once and, so that its saved experiment state never names a deleted checkpoint, forces an
experiment-state snapshot (the whole state written, synced and waited for) after every checkpoint of
every trial: several a second with small models, each costing the driver time and printing "Experiment
state snapshotting has been triggered multiple times". Here Ray keeps every checkpoint
(``num_to_keep=None``), its snapshots stay periodic (``TUNE_GLOBAL_CHECKPOINT_S``, 'auto': at least
10 s apart), and ``PruneCheckpoints`` deletes a superseded checkpoint once two snapshots were written
after it was superseded (the state on the storage then names a newer one). When a trial finishes, its
last checkpoint loses ``training_state.pt`` at once (most of its size), and two snapshots later its older
checkpoints go (a pack trial's own checkpoints go entirely: its members' directories hold their models);
when the search ends every other trial keeps only its latest checkpoint. A finished trial is restored
only if the driver was killed before the storage's state said it finished; a one-config trial then
restores from the storage's checkpoint of its last epoch (``tune_mnist.trainables.stored_final``), and one
whose state names that checkpoint carries its weights and epoch on (``saved_state``).

Periodic snapshots alone used to lose rows: Ray writes a trial's ``result.json`` and ``progress.csv``
in the driver's staging directory, uploads them with the snapshots, and when it restarts a trial (a
lost node, ``--max-failures``) its JSON and CSV loggers first copy the storage's files back over the
staging ones, so the rows reported since the last snapshot vanished (a retried trial's epochs read 1,
3). Uploading the files at each checkpoint did not help: a periodic sync launched earlier could land
after it with the older copy. ``KeepStagedRows`` removes the cause: these loggers copy the storage's
file back only when the driver has none of its own (a new driver, ``--resume``), where the storage's
copy is the newest there is.

Each persisted checkpoint also makes Ray log "Checkpoint successfully created at: ..." at INFO level
in the trial's process, which Ray forwards to the driver's console: one line per epoch of every trial.
``quiet_checkpoint_log`` raises that one logger to WARNING in a trial process (its warnings and errors
still show); the status table says how far each trial is."""

from __future__ import annotations

import logging
import posixpath
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from tune_mnist.core.config import pack_members
from tune_mnist.core.layout import CHECKPOINT_PREFIX, TRAINING_STATE_FILE
from tune_mnist.core.metrics import REPLAYED

#: The logger of Ray's "Checkpoint successfully created at" line (ray.train._internal.storage, Ray 2.60).
RAY_CHECKPOINT_LOGGER = "ray.train._internal.storage"
#: Snapshots written after a checkpoint was superseded before it is deleted.
SNAPSHOTS_BEFORE_DELETE = 2

log = logging.getLogger(__name__)


def checkpoint_config() -> Any:
    """Every checkpoint kept by Ray (no forced snapshot per checkpoint); ``PruneCheckpoints`` trims them."""
    return tune.CheckpointConfig(num_to_keep=None)


def policy_callbacks() -> list[Any]:
    """The Tune callbacks of the policy: the pruning, and Ray's result loggers that keep staged rows."""
    return [PruneCheckpoints(), StagedJsonLogger(), StagedCsvLogger()]


def quiet_checkpoint_log() -> None:
    """In a trial process: no INFO line per persisted checkpoint (see the module docstring)."""
    logging.getLogger(RAY_CHECKPOINT_LOGGER).setLevel(logging.WARNING)


class KeepStagedRows:
    """Ray's result loggers, except that a restarted trial keeps the driver's own file (see the module
    docstring); Ray uses these instead of its defaults because they are instances of its classes."""

    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        if Path(trial.local_path, file_name).is_file():
            return  # this driver wrote every row of it: the storage's copy can only be older
        super()._restore_from_remote(file_name, trial)  # type: ignore[misc]

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if result.get(REPLAYED):
            return  # a row the storage's file already holds (tune_mnist.trainables.stored_final)
        super().log_trial_result(iteration, trial, result)  # type: ignore[misc]


class StagedJsonLogger(KeepStagedRows, JsonLoggerCallback):
    """``result.json``, kept across a trial's restarts."""


class StagedCsvLogger(KeepStagedRows, CSVLoggerCallback):
    """``progress.csv``, kept across a trial's restarts."""


class PruneCheckpoints(tune.Callback):
    """Delete superseded trial checkpoints once Ray's saved experiment state no longer names them, and a
    finished trial's optimizer state.

    Ray calls ``get_state`` of every callback each time it writes an experiment-state snapshot; that
    is how this callback counts snapshots (it has no state of its own to save, so it returns None)."""

    def __init__(self) -> None:
        self._snapshots = 0
        self._latest: dict[str, tuple[Any, str]] = {}  # trial id -> (filesystem, path) of its newest checkpoint
        self._superseded: list[tuple[int, Any, str]] = []  # (snapshots so far, filesystem, path)
        self._snapshot_after_checkpoint = False
        self._finished: list[tuple[int, Any, str, bool]] = []  # (snapshots so far, filesystem, last checkpoint, pack)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled into the experiment (``tuner.pkl``) as new: pyarrow file systems do not pickle."""
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

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

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A finished trial keeps its models only: its last checkpoint's optimizer state goes at once, its
        older checkpoints (whole) two snapshots on, as superseded ones do (the storage's state may still
        name one, and a resume from it must train as the first run did)."""
        self._latest.pop(trial.trial_id, None)
        latest = getattr(trial, "checkpoint", None)
        if latest is None:
            return
        drop_training_state(latest.filesystem, latest.path)  # at once: most of what a finished trial holds
        self._finished.append((self._snapshots, latest.filesystem, latest.path, pack_members(trial.config) is not None))

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """After Ray's final snapshot (written after the last checkpoint, and waited for): only each
        trial's latest checkpoint is named anywhere, so the others go, a resumed run's old ones too."""
        if not self._snapshot_after_checkpoint:  # the search stopped on an error before its final snapshot
            self._prune(self._snapshots - SNAPSHOTS_BEFORE_DELETE)
            return
        self._prune(self._snapshots)
        for trial in trials:
            latest = getattr(trial, "checkpoint", None)
            if latest is not None and trial.status != "TERMINATED":
                keep_only(latest.filesystem, latest.path)

    def _prune(self, up_to: int) -> None:
        waiting = []
        for entry in self._finished:
            snapshots, filesystem, path, pack = entry
            if snapshots > up_to:
                waiting.append(entry)
            else:  # a pack's members' directories hold every model
                keep_only(filesystem, path, keep_latest=not pack)
        self._finished = waiting
        keep = []
        for entry in self._superseded:
            snapshots, filesystem, path = entry
            if snapshots <= up_to:
                _delete(filesystem, path)
            else:
                keep.append(entry)
        self._superseded = keep


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


def drop_training_state(filesystem: Any, latest: str) -> None:
    """Delete ``training_state.pt`` from ``latest`` (a pack's: of each member in it). The trial's older
    checkpoints keep theirs until they go, two snapshots later: a driver killed before then leaves a
    state that may name one of them, and ``--resume`` then trains the last epoch again from the whole
    state (optimizer and shuffle order), so exactly as before, rows and the searcher's values alike."""
    try:
        files = filesystem.get_file_info(pafs.FileSelector(latest.rstrip("/"), allow_not_found=True, recursive=True))
    except OSError as exc:
        log.warning("Could not list the checkpoint %s: %s", latest, exc)
        return
    for info in files:
        if info.base_name == TRAINING_STATE_FILE:
            _delete(filesystem, info.path, directory=False)


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
