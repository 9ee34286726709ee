"""``--time-budget MINUTES``: the command ends at a wall-clock budget, cleanly and resumably.

How it ends. At the budget the driver sends itself SIGUSR1, which Ray Tune handles exactly like a
Ctrl-C: the tuning loop stops at its next step, the experiment state is saved one last time with the
running trials still RUNNING, and their actors are ended. So a trial cannot keep the search going
(it is stopped mid-epoch; its last checkpoint is its last reported epoch), the experiment on disk is
complete and analysable, and ``--resume`` continues it: the stopped trials' configs start over
(``tune_mnist.experiment.rebuild``) and the searcher (or the rest of a list space) proposes more, for
another budget. Tune's own ``TuneConfig(time_budget_s)`` / ``stop_all`` stopper was not used because it
marks every live trial TERMINATED, as if finished.

What it records (``search_budget.json``), the order a budgeted list space runs in (``anytime_order``)
and how screening and the confirmation stage share the budget (``screening_share``, ending screening
at a deadline: ``tune_mnist.strategies.screening_deadline``): docs/search.md, "Budget and early
stopping with the confirmation stage" and "Order: seeded random"."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from types import TracebackType
from typing import Any

from tune_mnist.core.layout import BUDGET_FILE
from tune_mnist.core.options import SearchOptions
from tune_mnist.experiment.storage import read_text, write_text
from tune_mnist.strategies.early_stopping import resolve_scheduler
from tune_mnist.strategies.screening_deadline import Deadline, publish, publish_budget

#: Configs the random space draws under a budget when --num-samples is not given: more than a small
#: machine trains in any sensible budget (pass --num-samples for more).
BUDGET_SAMPLES = 2000
#: Tune's num_samples for "as many as the budget allows" (adaptive spaces under a budget).
UNLIMITED = -1
#: If the budget signal comes before Ray Tune has installed its handler, try again this often.
RETRY_S = 1.0


def check_limits(options: SearchOptions) -> SearchOptions:
    """The options with ``--scheduler`` resolved for the space (InputError, one sentence, for an unknown
    one), checked before Ray starts; and, under a budget, where the sample count stops being the limit,
    the random space drawing BUDGET_SAMPLES. ``--time-budget``'s own value is checked with the other
    options (``tune_mnist.search_keywords``)."""
    options = options.replace(scheduler=resolve_scheduler(options.scheduler, options.space))
    if options.time_budget and options.num_samples is None and options.space == "random":
        return options.replace(num_samples=BUDGET_SAMPLES)
    return options


def sample_limit(options: SearchOptions, default: int) -> int:
    """An adaptive search's num_samples: unlimited under a budget unless --num-samples is given."""
    if options.time_budget and options.num_samples is None:
        return UNLIMITED
    return default


def anytime_order(points: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The order a budgeted list space runs in: a random permutation, the same for the same seed."""
    ordered = list(points)
    random.Random(seed).shuffle(ordered)
    return ordered


#: Ray's logger that lists every trial without a result when ``Tuner.fit`` builds its results.
RAY_RESULTS_LOGGER = "ray.tune.analysis.experiment_analysis"


class NeverStarted(logging.Filter):
    """Drops Ray's "Failed to fetch metrics for N trial(s)" list: under a budget it names every
    proposal the budget ended before it started (hundreds in a list space), which the summary counts
    as not finished, stopped by the budget or never started."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to fetch metrics")


#: Of a budget whose screening trains one seed per config (a list space), the share kept for the
#: confirmation rounds: the issue's measurement was 123 s of confirmation after 180 s of screening.
CONFIRM_SHARE = 1 / 3
#: Of a budget whose screening trains every config's K seeds already (the adaptive spaces' packs), the
#: seconds kept for stopping the running trials, planning the (nearly always empty) confirmation round
#: and writing the summary before the end of the budget.
WRAP_UP_S = 10.0


def screening_share(seconds: float, screened_seeds: int, k: int) -> float:
    """Seconds of a ``seconds`` budget that screening may use when each config screens on
    ``screened_seeds`` seeds and the answer needs ``k``: nearly all of it where screening confirms as
    it goes, else all but CONFIRM_SHARE, which the rounds need to bring the front to ``k`` seeds."""
    if k <= 1:
        return seconds
    if screened_seeds >= k:
        return max(seconds / 2, seconds - WRAP_UP_S)
    return seconds * (1 - CONFIRM_SHARE)


class SearchBudget:
    """A context around ``Tuner.fit`` that ends the whole command at ``minutes`` after it started, and
    records the run; a no-op without a budget."""

    def __init__(
        self,
        minutes: float | None,
        experiment: str,
        interrupt: bool = True,
        reopen: bool = False,
        command_started: float | None = None,
        screening_s: float | None = None,
    ) -> None:
        """``interrupt``: no confirmation stage, the budget's end interrupts ``fit``; else screening ends at
        a published deadline ``screening_s`` into the budget and the confirmation stage runs until the
        budget's end, where ``fit`` is interrupted too (``--resume`` finishes it). ``reopen``: a new budget
        on ``--resume`` opens screening an earlier budget closed. ``command_started``: when the command
        began (Ray's start-up and the data load count against the budget); default: on entering."""
        self.seconds = None if minutes is None else minutes * 60.0
        self.experiment = experiment
        self.interrupt = interrupt
        self.reopen = reopen
        self.command_started = command_started
        self.screening_s = screening_s
        self.deadline: Deadline | None = None  # screening's end, or the budget's where nothing follows it
        self.started = 0.0
        self.ended_confirmation = False  # the budget's end interrupted the confirmation stage
        self._timer: threading.Timer | None = None
        self._done = threading.Event()
        self._quiet = NeverStarted()

    def __enter__(self) -> SearchBudget:
        self.started = time.time()
        origin = self.command_started or self.started
        if self.seconds is not None:
            logging.getLogger(RAY_RESULTS_LOGGER).addFilter(self._quiet)
            self._arm(max(0.0, origin + self.seconds - self.started))  # the end of the whole command
            publish_budget(origin + self.seconds, self.seconds)  # the live table's clock
            screening = self.seconds if self.interrupt or self.screening_s is None else self.screening_s
            self.deadline = Deadline(origin + screening, self.started, self.reopen)
            if not self.interrupt:
                publish(self.deadline)  # the scheduler and the confirming searcher end screening at it
        return self

    def _arm(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        if self._done.is_set():
            return
        if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
            self._arm(RETRY_S)  # Tune has not started its loop yet: its handler is not installed
            return
        assert self.deadline is not None  # armed only with a budget
        self.deadline.mark_reached()  # unless the screening deadline was reached before
        self.ended_confirmation = not self.interrupt
        os.kill(os.getpid(), signal.SIGUSR1)  # Ray Tune: end the loop as on Ctrl-C, state saved

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._done.set()
        logging.getLogger(RAY_RESULTS_LOGGER).removeFilter(self._quiet)
        if self._timer is not None:
            self._timer.cancel()
        publish(None)
        publish_budget(None)
        if self.seconds is not None:
            runs = [*read_runs(self.experiment), self.entry()]
            write_text(f"{self.experiment}/{BUDGET_FILE}", json.dumps({"runs": runs}, indent=2) + "\n")

    def entry(self) -> dict[str, Any]:
        reached_at = self.deadline.reached_at if self.deadline is not None else None
        return {
            "budget_s": self.seconds,
            "command_started": self.command_started or self.started,
            "started": self.started,
            "ends": "interrupt" if self.interrupt else "screening",
            "screening_s": None if self.interrupt else self.screening_s,
            "reached": reached_at is not None,
            "reached_at": reached_at,
            "ended_confirmation": self.ended_confirmation,
            "ended": time.time(),
        }


def read_runs(experiment: str) -> list[dict[str, Any]]:
    """The runs ``search_budget.json`` records, oldest first; empty without the file (or an unreadable one)."""
    text = read_text(f"{experiment}/{BUDGET_FILE}")
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return []
    runs = value.get("runs") if isinstance(value, dict) else None
    return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []


def budget_ran_out(experiment: str) -> bool:
    """Whether the latest run of ``experiment`` ended at its budget (then what it left unfinished
    was stopped by the budget)."""
    runs = read_runs(experiment)
    return bool(runs) and bool(runs[-1].get("reached"))


def limit_lines(early: int, unfinished: int, by_budget: bool) -> list[str]:
    """The summary's lines on trials the search's limits stopped (none when nothing was stopped)."""
    lines = []
    if early:
        lines.append(f"  {early} stopped early by the scheduler (their last epoch is no final result; not failures).")
    if unfinished and by_budget:
        lines.append(
            f"  the time budget ran out: the {unfinished} not finished were stopped by it or never started "
            "(not failures); --resume extends the search."
        )
    elif by_budget:  # no new trial could end in time, so none started: the budget, not the space, ended it
        lines.append("  the time budget ran out: every trial it started finished; --resume extends the search.")
    return lines
