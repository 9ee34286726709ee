"""When packing pays on this machine: a model of a training step's time, measured once
(``calibrate.measure_step_cost``), applied to the packs ``plan_packs`` proposes.

A step of one small model is mostly framework overhead: a 25-10-10 MLP does about 1.5 ms of
arithmetic per epoch of 55,000 images and spends 300 ms on the rest. A pack pays that overhead
once for all its members, plus a little per member, but trains every member at the pack's largest
shape. So a pack of configs whose steps are overhead-bound trains many times faster than its
members one by one, and a pack of large configs gains nothing (their steps are arithmetic) and
loses its padding. Torch-free, so ``--dry-run`` can show the plan without the engine."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from tune_mnist.core.config import TrialConfig
from tune_mnist.model.counts import mlp_flops
from tune_mnist.training.packed.plan import plan_packs

#: A pack is kept only if the model expects it to take at most this share of its members' solo time:
#: below it the gain is too small to be sure of on a noisy machine, and members of one pack wait
#: for each other.
KEEP_BELOW = 0.8
#: A trial's own cost beside its steps (a Ray actor's start, evaluation, reporting, the result's
#: unpacking), paid once per trial: about what the orchestration share of a small-config search
#: (20-27% at 30-42 trials a minute on 2 cores) comes to.
TRIAL_S = 0.5
#: A config is screened over all its seeds in one pack when they cost at most this many times one seed
#: alone (overhead-bound steps: the seeds are nearly free); above it, over one seed, as the seeds of an
#: arithmetic-bound model cost as much as training it again, and confirmation adds them if it matters.
SEEDS_AT_MOST = 1.5
#: Training FLOPs per sample per forward FLOP: the forward pass, and the backward pass's two matmuls.
TRAIN_FLOPS_FACTOR = 3


@dataclasses.dataclass(frozen=True)
class StepCost:
    """Seconds a training step takes here: the single-model path's fixed cost; a pack's fixed cost and
    each member's; and the arithmetic, at the measured FLOPs per second of one CPU thread set."""

    solo_s: float
    pack_s: float
    member_s: float
    flops_per_s: float

    def solo(self, config: TrialConfig, n_train: int) -> float:
        """One config alone, its whole training, as a one-config trial."""
        arithmetic = TRAIN_FLOPS_FACTOR * mlp_flops(config.in_features, config.depth, config.width) * config.batch_size
        return steps(config, n_train) * (self.solo_s + arithmetic / self.flops_per_s) + TRIAL_S

    def packed(self, configs: Sequence[TrialConfig], n_train: int) -> float:
        """``configs`` as one pack, padded to its largest input and width."""
        first, k = configs[0], len(configs)
        features = max(c.in_features for c in configs)
        width = max(c.width for c in configs) if first.depth else 1
        arithmetic = TRAIN_FLOPS_FACTOR * mlp_flops(features, first.depth, width) * first.batch_size * k
        step = self.pack_s + k * self.member_s + arithmetic / self.flops_per_s
        return steps(first, n_train) * step + TRIAL_S


def steps(config: TrialConfig, n_train: int) -> int:
    return math.ceil(n_train / config.batch_size) * config.epochs


def seeds_are_cheap(config: TrialConfig, seeds: int, cost: StepCost, n_train: int) -> bool:
    """Whether ``seeds`` seeds of ``config`` as one pack cost at most SEEDS_AT_MOST times one seed alone."""
    copies = [dataclasses.replace(config, seed=s) for s in range(seeds)]
    return cost.packed(copies, n_train) <= SEEDS_AT_MOST * cost.solo(config, n_train)


def plan_by_cost(configs: Sequence[TrialConfig], max_size: int, cost: StepCost, n_train: int) -> list[list[int]]:
    """``plan_packs``' packs where the model expects a pack to save time (at most KEEP_BELOW of its
    members alone); every other config trains alone. Heaviest first, as ``plan_packs`` orders."""
    out: list[list[int]] = []
    for pack in plan_packs(configs, max_size):
        members = [configs[i] for i in pack]
        alone = sum(cost.solo(c, n_train) for c in members)
        if len(pack) > 1 and cost.packed(members, n_train) <= KEEP_BELOW * alone:
            out.append(pack)
        else:
            out.extend([i] for i in pack)
    return out


def expected_time(configs: Sequence[TrialConfig], plan: list[list[int]], cost: StepCost, n_train: int) -> float:
    """Seconds of training (summed over trials, before dividing by the CPU slots) of ``plan``."""
    total = 0.0
    for pack in plan:
        members = [configs[i] for i in pack]
        total += cost.solo(members[0], n_train) if len(pack) == 1 else cost.packed(members, n_train)
    return total
