"""What one proposal costs the search's driver with each sampler Optuna 5 offers the ``cheap`` search:
multi-objective TPE with constant liar (the one it uses), the GP sampler (constrained, multi-objective)
and NSGA-II (a population method). The driver proposes while the trials train on the same CPUs, so a
sampler's seconds per proposal are taken from training; this times them on a real study.

    python benchmarks/sampler_cost.py --journal ray_results/<name>/optuna.journal  # a finished cheap search's
    python benchmarks/sampler_cost.py --trials 100 300                            # a study of random proposals

With ``--journal``, the first N trials of that study (each N of ``--trials``, the whole study where N is
larger); without, N proposals of the cheap space drawn at random and told their exact FLOPs and a made-up
accuracy (timing only: a sampler's cost depends on how many trials it models, not on their values). Each
sampler proposes ``--proposals`` times on a copy (asked, the space run on it, told failed so the study does
not grow); the median seconds per proposal are printed. Seconds on 2 cores."""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search_spaces import SpaceOptions  # noqa: E402
from search_spaces.adaptive import define  # noqa: E402
from tune_mnist.strategies.cost_aware import BAR, config_costs  # noqa: E402


def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
    return list(trial.constraints.values()) if trial.constraints else [1.0]


SAMPLERS: dict[str, Callable[[], optuna.samplers.BaseSampler]] = {
    "tpe": lambda: optuna.samplers.TPESampler(seed=0, multivariate=True, group=True, constant_liar=True),
    "gp": lambda: optuna.samplers.GPSampler(seed=0, constraints_func=constraints),
    "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=0, constraints_func=constraints),
}


def source_trials(journal: str | None, n: int, space: Callable) -> list[optuna.trial.FrozenTrial]:
    """The first ``n`` finished trials of the journal's study, or ``n`` random proposals of the space."""
    if journal:
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
        (summary,) = optuna.get_all_study_summaries(storage)
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[:n]
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=optuna.samplers.RandomSampler(seed=0))
    draw = random.Random(0)
    for _ in range(n):
        trial = study.ask()
        config = {**trial.params, **(space(trial) or {})}
        accuracy = draw.uniform(0.1, 0.99)
        trial.set_constraint(BAR, 0.9 - accuracy)
        study.tell(trial, [float(config_costs(config)[0]), accuracy])
    return study.trials


def seconds_per_proposal(trials: list, make: Callable, space: Callable, proposals: int) -> float:
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=make())
    study.add_trials(trials)
    times = []
    for _ in range(proposals):
        start = time.perf_counter()
        trial = study.ask()
        space(trial)
        times.append(time.perf_counter() - start)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/sampler_cost.py", description=__doc__)
    parser.add_argument("--journal", help="a finished cheap search's optuna.journal (default: random proposals)")
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 300, 600], help="study sizes (100 300 600)")
    parser.add_argument("--proposals", type=int, default=6, help="timed proposals per sampler and size (6)")
    args = parser.parse_args(argv)
    if args.journal and not Path(args.journal).is_file():
        parser.error(f"--journal {args.journal} is not a file: give a search's optuna.journal")
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = functools.partial(define, options=SpaceOptions(min_accuracy=0.9))
    print(f"{'trials':>7} " + " ".join(f"{name + ' s/proposal':>17}" for name in SAMPLERS))
    for n in args.trials:
        trials = source_trials(args.journal, n, space)
        row = [seconds_per_proposal(trials, make, space, args.proposals) for make in SAMPLERS.values()]
        print(f"{len(trials):>7} " + " ".join(f"{s:>17.3f}" for s in row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
