"""The Ray Tune ``Tuner`` of a search, one small function per mode:

- ``configs_tuner``: a list space, one config per trial;
- ``packs_tuner``: a list space with ``--pack``, several configs per trial;
- ``adaptive_tuner``: an adaptive space's search algorithm proposes the configs.

``--resume`` builds a new Tuner of the same mode over what is left (``tune_mnist.experiment.rebuild``);
Ray's saved Tuner is never restored.

``build_tuner`` picks the mode. Every new run's ``TuneConfig`` comes from ``tune_config``, which is
where a trial scheduler (such as early stopping) goes."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from search_spaces import Space
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig
from tune_mnist.core.options import SearchOptions
from tune_mnist.data.splits import Splits
from tune_mnist.strategies.budget import sample_limit
from tune_mnist.tuning.trials import adaptive_packed, list_packed, run_constants
from tune_mnist.tuning.tune_config import packed_searcher, scheduler_of, space_options, tune_config


def build_tuner(
    options: SearchOptions, splits: Splits, points: list[dict[str, Any]] | None, space: Space, storage: str
) -> Any:
    """A new Tuner over ``points`` (one trial each: single configs or packs), or over the space's
    adaptive searcher where ``points`` is None."""
    packed = list_packed(options, points) if points is not None else adaptive_packed(options)
    trainable = make_trainable(options, splits, packed)
    run_config = make_run_config(options, storage, packed)
    if options.confirm > 1:  # screening, then confirmation rounds: tune_mnist.tuning.confirm_tuner
        from tune_mnist.tuning.confirm_tuner import confirming_tuner

        return confirming_tuner(options, trainable, run_config, points, space, storage, packed)
    if points is None:
        return adaptive_tuner(options, trainable, run_config, space, storage)
    if packed:
        return packs_tuner(options, trainable, run_config, points)
    return configs_tuner(options, trainable, run_config, points)


# ---------------------------------------------------------------- one function per mode


def configs_tuner(options: SearchOptions, trainable: Any, run_config: Any, points: list[dict[str, Any]]) -> Any:
    """One trial per point, in the given order."""
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    search_alg = BasicVariantGenerator(points_to_evaluate=points, max_concurrent=options.max_concurrent or 0)
    # Every key a point sets must exist in the param space; the points fill in the values.
    param_space = dict.fromkeys(points[0])
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune_config(search_alg, len(points), scheduler_of(options)),
        run_config=run_config,
    )


def packs_tuner(options: SearchOptions, trainable: Any, run_config: Any, points: list[dict[str, Any]]) -> Any:
    """One trial per pack, in the given order."""
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    # Packs differ in length, which points_to_evaluate cannot express: grid over the member lists (a
    # config the cost model trains alone is a pack of one here).
    search_alg = BasicVariantGenerator(max_concurrent=options.max_concurrent or 0)
    lists = [p[PACK_MEMBERS] if PACK_MEMBERS in p else [TrialConfig.from_dict(p).to_dict()] for p in points]
    param_space = {**run_constants(options), PACK_MEMBERS: tune.grid_search(lists)}
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config(search_alg, 1), run_config=run_config)


def adaptive_tuner(options: SearchOptions, trainable: Any, run_config: Any, space: Space, storage: str) -> Any:
    """Up to the searcher's ``num_samples`` trials, each a config it proposes (with ``--seeds``, the
    config trained over every seed in one trial)."""
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    assert space.searcher is not None
    adaptive = space.searcher(space_options(options, storage))
    search_alg, samples = packed_searcher(
        options, adaptive.make_search_alg(), sample_limit(options, adaptive.num_samples)
    )
    if options.max_concurrent:
        search_alg = ConcurrencyLimiter(search_alg, max_concurrent=options.max_concurrent)
    param_space = {**adaptive.param_space, **run_constants(options)}
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune_config(search_alg, samples, scheduler_of(options)),
        run_config=run_config,
    )


# ---------------------------------------------------------------- what the modes share


def make_trainable(options: SearchOptions, splits: Splits, packed: bool) -> Any:
    """The trial function with the data and ``--cpus-per-trial`` / ``--gpus-per-trial`` attached:
    ``run_pack`` where a trial trains several configs, else ``run_trial``."""
    from ray import tune

    if packed:
        import functools

        from tune_mnist.strategies.member_stopping import MemberStopping
        from tune_mnist.trainables.pack_trainable import run_pack

        # Under the bar scheduler a pack stops its hopeless configs itself (strategies.member_stopping); a
        # pack that cannot finish before the screening deadline gives its CPU back (trainables.pack_trainable).
        trial_function = functools.partial(
            run_pack,
            stopping_rule=MemberStopping if options.scheduler == "bar" else None,
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


def make_run_config(options: SearchOptions, storage: str, packed: bool) -> Any:
    """Where the experiment lives, a checkpoint per epoch (one kept per running trial), ``--max-failures``
    restarts; a pack trial's rows and checkpoint are split into one trial directory per member as they arrive."""
    from ray import tune

    from tune_mnist.experiment.storage_guard import StorageErrors
    from tune_mnist.trainables.checkpoints import PruneCheckpoints, checkpoint_config
    from tune_mnist.tuning.live_table import LiveTable, console_options
    from tune_mnist.tuning.ray_private import NameNeverStarted, StagedCsvLogger, StagedJsonLogger

    callbacks: list[Any] = [StorageErrors()]  # a storage write failure stops the search in one sentence
    callbacks.append(NameNeverStarted())  # Ray's ResultGrid raises for a trial the run ended before it started
    if packed:
        from tune_mnist.trainables.unpack import UnpackMembers

        callbacks.append(UnpackMembers())
    if options.mlflow:  # every trial as an MLflow run (a resumed search keeps the first run's)
        from tune_mnist.extras.mlflow_tracking import trial_callback

        callbacks.append(trial_callback(options.mlflow, f"{storage.rstrip('/')}/{options.name}", options.name))
    # The live table (tune_mnist.tuning.live_table); one checkpoint kept per trial, no snapshot forced by it
    # (tune_mnist.trainables.checkpoints); rows kept across a trial's restarts (tune_mnist.tuning.ray_private)
    console = console_options()
    callbacks += [*console.pop("callbacks"), PruneCheckpoints(), StagedJsonLogger(), StagedCsvLogger()]
    for callback in callbacks:
        if isinstance(callback, LiveTable):
            callback.share_start_time(callbacks)  # Ray appends its own reporter to this list
            callback.follow(options.min_accuracy, options.confirm)  # the best confirmed config so far
    return tune.RunConfig(
        name=options.name,
        storage_path=storage,
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
    """While a confirming search over a list space runs: let Ray create as many trials ahead as the
    cluster runs at once.

    Ray creates one pending trial at a time from any searcher other than its own list generator (unless
    a ``ConcurrencyLimiter`` names a number), so with the ``ConfirmingSearcher`` the next trial was only
    created once the previous one was running and, with trials shorter than a worker's start-up, the
    trials ran one after another on one worker (one GPU of two). The list's trials are known in advance,
    so handing out a round of them together costs nothing; an adaptive searcher keeps Ray's one (each
    proposal then sees the results so far), and ``--max-concurrent`` keeps its own limit."""
    if options.confirm <= 1 or not list_space or options.max_concurrent or PENDING_TRIALS_ENV in os.environ:
        yield
        return
    import ray

    slots = trial_slots(ray.cluster_resources(), options.cpus_per_trial, options.gpus_per_trial)
    os.environ[PENDING_TRIALS_ENV] = str(slots)
    try:
        yield
    finally:
        os.environ.pop(PENDING_TRIALS_ENV, None)
