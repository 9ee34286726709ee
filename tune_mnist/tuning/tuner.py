"""The Ray Tune ``Tuner`` of a search: its search algorithm, param space and trial count by mode (a list
space, one config or a pack per trial; an adaptive space's searcher; with ``--confirm K`` one
``ConfirmingSearcher`` over screening and confirmation, docs/search.md), and what every mode shares:
the trainable, the ``RunConfig``, the ``TuneConfig`` with its scheduler. ``--resume`` builds a new Tuner
of the same mode over what is left (``tune_mnist.experiment.rebuild``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from search_spaces import Space, SpaceOptions
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig
from tune_mnist.core.options import SearchOptions
from tune_mnist.data.splits import Splits
from tune_mnist.strategies.budget import UNLIMITED, sample_limit
from tune_mnist.strategies.study_journal import journal_path
from tune_mnist.tuning.trials import (
    AUTO_PACK_CPU,
    adaptive_packed,
    adaptive_packing,
    list_packed,
    pack_size,
    run_constants,
    trial_dirname,
    trial_name,
)


def build_tuner(options: SearchOptions, splits: Splits, points: list[dict[str, Any]] | None, space: Space) -> Any:
    """A new Tuner in ``options.storage_path`` over ``points`` (one trial each: single configs or packs), or
    over the space's adaptive searcher where ``points`` is None."""
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.basic_variant import BasicVariantGenerator

    packed = list_packed(options, points) if points is not None else adaptive_packed(options)
    search_alg, param_space, num_samples = search_of(options, points, space, packed)
    if options.max_concurrent and not isinstance(search_alg, BasicVariantGenerator):
        search_alg = ConcurrencyLimiter(search_alg, max_concurrent=options.max_concurrent)
    # A list space's packs stop their hopeless members themselves (strategies.early_stopping.MemberStopping).
    packs_alone = packed and points is not None and options.confirm <= 1
    # Without a scheduler Tune's first-in-first-out one runs every trial to its last epoch; --scheduler
    # was resolved by the CLI (tune_mnist.strategies.schedulers).
    from tune_mnist.strategies.schedulers import make_scheduler

    scheduler = None if packs_alone else make_scheduler(options.scheduler or "fifo", options.min_accuracy)
    tune_config = tune.TuneConfig(
        search_alg=search_alg,
        num_samples=num_samples,
        scheduler=scheduler,
        reuse_actors=True,
        trial_dirname_creator=trial_dirname,
        trial_name_creator=trial_name,
    )
    return tune.Tuner(
        make_trainable(options, splits, packed),
        param_space=param_space,
        tune_config=tune_config,
        run_config=make_run_config(options, packed),
    )


def search_of(
    options: SearchOptions, points: list[dict[str, Any]] | None, space: Space, packed: bool
) -> tuple[Any, dict[str, Any], int]:
    """(search algorithm, param space, Tune's number of trials) of the mode (see the module docstring)."""
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    constants = run_constants(options)
    experiment = options.experiment
    if points is None:
        assert space.searcher is not None
        # Its Optuna study is kept in the experiment's journal under the experiment's name
        # (tune_mnist.strategies.study_journal).
        space_options = SpaceOptions.of(options, study_journal=journal_path(experiment), study_name=options.name)
        adaptive = space.searcher(space_options)
        # Under --time-budget the proposals are unlimited (negative): the budget ends the screening.
        search_alg, samples = packed_searcher(
            options, adaptive.make_search_alg(), sample_limit(options, adaptive.num_samples)
        )
        param_space = {**adaptive.param_space, **constants}
    if options.confirm > 1:
        from tune_mnist.confirm.searcher import ConfirmingSearcher, Stage

        cost = options.pack_cost if points is not None else None  # --pack auto on CPU
        stage = Stage(
            k=options.confirm,
            bar=options.min_accuracy,
            pack=(AUTO_PACK_CPU if cost is not None else pack_size(options)) if points is not None else 1,
            packed=packed,
            constants=constants,
            experiment=experiment,
            cost=cost,
            n_train=options.n_train,
        )
        if points is None:
            searcher = ConfirmingSearcher(stage, inner=search_alg, num_samples=samples)
        else:
            searcher, param_space = ConfirmingSearcher(stage, screening=points), constants
        if options.resume:  # the stage as the experiment directory left it: finished seeds, rounds, closed screening
            searcher.resume()
        return searcher, param_space, UNLIMITED  # the searcher says when it has finished
    if points is None:
        return search_alg, param_space, samples
    max_concurrent = options.max_concurrent or 0
    if packed:
        # Packs differ in length, which points_to_evaluate cannot express: grid over the member lists (a
        # config the cost model trains alone is a pack of one here).
        lists = [p[PACK_MEMBERS] if PACK_MEMBERS in p else [TrialConfig.from_dict(p).to_dict()] for p in points]
        grid = {**constants, PACK_MEMBERS: tune.grid_search(lists)}
        return BasicVariantGenerator(max_concurrent=max_concurrent), grid, 1
    # One trial per point, in the given order; every key a point sets must exist in the param space.
    search_alg = BasicVariantGenerator(points_to_evaluate=points, max_concurrent=max_concurrent)
    return search_alg, dict.fromkeys(points[0]), len(points)


def packed_searcher(options: SearchOptions, search_alg: Any, samples: int) -> tuple[Any, int]:
    """An adaptive space's searcher and trial count, proposing packs where its trials are packs: the
    ``PackingSearcher`` says when it has proposed ``samples`` configs, so Tune's own count is unlimited."""
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


def make_trainable(options: SearchOptions, splits: Splits, packed: bool) -> Any:
    """The trial function with the data and ``--cpus-per-trial`` / ``--gpus-per-trial`` attached:
    ``run_pack`` where a trial trains several configs, else ``run_trial``."""
    from ray import tune

    if packed:
        import functools

        from tune_mnist.strategies.early_stopping import MemberStopping
        from tune_mnist.trainables.pack_trainable import run_pack

        # Under the bar scheduler a pack stops its hopeless configs itself (strategies.early_stopping.MemberStopping); a
        # pack that cannot finish before the screening deadline gives its CPU back (trainables.pack_trainable).
        trial_function = functools.partial(
            run_pack,
            stopping_rule=functools.partial(MemberStopping, enabled=options.scheduler == "bar"),
            screening_deadline=options.screening_deadline,
        )
        # TensorBoard cannot log the list of member rows; the rows reach result.json and the members.
        logging.getLogger("ray.tune.logger.tensorboardx").setLevel(logging.ERROR)
    else:
        from tune_mnist.trainables.trainable import run_trial

        trial_function = run_trial
    resources = {"cpu": options.cpus_per_trial}
    if options.gpus_per_trial:
        resources["gpu"] = options.gpus_per_trial
    return tune.with_resources(tune.with_parameters(trial_function, data=splits), resources)


def make_run_config(options: SearchOptions, packed: bool) -> Any:
    """Where the experiment lives, a checkpoint per epoch (one kept per running trial), ``--max-failures``
    restarts; a pack trial's rows and checkpoint are split into one trial directory per member as they arrive."""
    from ray import tune

    from tune_mnist.experiment.storage_guard import StorageErrors
    from tune_mnist.trainables.checkpoints import PruneCheckpoints, checkpoint_config
    from tune_mnist.tuning.live_table import console_options
    from tune_mnist.tuning.ray_private import NameNeverStarted, StagedCsvLogger, StagedJsonLogger

    callbacks: list[Any] = [StorageErrors()]  # a storage write failure stops the search in one sentence
    callbacks.append(NameNeverStarted())  # Ray's ResultGrid raises for a trial the run ended before it started
    if packed:
        from tune_mnist.trainables.unpack import UnpackMembers

        callbacks.append(UnpackMembers())
    if options.mlflow:  # every trial as an MLflow run
        from tune_mnist.extras.mlflow_tracking import trial_callback

        callbacks.append(trial_callback(options.mlflow, options.experiment, options.name))
    # The live table (tune_mnist.tuning.live_table); one checkpoint kept per trial, no snapshot forced by it
    # (tune_mnist.trainables.checkpoints); rows kept across a trial's restarts (tune_mnist.tuning.ray_private)
    console = console_options(callbacks, options.min_accuracy, options.confirm)
    callbacks += [PruneCheckpoints(), StagedJsonLogger(), StagedCsvLogger()]
    return tune.RunConfig(
        name=options.name,
        storage_path=options.storage_path,
        checkpoint_config=checkpoint_config(),
        failure_config=tune.FailureConfig(max_failures=options.max_failures),
        callbacks=callbacks,
        **console,
    )


#: Ray's limit on trials created ahead of resources (Ray Tune's environment variable, read when fit starts).
PENDING_TRIALS_ENV = "TUNE_MAX_PENDING_TRIALS_PG"


def trial_slots(resources: dict[str, float], cpus_per_trial: float, gpus_per_trial: float) -> int:
    """How many trials the cluster's ``resources`` run at once (at least 1)."""
    slots = [resources.get("CPU", 0) // cpus_per_trial] if cpus_per_trial > 0 else []
    if gpus_per_trial > 0:
        slots.append(resources.get("GPU", 0) // gpus_per_trial)
    return max(1, int(min(slots, default=1)))


@contextmanager
def pending_trials(options: SearchOptions, list_space: bool) -> Iterator[None]:
    """While a confirming search over a list space, or one whose trials are packs, runs: let Ray create
    as many trials ahead as the cluster runs at once. Ray creates one pending trial at a time from any
    searcher but its own list generator, so short trials ran one after another on one worker; a list's
    trials are known in advance, so a round of them costs nothing, and the packing searcher draws a
    generation of packs at once (its second slot started a worker's start-up, 5-7 s, after the first).
    An adaptive searcher of single trials keeps Ray's one, to see results between."""
    ahead = list_space or adaptive_packed(options)
    if options.confirm <= 1 or not ahead or options.max_concurrent or PENDING_TRIALS_ENV in os.environ:
        yield
        return
    import ray

    slots = trial_slots(ray.cluster_resources(), options.cpus_per_trial, options.gpus_per_trial)
    os.environ[PENDING_TRIALS_ENV] = str(slots)
    try:
        yield
    finally:
        os.environ.pop(PENDING_TRIALS_ENV, None)
