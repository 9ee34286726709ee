"""Measure ``cost_model.StepCost`` on this machine, in well under a second: a few epochs of
synthetic data through the single-model path and the packed engine, at the threads a trial uses.

Three timings fix the model: a tiny model alone (a solo step's fixed cost), a wide one alone (the
arithmetic rate), and packs of 2 and 16 tiny models (a pack's fixed cost and each member's)."""

from __future__ import annotations

import time

import numpy as np
import torch

from tune_mnist.core.config import TrialConfig
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import Splits
from tune_mnist.model.counts import mlp_flops
from tune_mnist.model.measure import thread_count
from tune_mnist.training.loop import new_state, train_epoch
from tune_mnist.training.packed.cost_model import TRAIN_FLOPS_FACTOR, StepCost

#: The calibration's batch and images per epoch: enough steps to average, few enough to be quick.
BATCH = 64
IMAGES = BATCH * 48
TINY = dict(side=5, depth=1, width=10)
WIDE = dict(depth=1, width=512)


def synthetic_splits(n: int = IMAGES, seed: int = 0) -> Splits:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.int64)
    return Splits(images, labels, images[:BATCH], labels[:BATCH], images[:BATCH], labels[:BATCH])


def solo_step_s(config: TrialConfig, splits: Splits, repeat: int = 3) -> float:
    tensors = build_tensors(splits, config)
    state = new_state(config, torch.device("cpu"))
    steps = -(-len(tensors.train_y) // config.batch_size)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        train_epoch(state, tensors.train_x, tensors.train_y, config.batch_size)
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def pack_step_s(configs: list[TrialConfig], splits: Splits, repeat: int = 3) -> float:
    from tune_mnist.training.packed.engine import train_packed

    k = len(configs)
    configs = [TrialConfig(**{**c.to_dict(), "epochs": repeat}) for c in configs]
    steps = -(-len(splits.train_labels) // configs[0].batch_size)
    rows = list(train_packed(configs, splits, "cpu", latency=False))
    return min(float(epoch[0]["epoch_time_s"]) * k for epoch in rows) / steps


def measure_step_cost(threads: int) -> StepCost:
    """The machine's step costs at ``threads`` torch threads (restored afterwards)."""
    with thread_count(max(1, threads)):
        splits = synthetic_splits()
        tiny, wide = TrialConfig(**TINY, batch_size=BATCH), TrialConfig(**WIDE, batch_size=BATCH)
        solo_step_s(tiny, splits, repeat=1)  # warm-up: library start-up is not a step's cost
        solo = solo_step_s(tiny, splits)
        wide_s = solo_step_s(wide, splits)
        flops = TRAIN_FLOPS_FACTOR * BATCH * (mlp_flops(wide.in_features, 1, 512) - mlp_flops(tiny.in_features, 1, 10))
        rate = flops / max(wide_s - solo, 1e-6)
        seeds = [TrialConfig(**TINY, batch_size=BATCH, seed=s) for s in range(16)]
        two, sixteen = pack_step_s(seeds[:2], splits), pack_step_s(seeds, splits)
        member = max((sixteen - two) / 14, 0.0)
        return StepCost(solo_s=solo, pack_s=max(two - 2 * member, 0.0), member_s=member, flops_per_s=rate)
