"""The analysis as numbers: load an experiment, group its seeds, apply the accuracy bar and find the
Pareto front; ``Analysis`` holds the result that ``outputs`` writes and ``console`` prints."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.aggregate import aggregate, trial_table
from analysis.confirmation import screening_trials
from analysis.find import resolve_experiment
from analysis.front import Front, Objective, compute_front, parse_objectives, parse_reference
from analysis.load import Experiment, Trial, excluded_lines, load_experiment
from tune_mnist.confirm.rule import marking_k
from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import RUN_FILE
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY, objectives_text

#: Objectives the front table shows in columns of their own anyway.
SHOWN_COLUMNS = ("val_acc", "test_acc", "flops", "params")


@dataclass
class Analysis:
    """What one analysis computed. ``remeasured`` is set once the front's latency was timed again."""

    experiment: Experiment
    skipped: list[tuple[Trial, str]]  # usable trials left out (no row at --epoch), with the reason
    epoch: int | None
    accuracy_metric: str
    bar_on: str
    min_accuracy: float
    bar_source: str  # where the bar came from, in words
    objectives: list[Objective]
    front: Front
    trials: pd.DataFrame  # one row per trial, for the screening-vs-confirmed comparison
    screening: Front | None  # the front on each config's first seed alone (analysis.confirmation)
    confirm_k: int  # seeds a config needs not to be marked unconfirmed
    remeasured: Any = None  # analysis.remeasure.Remeasured

    @property
    def bar_label(self) -> str:
        """What the bar applies to, e.g. ``val_acc (mean over seeds)``."""
        what = {"mean": "mean over seeds", "min": "worst seed", "lcb": "95% lower bound over seeds"}[self.bar_on]
        return f"{self.accuracy_metric} ({what})"

    @property
    def latency_metric(self) -> str:
        """The latency the picks and plots use: the first latency objective, else the p50."""
        return next((o.name for o in self.objectives if o.name.startswith("latency_")), "latency_p50_us")

    @property
    def final(self) -> Front:
        """The front to pick from: the re-measured one where there is one."""
        return self.remeasured.front if self.remeasured is not None else self.front

    @property
    def extra_columns(self) -> list[str]:
        """Objectives the front table adds as columns (the usual ones are always there)."""
        return [o.name for o in self.objectives if o.name not in SHOWN_COLUMNS and not o.name.startswith("latency_")]

    @property
    def trial_counts(self) -> str:
        """How many trials there are of each status, and how many of them this analysis used."""
        parts = [f"{n} {status}" for status, n in self.experiment.counts().items()]
        used = len(self.experiment.usable()) - len(self.skipped)
        return f"{len(self.experiment.trials)} trials ({', '.join(parts)}); {used} used"

    @property
    def settings(self) -> list[str]:
        return [
            f"epoch: {self.epoch or 'the last of each trial'}",
            f"accuracy bar: {self.bar_label} > {self.min_accuracy:g} (from {self.bar_source})",
            f"objectives: {', '.join(str(o) for o in self.objectives)}",
        ]


def load_finished(experiment: str | None, storage_path: str) -> Experiment:
    """The experiment (a path, URI or name under ``storage_path``; None: the latest there), refused where no
    trial finished; its warnings, and then what went wrong, go to stderr."""
    loaded = load_experiment(resolve_experiment(experiment, storage_path))
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not loaded.usable():
        for line in excluded_lines(loaded, []):
            print(f"  {line}", file=sys.stderr)
        counts = ", ".join(f"{n} {status}" for status, n in loaded.counts().items())
        raise InputError(
            f"None of the {len(loaded.trials)} trials in {loaded.path} finished ({counts}): "
            "fix the cause listed above and continue the search with python -m tune_mnist.search "
            f"--resume --name {loaded.name}."
        )
    return loaded


def compute(
    experiment: Experiment,
    *,
    epoch: int | None = None,
    accuracy_metric: str = "val_acc",
    bar_on: str = "mean",
    min_accuracy: float | None = None,
    objectives: str | None = None,
    reference: str | None = None,
) -> Analysis:
    """One row per config at ``epoch`` (None: each trial's last), seeds grouped, the bar (None: the
    experiment's, else the default) applied by ``bar_on``, and the front over ``objectives``
    (``name:max|min,...``; None: the default objectives with ``accuracy_metric``)."""
    trials, skipped = trial_table(experiment, epoch)
    confirm_k = marking_k(experiment.run_options.get("confirm"))
    table = aggregate(trials, accuracy_metric, bar_on)
    table["confirmed"] = table["n_seeds"] >= confirm_k
    min_accuracy, bar_source = bar(min_accuracy, experiment)
    chosen = parse_objectives(objectives or objectives_text(accuracy_metric), table)
    front = compute_front(table, chosen, min_accuracy, parse_reference(reference, chosen))
    return Analysis(
        trials=trials,
        screening=screening_front(trials, table, accuracy_metric, chosen, min_accuracy),
        confirm_k=confirm_k,
        experiment=experiment,
        skipped=skipped,
        epoch=epoch,
        accuracy_metric=accuracy_metric,
        bar_on=bar_on,
        min_accuracy=min_accuracy,
        bar_source=bar_source,
        objectives=chosen,
        front=front,
    )


def screening_front(
    trials: pd.DataFrame, table: pd.DataFrame, accuracy_metric: str, objectives: list[Objective], min_accuracy: float
) -> Front | None:
    """The front on each config's first seed alone (what the search saw before confirmation); None
    where no config has a second seed (nothing to compare) or no first seed clears the bar."""
    if int(table["n_seeds"].max()) < 2:
        return None
    first = aggregate(screening_trials(trials, table), accuracy_metric, "mean")
    try:
        screening = compute_front(first, objectives, min_accuracy)
    except InputError:
        return None
    return screening if screening.cleared else None


def bar(given: float | None, experiment: Experiment) -> tuple[float, str]:
    """The accuracy bar and where it came from: ``--min-accuracy``, the one the experiment ran with,
    or the default."""
    if given is not None:
        return given, "--min-accuracy"
    recorded = experiment.run_options.get("min_accuracy")
    if isinstance(recorded, (int, float)) and 0 < recorded < 1:
        return float(recorded), f"the experiment's --min-accuracy ({RUN_FILE})"
    return DEFAULT_MIN_ACCURACY, "the default"
