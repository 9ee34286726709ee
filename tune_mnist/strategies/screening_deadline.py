"""The screening deadline of ``--time-budget`` with a confirmation stage: what the budget, the trial
scheduler and the ``ConfirmingSearcher`` share during one run's ``Tuner.fit``.

Why a process-wide value and not an attribute of the scheduler or the searcher: both are pickled
when the Tuner is built (and the searcher again at every experiment snapshot), so on ``--resume`` Ray
hands back the first run's objects. The deadline belongs to *this* run (a resumed run gets a budget
of its own), so ``SearchBudget`` publishes it here for the length of ``fit`` and both read it at
call time. Tune's controller, scheduler and searcher all run in the driver process (the budget's
SIGUSR1 without a confirmation stage relies on the same), so one module-level value is shared.

Why not the SIGUSR1 interrupt: it ends the whole Tune run, and the confirmation stage runs inside
that run, after the screening trials. At the deadline the scheduler instead stops the running
screening trials itself (``tune_mnist.strategies.schedulers``) and the searcher stops proposing screening
trials and moves on to its confirmation rounds (``tune_mnist.confirm.searcher``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tune_mnist.core.config import CONFIRM_ROUND


@dataclass
class Deadline:
    """The end of this run's screening phase (``at``, epoch seconds; the run started at ``started``).
    ``reopen``: the run was given a new ``--time-budget`` on ``--resume``, so screening that an earlier
    run's budget closed opens again.
    ``reached_at``: when the deadline actually cut screening short (set once, by whichever of the
    scheduler or the searcher acts on it first); None when screening ended before it."""

    at: float
    started: float
    reopen: bool = False
    reached_at: float | None = None

    def passed(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.at

    def mark_reached(self) -> None:
        if self.reached_at is None:
            self.reached_at = time.time()


_current: Deadline | None = None


def publish(deadline: Deadline | None) -> None:
    """Set (or, with None, clear) the running fit's screening deadline."""
    global _current
    _current = deadline


#: (ends at, seconds) of the running fit's --time-budget, counted from the command's start: the live table's clock.
_budget: tuple[float, float] | None = None


def publish_budget(ends_at: float | None, seconds: float | None = None) -> None:
    """Set (or, with None, clear) when the running fit's whole budget ends, and its length."""
    global _budget
    _budget = None if ends_at is None or seconds is None else (ends_at, seconds)


def budget_left(now: float | None = None) -> tuple[float, float] | None:
    """(seconds left, seconds in all) of the running fit's budget; None without one."""
    if _budget is None:
        return None
    return max(0.0, _budget[0] - (time.time() if now is None else now)), _budget[1]


def current() -> Deadline | None:
    """The running fit's screening deadline; None without a budget (or outside a budgeted fit)."""
    return _current


def is_confirmation(config: dict) -> bool:
    """Whether a trial config was proposed by a confirmation round (exempt from early and budget stops)."""
    return config.get(CONFIRM_ROUND) is not None
