"""``python -m tune_mnist.search``: run a named search space through Ray Tune (what it writes where:
``tune_mnist.search_options.SEARCH_DOC``, the top of its ``--help``)."""

from __future__ import annotations

import os
import sys
import time

import search_spaces
from search_spaces import Space, SpaceOptions
from search_spaces.random import DEFAULT_SAMPLES
from tune_mnist.confirm.summary import wall_time_line
from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError, exit_status
from tune_mnist.core.options import FIELDS, SearchOptions
from tune_mnist.data.options import DataSource, load_data
from tune_mnist.data.splits import Splits, split_validation, subset
from tune_mnist.experiment.driver_lock import DriverLock
from tune_mnist.experiment.footprint import megabytes
from tune_mnist.experiment.ray_log import RayLog
from tune_mnist.experiment.rebuild import prepare_resume
from tune_mnist.experiment.run_options import resume_options, save_run_options
from tune_mnist.experiment.storage import exists, storage_root
from tune_mnist.experiment.storage_guard import StorageGuard, check_free_space
from tune_mnist.search_options import parse_args
from tune_mnist.strategies.budget import SearchBudget, check_limits, screening_share
from tune_mnist.tuning.dry_run import disk_estimate, print_dry_run
from tune_mnist.tuning.ray_session import start_ray
from tune_mnist.tuning.summary import SearchResult, summarize
from tune_mnist.tuning.trials import adaptive_packing, check_adaptive_pack, configs_in, resolve_pack, trial_points
from tune_mnist.tuning.tuner import build_tuner, pending_trials


def space_configs(options: SearchOptions, space: Space) -> list[TrialConfig] | None:
    """A list space's configs; None for an adaptive space (whose --pack is proposals per trial)."""
    if space.configs is not None:
        return space.configs(SpaceOptions.of(options))
    check_adaptive_pack(options)
    return None


def with_subset(options: SearchOptions, space: Space) -> SearchOptions:
    """``--subset`` defaults to the space's DEFAULT_SUBSET."""
    n = options.subset if options.subset is not None else space.default_subset
    return options.replace(subset=n or None)


def prepare_data(options: SearchOptions) -> Splits:
    """The data every trial trains on."""
    splits = split_validation(load_data(DataSource.of(options)), options.validation_size, options.split_seed)
    return subset(splits, options.subset, options.split_seed)


def execute(options: SearchOptions) -> SearchResult:
    storage = storage_root(options.storage_path)
    options = options.replace(storage_path=storage, command_started=options.command_started or time.time())
    experiment = options.experiment if options.name else None
    if options.resume:
        DriverLock(experiment).check_free()  # before anything else: name the live driver
        options = resumed(options, resume_options(experiment))
    space = search_spaces.load(options.space)
    options = with_subset(options, space)  # before --dry-run and the disk check, which plan for these images
    options = check_limits(options)  # --scheduler, --time-budget: before Ray starts
    configs = space_configs(options, space)
    if options.dry_run:
        print_dry_run(options, configs)
        return SearchResult(experiment, status=0)
    if not options.resume:
        options = options.replace(name=options.name or f"{options.space}-{time.strftime('%Y%m%d-%H%M%S')}")
        experiment = options.experiment
        DriverLock(experiment).check_free()  # a live driver is named before the experiment is called existing
        if exists(experiment):
            raise InputError(f"Experiment {experiment} already exists: pass --resume to continue it or another --name.")
        check_disk(options, configs)  # before anything is written
    with DriverLock(experiment):  # one driver per experiment, until this one ends
        if options.resume:  # a fresh Tuner over what the experiment directory says is left
            options, configs, nothing_left = prepare_resume(
                options, experiment, configs, default_samples=DEFAULT_SAMPLES
            )
            if nothing_left:
                return SearchResult(experiment, status=0)
            check_disk(options, configs)
        return run_tuner(options, prepare_data(options), configs, space, experiment)


def resumed(options: SearchOptions, saved: dict[str, object]) -> SearchOptions:
    """``--resume``: the options the experiment was started with, but for this command line's consent
    (``--allow-low-space``) and a new ``--time-budget``, which reopens screening for that many minutes."""
    reopen = options.time_budget is not None  # --resume --time-budget M: screen again, for M minutes
    known = {
        # an older file's retired options are left out (the file never holds this command line's own options)
        **{key: value for key, value in saved.items() if key in FIELDS},
        **({"time_budget": options.time_budget} if reopen else {}),
    }
    return options.replace(**known, resume=True, reopen_screening=reopen)


def check_disk(options: SearchOptions, configs: list[TrialConfig] | None) -> None:
    """A list space's storage must have room for what is left to train (``configs``: after ``--resume``,
    the unfinished ones; ``tune_mnist.experiment.footprint``); an adaptive space's trials are not known in advance."""
    if not configs:
        return
    est = disk_estimate(options, configs)
    what = (
        f"its {len(configs)} trials need ({megabytes(est.finished)} once finished, up to "
        f"{megabytes(est.running)} more while they run; --dry-run shows the figures)"
    )
    check_free_space(options.storage_path, est.needed, what, options.allow_low_space)


def run_tuner(
    options: SearchOptions, splits: Splits, configs: list[TrialConfig] | None, space: Space, experiment: str
) -> SearchResult:
    """Start (or connect to) Ray, run the trials, print the summary."""
    import ray

    started = not ray.is_initialized()
    # Ray's warnings and tracebacks to a log file, the project's sentences on the console: experiment.ray_log
    ray_log = RayLog(options.name).__enter__()
    try:
        start_ray(
            options.address or os.environ.get("RAY_ADDRESS"),
            options.cpus_per_trial,
            options.gpus_per_trial,
            options.storage_path,
            options.shared_storage,
        )
        points = None
        options = options.replace(n_train=len(splits.train_labels))  # what --pack auto's cost model plans for
        if configs is not None:
            options = resolve_pack(options, configs, ray.cluster_resources().get("GPU", 0))
            points = trial_points(configs, options)
        options = with_screening_deadline(options, adaptive=points is None)
        tuner = build_tuner(options, splits, points, space)
        if not options.resume:
            save_run_options(experiment, options)
        fit_started = time.time()
        # --time-budget ends the screening: with --confirm 1 by interrupting fit, else at a deadline the
        # scheduler and the confirming searcher share, so fit goes on with the confirmation stage.
        budget = SearchBudget(
            options.time_budget,
            experiment,
            interrupt=options.confirm <= 1,
            reopen=options.reopen_screening,
            command_started=options.command_started,
            screening_s=options.screening_s,
        )
        pending = pending_trials(options, points is not None)
        with StorageGuard(options.storage_path, options.name), budget, pending:
            results = tuner.fit()  # a full disk: one sentence, exit 2, when the guard's block ends
        # The confirmation stage ran inside fit (tune_mnist.confirm.searcher); its log times it.
        wall_time = wall_time_line(experiment, fit_started, time.time(), options.confirm)
        expected = None if points is None else configs_in(points)
        return summarize(results, options, experiment, expected, wall_time)
    finally:
        if started:  # a Ray this call started (or connected to) is left as it was found
            ray.shutdown()
        ray_log.__exit__(None, None, None)


def with_screening_deadline(options: SearchOptions, adaptive: bool) -> SearchOptions:
    """How much of ``--time-budget`` screening may use (``tune_mnist.strategies.budget.screening_share``)
    and, with a confirmation stage, when it ends: packs that cannot finish by then stop."""
    if options.time_budget is None:
        return options
    screened = adaptive_packing(options)[1] if adaptive else options.seeds
    screening_s = screening_share(options.time_budget * 60.0, screened, options.confirm)
    deadline = options.command_started + screening_s if options.confirm > 1 else None
    return options.replace(screening_s=screening_s, screening_deadline=deadline)


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    """argv -> the frozen options -> the run (``tune_mnist.api.run_search`` is the same from Python).
    ``started``: when the command began (default now); ``--time-budget`` counts from it."""
    started = started or time.time()
    return exit_status(lambda: execute(parse_args(argv).replace(command_started=started)).status)


def process_started() -> float:
    """When this process started: the budget of ``python -m tune_mnist.search`` includes its imports."""
    try:
        import psutil  # a dependency of Ray

        return float(psutil.Process().create_time())
    except (ImportError, OSError):
        return time.time()


if __name__ == "__main__":
    sys.exit(main(started=process_started()))
