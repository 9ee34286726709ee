"""Which search finds the cheap end of the front soonest, at the same wall-time budget: ``random``
(Tune's FIFO scheduler), ``adaptive`` as before (Optuna's multi-objective TPE, ``--scheduler fifo``)
and the default for this question, ``cheap`` (cost-aware TPE, FLOPs known, the bar a constraint,
with its default bar-aware early stopping). All three search the random space's full ranges on real
MNIST; each runs ``--seeds`` search seeds under ``--time-budget``, then its confirmation stage.

    python benchmarks/search_efficiency.py            # 3 x 3 x (10 min + confirmation): about 2 h 10 min on 2 cores
    python benchmarks/search_efficiency.py --quick    # 0.75-minute budgets, 1 seed, 3,000 images, --confirm 2: ~5 min
    python benchmarks/search_efficiency.py --budget-minutes 2 --seeds 1   # one indicative comparison: ~8 minutes

For every run, from the finished experiment's files (``analysis.load`` / ``analysis.result``):
anytime curves of the hypervolume of the front above the bar (the analysis's default objectives and
fixed reference point) and of the fewest FLOPs above the bar, over the screening trials finished by
each moment (their last row's ``timestamp``), as a PNG with the median and range over search seeds;
screening trials started, finished, stopped early and stopped by the budget; the confirmed cheapest
config after the confirmation stage (seed means, with its seeds) and that stage's own wall time;
the time from the start to the first finished screening trial of a config that the confirmation
stage then confirmed (K seeds, mean above the bar) at ``--target-flops`` or fewer; how far past its
budget the search phase ended; trials started per minute; and the orchestration share of the run's
wall time, defined as 1 - (sum of every trial's ``time_total_s``, Tune's own time inside the trial:
training, evaluation, latency, checkpoints, divided by the CPU slots) / (wall time from the start of
``Tuner.fit`` to its end). A trial's work lost to a stop mid-epoch counts as overhead. Below the
table, each goal of the cost-aware default (``cheap``) is printed as met or missed: a confirmed model
of at most ``--goal-flops`` with val and test seed means above the bar in 2 of 3 search seeds; a
median time to target at most half of ``adaptive``'s; a hypervolume at the budget at least that of
every other method in every seed; the search phase ending at most 2 minutes past its budget;
orchestration under 15% in runs of 30 or more trials a minute. Timings depend on the machine and what
else runs on it: compare methods within one invocation only."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from analysis.load import STOPPED_BY_BUDGET, STOPPED_EARLY, USABLE, Experiment, load_experiment
from analysis.result import compute
from tune_mnist import search
from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import BUDGET_FILE, CONFIRM_FILE
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY
from tune_mnist.strategies.screening_deadline import CONFIRM_ROUND

#: Each method's search options beyond the shared ones.
METHODS = {
    "random": ["--space", "random", "--scheduler", "fifo"],
    "adaptive": ["--space", "adaptive", "--scheduler", "fifo"],
    "cheap": ["--space", "cheap"],
}
#: Points of each anytime curve over the budget.
CURVE_POINTS = 40


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/search_efficiency.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="--time-budget of every run (default 10)")
    parser.add_argument("--seeds", type=int, default=3, help="search seeds per method, 0..N-1 (default 3)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--subset", type=int, help="train on a seeded subset of N images (default: all 55,000)")
    parser.add_argument("--confirm", type=int, default=3, help="--confirm K of every run (default 3)")
    parser.add_argument(
        "--min-accuracy", type=float, default=DEFAULT_MIN_ACCURACY, help="the accuracy bar (default %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="0.75-minute budgets, 1 seed, --subset 3000, --confirm 2 (about 5 minutes)"
    )
    parser.add_argument("--storage-path", help="where the experiments go (default: a temporary directory)")
    parser.add_argument("--plot", default="search_efficiency.png", help="the anytime curves' PNG")
    parser.add_argument(
        "--target-flops", type=float, default=1200, help="the time-to-target column's FLOPs (default %(default)g)"
    )
    parser.add_argument(
        "--goal-flops", type=float, default=750, help="the cheap-end goal's FLOPs (default %(default)g)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.budget_minutes, args.seeds, args.subset, args.confirm = 0.75, 1, args.subset or 3000, 2
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods or args.seeds < 1 or not args.budget_minutes > 0:
        parser.error(f"--methods takes {', '.join(METHODS)}; --seeds and --budget-minutes must be positive")
    args.methods = methods
    return args


@dataclasses.dataclass
class Run:
    method: str
    seed: int
    times: list[float]  # seconds since the run's start
    hypervolume: list[float]
    cheapest: list[float]  # fewest FLOPs above the bar by then (nan: none yet)
    screened: tuple[float, float]  # hypervolume and fewest FLOPs over all screening trials
    counts: dict[str, int]
    confirmed: str
    search_s: float
    confirm_s: float
    overhead: float
    past_budget_s: float  # the search phase's end past its budget
    to_target_s: float  # first finish of a screening trial whose config is confirmed at <= target FLOPs
    confirmed_flops: float  # fewest FLOPs confirmed above the bar, val and test seed means (nan: none)
    confirmed_test: float

    @property
    def per_minute(self) -> float:
        return self.counts["started"] / max(self.search_s / 60, 1e-9)


def run_search(argv: list[str]) -> None:
    """One search in this process (its summary kept quiet); exits on a failure."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = search.main(argv)
    if code != 0:
        sys.exit(f"search {' '.join(argv)} ended with status {code}:\n{out.getvalue()[-2000:]}")


def front_at(experiment: Experiment, trials: list[Any], bar: float) -> tuple[float, float]:
    """Hypervolume and fewest FLOPs above the bar of the front over ``trials`` alone."""
    if not trials:
        return 0.0, math.nan
    try:
        front = compute(dataclasses.replace(experiment, trials=trials), min_accuracy=bar).front
    except InputError:
        return 0.0, math.nan
    feasible = front.table[front.table["feasible"]]
    return front.hypervolume, float(feasible["flops"].min()) if len(feasible) else math.nan


def measure(method: str, seed: int, path: Path, bar: float, budget_s: float, target: float, k: int) -> Run:
    """Everything the table and the plot need, from the finished experiment's files."""
    experiment = load_experiment(path)
    (budget, *_) = json.loads((path / BUDGET_FILE).read_text())["runs"]
    started, ended = float(budget["started"]), float(budget["ended"])
    log = json.loads((path / CONFIRM_FILE).read_text()) if (path / CONFIRM_FILE).exists() else {}
    confirm_at = log.get("confirm_started") or ended
    screening = [t for t in experiment.trials if t.params.get(CONFIRM_ROUND) is None and t.path]
    finished = [t for t in screening if t.status == USABLE]
    finish = {t.trial_id: float(t.history["timestamp"].max()) - started for t in finished}
    times = [budget_s * (i + 1) / CURVE_POINTS for i in range(CURVE_POINTS)]
    curve = [front_at(experiment, [t for t in finished if finish[t.trial_id] <= s], bar) for s in times]
    screened = front_at(experiment, finished, bar)  # every screening trial, also those ending just past the budget
    whole = compute(experiment, min_accuracy=bar)
    feasible = whole.front.table[whole.front.table["feasible"]].sort_values("flops")
    confirmed = "none above the bar"
    if len(feasible):
        best = feasible.iloc[0]
        confirmed = (
            f"{best['label']} {best['flops']:,.0f} FLOPs val {100 * best['val_acc']:.2f}% "
            f"test {100 * best['test_acc']:.2f}% ({int(best['n_seeds'])} seeds)"
        )
    sure = feasible[feasible["n_seeds"] >= k]  # confirmed: K seeds, their mean above the bar
    at_target = sure[sure["flops"] <= target]
    ids = {i for cell in at_target["trial_ids"] for i in str(cell).split(";")}  # the aggregate's separator
    to_target = min((finish[t.trial_id] for t in finished if t.trial_id in ids), default=math.inf)
    slots = max(1, os.cpu_count() or 1)
    work = sum(float(t.history["time_total_s"].max()) for t in experiment.trials if not t.history.empty)
    return Run(
        method=method,
        seed=seed,
        times=times,
        hypervolume=[h for h, _ in curve],
        cheapest=[c for _, c in curve],
        screened=screened,
        counts={
            "started": len(screening),
            "finished": len(finished),
            "early": sum(t.status == STOPPED_EARLY for t in screening),
            "budget": sum(t.status == STOPPED_BY_BUDGET for t in screening),
        },
        confirmed=confirmed,
        search_s=float(confirm_at) - started,
        confirm_s=ended - float(confirm_at),
        overhead=1 - work / slots / (ended - started),
        past_budget_s=float(confirm_at) - started - budget_s,
        to_target_s=to_target,
        confirmed_flops=float(sure["flops"].iloc[0]) if len(sure) else math.nan,
        confirmed_test=float(sure["test_acc"].iloc[0]) if len(sure) else math.nan,
    )


def table(runs: list[Run], target: float) -> str:
    head = (
        f"{'method':<9}{'seed':>5}{'search s':>9}{'past':>6}{'confirm s':>10}{'started':>8}{'/min':>6}{'done':>6}"
        f"{'early':>6}{'budget':>7}{'HV@budget':>11}{'fewest FLOPs':>13}{f'to {target:g} s':>11}{'overhead':>9}"
        "  confirmed cheapest"
    )
    lines = [head]
    for r in runs:
        _, fewest = r.screened
        flops = "-" if math.isnan(fewest) else f"{fewest:,.0f}"
        to_target = "never" if math.isinf(r.to_target_s) else f"{r.to_target_s:.0f}"
        c = r.counts
        lines.append(
            f"{r.method:<9}{r.seed:>5}{r.search_s:>9.0f}{r.past_budget_s:>6.0f}{r.confirm_s:>10.0f}{c['started']:>8}"
            f"{r.per_minute:>6.1f}{c['finished']:>6}{c['early']:>6}{c['budget']:>7}{r.hypervolume[-1]:>11.4g}"
            f"{flops:>13}{to_target:>11}{r.overhead:>9.1%}  {r.confirmed}"
        )
    return "\n".join(lines)


def goals(runs: list[Run], bar: float, goal_flops: float, new: str = "cheap", old: str = "adaptive") -> list[str]:
    """The search-efficiency goals, each met or missed, from the runs of this invocation."""
    by = {m: [r for r in runs if r.method == m] for m in dict.fromkeys(r.method for r in runs)}
    lines = []
    if new in by:
        mine = by[new]
        cheap = [r for r in mine if r.confirmed_flops <= goal_flops and r.confirmed_test > bar]
        ok = len(cheap) >= math.ceil(2 * len(mine) / 3)
        lines.append(
            f"{'met' if ok else 'missed'}: {new} confirmed a model of at most {goal_flops:g} FLOPs (seed means of val "
            f"and test above {bar:g}) in {len(cheap)} of {len(mine)} search seeds (goal: 2 of 3)"
        )
        if old in by:
            a = sorted(r.to_target_s for r in mine)[len(mine) // 2]
            b = sorted(r.to_target_s for r in by[old])[len(by[old]) // 2]
            ok = a <= b / 2 if math.isfinite(a) else False
            lines.append(
                f"{'met' if ok else 'missed'}: median time to a confirmed model at the target FLOPs: {new} {a:.0f} s, "
                f"{old} {b:.0f} s (goal: at most half)"
            )
        for other in (m for m in by if m != new):
            pairs = [(x, y) for x in mine for y in by[other] if x.seed == y.seed]
            ok = all(x.hypervolume[-1] >= y.hypervolume[-1] for x, y in pairs)
            lines.append(
                f"{'met' if ok else 'missed'}: hypervolume at the budget, {new} >= {other} in every search seed "
                f"({', '.join(f'{x.hypervolume[-1]:.4g} vs {y.hypervolume[-1]:.4g}' for x, y in pairs)})"
            )
    worst = max(r.past_budget_s for r in runs)
    lines.append(f"{'met' if worst <= 120 else 'missed'}: the search phase ended at most {worst:.0f} s past its budget")
    fast = [r for r in runs if r.per_minute >= 30]
    if fast:
        ok = all(r.overhead < 0.15 for r in fast)
        shares = ", ".join(f"{r.method} s{r.seed} {r.per_minute:.0f}/min {r.overhead:.1%}" for r in fast)
        lines.append(f"{'met' if ok else 'missed'}: orchestration under 15% at 30+ trials a minute ({shares})")
    else:
        lines.append("not measured here: no run started 30 trials a minute (orchestration goal)")
    return lines


def plot(runs: list[Run], out: str) -> None:
    """Median and range over search seeds of both anytime curves, one colour per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (hv_ax, fl_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for method in dict.fromkeys(r.method for r in runs):
        group = [r for r in runs if r.method == method]
        minutes = np.array(group[0].times) / 60
        for ax, values in ((hv_ax, [r.hypervolume for r in group]), (fl_ax, [r.cheapest for r in group])):
            data = np.array(values, dtype=float)
            with warnings.catch_warnings():  # all-nan columns (nothing above the bar yet) stay nan
                warnings.simplefilter("ignore", RuntimeWarning)
                median, low, high = np.nanmedian(data, 0), np.nanmin(data, 0), np.nanmax(data, 0)
            (line,) = ax.plot(minutes, median, label=f"{method} ({len(group)} seeds)")
            ax.fill_between(minutes, low, high, color=line.get_color(), alpha=0.2)
    hv_ax.set(xlabel="wall time (min)", ylabel="hypervolume above the bar", title="Front hypervolume")
    fl_ax.set(xlabel="wall time (min)", ylabel="FLOPs", yscale="log", title="Fewest FLOPs above the bar")
    for ax in (hv_ax, fl_ax):
        ax.set_xlim(0, runs[0].times[-1] / 60)
    hv_ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as scratch:
        storage = Path(args.storage_path or scratch).resolve()
        for method in args.methods:
            for seed in range(args.seeds):
                name = f"{method}-s{seed}"
                argv = [*METHODS[method], "--search-seed", str(seed), "--time-budget", f"{args.budget_minutes:g}"]
                argv += ["--confirm", str(args.confirm), "--min-accuracy", str(args.min_accuracy)]
                argv += ["--storage-path", str(storage), "--name", name]
                argv += ["--subset", str(args.subset)] if args.subset else []
                print(f"running {name} ({args.budget_minutes:g} min + confirmation) ...", flush=True)
                run_search(argv)
                runs.append(
                    measure(
                        method,
                        seed,
                        storage / name,
                        args.min_accuracy,
                        args.budget_minutes * 60,
                        args.target_flops,
                        args.confirm,
                    )
                )
    print(
        f"\nSearch efficiency at a {args.budget_minutes:g}-minute budget, bar {args.min_accuracy:g}, "
        f"--confirm {args.confirm}, {args.subset or 'all'} training images, {os.cpu_count()} CPUs"
    )
    print(table(runs, args.target_flops))
    for line in goals(runs, args.min_accuracy, args.goal_flops):
        print(line)
    plot(runs, args.plot)
    print(f"Anytime curves: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
