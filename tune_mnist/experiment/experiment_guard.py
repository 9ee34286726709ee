"""What the search CLI does to keep an experiment safe, in a few calls: hold it (one driver at a time,
``tune_mnist.experiment.driver_lock``), and before a ``--resume`` plan what is left from the trial directories
(``tune_mnist.experiment.rebuild``). Storage failures during the run are
``tune_mnist.experiment.storage_guard``'s job."""

from __future__ import annotations

import json

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.layout import CONFIRM_FILE, STUDY_FILE
from tune_mnist.core.options import SearchOptions
from tune_mnist.experiment.driver_lock import DriverLock
from tune_mnist.experiment.rebuild import finished_configs, finished_proposals, remaining, remove_replaced
from tune_mnist.experiment.storage import exists, read_text


def refuse_if_busy(experiment: str) -> None:
    """One sentence naming the live driver of ``experiment``, if there is one (reads only)."""
    DriverLock(experiment).check_free()


def hold(experiment: str, name: str) -> DriverLock:
    """Take the experiment for this driver (``with hold(...):``); a second driver is refused in one sentence."""
    return DriverLock(experiment, name)


def prepare_resume(
    options: SearchOptions, experiment: str, configs: list[TrialConfig] | None, *, default_samples: int
) -> tuple[SearchOptions, list[TrialConfig] | None, bool]:
    """Before ``--resume`` (with the lock held): remove the directories of unfinished configs and work
    out what is left to train: the configs (list spaces) or ``num_samples`` (adaptive; ``default_samples``,
    the space's, where it is unset; unlimited where a ``--time-budget`` ends it). A fresh Tuner then
    runs that (``tune_mnist.experiment.rebuild``). Returns (options, configs, nothing_left)."""
    removed, size = remove_replaced(experiment)
    if removed:
        print(
            f"Removed {removed} trial directories that did not finish their config ({size / 1e6:,.1f} MB): "
            "those configs start over in new directories."
        )
    stage_done = options.confirm <= 1 or confirmation_finished(experiment)
    if configs is not None:
        left = remaining(configs, finished_configs(experiment))
        kept = len(configs) - len(left)
        print(f"Resume: {kept} of {len(configs)} configs had finished and are kept; {len(left)} to train.")
        if not left and stage_done:
            print("Every config has finished: nothing to train.")
        return options, left, not left and stage_done
    done = finished_proposals(experiment)
    studied = exists(f"{experiment.rstrip('/')}/{STUDY_FILE}")
    how = "goes on from its Optuna study (optuna.journal)" if studied else "starts learning afresh"
    if options.time_budget and options.num_samples is None:  # unlimited: the budget ends the search
        print(f"Resume: {done} samples had finished and are kept; the adaptive searcher {how}.")
        return options, None, False
    total = options.num_samples or default_samples
    options = options.replace(num_samples=max(0, total - done))
    print(
        f"Resume: {done} of {total} samples had finished and are kept; the adaptive searcher {how} "
        f"for the other {options.num_samples}."
    )
    nothing_left = options.num_samples == 0 and stage_done
    if nothing_left:
        print("Every sample has finished: nothing to train.")
    return options, None, nothing_left


def confirmation_finished(experiment: str) -> bool:
    """Whether the confirmation log says the stage finished (``tune_mnist.confirm.log``)."""
    text = read_text(f"{experiment.rstrip('/')}/{CONFIRM_FILE}")
    try:
        return bool(text) and json.loads(text).get("finished_at") is not None
    except (json.JSONDecodeError, AttributeError):
        return False
