"""Named search spaces, one module each (``--space NAME`` is ``search_spaces/NAME.py``).

A space module has a one-line ``DESCRIPTION`` and either
- ``configs(options) -> list[TrialConfig]``: an explicit list, run one trial each (grid-like), or
- ``searcher(options) -> Adaptive``: a Tune search algorithm that proposes configs as it learns.
It may also set ``DEFAULT_SUBSET`` (training images) for quick spaces. Adding a space is adding a file."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from tune_mnist.config import TrialConfig
from tune_mnist.errors import InputError


@dataclass(frozen=True)
class SpaceOptions:
    """What the CLI passes to a space; None means "the space's own default"."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    num_samples: int | None = None
    seeds: int = 1
    search_seed: int = 0
    min_accuracy: float = 0.90


@dataclass
class Adaptive:
    """A Tune search algorithm and how many trials it may start."""

    make_search_alg: Callable[[], Any]
    num_samples: int
    param_space: dict[str, Any]


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> ModuleType:
    if name not in available():
        raise InputError(f"Unknown search space {name!r}: use one of {', '.join(available())} "
                         f"(or add search_spaces/{name}.py).")
    return importlib.import_module(f"{__name__}.{name}")


def apply_overrides(configs: list[TrialConfig], options: SpaceOptions) -> list[TrialConfig]:
    """Fix epochs/batch size/lr where the user gave them, repeat each config over ``options.seeds``
    seeds, and drop duplicates while keeping the order."""
    fixed = {k: v for k, v in (("epochs", options.epochs), ("batch_size", options.batch_size), ("lr", options.lr))
             if v is not None}
    out: dict[TrialConfig, None] = {}
    for config in configs:
        config = dataclasses.replace(config, **fixed)
        for seed in range(options.seeds):
            out[dataclasses.replace(config, seed=config.seed + seed)] = None
    return list(out)
