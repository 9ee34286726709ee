"""The cheap end of the front: Optuna's TPE minimising FLOPs subject to the accuracy bar, over the
``random`` space's ranges. FLOPs are known from the config before a trial trains, so the searcher is
told them at suggestion time and never trains a proposal costlier than a model already above the bar
(``tune_mnist.cost_aware``); the bar is an Optuna constraint. The ``adaptive`` space stays as it was
(three learned objectives) for comparison."""

from __future__ import annotations

import functools
from typing import Any

from search_spaces import Adaptive, SpaceOptions
from search_spaces.adaptive import define
from search_spaces.random import DEFAULT_SAMPLES

DESCRIPTION = (
    "cost-aware Optuna search over the random space's ranges: fewest FLOPs (known before training) "
    "subject to val_acc above --min-accuracy (a constraint); proposals costlier than a model already "
    "above the bar are never trained; --num-samples trials, 50 by default, unlimited under --time-budget"
)


def searcher(options: SpaceOptions) -> Adaptive:
    def make() -> Any:
        import optuna

        from tune_mnist.cost_aware import CostAwareOptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=options.search_seed, multivariate=True, group=True)
        return CostAwareOptunaSearch(
            space=functools.partial(define, options=options), sampler=sampler, bar=options.min_accuracy
        )

    return Adaptive(
        make_search_alg=make,
        num_samples=options.num_samples or DEFAULT_SAMPLES,
        param_space={"min_accuracy": options.min_accuracy},
    )
