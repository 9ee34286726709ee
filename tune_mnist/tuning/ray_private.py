"""Every private Ray Tune attribute the search still uses, in one place, each with why no public API
serves (Ray 2.60). ``missing_private_uses`` names those an upgrade removed; a test calls it, so an
upgrade fails there with the use named instead of deep inside a search.

1. ``JsonLoggerCallback._restore_from_remote`` / ``CSVLoggerCallback._restore_from_remote`` (overridden
   by ``StagedJsonLogger``, ``StagedCsvLogger``): when Ray restarts a trial in the run (a lost node,
   ``--max-failures``), these loggers first copy the storage's ``result.json`` / ``progress.csv`` over
   the driver's own, which Ray uploads only with its periodic snapshots, so the rows reported since the
   last snapshot vanished (a retried trial's epochs read 1, 3). The override keeps the driver's file
   where it has one (it holds every row); Ray has no setting for it.
2. ``Trial._generate_dirname`` (``NameNeverStarted``): Ray names a trial's directory only when it
   schedules the trial, and ``Tuner.fit`` builds its ``ResultGrid`` by asking every trial its path,
   raising for a trial a ``--time-budget`` or Ctrl-C ended before it started. At the experiment's end
   such a trial gets the name Ray would have given it (no directory is created; the summary counts it
   as not finished).
3. ``TuneTerminalReporter._print_heartbeat``, ``._start_block``, ``._get_overall_trial_progress_str``,
   ``._start_time`` and ``output._get_time_str`` (``TerminalReporterHooks``, under ``LiveTable``): the
   live table replaces the rows of Ray's terminal reporter. Ray uses the first reporter of its output
   engine among the run's callbacks for the console, and that engine has no public hook for the
   heartbeat's body; ``ProgressReporter`` (public) belongs to the old engine, whose table cannot show a
   pack's members."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.experimental import output
from ray.tune.experimental.output import TuneTerminalReporter
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

#: (owner, attribute, what breaks without it): checked by ``missing_private_uses``.
PRIVATE_USES = (
    (JsonLoggerCallback, "_restore_from_remote", "a trial Ray restarts in the run keeps its rows (StagedJsonLogger)"),
    (CSVLoggerCallback, "_restore_from_remote", "a trial Ray restarts in the run keeps its rows (StagedCsvLogger)"),
    (Trial, "_generate_dirname", "the run's results list trials it ended before they started (NameNeverStarted)"),
    (TuneTerminalReporter, "_print_heartbeat", "the live table replaces Ray's rows (TerminalReporterHooks)"),
    (TuneTerminalReporter, "_start_block", "the live table's blocks are spaced as Ray's (TerminalReporterHooks)"),
    (TuneTerminalReporter, "_get_overall_trial_progress_str", "the live table's trial counts line"),
    (output, "_get_time_str", "the live table's current and running time line (TerminalReporterHooks)"),
)


def missing_private_uses(uses: Iterable[tuple[type, str, str]] = PRIVATE_USES) -> list[str]:
    """One line per private use this Ray no longer has: the attribute and what breaks."""
    return [
        f"{getattr(owner, '__name__', owner)}.{name} is gone from this Ray: {why}"
        for owner, name, why in uses
        if not callable(getattr(owner, name, None))
    ]


class KeepStagedRows:
    """Ray's result loggers, except that a restarted trial keeps the driver's own file (use 1 above);
    Ray uses these instead of its defaults because they are instances of its classes."""

    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        if Path(trial.local_path, file_name).is_file():
            return  # this driver wrote every row of it: the storage's copy can only be older
        super()._restore_from_remote(file_name, trial)  # type: ignore[misc]


class StagedJsonLogger(KeepStagedRows, JsonLoggerCallback):
    """``result.json``, kept across a trial's restarts."""


class StagedCsvLogger(KeepStagedRows, CSVLoggerCallback):
    """``progress.csv``, kept across a trial's restarts."""


class NameNeverStarted(Callback):
    """Gives each trial without a directory name the name Ray would have given it (use 2 above)."""

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        for trial in trials:
            if not trial.storage.trial_dir_name:
                trial.storage.trial_dir_name = trial.relative_logdir or trial._generate_dirname()


class TerminalReporterHooks(TuneTerminalReporter):
    """Ray's terminal reporter (new output engine) with its heartbeat's body handed to ``heartbeat``
    and its block spacing, trial counts and clock under public names (use 3 above)."""

    def heartbeat(self, trials: list[Any], lines: tuple[Any, ...], force: bool) -> None:
        raise NotImplementedError

    def _print_heartbeat(self, trials: list[Any], *sys_args: Any, force: bool = False) -> None:
        self.heartbeat(trials, sys_args, force)

    def start_block(self, name: str) -> None:
        """A blank line between blocks of different kinds, as Ray's own lines have."""
        self._start_block(name)

    def counts_line(self, trials: list[Any]) -> str:
        """Ray's "Trial status: 3 RUNNING | 2 TERMINATED" line."""
        return self._get_overall_trial_progress_str(trials)

    def time_line(self) -> str:
        now, running = output._get_time_str(self._start_time, time.time())
        return f"Current time: {now}. Total running time: {running}"
