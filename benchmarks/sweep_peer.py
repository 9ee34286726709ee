"""The plain cheap-end-first sweep a user could write with the project's packed engine: no Ray, no Optuna.

Every config of at most ``SWEEP_FLOPS`` FLOPs over crops 16/20/24/28, input sides 4-10, depth 0-2 and
widths up to 32, standardised inputs, Adam lr 1e-2, batch 64, 5 epochs, each over K seeds (``--confirm``).
Each (crop, side, depth) group trains as one pack of all its widths x K seeds
(``tune_mnist.training.packed.engine.train_packed``: padded and masked, each member with its own initial
weights and batch order), cheapest group first, ``n_jobs`` packs at a time on one thread each, until
the budget ends (a pack still training then is stopped: nothing of it counts). A config is confirmed
when its K seeds' validation and test means are above the bar, so the sweep confirms as it screens.
``search_efficiency.py`` runs it beside the tool as the second peer."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import torch
from optuna_peer import PeerRun, Screened, splits_for

from tune_mnist.core.config import TrialConfig
from tune_mnist.model.counts import mlp_flops
from tune_mnist.training.packed.engine import train_packed

#: The sweep's lattice and recipe (see the module docstring).
SWEEP_FLOPS = 1000
CROPS = (16, 20, 24, 28)
SIDES = range(4, 11)
DEPTHS = (0, 1, 2)
WIDEST = 32
RECIPE = {"scaling": "standard", "lr": 1e-2, "batch_size": 64, "epochs": 5}


def flops_of(config: TrialConfig) -> int:
    return mlp_flops(config.in_features, config.depth, config.width)


def sweep_groups(k: int) -> list[list[TrialConfig]]:
    """One pack per (crop, side, depth): its configs of at most SWEEP_FLOPS, each over seeds 0..k-1,
    the packs ordered by their cheapest config."""
    groups = []
    for crop in CROPS:
        for side in SIDES:
            for depth in DEPTHS:
                widths = range(1, WIDEST + 1) if depth else [1]
                configs = [TrialConfig(crop=crop, side=side, depth=depth, width=w, **RECIPE) for w in widths]
                shapes = [c for c in configs if flops_of(c) <= SWEEP_FLOPS]
                if shapes:
                    groups.append([dataclasses.replace(c, seed=s) for c in shapes for s in range(k)])
    return sorted(groups, key=lambda group: min(flops_of(c) for c in group))


def run_sweep(budget_s: float, bar: float, k: int, subset_size: int | None, n_jobs: int = 2) -> PeerRun:
    """The sweep under ``budget_s``, in ``optuna_peer``'s terms: each config screened as its K seeds'
    means; the confirmed one, the cheapest whose means are both above ``bar``."""
    torch.set_num_threads(1)  # n_jobs packs at a time, one core each
    splits = splits_for(subset_size)
    pending = sweep_groups(k)
    start = time.perf_counter()
    deadline = start + budget_s
    screened: list[Screened] = []
    per_seed: dict[TrialConfig, list[tuple[float, float]]] = {}
    lock = threading.Lock()
    epochs = [0]

    def worker() -> None:
        while True:
            with lock:
                if not pending or time.perf_counter() >= deadline:
                    return
                group = pending.pop(0)
            rows: list[dict] = []
            for rows in train_packed(group, splits, "cpu", latency=False, threads=1):
                with lock:
                    epochs[0] += len(group)
                if time.perf_counter() > deadline and rows[0]["epoch"] < group[0].epochs:
                    return  # stopped by the budget: nothing of this pack counts
            done = time.perf_counter() - start
            with lock:
                for at in range(0, len(group), k):
                    seeds = [(float(r["val_acc"]), float(r["test_acc"])) for r in rows[at : at + k]]
                    config = group[at]
                    val = sum(v for v, _ in seeds) / k
                    test = sum(t for _, t in seeds) / k
                    screened.append(Screened(config, flops_of(config), val, test, done))
                    per_seed[config] = seeds

    with ThreadPoolExecutor(n_jobs) as pool:
        for future in [pool.submit(worker) for _ in range(n_jobs)]:
            future.result()
    search_s = time.perf_counter() - start
    above = [s for s in screened if s.val_acc > bar and s.test_acc > bar]
    confirmed = min(above, key=lambda s: (s.flops, -s.val_acc, s.finished_s), default=None)
    seeds = per_seed[confirmed.config] if confirmed is not None else []
    return PeerRun(screened, search_s, 0.0, confirmed, seeds, epochs[0])


def engine_rate(size: int, k: int, subset_size: int | None, epochs: int = 2, n_jobs: int = 2) -> float:
    """Model-epochs per second of the packed engine alone on this machine: ``n_jobs`` packs of ``size``
    members at once, one thread each, as the search runs its trials, for ``epochs`` epochs (its epochs
    cost the same), with evaluation and without latency measurement. The members: the widths of the
    5x5-input, one-layer group of the cheap end (the shapes near the floor), each over ``k`` seeds."""
    torch.set_num_threads(1)
    splits = splits_for(subset_size)
    recipe = {**RECIPE, "epochs": epochs}
    members = [
        TrialConfig(crop=20, side=5, depth=1, width=w, seed=s, **recipe) for w in range(1, size + 1) for s in range(k)
    ]
    pack = members[:size]

    def train_one(_: int) -> None:
        for _rows in train_packed(pack, splits, "cpu", latency=False, threads=1):
            pass

    start = time.perf_counter()
    with ThreadPoolExecutor(n_jobs) as pool:
        list(pool.map(train_one, range(n_jobs)))
    return n_jobs * size * epochs / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python benchmarks/sweep_peer.py", description=__doc__)
    parser.add_argument("--budget-seconds", type=float, default=180, help="the sweep's budget (default 180)")
    parser.add_argument("--min-accuracy", type=float, default=0.9)
    parser.add_argument("--confirm", type=int, default=3, help="seeds of every config (default 3)")
    parser.add_argument("--subset", type=int, help="train on a seeded subset of N images (default: all)")
    args = parser.parse_args(argv)
    run = run_sweep(args.budget_seconds, args.min_accuracy, args.confirm, args.subset)
    best = run.confirmed
    picked = (
        f"{best.config.label()} {best.flops:,} FLOPs val {best.val_acc:.4f} test {best.test_acc:.4f} "
        f"at {best.finished_s:.0f} s"
        if best
        else "none"
    )
    total = sum(len(g) for g in sweep_groups(args.confirm)) // args.confirm
    print(
        f"sweep peer: {len(run.screened)} of {total} configs in {run.search_s:.0f} s, {run.model_epochs} "
        f"model-epochs ({run.model_epochs / max(run.search_s, 1e-9):.1f}/s); confirmed: {picked}"
    )
    return 0 if math.isfinite(run.search_s) else 1


if __name__ == "__main__":
    raise SystemExit(main())
