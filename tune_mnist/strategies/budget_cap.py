"""The largest model a time budget can afford to screen: per-sample FLOPs at which one proposal,
trained alone for the space's most epochs, takes ``SHARE`` of the screening time at this machine's
measured arithmetic rate (``tune_mnist.training.packed.cost_model``).

Why: the cost-aware search's first proposals are random over the whole range, and on 2 cores at
the full training set a 2x1860 model at 10 epochs holds a CPU for most of a 3-minute budget while
the answer it looks for is a model of a few hundred FLOPs. Torch-free."""

from __future__ import annotations

import math

from tune_mnist.training.packed.cost_model import TRAIN_FLOPS_FACTOR, StepCost

#: One proposal may take at most this share of the screening time.
SHARE = 0.25
#: The most epochs a proposal may sample (the spaces' range), when --epochs does not fix them.
MOST_EPOCHS = 10


def budget_flops(cost: StepCost, n_train: int, screening_s: float, epochs: int | None = None) -> float:
    """Per-sample forward FLOPs of the largest model worth proposing within ``screening_s``."""
    if n_train <= 0 or screening_s <= 0:
        return math.inf
    epochs = epochs or MOST_EPOCHS
    return SHARE * screening_s * cost.flops_per_s / (TRAIN_FLOPS_FACTOR * n_train * epochs)
