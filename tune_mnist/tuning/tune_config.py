"""The ``TuneConfig`` every new run gets, the scheduler ``--scheduler`` names and an adaptive space's
packing searcher: one place for them, below ``tuner`` (every mode) and ``confirm_tuner`` (the
confirming one), so that neither imports the other's caller."""

from __future__ import annotations

from typing import Any

from search_spaces import SpaceOptions
from tune_mnist.core.options import SearchOptions
from tune_mnist.strategies.budget import UNLIMITED
from tune_mnist.strategies.study_journal import journal_path
from tune_mnist.tuning.trials import adaptive_packed, adaptive_packing, trial_dirname, trial_name


def tune_config(search_alg: Any, num_samples: int, scheduler: Any = None) -> Any:
    """The TuneConfig of every new run. Without a ``scheduler`` Tune's first-in-first-out one runs every
    trial to its last epoch; ``scheduler_of`` gives the one ``--scheduler`` names (early stopping)."""
    from ray import tune

    return tune.TuneConfig(
        search_alg=search_alg,
        num_samples=num_samples,
        scheduler=scheduler,
        reuse_actors=True,
        trial_dirname_creator=trial_dirname,
        trial_name_creator=trial_name,
    )


def scheduler_of(options: SearchOptions) -> Any:
    """The trial scheduler of ``--scheduler`` (resolved by the CLI): ``tune_mnist.strategies.schedulers``."""
    from tune_mnist.strategies.schedulers import make_scheduler

    return make_scheduler(options.scheduler or "fifo", options.min_accuracy)


def packed_searcher(options: SearchOptions, search_alg: Any, samples: int) -> tuple[Any, int]:
    """An adaptive space's searcher and trial count, proposing packs where its trials are packs
    (``tune_mnist.strategies.pack_searcher``), which proposes ``samples`` configs in all and then says it has
    finished, so Tune's own trial count is unlimited."""
    if not adaptive_packed(options):
        return search_alg, samples
    from tune_mnist.strategies.pack_searcher import PackingSearcher

    size, seeds = adaptive_packing(options)
    cost = options.pack_cost
    if options.pack in ("auto", "cost") and options.gpus_per_trial <= 0 and cost is None:  # measured on this machine
        from tune_mnist.training.packed.calibrate import measure_step_cost

        cost = measure_step_cost(int(options.cpus_per_trial))
    screening_s = options.screening_s
    if cost is not None and screening_s and hasattr(search_alg, "budget_flops"):  # the cheap space
        from tune_mnist.strategies.cost_aware import budget_flops

        search_alg.budget_flops = budget_flops(cost, options.n_train, screening_s, options.epochs)
    searcher = PackingSearcher(
        search_alg, size, seeds, options.min_accuracy, limit=samples, cost=cost, n_train=options.n_train
    )
    return searcher, UNLIMITED


def space_options(options: SearchOptions, storage: str) -> SpaceOptions:
    """What an adaptive space is given: the command's options, and its Optuna study kept in the
    experiment's journal under the experiment's name (``tune_mnist.strategies.study_journal``)."""
    experiment = f"{storage.rstrip('/')}/{options.name}"
    return SpaceOptions.of(options, study_journal=journal_path(experiment), study_name=options.name)
