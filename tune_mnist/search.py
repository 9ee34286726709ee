"""``python -m tune_mnist.search``: run a named search space through Ray Tune.

Every trial's per-epoch rows, params and final checkpoint land in Ray's standard layout under
``<storage>/<name>/``; ``python -m analysis.pareto`` reads them from there."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import search_spaces
from search_spaces import Space, SpaceOptions
from search_spaces.random import DEFAULT_SAMPLES
from tune_mnist.confirm.summary import Pick, stage_times
from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError, exit_status
from tune_mnist.data.options import load_data
from tune_mnist.data.splits import Splits, split_validation, subset
from tune_mnist.experiment.experiment_guard import hold, prepare_resume, refuse_if_busy
from tune_mnist.experiment.footprint import megabytes
from tune_mnist.experiment.ray_log import RayLog
from tune_mnist.experiment.rebuild import finished_configs, remaining
from tune_mnist.experiment.run_options import resume_options, save_run_options
from tune_mnist.experiment.storage import exists, storage_root
from tune_mnist.experiment.storage_guard import StorageGuard, check_free_space
from tune_mnist.search_keywords import options_of, working_args
from tune_mnist.search_options import check_options, parse_args
from tune_mnist.strategies.budget import SearchBudget, screening_share
from tune_mnist.strategies.search_limits import check_limits
from tune_mnist.tuning.dry_run import disk_estimate, print_dry_run
from tune_mnist.tuning.ray_session import start_ray
from tune_mnist.tuning.summary import Summary, summarize
from tune_mnist.tuning.trials import adaptive_packing, check_adaptive_pack, configs_in, resolve_pack, trial_points
from tune_mnist.tuning.tuner import build_tuner, pending_trials


def space_configs(args: argparse.Namespace, space: Space) -> list[TrialConfig] | None:
    """A list space's configs; None for an adaptive space (whose --pack is proposals per trial)."""
    if space.configs is not None:
        return space.configs(SpaceOptions.from_args(args))
    check_adaptive_pack(args)
    return None


def prepare_data(args: argparse.Namespace, space: Space) -> Splits:
    """The data every trial trains on; ``--subset`` defaults to the space's DEFAULT_SUBSET."""
    n = args.subset if args.subset is not None else space.default_subset
    args.subset = n or None
    splits = split_validation(load_data(args), args.validation_size, args.split_seed)
    return subset(splits, args.subset, args.split_seed)


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    """What a search left: its exit status, the experiment directory (None for a dry run before one is
    named) and the picks the summary printed."""

    status: int
    experiment: str | None
    picks: tuple[Pick, ...] = ()


def run(args: argparse.Namespace) -> int:
    """The command's body: the exit status of ``execute``."""
    return execute(args).status


def execute(args: argparse.Namespace) -> Outcome:
    check_options(args)
    storage = storage_root(args.storage_path)
    args.storage_path = storage
    experiment = f"{storage.rstrip('/')}/{args.name}" if args.name else None
    if args.resume:
        refuse_if_busy(experiment)  # before anything else: name the live driver
        saved = resume_options(experiment)
        saved.pop("allow_low_space", None)  # the command line's own consent, not the first run's
        reopen = args.time_budget is not None  # --resume --time-budget M: screen again, for M minutes
        if reopen:
            saved["time_budget"] = args.time_budget
        saved.setdefault("confirm", 1)  # an experiment from before the confirmation stage ran without it
        for key, value in saved.items():
            setattr(args, key, value)
        args.resume, args.reopen_screening = True, reopen
    space = search_spaces.load(args.space)
    check_limits(args)  # --scheduler, --time-budget: before Ray starts
    configs = space_configs(args, space)
    if args.dry_run:
        print_dry_run(args, configs)
        return Outcome(0, experiment)
    if not args.resume:
        args.name = args.name or f"{args.space}-{time.strftime('%Y%m%d-%H%M%S')}"
        experiment = f"{storage.rstrip('/')}/{args.name}"
        refuse_if_busy(experiment)  # a live driver is named before the experiment is called existing
        if exists(experiment):
            raise InputError(f"Experiment {experiment} already exists: pass --resume to continue it or another --name.")
        check_disk(args, storage, configs, experiment=None)  # before anything is written
    with hold(experiment, args.name):  # one driver per experiment, until this one ends
        if args.resume:  # Ray's state damaged (a full disk): rebuild from the trial directories
            configs, nothing_left = prepare_resume(args, experiment, configs, default_samples=DEFAULT_SAMPLES)
            if nothing_left:
                return Outcome(0, experiment)
            check_disk(args, storage, configs, experiment)
        splits = prepare_data(args, space)
        summary = run_tuner(args, splits, configs, space, experiment)
        return Outcome(summary.status, experiment, summary.picks)


def check_disk(
    args: argparse.Namespace, storage: str, configs: list[TrialConfig] | None, experiment: str | None
) -> None:
    """A list space's storage must have room for what is left to train (``tune_mnist.experiment.footprint``);
    an adaptive space's trials are not known in advance."""
    if configs is None:
        return
    if experiment is not None and not getattr(args, "rebuilt", False):  # Ray's own resume: the unfinished ones
        configs = remaining(configs, finished_configs(experiment))
    if not configs:
        return
    est = disk_estimate(args, configs)
    what = (
        f"its {len(configs)} trials need ({megabytes(est.finished)} once finished, up to "
        f"{megabytes(est.running)} more while they run; --dry-run shows the figures)"
    )
    check_free_space(storage, est.needed, what, getattr(args, "allow_low_space", False))


def run_tuner(
    args: argparse.Namespace, splits: Splits, configs: list[TrialConfig] | None, space: Space, experiment: str
) -> Summary:
    """Start (or connect to) Ray, run the trials, print the summary."""
    import ray

    started = not ray.is_initialized()
    # Ray's warnings and tracebacks to a log file, the project's sentences on the console: experiment.ray_log
    ray_log = RayLog(args.name).__enter__()
    try:
        start_ray(
            args.address or os.environ.get("RAY_ADDRESS"),
            args.cpus_per_trial,
            args.gpus_per_trial,
            args.storage_path,
            args.shared_storage,
        )
        points = None
        args.n_train = len(splits.train_labels)  # what --pack auto's cost model plans for
        if configs is not None:
            resolve_pack(args, configs, ray.cluster_resources().get("GPU", 0), len(splits.train_labels))
            points = trial_points(configs, args)
        screening_s = args.screening_s = screening_seconds(args, points is None)
        if screening_s is not None and getattr(args, "confirm", 1) > 1:  # packs that cannot finish by then stop
            args.screening_deadline = getattr(args, "command_started", time.time()) + screening_s
        tuner = build_tuner(args, splits, points, space, args.storage_path)
        if not args.resume and not getattr(args, "rebuilt", False):
            save_run_options(experiment, args)
        fit_started = time.time()
        # --time-budget ends the screening: with --confirm 1 by interrupting fit, else at a deadline the
        # scheduler and the confirming searcher share, so fit goes on with the confirmation stage.
        budget = SearchBudget(
            args.time_budget,
            experiment,
            interrupt=getattr(args, "confirm", 1) <= 1,
            reopen=getattr(args, "reopen_screening", False),
            command_started=getattr(args, "command_started", None),
            screening_s=screening_s,
        )
        with StorageGuard(args.storage_path, args.name) as guard, budget, pending_trials(args, points is not None):
            results = tuner.fit()  # a full disk: one sentence, exit 2
            guard.check()
        # The confirmation stage ran inside fit (tune_mnist.confirm.searcher); its log times it.
        stage = stage_times(experiment, fit_started, time.time(), getattr(args, "confirm", 1))
        expected = None if points is None else configs_in(points)
        return summarize(results, args, experiment, expected, stage)
    finally:
        if started:  # a Ray this call started (or connected to) is left as it was found
            ray.shutdown()
        ray_log.__exit__(None, None, None)


def screening_seconds(args: argparse.Namespace, adaptive: bool) -> float | None:
    """How much of ``--time-budget`` screening may use (``tune_mnist.strategies.budget.screening_share``)."""
    if args.time_budget is None:
        return None
    screened = adaptive_packing(args)[1] if adaptive else args.seeds
    return screening_share(args.time_budget * 60.0, screened, getattr(args, "confirm", 1))


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    """argv -> the frozen options -> the run (``tune_mnist.api.run_search`` is the same from Python).
    ``started``: when the command began (default now); ``--time-budget`` counts from it."""
    started = started or time.time()
    options = options_of(parse_args(argv))

    def run_it() -> int:
        args = working_args(options)
        args.command_started = started
        return run(args)

    return exit_status(run_it)


def process_started() -> float:
    """When this process started: the budget of ``python -m tune_mnist.search`` includes its imports."""
    try:
        import psutil  # a dependency of Ray

        return float(psutil.Process().create_time())
    except (ImportError, OSError):
        return time.time()


if __name__ == "__main__":
    sys.exit(main(started=process_started()))
