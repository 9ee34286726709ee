"""The notebook's whole study as one grid, duplicates removed: 23 configs."""

from __future__ import annotations

from search_spaces import SpaceOptions, apply_overrides
from tune_mnist.core.config import TrialConfig

DESCRIPTION = (
    "the notebook's whole study, 23 configs: the 784-1024-1024-10 baseline, depth and width sweeps, "
    "input transforms and small models"
)


def notebook_configs() -> list[TrialConfig]:
    c = TrialConfig  # defaults: 28x28, 2x1024, Adam 1e-3, batch 64, 2 epochs
    configs = [c()]  # the baseline
    configs += [c(depth=d) for d in (1, 2, 3, 4)]  # depth sweep at width 1024
    configs += [c(width=w) for w in (1, 8, 1024, 2048)]  # width sweep at depth 2
    for spec in ({"side": 14}, {"crop": 14}):  # input transforms, depth 1-4
        configs += [c(depth=d, **spec) for d in (1, 2, 3, 4)]
    for side in (14, 8):  # small models
        configs += [c(side=side, depth=1, width=w) for w in (4, 8, 64, 256)]
    return configs


def configs(options: SpaceOptions) -> list[TrialConfig]:
    return apply_overrides(notebook_configs(), options)
