"""The checkpoint policy of a search: a checkpoint every epoch of every trial (a restarted trial loses
at most one epoch, and a trial stopped early still has its model), one kept per trial.

Ray keeps one with ``CheckpointConfig(num_to_keep=1)``. So that its experiment state never names a
deleted checkpoint, that forces an experiment-state snapshot (written and synced to the storage) after
every checkpoint. The snapshot is also what keeps each trial's ``result.json`` on the storage level
with its checkpoint: when Ray restarts a trial (a lost node, ``--max-failures``) it continues from the
storage's copy, so without a snapshot per checkpoint the rows reported since the last periodic
snapshot are lost (a retried trial's epochs read 1, 3). We tried periodic snapshots with our own
pruning and lost rows that way, so the forced snapshot stays.

With small models that is several snapshots a second, and Ray warns at each one that "Experiment
state snapshotting has been triggered multiple times in the last 5.0 seconds" and suggests keeping
more checkpoints: 1,500 lines in a 10-minute adaptive search. The advice does not apply here (it
trades away the consistency above), so ``quiet_snapshot_warning`` turns that one warning off, unless
the user set ``TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S`` themselves.

Each persisted checkpoint also makes Ray log "Checkpoint successfully created at: ..." at INFO level
in the trial's process, which Ray forwards to the driver's console: one line per epoch of every trial.
``quiet_checkpoint_log`` raises that one logger to WARNING in a trial process (its warnings and errors
still show); the status table says how far each trial is."""

from __future__ import annotations

import logging
import os
from typing import Any

from ray import tune

#: The logger of Ray's "Checkpoint successfully created at" line (ray.train._internal.storage, Ray 2.60).
RAY_CHECKPOINT_LOGGER = "ray.train._internal.storage"
#: Ray's threshold (seconds) below which a repeated forced snapshot is warned about; 0 turns it off.
SNAPSHOT_WARNING_ENV = "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"


def checkpoint_config() -> Any:
    """One checkpoint kept per trial, with the snapshot per checkpoint that keeps rows and checkpoints level."""
    return tune.CheckpointConfig(num_to_keep=1)


def quiet_snapshot_warning() -> None:
    """In the driver, before the Tuner runs: no warning per forced snapshot (see the module docstring)."""
    os.environ.setdefault(SNAPSHOT_WARNING_ENV, "0")


def quiet_checkpoint_log() -> None:
    """In a trial process: no INFO line per persisted checkpoint (see the module docstring)."""
    logging.getLogger(RAY_CHECKPOINT_LOGGER).setLevel(logging.WARNING)
