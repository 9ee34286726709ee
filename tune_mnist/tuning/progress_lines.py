"""The live table's progress lines, what a user watching a budgeted search asks: the time left of
``--time-budget`` (counted from the command's start, as the budget counts) and the best confirmed config
so far, by the end summary's own rule (``tune_mnist.confirm.summary.best_confirmed``)."""

from __future__ import annotations

import math
from typing import Any

from tune_mnist.confirm.rule import reached_end
from tune_mnist.confirm.summary import best_confirmed, group_rows, trial_rows
from tune_mnist.core.objectives import OBJECTIVES, SELECTION_METRIC
from tune_mnist.strategies.screening_deadline import budget_left


def clock(seconds: float) -> str:
    """``1h02m05s``, ``4m07s``, ``12s``."""
    s = int(math.ceil(seconds))
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def budget_line(now: float | None = None) -> str | None:
    """``Time budget: 4m07s left of 5m00s (...)``; None outside a budgeted run."""
    left = budget_left(now)
    if left is None:
        return None
    return f"Time budget: {clock(left[0])} left of {clock(left[1])} (counted from the command's start)."


def best_confirmed_line(trials: list[Any], bar: float, k: int) -> str:
    """The best confirmed config among ``trials`` (Ray's ``Trial`` objects) so far, or that none is yet."""
    pairs = [
        (config, row)
        for trial in trials
        if trial.status != "ERROR"
        for config, row in trial_rows(trial.config or {}, trial.last_result or {})
        if reached_end(config, row)
    ]
    metric, mode = OBJECTIVES[0]
    pick = best_confirmed(group_rows(pairs), metric, mode, bar, k)
    if pick is None:
        return f"Best confirmed so far: none yet ({k} seeds of a config finished, mean {SELECTION_METRIC} > {bar:g})."
    row = pick.rows[min(pick.rows)]
    return (
        f"Best confirmed so far (by {metric}, {pick.n} seeds): {pick.label} {row.get('architecture', '')}: "
        f"{SELECTION_METRIC} {pick.mean(SELECTION_METRIC):.4f}, test_acc {pick.mean('test_acc'):.4f}, "
        f"FLOPs {pick.mean('flops'):,.0f}."
    )


def progress_lines(trials: list[Any], bar: float | None, k: int) -> list[str]:
    """The lines above the table: the budget's clock under a budget, the best confirmed config where the
    search confirms (``k`` > 1 seeds)."""
    lines = [line for line in [budget_line()] if line]
    if bar is not None and k > 1:
        lines.append(best_confirmed_line(trials, bar, k))
    return lines
