"""Trials a searcher created that never started, named at the run's end so that Ray can list them.

Why: Ray names a trial's directory only when it schedules the trial's actor. A trial the searcher
proposed just before a ``--time-budget`` (or a Ctrl-C) ended the run has no name yet, and Ray's
``ResultGrid``, built after the run, asks every trial its path and raises for that one: the search
crashed after its work was done and saved. At the experiment's end (after Ray's last saved state, so
``--resume`` still sees the trial as never started) such a trial gets the directory name Ray would have
given it; no directory is created, so the summary counts it as not finished."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback


class NameNeverStarted(Callback):
    """Gives each trial without a directory name the name Ray would have given it."""

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        for trial in trials:
            if not trial.storage.trial_dir_name:
                trial.storage.trial_dir_name = trial.relative_logdir or trial._generate_dirname()
