"""The notebook's last search alone: one hidden layer of 4, 8, 64, 256 on 14x14 and 8x8 inputs."""

from __future__ import annotations

from search_spaces import SpaceOptions, apply_overrides
from tune_mnist.core.config import TrialConfig

DESCRIPTION = "the notebook's small models, 8 configs: one hidden layer of 4, 8, 64 or 256 on 14x14 and 8x8 inputs"


def configs(options: SpaceOptions) -> list[TrialConfig]:
    return apply_overrides([TrialConfig(side=s, depth=1, width=w) for s in (14, 8) for w in (4, 8, 64, 256)], options)
