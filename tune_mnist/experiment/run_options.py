"""The run-options file: the search CLI's options, saved beside Ray's files when an experiment starts,
so that ``--resume`` rebuilds the same data and trials (and the analysis knows the accuracy bar)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import RUN_FILE
from tune_mnist.core.options import COMMAND_OPTIONS, SearchOptions
from tune_mnist.experiment.old_layout import refuse_old_layout
from tune_mnist.experiment.storage import exists, read_text, write_text

#: The options ``--resume`` takes from the file instead of the command line: all but where the experiment is,
#: which Ray to run on, and this command line's own switches and consent.
RESUMED_OPTIONS = tuple(
    key
    for key in COMMAND_OPTIONS
    if key not in ("name", "storage_path", "address", "resume", "dry_run", "allow_low_space", "mlflow")
)


#: ``--pack auto`` on CPU: the cost model's plan, the step costs it measured and the training images it
#: planned for, so that ``--resume`` keeps the plan instead of measuring a busier or quieter machine.
PACK_PLAN_OPTIONS = ("pack_plan", "pack_cost", "n_train")


def save_run_options(experiment: str, options: SearchOptions) -> None:
    saved = {key: getattr(options, key) for key in RESUMED_OPTIONS}
    if options.pack_plan is not None:
        saved.update({key: getattr(options, key) for key in PACK_PLAN_OPTIONS})
        saved["pack_cost"] = dataclasses.asdict(options.pack_cost)
    write_text(f"{experiment}/{RUN_FILE}", json.dumps(saved, indent=2) + "\n")


def resume_options(experiment: str) -> dict[str, Any]:
    """The options the experiment was started with, so that --resume rebuilds the same data and trials."""
    if not exists(experiment):
        raise InputError(f"There is no experiment {experiment} to resume: check --name and --storage-path.")
    refuse_old_layout(experiment)  # before anything is written
    text = read_text(f"{experiment}/{RUN_FILE}")
    if not text:  # written before the first trial starts: without it nothing was trained
        raise InputError(
            f"{experiment} holds no resumable experiment (it was never started): "
            "run it again without --resume under a new --name."
        )
    return json.loads(text)
