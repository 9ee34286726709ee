"""A wider random space, sampled up front with a seed so that --dry-run shows exactly what runs."""

from __future__ import annotations

import numpy as np

from search_spaces import SpaceOptions, apply_overrides
from tune_mnist.core.config import TrialConfig

DESCRIPTION = (
    "--num-samples configs drawn at random with --search-seed, 50 by default: crop 12-28, input side "
    "4-28 but not above the crop, either scaling, depth 0-4, width 1-2048 log-uniform, lr 1e-4 to "
    "1e-2 log-uniform, batch 32-256, epochs 1-10"
)
DEFAULT_SAMPLES = 50
BATCH_SIZES = (32, 64, 128, 256)


def sample(rng: np.random.Generator) -> TrialConfig:
    crop = int(rng.integers(12, 29))
    side = int(rng.integers(4, crop + 1))
    depth = int(rng.integers(0, 5))
    width = int(round(np.exp(rng.uniform(0, np.log(2048))))) if depth else 1
    return TrialConfig(
        crop=crop,
        side=side,
        scaling=str(rng.choice(["unit", "standard"])),
        depth=depth,
        width=width,
        lr=float(np.exp(rng.uniform(np.log(1e-4), np.log(1e-2)))),
        batch_size=int(rng.choice(BATCH_SIZES)),
        epochs=int(rng.integers(1, 11)),
    )


def configs(options: SpaceOptions) -> list[TrialConfig]:
    rng = np.random.default_rng(options.search_seed)
    return apply_overrides([sample(rng) for _ in range(options.num_samples or DEFAULT_SAMPLES)], options)
