"""Multi-objective search for the front itself: an Optuna study (``tune_mnist.strategies.study_searcher``)
proposes configs from the ``random`` space's ranges and learns from validation accuracy, FLOPs and latency.

Accuracy enters as ``accuracy_shortfall`` = max(0, bar - val_acc): every model above the bar is equally
good on that objective, so the search spends its trials on cheaper models that still clear the bar
instead of on the last tenth of a point of accuracy."""

from __future__ import annotations

import functools
import math
from typing import Any

from search_spaces import Adaptive, SpaceOptions, sampler
from search_spaces.random import BATCH_SIZES, DEFAULT_SAMPLES
from tune_mnist.core.objectives import SEARCH_OBJECTIVES
from tune_mnist.model.counts import widest

DESCRIPTION = (
    "Optuna's multi-objective search over the random space's ranges, minimising the accuracy "
    "shortfall below --min-accuracy, FLOPs and latency: --num-samples trials, 50 by default"
)


def define(trial: Any, options: SpaceOptions, max_flops: float = math.inf) -> dict[str, Any]:
    """Optuna's define-by-run space, run on each asked study trial. A module-level function (bound with
    functools.partial), because Ray pickles the searcher into the experiment's state.

    ``max_flops`` (the cost-aware search's incumbent) narrows each range to the configs that cost at
    most that many FLOPs, given the values drawn before it: input side, then depth, then width. A
    sampler's joint proposal outside a narrowed range is drawn again within it (Optuna's fallback to
    independent sampling), so no proposal is wasted on a model that cannot beat the incumbent."""
    bounded = math.isfinite(max_flops)
    crop = trial.suggest_int("crop", 12, 28)
    sides = [s for s in range(4, crop + 1) if widest(s * s, 1, max_flops, 1)] if bounded else []
    side = trial.suggest_int("side", 4, max(sides, default=crop))
    trial.suggest_categorical("scaling", ["unit", "standard"])
    depths = [d for d in range(5) if widest(side * side, d, max_flops, 1)] if bounded else []
    depth = trial.suggest_int("depth", min(depths, default=0), max(depths, default=4))
    fixed: dict[str, Any] = {}
    if depth:
        cap = widest(side * side, depth, max_flops, 2048) if bounded else 2048
        trial.suggest_int("width", 1, max(1, cap), log=True)
    else:
        fixed["width"] = 1
    for name, value in (("lr", options.lr), ("batch_size", options.batch_size), ("epochs", options.epochs)):
        if value is not None:
            fixed[name] = value
    if options.lr is None:
        trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    if options.batch_size is None:
        trial.suggest_categorical("batch_size", list(BATCH_SIZES))
    if options.epochs is None:
        trial.suggest_int("epochs", 1, 10)
    return fixed


def searcher(options: SpaceOptions) -> Adaptive:
    def make() -> Any:
        import optuna

        from tune_mnist.strategies.study_journal import journal_storage
        from tune_mnist.strategies.study_searcher import StudySearcher

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return StudySearcher(
            space=functools.partial(define, options=options),
            metric=list(SEARCH_OBJECTIVES),
            mode=["min"] * len(SEARCH_OBJECTIVES),
            sampler=sampler(options),
            storage=journal_storage(options.study_journal),  # the experiment's optuna.journal, for the dashboard
            study_name=options.study_name,
        )

    return Adaptive(
        make_search_alg=make,
        num_samples=options.num_samples or DEFAULT_SAMPLES,
        param_space={"min_accuracy": options.min_accuracy},
    )
