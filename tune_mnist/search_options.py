"""The command line of ``python -m tune_mnist.search``: its flags and their help, with every space listed
at the end of ``--help``. Defaults and checks are ``tune_mnist.search_keywords``', shared with ``run_search``."""

from __future__ import annotations

import argparse
import shutil
import textwrap

import search_spaces
from tune_mnist.confirm.rule import DEFAULT_CONFIRM
from tune_mnist.core.layout import RUN_FILE
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY
from tune_mnist.core.options import SearchOptions
from tune_mnist.data.options import add_data_options
from tune_mnist.extras.mlflow_store import BESIDE
from tune_mnist.search_keywords import options_from
from tune_mnist.strategies.early_stopping import schedulers_text
from tune_mnist.tuning.trials import AUTO_PACK_ADAPTIVE_CPU, AUTO_PACK_CPU, AUTO_PACK_GPU

#: The top of ``--help``: what the command does and where its files land.
SEARCH_DOC = """``python -m tune_mnist.search``: run a named search space through Ray Tune.

Every trial's per-epoch rows, params and final checkpoint land in Ray's standard layout under
``<storage>/<name>/``; ``python -m analysis.pareto`` reads them from there."""


def number(text: str) -> int | float | str:
    """argparse type of a numeric option: the number the text spells, else the text, which the option's check
    (``tune_mnist.search_keywords``) refuses in one sentence naming the option and the fix."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def build_parser() -> argparse.ArgumentParser:
    """Every flag of the command and its help; an option left out is left out of the parsed namespace
    (``SUPPRESS``), so that its default is ``options_from``'s."""
    parser = argparse.ArgumentParser(
        prog="python -m tune_mnist.search",
        description=SEARCH_DOC,
        epilog=spaces_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    space = parser.add_argument_group("search space")
    space.add_argument(
        "--space",
        metavar="NAME",
        help="the search space to run, one of those listed at the end of this help; each is a file "
        "search_spaces/NAME.py (default grid)",
    )
    space.add_argument(
        "--num-samples",
        type=number,
        metavar="N",
        help="configs the random space draws, trials the adaptive and cheap spaces run; the other spaces ignore it "
        "(default 50; with --time-budget 2,000 in random, unlimited in adaptive and cheap)",
    )
    space.add_argument(
        "--seeds",
        type=number,
        metavar="K",
        help="train every config K times, with seeds 0 to K-1, so that the analysis reports means "
        "and spreads over seeds (default 1). In the adaptive space each proposed config's K "
        "seeds train together in one trial and the searcher learns from their mean",
    )
    space.add_argument(
        "--confirm",
        type=number,
        metavar="K",
        help="after the search, train the configs that decide the answer again until each has K seeds: "
        "the Pareto front above the bar on seed means, then every config within 2 pooled seed standard "
        "errors of the bar that could still join the front, in rounds until the front is all confirmed "
        f"(docs/search.md). 1 turns the stage off; configs with K seeds already are not rerun (default "
        f"{DEFAULT_CONFIRM})",
    )
    space.add_argument(
        "--search-seed",
        type=number,
        metavar="N",
        help="seed of the random space's draws and of the adaptive space's sampler, so that a search "
        "can be repeated (default 0)",
    )
    space.add_argument(
        "--sampler",
        metavar="NAME",
        help="the adaptive and cheap spaces' Optuna sampler, seeded with --search-seed: tpe (multi-objective TPE "
        "with constant liar), gp (Gaussian process, constrained batch acquisition) or nsga2 (a population method); "
        "the other spaces ignore it. tpe proposes in milliseconds, gp in 1-2 s on the CPUs the trials train on "
        "(docs/search.md: how they compared) (default tpe)",
    )
    space.add_argument(
        "--epochs",
        type=number,
        metavar="E",
        help="train every config for E epochs (default: the space's own, 2 in grid, small and smoke, "
        "drawn from 1-10 in random and adaptive)",
    )
    space.add_argument(
        "--batch-size",
        type=number,
        metavar="B",
        help="training images per step for every config (default: the space's own, 64 in grid, "
        "small and smoke, drawn from 32-256 in random and adaptive)",
    )
    space.add_argument(
        "--lr",
        type=number,
        metavar="LR",
        help="Adam learning rate for every config (default: the space's own, 1e-3 in grid and "
        "small, 1e-2 in smoke, drawn from 1e-4 to 1e-2 in random and adaptive)",
    )
    space.add_argument(
        "--min-accuracy",
        type=number,
        metavar="A",
        help="the accuracy bar, a fraction between 0 and 1: a config is good enough when its "
        "validation accuracy is above it. The end summary picks the best configs above it, the "
        "adaptive space looks for cheap configs above it, and python -m analysis.pareto uses it "
        f"unless told otherwise (default {DEFAULT_MIN_ACCURACY:.2f})",
    )
    space.add_argument("--scheduler", metavar="NAME", help=f"the trial scheduler: {schedulers_text()}")
    space.add_argument(
        "--time-budget",
        type=number,
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
        "--allow-low-space",
        action="store_true",
        help="start even when the storage has less free space than the experiment needs (--dry-run prints "
        "the figure); without it such a search is refused before anything is written. A search that fills "
        "its storage stops with every finished trial kept, to be continued with --resume",
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
        type=number,
        metavar="C",
        help="CPUs Ray reserves for each trial; the trial also runs that many torch threads, at least one (default 1)",
    )
    res.add_argument(
        "--gpus-per-trial",
        type=number,
        metavar="G",
        help="GPUs Ray reserves for each trial: 0 trains on the CPU, a fraction such as 0.25 shares one "
        "GPU between four trials, a whole number reserves that many GPUs (default 0)",
    )
    res.add_argument(
        "--max-concurrent",
        type=number,
        metavar="N",
        help="run at most N trials at once (default: as many as the cluster's CPUs and GPUs allow)",
    )
    res.add_argument(
        "--max-failures",
        type=number,
        metavar="N",
        help="restart a failed trial from its last checkpoint up to N times, e.g. after a lost (spot) "
        "node; 0 gives up on it at once (default 1)",
    )
    res.add_argument(
        "--pack",
        metavar="K|auto|cost",
        help="train up to K configs of a list space together in one trial, as one packed ensemble "
        "with stacked weights (configs of the same depth, batch size and epochs pack together). "
        f"auto: on GPU trials up to {AUTO_PACK_GPU} configs a pack, but never fewer trials than "
        "GPU slots; on CPU trials one config per trial. cost: on CPU trials up to "
        f"{AUTO_PACK_CPU} configs a pack where a cost model measured on this machine says packing is "
        "faster, every other config alone (--dry-run shows the plan and its expected speed-up). In "
        "the adaptive and cheap spaces: K proposals a trial, each over its --confirm seeds (auto or cost: "
        f"{AUTO_PACK_ADAPTIVE_CPU} on CPU trials, over all seeds only where they are nearly free); "
        "--pack 1 --confirm 1 trains one config per trial (default auto)",
    )
    res.add_argument(
        "--address",
        metavar="ADDR",
        help="the Ray cluster to run on: auto (the cluster this machine belongs to), HOST:PORT of its "
        "head, or ray://HOST:PORT; RAY_ADDRESS works too (default: a local Ray sized to this "
        "machine, started for this run and stopped at its end)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> SearchOptions:
    """argv -> the frozen options: the parser reads the flags, ``options_from`` adds the defaults and checks."""
    return options_from(**vars(build_parser().parse_args(argv)))


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
