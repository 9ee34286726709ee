"""The Ray Tune trial schedulers of ``--scheduler``: ``fifo`` (Tune's own) and ``bar``, the bar-aware
early stopping of ``tune_mnist.strategies.early_stopping`` as a small ``FIFOScheduler`` subclass.

It only ever answers CONTINUE or STOP (never PAUSE), so trials start in the search algorithm's order
exactly as under FIFO; what it adds is the stop. When it stops a trial it writes the decision as
``stopped_early.json`` into the trial's directory on the experiment's storage, at once: that file is
how the end summary (``tune_mnist.tuning.summary``) and the analysis (``analysis.load``, from files alone)
tell a trial stopped early from one that finished, failed or was interrupted. Ray itself records the
trial as TERMINATED, the same as a finished one, and its last row is not a final result.

Both schedulers also end the screening phase at a ``--time-budget`` when a confirmation stage follows
(``tune_mnist.strategies.screening_deadline``): Tune asks ``choose_trial_to_run`` at every step of its loop, so
there, once the deadline has passed, every live screening trial is stopped through the controller's
``stop_trial`` (mid-epoch: its last checkpoint is its last reported epoch) and gets
``stopped_by_budget.json``, while the Tune run goes on for the confirmation rounds. Confirmation
trials (config key ``confirm_round``) are never stopped, neither early nor by the budget: they exist
to measure a config's seed spread, and a stopped seed would measure nothing."""

from __future__ import annotations

import logging
import math
from typing import Any

import pyarrow as pa
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from tune_mnist.core.config import PACK_MEMBERS, pack_members
from tune_mnist.core.layout import STOPPED_BY_BUDGET_FILE, STOPPED_EARLY_FILE, member_trial_dir
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY, selection_accuracy
from tune_mnist.strategies.early_stopping import StopDecision, decide
from tune_mnist.strategies.screening_deadline import current, is_confirmation

logger = logging.getLogger(__name__)


class BudgetedFIFOScheduler(FIFOScheduler):
    """Tune's FIFO order, plus the stop of the screening trials at the screening deadline (if any)."""

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        stop_screening_at_deadline(tune_controller, set(getattr(self, "stopped", ())))
        return super().choose_trial_to_run(tune_controller)


def stop_screening_at_deadline(tune_controller: Any, stopping: set[str] = frozenset()) -> None:
    """Past the published deadline, stop every live screening trial (a never-started one without a
    marker); confirmation trials run on, and so do the trials in ``stopping`` (already stopped early,
    their stop pending behind a checkpoint save)."""
    deadline = current()
    if deadline is None or not deadline.passed():
        return
    for trial in list(tune_controller.get_trials()):
        live = trial.status in ("RUNNING", "PENDING", "PAUSED") and trial.trial_id not in stopping
        if not live or is_confirmation(trial.config):
            continue
        deadline.mark_reached()
        if trial.status == "RUNNING":
            write_file(trial, STOPPED_BY_BUDGET_FILE, '{"stopped_by_budget": true}\n')
            for i, member in enumerate(pack_members(trial.config) or []):  # each member's own directory too
                write_file(
                    trial,
                    STOPPED_BY_BUDGET_FILE,
                    '{"stopped_by_budget": true}\n',
                    member_trial_dir(trial.trial_id, i, member),
                )
        logger.info("Stopping screening trial %s: the time budget ran out", trial.trial_id)
        tune_controller.stop_trial(trial)


class BarAwareScheduler(BudgetedFIFOScheduler):
    """Stop trials that cannot reach the accuracy bar, or that a cheaper finished trial beats; never a
    confirmation trial."""

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
        accuracy = selection_accuracy(result)
        curve = self.curves.setdefault(trial.trial_id, {})
        curve[epoch] = accuracy
        if epoch >= epochs:
            if not math.isnan(accuracy) and isinstance(result.get("flops"), (int, float)):
                self.finished.append((int(result["flops"]), accuracy))
            return TrialScheduler.CONTINUE
        if is_confirmation(config):
            return TrialScheduler.CONTINUE  # a confirmation seed always runs to its last epoch
        ordered = [curve.get(e, math.nan) for e in range(1, epoch + 1)]
        decision = decide(ordered, epochs, bar, self.finished, result.get("flops"))
        if decision is None:
            return TrialScheduler.CONTINUE
        self.stopped[trial.trial_id] = decision
        write_file(trial, STOPPED_EARLY_FILE, decision.to_json())
        logger.info("Stopping trial %s early: %s", trial.trial_id, decision.reason)
        return TrialScheduler.STOP

    def debug_string(self) -> str:
        return f"Using bar-aware early stopping: {len(self.stopped)} trials stopped early."


def write_file(trial: Any, name: str, text: str, member_dir: str | None = None) -> None:
    """A marker file ``name`` in the trial's directory on the experiment's storage (a path or a URI), or
    in ``member_dir``, a pack member's directory beside it."""
    try:
        fs, directory = trial.storage.storage_filesystem, trial.storage.trial_fs_path
        if member_dir is not None:
            directory = f"{trial.storage.experiment_fs_path}/{member_dir}"
        fs.create_dir(directory, recursive=True)
        with fs.open_output_stream(f"{directory}/{name}") as out:
            out.write(text.encode())
    except (OSError, pa.ArrowException, RuntimeError) as exc:  # the stop stands; the summary says unfinished
        logger.warning("Could not write %s for trial %s: %s", name, trial.trial_id, exc)


def make_scheduler(name: str, min_accuracy: float) -> Any:
    """The scheduler named ``name`` (checked by ``early_stopping.resolve_scheduler``)."""
    return BarAwareScheduler(min_accuracy) if name == "bar" else BudgetedFIFOScheduler()
