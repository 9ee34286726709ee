"""The search's two limits beside the sample count, checked before Ray starts: ``--scheduler`` (early
stopping, ``tune_mnist.early_stopping``) and ``--time-budget`` (``tune_mnist.budget``).

Both act on the search phase of one Tune run. The confirmation stage (``--confirm K``, on by default)
runs inside that same run, after the search phase, so until it can tell the two phases apart for them
(docs/search.md, "Budget and early stopping with the confirmation stage"), a budget or an explicit
early-stopping scheduler needs ``--confirm 1``; without one the default scheduler there is fifo."""

from __future__ import annotations

import argparse

from tune_mnist.budget import apply_defaults, check_budget
from tune_mnist.early_stopping import resolve_scheduler
from tune_mnist.errors import InputError


def check_limits(args: argparse.Namespace) -> None:
    """Resolve ``args.scheduler`` for ``args.space`` and check ``args.time_budget``; InputError (one
    sentence) for a bad value. Sets the budget's sample defaults."""
    check_budget(args.time_budget)
    confirming = getattr(args, "confirm", 1) not in (None, 1)
    explicit = args.scheduler
    args.scheduler = resolve_scheduler(explicit, args.space)
    if confirming and args.time_budget is not None:
        raise InputError(
            f"--time-budget applies to the search phase, which --confirm {args.confirm} runs in one Tune run with "
            "the confirmation stage: add --confirm 1."
        )
    if confirming and args.scheduler != "fifo":
        if explicit is not None:
            raise InputError(
                f"--scheduler {explicit} would stop the confirmation stage's trials too (--confirm {args.confirm}): "
                "add --confirm 1, or drop --scheduler."
            )
        args.scheduler = "fifo"
    apply_defaults(args)
