"""The Ray Tune trial schedulers of ``--scheduler``: ``fifo`` (Tune's own) and ``bar``, the bar-aware
early stopping of ``tune_mnist.early_stopping`` as a small ``FIFOScheduler`` subclass.

It only ever answers CONTINUE or STOP (never PAUSE), so trials start in the search algorithm's order
exactly as under FIFO; what it adds is the stop. When it stops a trial it writes the decision as
``stopped_early.json`` into the trial's directory on the experiment's storage, at once: that file is
how the end summary (``tune_mnist.summary``) and the analysis (``analysis.load``, from files alone)
tell a trial stopped early from one that finished, failed or was interrupted. Ray itself records the
trial as TERMINATED, the same as a finished one, and its last row is not a final result."""

from __future__ import annotations

import logging
import math
from typing import Any

import pyarrow as pa
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from tune_mnist.config import PACK_MEMBERS
from tune_mnist.early_stopping import StopDecision, decide
from tune_mnist.layout import STOPPED_EARLY_FILE
from tune_mnist.objectives import DEFAULT_MIN_ACCURACY

logger = logging.getLogger(__name__)


class BarAwareScheduler(FIFOScheduler):
    """Stop trials that cannot reach the accuracy bar, or that a cheaper finished trial beats."""

    def __init__(self, min_accuracy: float = DEFAULT_MIN_ACCURACY) -> None:
        super().__init__()
        self.min_accuracy = min_accuracy
        self.curves: dict[str, dict[int, float]] = {}  # trial id -> epoch -> accuracy
        self.finished: list[tuple[int, float]] = []  # (FLOPs, final val_acc) of trials run to their end
        self.stopped: dict[str, StopDecision] = {}

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        config = trial.config
        epochs, epoch = config.get("epochs"), result.get("epoch")
        if PACK_MEMBERS in config or not isinstance(epochs, int) or not isinstance(epoch, int):
            return TrialScheduler.CONTINUE
        bar = float(config.get("min_accuracy", self.min_accuracy))
        accuracy = selection_accuracy(result, bar)
        curve = self.curves.setdefault(trial.trial_id, {})
        curve[epoch] = accuracy
        if epoch >= epochs:
            if not math.isnan(accuracy) and isinstance(result.get("flops"), (int, float)):
                self.finished.append((int(result["flops"]), accuracy))
            return TrialScheduler.CONTINUE
        ordered = [curve.get(e, math.nan) for e in range(1, epoch + 1)]
        decision = decide(ordered, epochs, bar, self.finished, result.get("flops"))
        if decision is None:
            return TrialScheduler.CONTINUE
        self.stopped[trial.trial_id] = decision
        write_marker(trial, decision)
        logger.info("Stopping trial %s early: %s", trial.trial_id, decision.reason)
        return TrialScheduler.STOP

    def debug_string(self) -> str:
        return f"Using bar-aware early stopping: {len(self.stopped)} trials stopped early."


def selection_accuracy(result: dict, bar: float) -> float:
    """The accuracy the bar applies to: val_acc (the seeds' mean for a seed pack), read back from
    ``accuracy_shortfall`` where it is below the bar so that test_acc stands in without a validation split."""
    shortfall = result.get("accuracy_shortfall")
    if isinstance(shortfall, (int, float)) and shortfall > 0:
        return bar - float(shortfall)
    value = result.get("val_acc")
    if isinstance(value, (int, float)) and value == value:
        return float(value)
    return float(result.get("test_acc", math.nan))


def write_marker(trial: Any, decision: StopDecision) -> None:
    """``stopped_early.json`` in the trial's directory on the experiment's storage (a path or a URI)."""
    try:
        fs, directory = trial.storage.storage_filesystem, trial.storage.trial_fs_path
        fs.create_dir(directory, recursive=True)
        with fs.open_output_stream(f"{directory}/{STOPPED_EARLY_FILE}") as out:
            out.write(decision.to_json().encode())
    except (OSError, pa.ArrowException, RuntimeError) as exc:  # the stop stands; the summary says unfinished
        logger.warning("Could not write %s for trial %s: %s", STOPPED_EARLY_FILE, trial.trial_id, exc)


def make_scheduler(name: str, min_accuracy: float) -> Any:
    """The scheduler named ``name`` (checked by ``early_stopping.resolve_scheduler``)."""
    return BarAwareScheduler(min_accuracy) if name == "bar" else FIFOScheduler()
