"""The search's two limits beside the sample count, checked before Ray starts: ``--scheduler`` (early
stopping, ``tune_mnist.strategies.early_stopping``) and ``--time-budget`` (``tune_mnist.strategies.budget``).

Both act on the screening phase only, with or without the confirmation stage (``--confirm K``, on by
default): the budget ends screening and the confirmation rounds run after it, and the scheduler never
stops a confirmation trial (docs/search.md, "Budget and early stopping with the confirmation stage")."""

from __future__ import annotations

from tune_mnist.core.options import SearchOptions
from tune_mnist.strategies.budget import apply_defaults
from tune_mnist.strategies.early_stopping import resolve_scheduler


def check_limits(options: SearchOptions) -> SearchOptions:
    """The options with the ``scheduler`` resolved for the space (InputError, one sentence, for an unknown
    one) and the budget's sample defaults; ``--time-budget``'s value is checked with the other options
    (``tune_mnist.search_keywords``)."""
    return apply_defaults(options.replace(scheduler=resolve_scheduler(options.scheduler, options.space)))
