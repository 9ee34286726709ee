"""Three tiny configs on 2,000 training images: for tests and a first try (seconds, not minutes)."""

from __future__ import annotations

from search_spaces import SpaceOptions, apply_overrides
from tune_mnist.core.config import TrialConfig

DESCRIPTION = "three tiny configs on a 2,000-image subset, for tests and a first try"
DEFAULT_SUBSET = 2000


def configs(options: SpaceOptions) -> list[TrialConfig]:
    tiny = [
        TrialConfig(side=8, depth=1, width=32, lr=1e-2, epochs=2),
        TrialConfig(side=14, depth=1, width=64, lr=1e-2, epochs=2),
        TrialConfig(crop=20, side=8, depth=0, width=1, lr=1e-2, epochs=2),
    ]
    return apply_overrides(tiny, options)
