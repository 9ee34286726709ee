"""``python -m tune_mnist.search``: run a named search space through Ray Tune.

Every trial's per-epoch rows, params and final checkpoint land in Ray's standard layout under
``<storage>/<name>/``; ``python -m analysis.pareto`` reads them from there."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import textwrap
import time

import search_spaces
from search_spaces import Space, SpaceOptions
from tune_mnist.budget import SearchBudget, screening_share
from tune_mnist.config import TrialConfig
from tune_mnist.confirm_rule import DEFAULT_CONFIRM
from tune_mnist.confirm_summary import stage_times
from tune_mnist.confirm_tuner import check_confirm, confirm_int
from tune_mnist.data import Splits, split_validation, subset
from tune_mnist.dry_run import print_dry_run
from tune_mnist.early_stopping import schedulers_text
from tune_mnist.errors import InputError, exit_status
from tune_mnist.experiment_guard import hold, prepare_resume, refuse_if_busy
from tune_mnist.extras import require
from tune_mnist.mlflow_store import BESIDE, check_uri
from tune_mnist.objectives import DEFAULT_MIN_ACCURACY
from tune_mnist.options import add_data_options, load_data, nonnegative_int, positive_float, positive_int
from tune_mnist.ray_session import start_ray
from tune_mnist.run_options import resume_options, save_run_options
from tune_mnist.search_limits import check_limits
from tune_mnist.storage import RUN_FILE, exists, storage_root
from tune_mnist.storage_guard import StorageGuard
from tune_mnist.summary import summarize
from tune_mnist.trials import (
    AUTO_PACK_ADAPTIVE_CPU,
    AUTO_PACK_GPU,
    adaptive_packing,
    check_adaptive_pack,
    configs_in,
    resolve_pack,
    trial_points,
)
from tune_mnist.tuner import build_tuner, pending_trials


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tune_mnist.search",
        description=__doc__,
        epilog=spaces_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    space = parser.add_argument_group("search space")
    space.add_argument(
        "--space",
        default="grid",
        metavar="NAME",
        help="the search space to run, one of those listed at the end of this help; each is a file "
        "search_spaces/NAME.py (default grid)",
    )
    space.add_argument(
        "--num-samples",
        type=positive_int,
        metavar="N",
        help="configs the random space draws, trials the adaptive and cheap spaces run; the other spaces ignore it "
        "(default 50; with --time-budget 2,000 in random, unlimited in adaptive and cheap)",
    )
    space.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        metavar="K",
        help="train every config K times, with seeds 0 to K-1, so that the analysis reports means "
        "and spreads over seeds (default 1). In the adaptive space each proposed config's K "
        "seeds train together in one trial and the searcher learns from their mean",
    )
    space.add_argument(
        "--confirm",
        type=confirm_int,
        default=DEFAULT_CONFIRM,
        metavar="K",
        help="after the search, train the configs that decide the answer again until each has K seeds: "
        "the Pareto front above the bar on seed means, then every config within 2 pooled seed standard "
        "errors of the bar that could still join the front, in rounds until the front is all confirmed "
        f"(docs/search.md). 1 turns the stage off; configs with K seeds already are not rerun (default "
        f"{DEFAULT_CONFIRM})",
    )
    space.add_argument(
        "--search-seed",
        type=nonnegative_int,
        default=0,
        metavar="N",
        help="seed of the random space's draws and of the adaptive space's sampler, so that a search "
        "can be repeated (default 0)",
    )
    space.add_argument(
        "--epochs",
        type=positive_int,
        metavar="E",
        help="train every config for E epochs (default: the space's own, 2 in grid, small and smoke, "
        "drawn from 1-10 in random and adaptive)",
    )
    space.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="B",
        help="training images per step for every config (default: the space's own, 64 in grid, "
        "small and smoke, drawn from 32-256 in random and adaptive)",
    )
    space.add_argument(
        "--lr",
        type=positive_float,
        metavar="LR",
        help="Adam learning rate for every config (default: the space's own, 1e-3 in grid and "
        "small, 1e-2 in smoke, drawn from 1e-4 to 1e-2 in random and adaptive)",
    )
    space.add_argument(
        "--min-accuracy",
        type=float,
        default=DEFAULT_MIN_ACCURACY,
        metavar="A",
        help="the accuracy bar, a fraction between 0 and 1: a config is good enough when its "
        "validation accuracy is above it. The end summary picks the best configs above it, the "
        "adaptive space looks for cheap configs above it, and python -m analysis.pareto uses it "
        f"unless told otherwise (default {DEFAULT_MIN_ACCURACY:.2f})",
    )
    space.add_argument("--scheduler", metavar="NAME", help=f"the trial scheduler: {schedulers_text()}")
    space.add_argument(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        help="end the whole command, confirmation included, within seconds of MINUTES of wall time from its start, "
        "in every space: screening gets all but 10 s where it trains every config's --confirm seeds (adaptive, "
        "cheap), two thirds where it trains one (list spaces), the confirmation stage the rest; running trials are "
        "stopped and recorded as stopped by the budget, list spaces run in a seeded random order, --num-samples "
        "stops being the limit. --resume extends it by another budget (this one, or a new --time-budget; after a "
        "budget that ended screening, a plain --resume goes on with confirmation)",
    )
    add_data_options(parser)
    run = parser.add_argument_group("experiment")
    run.add_argument(
        "--name",
        metavar="NAME",
        help="experiment name: the directory under --storage-path that holds it (default "
        "<space>-<YYYYmmdd>-<HHMMSS>); an existing name is refused unless --resume, which needs it",
    )
    run.add_argument(
        "--storage-path",
        default="ray_results",
        metavar="PATH",
        help="where experiments live: a directory, created if missing and made absolute, or a URI such "
        "as s3://bucket/path or gs://bucket/path (default ./ray_results)",
    )
    run.add_argument(
        "--shared-storage",
        action="store_true",
        help="declare that every node of the Ray cluster mounts --storage-path at the same path. "
        "Without it, on a cluster of several nodes a local --storage-path must be on a shared "
        "file system (NFS and similar mounts are recognised), else it is refused",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the experiment --name after an interruption or failures: finished trials are "
        "kept, unfinished ones continue from their last checkpoint, errored ones are retried. "
        "The space, data, training and resource options are the first run's, saved in its "
        f"{RUN_FILE}; this command line gives only --name, --storage-path and --address",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the configs of a list space with their parameters and FLOPs, and with --pack the "
        "packs they would train in and the padding that costs; start neither Ray nor a trial",
    )
    run.add_argument(
        "--mlflow",
        nargs="?",
        const=BESIDE,
        metavar="TRACKING_URI",
        help="log every trial to MLflow (Ray Tune's MLflowLoggerCallback): its config as params and every "
        "metric of every epoch at step = epoch, a pack as a parent run with a child run per config; into "
        "TRACKING_URI, or without it a SQLite store beside the experiment (<storage>/<name>/mlflow/), "
        'with the experiment name as MLflow experiment. Needs pip install -e ".[mlflow]" (docs/tracking.md)',
    )
    res = parser.add_argument_group("resources")
    res.add_argument(
        "--cpus-per-trial",
        type=positive_float,
        default=1,
        metavar="C",
        help="CPUs Ray reserves for each trial; the trial also runs that many torch threads, at least one (default 1)",
    )
    res.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0,
        metavar="G",
        help="GPUs Ray reserves for each trial: 0 trains on the CPU, a fraction such as 0.25 shares one "
        "GPU between four trials, a whole number reserves that many GPUs (default 0)",
    )
    res.add_argument(
        "--max-concurrent",
        type=positive_int,
        metavar="N",
        help="run at most N trials at once (default: as many as the cluster's CPUs and GPUs allow)",
    )
    res.add_argument(
        "--max-failures",
        type=nonnegative_int,
        default=1,
        metavar="N",
        help="restart a failed trial from its last checkpoint up to N times, e.g. after a lost (spot) "
        "node; 0 gives up on it at once (default 1)",
    )
    res.add_argument(
        "--pack",
        default="auto",
        metavar="K|auto",
        help="train up to K configs of a list space together in one trial, as one packed ensemble "
        "with stacked weights (configs of the same depth, batch size and epochs pack together). "
        f"auto: on GPU trials up to {AUTO_PACK_GPU} configs a pack, but never fewer trials than "
        "GPU slots; on CPU trials no packing. In the adaptive and cheap spaces: K proposals a trial, each "
        f"over its --confirm seeds (auto: {AUTO_PACK_ADAPTIVE_CPU} on CPU trials); --pack 1 --confirm 1 "
        "trains one config per trial (default auto)",
    )
    res.add_argument(
        "--address",
        metavar="ADDR",
        help="the Ray cluster to run on: auto (the cluster this machine belongs to), HOST:PORT of its "
        "head, or ray://HOST:PORT; RAY_ADDRESS works too (default: a local Ray sized to this "
        "machine, started for this run and stopped at its end)",
    )
    return parser.parse_args(argv)


def spaces_text() -> str:
    """The end of ``--help``: every search space with its DESCRIPTION."""
    lines = ["search spaces (--space NAME; adding a space is adding a file search_spaces/NAME.py):"]
    described = search_spaces.descriptions(search_spaces.available())
    column = max(len(name) for name, _ in described) + 4
    width = max(60, shutil.get_terminal_size().columns - 2)  # as argparse wraps the options above
    for name, description in described:
        lines += textwrap.wrap(
            description,
            width=width,
            initial_indent=f"  {name:<{column - 2}}",
            subsequent_indent=" " * column,
            break_on_hyphens=False,
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- checks before Ray starts


def check_options(args: argparse.Namespace) -> None:
    g = args.gpus_per_trial
    if not (g >= 0 and math.isfinite(g)) or (g > 1 and g != int(g)):
        raise InputError(f"--gpus-per-trial {g} is invalid: use 0, a fraction such as 0.25, or a whole number of GPUs.")
    if not 0 < args.min_accuracy < 1:
        raise InputError(
            f"--min-accuracy {args.min_accuracy} is invalid: use a fraction between 0 and 1, such as "
            f"{DEFAULT_MIN_ACCURACY:.2f}."
        )
    if args.pack != "auto" and not (args.pack.isdigit() and int(args.pack) >= 1):
        raise InputError(f"--pack {args.pack} is invalid: use a positive number of configs per trial, or auto.")
    if args.resume and not args.name:
        raise InputError("--resume needs --name: pass the name of the experiment to continue.")
    check_confirm(args)
    if args.mlflow:
        check_uri(args.mlflow)
        require("mlflow", "--mlflow")


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


def run(args: argparse.Namespace) -> int:
    check_options(args)
    storage = storage_root(args.storage_path)
    args.storage_path = storage
    experiment = f"{storage.rstrip('/')}/{args.name}" if args.name else None
    if args.resume:
        refuse_if_busy(experiment)  # before anything else: name the live driver
        saved = resume_options(experiment)
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
        return 0
    if not args.resume:
        args.name = args.name or f"{args.space}-{time.strftime('%Y%m%d-%H%M%S')}"
        experiment = f"{storage.rstrip('/')}/{args.name}"
        refuse_if_busy(experiment)  # a live driver is named before the experiment is called existing
        if exists(experiment):
            raise InputError(f"Experiment {experiment} already exists: pass --resume to continue it or another --name.")
    with hold(experiment, args.name):  # one driver per experiment, until this one ends
        if args.resume:  # Ray's state damaged (a full disk): rebuild from the trial directories
            configs, nothing_left = prepare_resume(args, experiment, configs)
            if nothing_left:
                return 0
        splits = prepare_data(args, space)
        return run_tuner(args, splits, configs, space, experiment)


def run_tuner(
    args: argparse.Namespace, splits: Splits, configs: list[TrialConfig] | None, space: Space, experiment: str
) -> int:
    """Start (or connect to) Ray, run the trials, print the summary."""
    import ray

    started = not ray.is_initialized()
    try:
        start_ray(
            args.address or os.environ.get("RAY_ADDRESS"),
            args.cpus_per_trial,
            args.gpus_per_trial,
            args.storage_path,
            args.shared_storage,
        )
        points = None
        if configs is not None:
            resolve_pack(args, configs, ray.cluster_resources().get("GPU", 0))
            points = trial_points(configs, args)
        screening_s = screening_seconds(args, points is None)
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
        # The confirmation stage ran inside fit (tune_mnist.confirm_searcher); its log times it.
        stage = stage_times(experiment, fit_started, time.time(), getattr(args, "confirm", 1))
        expected = None if points is None else configs_in(points)
        return summarize(results, args, experiment, expected, stage)
    finally:
        if started:  # a Ray this call started (or connected to) is left as it was found
            ray.shutdown()


def screening_seconds(args: argparse.Namespace, adaptive: bool) -> float | None:
    """How much of ``--time-budget`` screening may use (``tune_mnist.budget.screening_share``)."""
    if args.time_budget is None:
        return None
    screened = adaptive_packing(args)[1] if adaptive else args.seeds
    return screening_share(args.time_budget * 60.0, screened, getattr(args, "confirm", 1))


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    """``started``: when the command began (default now); ``--time-budget`` counts from it."""
    started = started or time.time()
    args = parse_args(argv)
    args.command_started = started
    return exit_status(lambda: run(args))


def process_started() -> float:
    """When this process started: the budget of ``python -m tune_mnist.search`` includes its imports."""
    try:
        import psutil  # a dependency of Ray

        return float(psutil.Process().create_time())
    except (ImportError, OSError):
        return time.time()


if __name__ == "__main__":
    sys.exit(main(started=process_started()))
