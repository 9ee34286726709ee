"""The status table a search prints while it runs: one row per trial, named by its config label, with
the numbers a user watches (epoch, accuracies, FLOPs, latency p50; a pack's best member) in under 120
columns, and above it the budget's clock and the best confirmed config (``progress_lines``).

``LiveTable`` is Ray Tune's terminal reporter (its new output engine) with the rows and per-trial lines
replaced: Ray's own columns are its bookkeeping and the first four metrics, here losses. Ray still adds
its own reporter, run at verbosity 0, which reports trial errors only."""

from __future__ import annotations

import math
import os
from typing import Any

from ray.tune.experimental.output import AIR_TABULATE_TABLEFMT, AirVerbosity
from ray.tune.experimental.output import ProgressReporter as AirProgressReporter

from tune_mnist.core.config import PACK_MEMBERS, config_label, pack_members
from tune_mnist.core.metrics import EPOCH, US_PER_SAMPLE, finite, latency_text, metric
from tune_mnist.core.objectives import selection_accuracy
from tune_mnist.tuning.progress_lines import progress_lines
from tune_mnist.tuning.ray_private import TerminalReporterHooks

#: The metrics a row shows, headed and formatted by the metric table (``tune_mnist.core.metrics``).
COLUMNS = ("val_acc", "test_acc", "flops", "latency_p50_us")
HEADER = ["config", "status", "epoch", *(metric(name).heading for name in COLUMNS)]
#: The widest a config name gets in the table, so that the table fits 120 columns.
NAME_WIDTH = 45
#: Statuses in the order the table lists them (Ray's order).
ORDER = ("RUNNING", "TERMINATED", "PAUSED", "PENDING", "ERROR")
#: Up to this many trials every row is shown; beyond, ``ROWS_PER_STATUS`` per status (the best finished first).
ALL_ROWS, ROWS_PER_STATUS, ALL_ROWS_AT_END, ROWS_PER_STATUS_AT_END = 20, 5, 50, 20


def shown_result(trial: Any) -> tuple[dict[str, Any], str | None]:
    """The numbers a trial's row shows, and for a pack the label of the member they are from."""
    result = trial.last_result or {}
    rows = result.get(PACK_MEMBERS)
    if not rows:
        return result, None
    best = max(range(len(rows)), key=lambda i: _accuracy(rows[i]))
    members = pack_members(trial.config) or []
    label = config_label(members[best]) if best < len(members) else None
    return rows[best], label


def _accuracy(row: dict[str, Any]) -> float:
    """The selection accuracy, with a row that has none ranked last (NaN would break max and sort)."""
    value = selection_accuracy(row)
    return -1.0 if math.isnan(value) else value


def count_text(value: Any) -> str:
    """FLOPs in a few characters: 1,280, 26.4k, 3.72M."""
    if not finite(value):
        return "-"
    if abs(value) < 1e4:
        return f"{int(value):,}"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{int(value):,}"


def cell(name: str, value: Any) -> str:
    """A metric's value as its unit reads: a fraction to 4 places, a latency in us, a count in a few characters."""
    unit = metric(name).unit
    if not finite(value):
        return "-"
    if unit == "fraction":
        return f"{value:.4f}"
    if unit == US_PER_SAMPLE:
        return f"{latency_text(value)} us"
    return count_text(value)


def name_text(trial: Any) -> str:
    name = str(trial)
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


def row(trial: Any) -> list[str]:
    shown, _ = shown_result(trial)
    epoch = shown.get(EPOCH, (trial.last_result or {}).get(EPOCH))
    return [
        name_text(trial),
        trial.status,
        "-" if epoch is None else str(int(epoch)),
        *(cell(name, shown.get(name)) for name in COLUMNS),
    ]


def table_rows(trials: list[Any], at_end: bool = False) -> tuple[list[list[str]], list[str]]:
    """The rows, by status, finished trials best first; and what was left out (``3 more TERMINATED``)."""
    everything = ALL_ROWS_AT_END if at_end else ALL_ROWS
    limit = None if len(trials) <= everything else (ROWS_PER_STATUS_AT_END if at_end else ROWS_PER_STATUS)
    rows, more = [], []
    statuses = list(ORDER) + sorted({t.status for t in trials} - set(ORDER))
    for status in statuses:
        group = [t for t in trials if t.status == status]
        if status == "TERMINATED":
            group.sort(key=lambda t: _accuracy(shown_result(t)[0]), reverse=True)
        shown = group if limit is None else group[:limit]
        rows += [row(t) for t in shown]
        if len(group) > len(shown):
            more.append(f"{len(group) - len(shown)} more {status}")
    return rows, more


def table_text(trials: list[Any], at_end: bool = False) -> str:
    rows, more = table_rows(trials, at_end)
    text = boxed(HEADER, rows)
    notes = []
    if more:
        notes.append(", ".join(more) + " (finished trials: the best by accuracy shown)")
    if any(PACK_MEMBERS in t.config for t in trials):
        notes.append("A pack's row shows its best member by val_acc.")
    return "\n".join([text, *notes])


def boxed(header: list[str], rows: list[list[str]]) -> str:
    """A table in Ray's box characters (its ASCII ones where the console is not UTF-8), with no padding
    beyond one space a side: a 45-character config name still leaves it under 120 columns."""
    fmt = AIR_TABULATE_TABLEFMT
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def rule(line: Any) -> str:
        return line.begin + line.hline * (sum(widths) + 3 * (len(widths) - 1) + 2) + line.end

    def cells(values: list[str]) -> str:
        return fmt.datarow.begin + " " + "   ".join(v.ljust(w) for v, w in zip(values, widths)) + " " + fmt.datarow.end

    return "\n".join(
        [rule(fmt.lineabove), cells(header), rule(fmt.linebelowheader), *map(cells, rows), rule(fmt.linebelow)]
    )


def finished_line(trial: Any) -> str:
    """One line when a trial ends: what it reached."""
    shown, member = shown_result(trial)
    what = f" (best member: {member})" if member else ""
    numbers = ", ".join(f"{metric(name).heading} {cell(name, shown.get(name))}" for name in COLUMNS)
    return f"Finished {trial}{what}: epoch {shown.get(EPOCH, '-')}, {numbers}"


class LiveTable(TerminalReporterHooks):
    """Ray Tune's terminal reporter with this project's table (see the module docstring)."""

    def __init__(self, run_callbacks: list[Any] | None = None, bar: float | None = None, k: int = 1) -> None:
        """``run_callbacks``: the run's callback list, where Ray appends its own reporter (``setup``); ``bar``
        and ``k``: show the best config confirmed on ``k`` seeds above ``bar`` so far."""
        super().__init__(AirVerbosity.DEFAULT)
        self.run_callbacks = run_callbacks
        self.bar = bar
        self.k = k

    def setup(self, start_time: float | None = None, **kwargs: Any) -> None:
        """Hand the run's start time to Ray's own reporter in ``run_callbacks`` too: Ray gives it only to
        the first output-engine reporter, and its own would crash the driver (``TypeError`` in
        ``_get_time_str``) on the first trial error or retry."""
        super().setup(start_time=start_time, **kwargs)
        if start_time is None:
            return
        for callback in self.run_callbacks or []:
            if callback is not self and isinstance(callback, AirProgressReporter):
                callback.setup(start_time=start_time, **kwargs)
                # Its error lines (with a result table) would repeat this table's one line per failure.
                callback.on_trial_error = callback.on_trial_recover = _quiet

    def heartbeat(self, trials: list[Any], lines: tuple[Any, ...], force: bool) -> None:
        self.start_block("heartbeat")
        print(self.counts_line(trials))
        print(self.time_line())
        for line in progress_lines(trials, self.bar, self.k):  # the budget's clock, the best confirmed config
            print(line)
        for line in lines:
            print(line)
        print(table_text(trials, at_end=force))
        errored = [t for t in trials if t.status == "ERROR" and error_file(t)]
        if force and errored:
            self.start_block("status_errored")
            print(f"Errored trials ({len(errored)}): " + "; ".join(f"{t}: {error_file(t)}" for t in errored))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """The table shows a started trial; Ray's whole-config table is left out."""

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.start_block("finished")  # consecutive "Finished" lines stay together
        print(finished_line(trial))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """One line for a trial that failed for good (Ray's own reporter, which would print a table, is
        quiet: ``setup``)."""
        self.start_block(f"trial_{trial}_error")
        print(failure_line(trial, retried=False))

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """One line for a failed trial that Ray restarts (``--max-failures``)."""
        self.start_block(f"trial_{trial}_error")
        print(failure_line(trial, retried=True))


def _quiet(*args: Any, **kwargs: Any) -> None:
    """Stands in for Ray's reporter's error printing."""


def failure_line(trial: Any, retried: bool) -> str:
    """A failed trial in one line: the error's last line, what happens next, where the details are."""
    from tune_mnist.experiment.ray_log import log_note

    path = error_file(trial)
    what = ""
    try:
        lines = [line.strip() for line in open(path, encoding="utf-8", errors="replace")] if path else []
        last = next((line for line in reversed(lines) if line), "")
        what = f": {last[:160]}" if last else ""
    except OSError:
        pass
    epoch = (trial.last_result or {}).get(EPOCH)
    after = f" after epoch {epoch}" if epoch is not None else ""
    then = "restarting it from its last checkpoint" if retried else "it is kept as failed (--resume retries it)"
    where = f"traceback in {path}" if path else "no error file"
    return f"Trial {trial} failed{after}{what}; {then} ({where}){log_note()}."


def console_options(run_callbacks: list[Any], bar: float, k: int) -> dict[str, Any]:
    """The ``RunConfig`` settings for the console: ``LiveTable`` with Ray's reporter at verbosity 0 (errors
    only); with Ray's old output engine its ``CLIReporter`` with the same metrics (a pack's then empty)."""
    if os.environ.get("RAY_AIR_NEW_OUTPUT", "1") != "0":  # Ray Tune's new output engine, its default
        run_callbacks.append(LiveTable(run_callbacks, bar, k))
        return {"verbose": 0}
    from ray.tune import CLIReporter

    columns = {EPOCH: "epoch", **{name: metric(name).heading for name in COLUMNS}}
    columns["latency_p50_us"] += " (us)"
    reporter = CLIReporter(metric_columns=columns, parameter_columns=["seed"], max_column_length=NAME_WIDTH)
    return {"verbose": 1, "progress_reporter": reporter}


def error_file(trial: Any) -> str | None:
    """A trial's error file, or None. Ray raises instead of answering for a trial that has no directory
    yet (one a searcher created that never started), so the table asks only errored trials, safely."""
    try:
        return trial.error_file
    except RuntimeError:
        return None
