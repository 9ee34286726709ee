"""Every file and directory name of the on-disk layout, and Ray's bookkeeping fields of a result row.

Written by the single-run CLI, the trainables and the pack callback, read by the analysis (which
never imports Ray): so this module imports neither torch nor Ray."""

from __future__ import annotations

import re
from typing import Any

from tune_mnist.core.config import TrialConfig, config_label

# ---------------------------------------------------------------- a saved model (tune_mnist.model.saved)
MODEL_FILE = "model.pt"  # a plain state_dict
CONFIG_FILE = "config.json"  # the config, the input scaling statistics and the final metrics
#: Where ``python -m tune_mnist.train`` saves its model unless told otherwise.
MODELS_DIR = "models"

# ---------------------------------------------------------------- a trial checkpoint (tune_mnist.trainables.trainable)
#: Beside the saved model: the optimizer and shuffle state to resume from.
TRAINING_STATE_FILE = "training_state.pt"

# ---------------------------------------------------------------- a trial directory (Ray's layout)
#: The search CLI's options, saved beside Ray's files so --resume (and the analysis) know how it ran.
RUN_FILE = "tune_mnist_run.json"
#: The confirmation stage's rounds (tune_mnist.confirm.searcher), beside Ray's files.
CONFIRM_FILE = "confirmation.json"
PARAMS_FILE = "params.json"  # the trial's config
RESULT_FILE = "result.json"  # one JSON row per reported epoch
ERROR_FILE = "error.txt"  # the traceback of a failed trial
CHECKPOINT_PREFIX = "checkpoint_"  # checkpoint_NNNNNN/ directories
#: Written by the early-stopping scheduler (strategies.schedulers) into a trial it stopped: its rows end early.
STOPPED_EARLY_FILE = "stopped_early.json"
#: Written into a screening trial the --time-budget stopped while a confirmation stage follows (strategies.schedulers).
STOPPED_BY_BUDGET_FILE = "stopped_by_budget.json"
#: Beside Ray's files: the search phase's --time-budget, when it ran out and which trials it stopped.
BUDGET_FILE = "search_budget.json"
#: Beside Ray's files: the adaptive spaces' Optuna study, an Optuna journal (tune_mnist.strategies.study_journal).
STUDY_FILE = "optuna.journal"


def default_model_dir(config: TrialConfig) -> str:
    """The single-run CLI's output directory for ``config``, relative to the working directory."""
    return f"{MODELS_DIR}/{config.label('_')}"


def checkpoint_member_dir(index: int) -> str:
    """The directory of pack member ``index`` inside a pack trial's checkpoint."""
    return f"member_{index:04d}"


#: A trial directory's name starts with its Ray trial id: ``94014_00000`` (list spaces) or ``8de7c56d`` (a
#: searcher's trials); a pack member's (``member_trial_id``) adds ``_m<index>``, captured as group 2.
TRIAL_ID = re.compile(r"([0-9a-f]{5}_\d{5}|[0-9a-f]{8})(_m\d{4})?(?=_|$)")
#: Ray's experiment-state snapshots, ``experiment_state-<date>.json``, one per run of the experiment.
EXPERIMENT_STATE_PREFIX = "experiment_state-"


def member_trial_id(pack_trial_id: str, index: int) -> str:
    """The trial id of pack member ``index`` (``94014_00000_m0003``)."""
    return f"{pack_trial_id}_m{index:04d}"


def pack_trial_of(trial_id: str) -> str:
    """The pack trial a member's id belongs to (``94014_00000_m0003`` -> ``94014_00000``); an ordinary
    trial's id unchanged."""
    match = TRIAL_ID.fullmatch(trial_id)
    return match.group(1) if match else trial_id


def member_trial_dir(pack_trial_id: str, index: int, config: dict[str, Any]) -> str:
    """The trial directory ``tune_mnist.trainables.unpack`` writes for pack member ``index`` in the experiment."""
    return f"{member_trial_id(pack_trial_id, index)}_{config_label(config, '_')}"


# ---------------------------------------------------------------- Ray's fields in a result row
#: Ray's per-report bookkeeping: when, where and how long, never a measurement of the model.
RAY_REPORT_FIELDS = (
    "timestamp",
    "training_iteration",
    "date",
    "time_this_iter_s",
    "time_total_s",
    "pid",
    "hostname",
    "time_since_restore",
    "iterations_since_restore",
)
#: What each pack member's result.json row copies from its pack's report, so that a member's rows
#: look like an ordinary trial's.
RAY_FIELDS_COPIED_TO_MEMBERS = (*RAY_REPORT_FIELDS, "checkpoint_dir_name", "should_checkpoint")
#: Ray's fields that are not measurements: dropped when the analysis reads result.json rows.
RAY_FIELDS_DROPPED_ON_READ = ("config", "should_checkpoint", "checkpoint_dir_name", "done")
#: What the analysis keeps in its per-trial rows but does not average over seeds.
RAY_FIELDS_NOT_AVERAGED = (*RAY_REPORT_FIELDS, "trial_id")
