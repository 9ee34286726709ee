"""Read a finished (or half-finished) Ray Tune experiment from disk, without Ray and without pickles
(Ray's ``experiment_state-*.json`` is read as plain JSON, only for each trial's status), from a local
path or a URI through ``pyarrow.fs``, so results copied off a cluster can be analysed anywhere."""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow.fs as pafs

from analysis.find import (
    SEARCH_HINT,
    is_trial_dir,
    looks_like_experiment,
)
from analysis.trial_files import (
    budget_marker,
    error_line,
    latest_checkpoint,
    read_results,
    stopped_marker,
    trial_states,
)
from tune_mnist.core.config import config_key, config_label, pack_members
from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import (
    ERROR_FILE,
    EXPERIMENT_STATE_PREFIX,
    PARAMS_FILE,
    RESULT_FILE,
    RUN_FILE,
    TRIAL_ID,
    pack_trial_of,
)
from tune_mnist.core.result_rows import CorruptResultFile
from tune_mnist.experiment.storage import Location
from tune_mnist.strategies.budget import budget_ran_out

# Trial statuses. Only USABLE trials enter the table; every other one is counted and listed.
USABLE, ERRORED, NO_RESULTS, UNFINISHED, UNREADABLE, NOT_STARTED = (
    "finished",
    "errored",
    "never reported",
    "unfinished",
    "unreadable",
    "not started",
)
#: Stopped by the early-stopping scheduler (its stopped_early.json): its last epoch is no final result.
STOPPED_EARLY = "stopped early"
#: Left unfinished by a search run that ran out of --time-budget (search_budget.json); --resume continues it.
STOPPED_BY_BUDGET = "stopped by budget"
#: A not-usable trial whose config (same fields, seed and data split) finished in another directory (a
#: ``--resume`` that could not remove it trained it again there): no failure.
SUPERSEDED = "superseded"


@dataclass
class Trial:
    """One trial directory as found on disk."""

    trial_id: str
    name: str  # the directory name, e.g. 94014_00000_resize8_1x32_s0
    path: str
    params: dict[str, Any]
    history: pd.DataFrame  # one row per reported epoch, deduplicated, sorted by epoch
    status: str
    reason: str = ""  # why a trial is not usable, or a note on a usable one
    checkpoint: str | None = None  # the newest checkpoint_* directory that holds a model

    @property
    def label(self) -> str:
        return config_label(self.params, fallback=self.name)


@dataclass
class Experiment:
    location: Location
    trials: list[Trial]
    run_options: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.location.display

    @property
    def name(self) -> str:
        return self.location.root.rstrip("/").rsplit("/", 1)[-1]

    def usable(self) -> list[Trial]:
        return [t for t in self.trials if t.status == USABLE]

    def counts(self) -> dict[str, int]:
        return dict(Counter(t.status for t in self.trials))


def load_experiment(path: str | os.PathLike) -> Experiment:
    """Every trial under ``path`` with its status; raises InputError when ``path`` is not an experiment."""
    loc = Location(path)
    kind = loc.kind(loc.root)
    if kind == pafs.FileType.NotFound:
        raise InputError(
            f"There is no experiment directory {loc.display}: check the path, or run {SEARCH_HINT} to create one."
        )
    if kind != pafs.FileType.Directory:
        raise InputError(
            f"{loc.display} is a file, not an experiment directory: pass the directory "
            f"{SEARCH_HINT} wrote (<storage-path>/<name>)."
        )
    children = loc.children()
    if not children:
        raise InputError(
            f"Experiment directory {loc.display} is empty: pass the directory {SEARCH_HINT} wrote "
            "(it prints the path at the end), or run the search first."
        )
    trial_dirs = [c for c in children if c.type == pafs.FileType.Directory and is_trial_dir(loc, c.path)]
    has_state = any(c.base_name.startswith(EXPERIMENT_STATE_PREFIX) for c in children)
    if not trial_dirs and not has_state:
        nested = [
            c.base_name for c in children if c.type == pafs.FileType.Directory and looks_like_experiment(loc, c.path)
        ]
        if nested:
            raise InputError(
                f"{loc.display} is a storage path holding {len(nested)} experiment(s), not one "
                f"experiment: pass one of them, e.g. {loc.join(nested[-1])}, or pass none to take "
                "the most recent."
            )
        raise InputError(
            f"{loc.display} is not a Ray Tune experiment (it has no trial directories with {PARAMS_FILE} "
            f"or {RESULT_FILE}): pass the directory {SEARCH_HINT} wrote."
        )
    experiment = Experiment(loc, [], loc.read_json(loc.join(RUN_FILE)) or {})
    states = trial_states(loc, children, experiment.warnings)
    budget_out = budget_ran_out(str(path))  # its latest run ran out: what it left unfinished, the budget stopped
    # A pack trial (--pack, or adaptive --seeds) trained several configs; each has its own member
    # directory beside it, which is what is read. The pack's own directory is only their container.
    packs = {
        info.base_name
        for info in trial_dirs
        if pack_members(loc.read_json(f"{info.path}/{PARAMS_FILE}") or {}) is not None
    }
    trial_dirs = [info for info in trial_dirs if info.base_name not in packs]
    packs_stopped = {_trial_id(name) for name in packs if stopped_marker(loc, loc.join(name))}
    for info in trial_dirs:
        trial = _load_trial(loc, info, states.get(_trial_id(info.base_name), {}), experiment.warnings)
        experiment.trials.append(_stopped_state(loc, trial, packs_stopped, budget_out))
    seen = {t.trial_id for t in experiment.trials} | {_trial_id(name) for name in packs}
    for trial_id, state in states.items():
        if trial_id not in seen:  # known to Ray, but it never got a directory: it never started
            params = state.get("config") if isinstance(state.get("config"), dict) else {}
            experiment.trials.append(
                Trial(
                    trial_id,
                    state.get("relative_logdir") or trial_id,
                    "",
                    params,
                    pd.DataFrame(),
                    NOT_STARTED,
                    f"never started (Ray status {state.get('status', 'unknown')})",
                )
            )
    mark_superseded(experiment.trials)
    if not experiment.trials:
        raise InputError(
            f"Experiment {loc.display} has no trials yet (the search stopped before starting one): "
            f"run {SEARCH_HINT} again."
        )
    return experiment


def mark_superseded(trials: list[Trial]) -> None:
    """Mark the not-usable trials whose config finished in another directory (in place)."""
    finished: dict[str, str] = {}
    for trial in trials:
        if trial.status == USABLE:
            finished.setdefault(config_key(trial.params, seed=True, data=True), trial.name)
    for trial in trials:
        if trial.status == USABLE or not trial.params:
            continue
        key = config_key(trial.params, seed=True, data=True)
        if key in finished:
            trial.reason = f"{trial.status} ({trial.reason}); the same config finished in {finished[key]}"
            trial.status = SUPERSEDED


def _trial_id(dirname: str) -> str:
    """The Ray trial id a directory name starts with (``tune_mnist.core.layout.TRIAL_ID``)."""
    match = TRIAL_ID.match(dirname)
    return match.group(0) if match else dirname


def _load_trial(loc: Location, info: pafs.FileInfo, state: dict, warnings: list[str]) -> Trial:
    path, name = info.path, info.base_name
    trial_id = state.get("trial_id") or _trial_id(name)
    params = loc.read_json(f"{path}/{PARAMS_FILE}")
    if params is None:
        params = state.get("config") if isinstance(state.get("config"), dict) else {}
        return Trial(trial_id, name, path, params, pd.DataFrame(), UNREADABLE, f"{PARAMS_FILE} is missing or not JSON")
    error = None
    if loc.kind(f"{path}/{ERROR_FILE}") == pafs.FileType.File:
        error = error_line(loc.read_text(f"{path}/{ERROR_FILE}"))
    history = pd.DataFrame()
    if loc.kind(f"{path}/{RESULT_FILE}") == pafs.FileType.File:
        try:
            history = read_results(loc.read_text(f"{path}/{RESULT_FILE}"), f"{name}/{RESULT_FILE}", warnings)
        except CorruptResultFile as exc:
            reason = f"line {exc.line} of {RESULT_FILE} is not JSON (the file is corrupt)"
            return Trial(trial_id, name, path, params, pd.DataFrame(), UNREADABLE, reason)
    checkpoint = latest_checkpoint(loc, path)
    epochs = params.get("epochs")
    ray_status = state.get("status")
    if history.empty:
        status, reason = (
            (ERRORED, f"errored before its first report: {error}")
            if error
            else (NO_RESULTS, f"never reported a result (Ray status {ray_status or 'unknown'})")
        )
        return Trial(trial_id, name, path, params, history, status, reason, checkpoint)
    last = int(history["epoch"].max())
    if isinstance(epochs, (int, float)) and not math.isnan(epochs) and last < int(epochs):
        # Short of its epochs (even where Ray says TERMINATED): errored or unfinished; _stopped_state then
        # tells the ones the scheduler or the budget stopped apart.
        if error and ray_status not in ("RUNNING", "TERMINATED"):
            status, reason = ERRORED, f"errored after epoch {last} of {int(epochs)}: {error}"
        else:
            status, reason = (
                UNFINISHED,
                f"stopped after epoch {last} of {int(epochs)} (Ray status {ray_status or 'unknown'})",
            )
        return Trial(trial_id, name, path, params, history, status, reason, checkpoint)
    note = ""
    if error:
        note = (
            f"reported every epoch, then errored: {error}"
            if ray_status == "ERROR"
            else f"failed, was retried and finished: {error}"
        )
    return Trial(trial_id, name, path, params, history, USABLE, note, checkpoint)


def _stopped_state(loc: Location, trial: Trial, packs_stopped: set[str], budget_out: bool) -> Trial:
    """A trial the scheduler stopped (its marker, or its pack's) is STOPPED_EARLY; one a run that ran out of
    its budget left unfinished (or that has the budget's stopped_by_budget.json, written where a confirmation
    stage followed) is STOPPED_BY_BUDGET. Neither is a failure, and neither's rows are final."""
    if trial.status in (UNFINISHED, NO_RESULTS) and trial.path and budget_marker(loc, trial.path):
        trial.status, trial.reason = STOPPED_BY_BUDGET, f"{trial.reason or 'no epoch reported'}; stopped by the budget"
        return trial
    if trial.history.empty or trial.status not in (USABLE, UNFINISHED):
        return trial
    marker = stopped_marker(loc, trial.path) if trial.path else None
    pack_id = pack_trial_of(trial.trial_id)
    if marker is not None or pack_id in packs_stopped:
        last = int(trial.history["epoch"].max())
        if last < int(trial.params.get("epochs") or 0) or trial.status == UNFINISHED:
            trial.status = STOPPED_EARLY
            trial.reason = (marker or {}).get("reason") or f"its pack was stopped early after epoch {last}"
        return trial
    if trial.status == UNFINISHED and budget_out and "errored" not in trial.reason:
        trial.status, trial.reason = STOPPED_BY_BUDGET, f"{trial.reason}; the search's time budget ran out"
    return trial


def excluded_lines(experiment: Experiment, skipped: list[tuple[Trial, str]]) -> list[str]:
    """Each trial not used, and why: its status, or the reason the analysis left it out (``skipped``)."""
    lines = [f"{t.name}: {t.status}: {t.reason}" for t in experiment.trials if t.status != USABLE]
    lines += [f"{t.name}: not used: {reason}" for t, reason in skipped]
    return lines


def local_checkpoint(experiment: Experiment, trial: Trial, scratch: str | None = None) -> str:
    """A local directory holding the trial's newest checkpoint (model.pt + config.json)."""
    if trial.checkpoint is None:
        raise InputError(
            f"Trial {trial.name} has no checkpoint with a model.pt: rerun it ({SEARCH_HINT} --resume) or leave it out."
        )
    return experiment.location.local_dir(trial.checkpoint, scratch)
