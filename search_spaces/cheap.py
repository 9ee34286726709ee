"""The cheap end of the front: Optuna's multi-objective TPE over FLOPs and validation accuracy, the
accuracy bar a constraint, over the ``random`` space's ranges. FLOPs are known from the config before a
trial trains, so the search starts from the cheapest shapes and works upward, in packs of shapes that
pad little, with one screening recipe (``tune_mnist.strategies.cheap_end``), until the next shape would
cost more than the cheapest model already above the bar; then TPE proposes, two proposals in three
from the space narrowed to models cheaper than that one (``tune_mnist.strategies.cost_aware``). The
``adaptive`` space stays as it was (three learned objectives, anywhere in the space) for a user who
wants the whole front."""

from __future__ import annotations

import functools
from typing import Any

from search_spaces import Adaptive, SpaceOptions, sampler
from search_spaces.adaptive import define
from search_spaces.random import DEFAULT_SAMPLES

DESCRIPTION = (
    "cost-aware Optuna search over the random space's ranges: FLOPs (known before training) and val_acc, "
    "with val_acc above --min-accuracy a constraint; the cheapest shapes first (lr 1e-2, batch 64, up to 10 "
    "epochs where not given, a config stopping once its seed mean cannot reach the bar), then a few wide models "
    "for the front's accurate end (lr 1e-3, batch 32 where not given), then two proposals in three narrowed to models "
    "cheaper than the cheapest already above the bar; --num-samples trials, 50 by default, unlimited under "
    "--time-budget"
)


def fixed_names(options: SpaceOptions) -> frozenset[str]:
    """The training recipe's values the user fixed: the cheap end screens them as given."""
    values = {"lr": options.lr, "batch_size": options.batch_size, "epochs": options.epochs}
    return frozenset(name for name, value in values.items() if value is not None)


def searcher(options: SpaceOptions) -> Adaptive:
    def make() -> Any:
        import optuna

        from tune_mnist.strategies.cheap_end import CheapEnd
        from tune_mnist.strategies.cost_aware import CostAwareSearcher
        from tune_mnist.strategies.study_journal import journal_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return CostAwareSearcher(
            space=functools.partial(define, options=options),
            sampler=sampler(options, multivariate=True, group=True),
            bar=options.min_accuracy,
            storage=journal_storage(options.study_journal),  # the experiment's optuna.journal, for the dashboard
            study_name=options.study_name,
            cheap_end=CheapEnd(fixed=fixed_names(options)),
        )

    return Adaptive(
        make_search_alg=make,
        num_samples=options.num_samples or DEFAULT_SAMPLES,
        param_space={"min_accuracy": options.min_accuracy},
    )
