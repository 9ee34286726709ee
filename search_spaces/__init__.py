"""Named search spaces, one module each: ``--space NAME`` is ``search_spaces/NAME.py``.

Adding a space is adding a file. The file is a *list space* or an *adaptive space*:

- ``DESCRIPTION: str``, required: one line saying what the space searches; ``--help`` and the
  unknown-space error show it.
- ``DEFAULT_SUBSET: int``, optional: train on that many images unless ``--subset`` says otherwise
  (for quick spaces).
- exactly one of
  - ``configs(options: SpaceOptions) -> list[TrialConfig]``: a list space. Every config is known
    before the search starts (``--dry-run`` lists them) and runs as one trial, or with ``--pack``
    as a member of a pack trial;
  - ``searcher(options: SpaceOptions) -> Adaptive``: an adaptive space. A Ray Tune search algorithm
    proposes configs as it learns from the finished trials.

``load()`` checks a module against this contract and returns it as a ``Space``."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY
from tune_mnist.core.options import SearchOptions


@dataclass(frozen=True)
class SpaceOptions:
    """What the CLI passes to a space; None means "the space's own default". The field names are
    those of the search's options (``SpaceOptions.of``)."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    num_samples: int | None = None
    seeds: int = 1
    search_seed: int = 0
    sampler: str = "tpe"  # --sampler: the adaptive spaces' Optuna sampler (``sampler()``)
    min_accuracy: float = DEFAULT_MIN_ACCURACY
    #: Where an adaptive space keeps its Optuna study: an Optuna journal file (None: in memory), and
    #: the study's name (``tune_mnist.strategies.study_journal``). Not options of the command line.
    study_journal: str | None = None
    study_name: str | None = None

    @classmethod
    def of(cls, options: SearchOptions, **study: Any) -> SpaceOptions:
        """What a space takes of the search's options, and ``study_journal`` / ``study_name`` where given."""
        names = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("study_")]
        return cls(**{name: getattr(options, name) for name in names}, **study)


def sampler(options: SpaceOptions, **tpe: Any) -> Any:
    """The Optuna sampler ``--sampler`` names, seeded with ``--search-seed``; ``tpe``: TPE's own arguments.
    In ``cheap`` each reads the bar from the constraint set on the trial (Optuna 5's ``set_constraint``)."""
    import optuna

    if options.sampler == "gp":
        return optuna.samplers.GPSampler(seed=options.search_seed, warn_independent_sampling=False)
    if options.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=options.search_seed)
    return optuna.samplers.TPESampler(seed=options.search_seed, constant_liar=True, **tpe)


@dataclass
class Adaptive:
    """A Tune search algorithm and how many trials it may start."""

    make_search_alg: Callable[[], Any]  # called once per run, so the algorithm is built where Ray runs
    num_samples: int
    param_space: dict[str, Any]  # config values every trial gets beside the proposed ones


@dataclass(frozen=True)
class Space:
    """A space module that meets the contract, as ``load()`` returns it. Exactly one of ``configs``
    and ``searcher`` is set."""

    name: str
    description: str
    default_subset: int | None
    configs: Callable[[SpaceOptions], list[TrialConfig]] | None
    searcher: Callable[[SpaceOptions], Adaptive] | None


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> Space:
    """The space ``search_spaces/<name>.py``, checked against the contract above."""
    if name not in available():
        raise InputError(
            f"Unknown search space {name!r}: use one of {described(available())}; or add search_spaces/{name}.py."
        )
    module = importlib.import_module(f"{__name__}.{name}")
    missing = problems(module)
    if missing:
        raise InputError(
            f"Search space {module_file(module)} {' and '.join(missing)}: see the contract in "
            "search_spaces/__init__.py."
        )
    return Space(
        name=name,
        description=module.DESCRIPTION,
        default_subset=getattr(module, "DEFAULT_SUBSET", None),
        configs=getattr(module, "configs", None),
        searcher=getattr(module, "searcher", None),
    )


def problems(module: ModuleType) -> list[str]:
    """What ``module`` lacks to be a space, each as a phrase; empty when it meets the contract."""
    out = []
    description = getattr(module, "DESCRIPTION", None)
    if not isinstance(description, str) or not description.strip():
        out.append("has no DESCRIPTION (a one-line string)")
    kinds = [kind for kind in ("configs", "searcher") if callable(getattr(module, kind, None))]
    if not kinds:
        out.append("defines neither configs(options) nor searcher(options)")
    elif len(kinds) == 2:
        out.append("defines both configs(options) and searcher(options), where a space is one or the other")
    subset = getattr(module, "DEFAULT_SUBSET", None)
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
        out.append(f"sets DEFAULT_SUBSET = {subset!r}, not a positive number of images")
    return out


def module_file(module: ModuleType) -> str:
    """``search_spaces/NAME.py`` for the spaces here, the full path for one found elsewhere."""
    path = Path(module.__file__ or module.__name__)
    here = Path(__file__).resolve().parent
    return f"{here.name}/{path.name}" if path.resolve().parent == here else str(path)


def descriptions(names: list[str]) -> list[tuple[str, str]]:
    """``(name, DESCRIPTION)`` of each space; a module that is no space says what it lacks instead."""
    out = []
    for name in names:
        module = importlib.import_module(f"{__name__}.{name}")
        missing = problems(module)
        out.append((name, module.DESCRIPTION if not missing else f"not usable: it {' and '.join(missing)}"))
    return out


def described(names: list[str]) -> str:
    """The spaces as one clause: ``adaptive (...); grid (...); ...``."""
    return "; ".join(f"{name} ({text})" for name, text in descriptions(names))


def apply_overrides(configs: list[TrialConfig], options: SpaceOptions) -> list[TrialConfig]:
    """Fix epochs/batch size/lr where the user gave them, repeat each config over ``options.seeds``
    seeds, and drop duplicates while keeping the order."""
    fixed = {
        k: v
        for k, v in (("epochs", options.epochs), ("batch_size", options.batch_size), ("lr", options.lr))
        if v is not None
    }
    out: dict[TrialConfig, None] = {}
    for config in configs:
        config = dataclasses.replace(config, **fixed)
        for seed in range(options.seeds):
            out[dataclasses.replace(config, seed=config.seed + seed)] = None
    return list(out)
