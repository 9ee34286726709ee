"""The script a user would write instead of the tool: a plain in-process Optuna study, no Ray.

Constrained two-objective TPE (FLOPs down, validation accuracy up, ``val_acc > bar`` a constraint)
over the same ranges as the ``cheap`` space (``search_spaces.adaptive.define``), ``n_jobs`` threads
that each train one config at a time to its sampled epochs with the project's own single-model loop
on the same data, until the budget runs out; then the feasible configs, cheapest first, are confirmed
with the seeds they still lack (seed 0 screened, seeds 1..K-1 added, two at a time) until one has
validation and test means above the bar. A trial still training when the budget ends stops after
its current epoch (pruned), as a careful script would stop it. ``search_efficiency.py`` runs it
beside the tool."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from search_spaces import SpaceOptions
from search_spaces.adaptive import define
from tune_mnist.core.config import TrialConfig
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.sources import load_mnist
from tune_mnist.data.splits import DEFAULT_SPLIT_SEED, Splits, split_validation, subset
from tune_mnist.model.counts import mlp_flops
from tune_mnist.training.loop import train


@dataclasses.dataclass
class Screened:
    config: TrialConfig
    flops: int
    val_acc: float
    test_acc: float
    finished_s: float  # since the study's start


@dataclasses.dataclass
class PeerRun:
    screened: list[Screened]
    search_s: float
    confirm_s: float
    confirmed: Screened | None  # the cheapest config confirmed, with its seed means
    seeds: list[tuple[float, float]]  # its (val, test) per seed
    model_epochs: int


def splits_for(subset_size: int | None) -> Splits:
    """The tool's own split: the shipped files, its default validation split, its seeded subset."""
    return subset(split_validation(load_mnist()), subset_size, DEFAULT_SPLIT_SEED)


class OutOfTime(Exception):
    """The budget ended inside a trial: as a careful script would, stop it there (Optuna prunes it)."""


def accuracy(config: TrialConfig, splits: Splits, deadline: float = math.inf) -> tuple[float, float]:
    """(val_acc, test_acc) after the config's last epoch, trained by the single-model loop; raises
    OutOfTime after an epoch that ends past ``deadline`` (``time.perf_counter`` seconds)."""
    row: dict = {}
    for row in train(config, build_tensors(splits, config), latency=False, threads=1):
        if time.perf_counter() > deadline and row["epoch"] < config.epochs:
            raise OutOfTime
    return float(row["val_acc"]), float(row["test_acc"])


def run_peer(
    search_seed: int, budget_s: float, bar: float, k: int, subset_size: int | None, n_jobs: int = 2
) -> PeerRun:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # n_jobs threads, one core each
    splits = splits_for(subset_size)
    options = SpaceOptions(search_seed=search_seed, min_accuracy=bar)
    start = time.perf_counter()
    screened: list[Screened] = []
    lock = threading.Lock()
    epochs = [0]

    def objective(trial: Any) -> tuple[float, float]:
        fixed = define(trial, options)
        config = TrialConfig.from_dict({**trial.params, **fixed})
        try:
            val, test = accuracy(config, splits, start + budget_s)
        except OutOfTime:
            raise optuna.TrialPruned from None
        flops = mlp_flops(config.in_features, config.depth, config.width)
        trial.set_constraint("accuracy_bar", bar - val)
        with lock:
            screened.append(Screened(config, flops, val, test, time.perf_counter() - start))
            epochs[0] += config.epochs
        return float(flops), val

    sampler = optuna.samplers.TPESampler(seed=search_seed, multivariate=True)
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
    study.optimize(objective, timeout=budget_s, n_jobs=n_jobs)
    search_s = time.perf_counter() - start
    confirmed, seeds = None, []
    for s in sorted((s for s in screened if s.val_acc > bar), key=lambda s: (s.flops, -s.val_acc)):
        extra = [dataclasses.replace(s.config, seed=seed) for seed in range(1, k)]
        with ThreadPoolExecutor(n_jobs) as pool:
            results = [(s.val_acc, s.test_acc), *pool.map(lambda c: accuracy(c, splits), extra)]
        epochs[0] += s.config.epochs * len(extra)
        val = sum(v for v, _ in results) / len(results)
        test = sum(t for _, t in results) / len(results)
        if val > bar and test > bar:
            confirmed, seeds = dataclasses.replace(s, val_acc=val, test_acc=test), results
            break
    return PeerRun(screened, search_s, time.perf_counter() - start - search_s, confirmed, seeds, epochs[0])


def fewest_flops_by(screened: list[Screened], times: list[float], bar: float) -> list[float]:
    """The fewest FLOPs above the bar (one seed) among the configs finished by each moment."""
    return [min((s.flops for s in screened if s.finished_s <= t and s.val_acc > bar), default=math.nan) for t in times]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python benchmarks/optuna_peer.py", description=__doc__)
    parser.add_argument("--budget-seconds", type=float, default=180, help="the study's budget (default 180)")
    parser.add_argument("--search-seed", type=int, default=0)
    parser.add_argument("--min-accuracy", type=float, default=0.9)
    parser.add_argument("--confirm", type=int, default=3, help="seeds a confirmed config needs (default 3)")
    parser.add_argument("--subset", type=int, help="train on a seeded subset of N images (default: all)")
    args = parser.parse_args(argv)
    run = run_peer(args.search_seed, args.budget_seconds, args.min_accuracy, args.confirm, args.subset)
    best = run.confirmed
    picked = (
        f"{best.config.label()} {best.flops:,} FLOPs val {best.val_acc:.4f} test {best.test_acc:.4f}"
        if best
        else "none"
    )
    print(
        f"optuna peer: {len(run.screened)} configs in {run.search_s:.0f} s, confirmation {run.confirm_s:.0f} s, "
        f"{run.model_epochs} model-epochs; confirmed: {picked}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
