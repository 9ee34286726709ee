"""The options of one search, typed and frozen: what every stage below the CLI is given.

The command-line options (built only by ``tune_mnist.search_keywords.options_from``) sit beside what
the run works out as it goes (the fields with defaults); a stage that works something out returns a
new record (``replace``), so every value has one author."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SearchOptions:
    """One field per option of ``python -m tune_mnist.search`` (``--time-budget`` is ``time_budget``), then
    what the run works out: fields with defaults, never given on the command line."""

    # the search space
    space: str
    num_samples: int | None
    seeds: int
    confirm: int
    search_seed: int
    sampler: str  # one of SAMPLERS: the adaptive and cheap spaces' Optuna sampler
    epochs: int | None
    batch_size: int | None
    lr: float | None
    min_accuracy: float
    scheduler: str | None  # None until strategies.budget.check_limits resolves the space's default
    time_budget: float | None  # minutes
    # the data
    data_dir: str | None
    train_csv: str | None
    test_csv: str | None
    download: str | None
    validation_size: int
    split_seed: int
    subset: int | None
    # the experiment
    name: str | None
    storage_path: str
    shared_storage: bool
    resume: bool
    dry_run: bool
    allow_low_space: bool
    mlflow: str | None
    # the resources
    cpus_per_trial: float
    gpus_per_trial: float
    max_concurrent: int | None
    max_failures: int
    pack: str  # a number of configs per trial, "auto" or "cost"
    address: str | None
    # what the run works out (never on the command line)
    command_started: float | None = None  # when the command began: --time-budget counts from it
    n_train: int = 0  # training images, which the packing cost model plans for
    pack_cost: Any = None  # the step costs measured on this machine (training.packed.cost_model.StepCost)
    pack_plan: list[list[int]] | None = None  # --pack cost on a list space: the configs of each trial
    screening_s: float | None = None  # the share of --time-budget screening may use
    screening_deadline: float | None = None  # when screening ends, in time.time() seconds
    reopen_screening: bool = False  # --resume --time-budget M: screen again for M minutes

    @property
    def experiment(self) -> str:
        """The experiment's directory: ``--name`` under ``--storage-path`` (a path or a URI)."""
        return f"{self.storage_path.rstrip('/')}/{self.name}"

    def replace(self, **changes: Any) -> SearchOptions:
        """A copy with ``changes`` (the record is frozen)."""
        return dataclasses.replace(self, **changes)


#: ``--sampler``'s choices (docs/search.md: how they compared).
SAMPLERS = ("tpe", "gp", "nsga2")
#: Every field's name.
FIELDS = frozenset(f.name for f in dataclasses.fields(SearchOptions))
#: The fields a run works out, never given on the command line.
RUN_STATE = tuple(f.name for f in dataclasses.fields(SearchOptions) if f.default is not dataclasses.MISSING)
#: The fields that are the command's options.
COMMAND_OPTIONS = tuple(f.name for f in dataclasses.fields(SearchOptions) if f.name not in RUN_STATE)
