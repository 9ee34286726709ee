"""Which search finds the cheap end of the front soonest, at the same wall-time budget, and whether
the tool beats the script a user would write instead. Methods: ``cheap`` (the default for this
question: cost-aware TPE proposing packs of configs, each screened over its ``--confirm`` seeds, FLOPs
known, the bar a constraint, bar-aware stopping per member), two peers a user could write instead:
``optuna`` (``optuna_peer``: a plain in-process Optuna study, no Ray, the same ranges, data, bar and
budget, confirmation of the cheapest feasible configs after the budget) and ``sweep`` (``sweep_peer``:
the plain cheap-end-first sweep of every config of at most 1,000 FLOPs, one pack per (crop, side,
depth) group on the project's packed engine, no Ray, no Optuna, confirmed as it screens), and for
comparison ``random`` (Tune's FIFO) and ``adaptive`` (multi-objective TPE, ``--scheduler fifo``), and
``cheap-gp`` and ``cheap-nsga2``: ``cheap`` with ``--sampler gp`` or ``nsga2`` instead of TPE.
Each runs ``--seeds`` search seeds under ``--time-budget`` (for the tool, the whole command: search
and confirmation), but the sweep, which has no search seed, once; each budget of ``--budget-minutes``
in turn, with its own table and goals.

    python benchmarks/search_efficiency.py --budget-minutes 3 10  # both budgets: ~100 min on 2 cores
    python benchmarks/search_efficiency.py --budget-minutes 3     # cheap, optuna (3 seeds), sweep: ~25 min
    python benchmarks/search_efficiency.py                        # the same at 10 minutes: ~75 min
    python benchmarks/search_efficiency.py --quick                # 1-minute budget, 1 seed, 3,000 images: ~4 min
    python benchmarks/search_efficiency.py --methods cheap,cheap-gp,cheap-nsga2  # the samplers: ~95 min

For every run: anytime curves of the hypervolume of the front above the bar and of the fewest FLOPs
above the bar, over what each method had finished by each moment, as a PNG with the median and range
over search seeds (one PNG per budget where there are several). The hypervolume is of the front of
(validation accuracy up, FLOPs down) against the bar and the notebook's model's FLOPs, for every
method alike; the rows it counts: the tool's screening trials that ran to their end, as configs
(seed means); the Optuna study's finished trials on their one screening seed; the sweep's finished
packs' configs (K seed means). Then screening trials started, finished, stopped early and stopped
by the budget; the confirmed cheapest config (K seeds, val and test seed means above the bar); the
whole command's wall time; the time to a confirmed model of at most ``--target-flops`` (the tool: the
finish of the screening trial of a config then confirmed; its packs screen every seed at once, so
that is when it is confirmed; the peer: the end of its confirmation, which follows its budget);
model-epochs per second over the whole run, beside the engine's on the same packs (the tool's: the same
model-epochs over the seconds of training steps its trials' rows record, per CPU slot, so evaluation,
checkpoints, reports and Ray's scheduling are what the two differ by); the orchestration share of the
tool's wall time, 1 - (sum of every Ray trial's ``time_total_s`` / CPU slots) / (the experiment's wall
time); and how many configs the sampler proposed, from when. After each budget's runs the packed engine
alone is also timed at the median pack size ``cheap`` used, on the cheapest shapes
(``sweep_peer.engine_rate``: as many packs at once as CPUs, one thread each, a few seconds). Below
the table each goal of ``cheap`` is printed as met or missed: a confirmed model of at most
``--goal-flops`` in every search seed; every command within its budget plus 30 s; against the
optuna peer, a median time to target at most a quarter of the peer's, confirmed FLOPs at most the
peer's and a hypervolume at least the peer's in every seed; against the sweep, confirmed FLOPs at
most the sweep's in every seed; model-epochs per second at least half the engine's on the same packs
(and, as before, on the cheapest shapes); orchestration under 10%. Timings depend on the machine
and what else runs on it: compare methods within one invocation only."""

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
import time
import warnings
from pathlib import Path
from typing import Any

import moocore
import optuna
import pandas as pd

from analysis.load import STOPPED_BY_BUDGET, STOPPED_EARLY, USABLE, Experiment, load_experiment
from analysis.result import compute
from tune_mnist import search
from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import BUDGET_FILE, CONFIRM_FILE, STUDY_FILE, pack_trial_of
from tune_mnist.core.metrics import PACK_SIZE, metric
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY
from tune_mnist.strategies.screening_deadline import CONFIRM_ROUND
from tune_mnist.strategies.study_journal import journal_storage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from optuna_peer import PeerRun, fewest_flops_by, run_peer  # noqa: E402  (sibling scripts, not a package)
from sweep_peer import engine_rate, run_sweep  # noqa: E402

#: Each method's search options beyond the shared ones.
METHODS = {
    "random": ["--space", "random", "--scheduler", "fifo"],
    "adaptive": ["--space", "adaptive", "--scheduler", "fifo"],
    "cheap": ["--space", "cheap"],
    # the cheap search with the two other samplers Optuna 5 offers it (``--sampler``), for the sampler choice
    "cheap-gp": ["--space", "cheap", "--sampler", "gp"],
    "cheap-nsga2": ["--space", "cheap", "--sampler", "nsga2"],
}
#: The plain in-process Optuna study a user would write instead (``optuna_peer``): no Ray.
PEER = "optuna"
#: The plain cheap-end-first packed sweep (``sweep_peer``): no Ray, no Optuna, no search seed (it runs once).
SWEEP = "sweep"
PEERS = (PEER, SWEEP)
#: How far past its --time-budget a whole command may end.
GRACE_S = 30
#: Points of each anytime curve over the budget.
CURVE_POINTS = 40


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/search_efficiency.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        nargs="+",
        default=[10.0],
        help="--time-budget of every run; several budgets run one after another, each with its table and goals "
        "(default 10)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="search seeds per method, 0..N-1 (default 3)")
    parser.add_argument(
        "--methods",
        default=f"cheap,{PEER},{SWEEP}",
        help=f"comma list of {', '.join([*METHODS, *PEERS])} (default cheap,{PEER},{SWEEP})",
    )
    parser.add_argument(
        "--peer-seconds", type=float, help="the peers' budget in seconds (default: --budget-minutes; a test's shorter)"
    )
    parser.add_argument("--subset", type=int, help="train on a seeded subset of N images (default: all 55,000)")
    parser.add_argument("--confirm", type=int, default=3, help="--confirm K of every run (default 3)")
    parser.add_argument(
        "--min-accuracy", type=float, default=DEFAULT_MIN_ACCURACY, help="the accuracy bar (default %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="1-minute budgets, 1 seed, --subset 3000, --confirm 2 (about 3 minutes)"
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
        args.budget_minutes, args.seeds, args.subset, args.confirm = [1.0], 1, args.subset or 3000, 2
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS and m not in PEERS]
    if unknown or not methods or args.seeds < 1 or not all(m > 0 for m in args.budget_minutes):
        parser.error(f"--methods takes {', '.join([*METHODS, *PEERS])}; --seeds and --budget-minutes must be positive")
    if args.peer_seconds is not None and not args.peer_seconds > 0:
        parser.error(f"--peer-seconds {args.peer_seconds:g} is not a budget: give a positive number of seconds")
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
    model_epochs: int  # every epoch every model trained, screening and confirmation
    pack_sizes: list[int] = dataclasses.field(default_factory=list)  # members of each Ray trial (the tool's)
    sampled: str = "-"  # the tool's sampler's proposals, and when the first was asked
    engine_s: float = math.nan  # the engine's own training-step seconds in every trial (rows' epoch_time_s)
    wall_s: float = math.nan  # the whole command, end to end (set by main)

    @property
    def per_minute(self) -> float:
        return self.counts["started"] / max(self.search_s / 60, 1e-9)

    @property
    def epochs_per_s(self) -> float:
        return self.model_epochs / max(self.search_s + self.confirm_s, 1e-9)

    @property
    def engine_epochs_per_s(self) -> float:
        """The engine's rate on this run's own packs: the same model-epochs over the training steps'
        seconds the trials' rows record, per CPU slot (evaluation not counted: the engine's best case)."""
        return self.model_epochs / max(self.engine_s / max(1, os.cpu_count() or 1), 1e-9)


def run_search(argv: list[str]) -> None:
    """One search in this process (its summary kept quiet); exits on a failure."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = search.main(argv)
    if code != 0:
        sys.exit(f"search {' '.join(argv)} ended with status {code}:\n{out.getvalue()[-2000:]}")


def hypervolume(points: list[tuple[float, float]], bar: float) -> float:
    """The hypervolume of the front of (validation accuracy up, FLOPs down) over ``points`` above the
    bar, against the analysis's fixed references of those two (the bar; the notebook's model's FLOPs),
    so that every method's value compares: the tool's and both peers'."""
    above = [(val, flops) for val, flops in points if val > bar]
    if not above:
        return 0.0
    reference = [bar, float(metric("flops").reference)]
    return float(moocore.hypervolume(above, ref=reference, maximise=[True, False]))


def front_at(experiment: Experiment, trials: list[Any], bar: float) -> tuple[float, float]:
    """Hypervolume and fewest FLOPs above the bar of the configs of ``trials`` alone (seed means)."""
    if not trials:
        return 0.0, math.nan
    try:
        table = compute(dataclasses.replace(experiment, trials=trials), min_accuracy=bar).front.table
    except InputError:
        return 0.0, math.nan
    feasible = table[table["feasible"]]
    points = list(zip(feasible["val_acc"].astype(float), feasible["flops"].astype(float)))
    return hypervolume(points, bar), float(feasible["flops"].min()) if len(feasible) else math.nan


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
    try:
        whole = compute(experiment, min_accuracy=bar).front.table
    except InputError:  # no trial finished an epoch inside the budget (a busy machine, a tiny budget)
        # a boolean mask, even empty: an empty object column would select columns, not rows
        whole = pd.DataFrame({"feasible": pd.Series(dtype=bool), "flops": [], "n_seeds": [], "trial_ids": []})
    feasible = whole[whole["feasible"]].sort_values("flops")
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
    trials = ray_trials(path)
    work = sum(seconds for seconds, _ in trials)
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
        model_epochs=sum(len(t.history) for t in experiment.trials),
        pack_sizes=[size for _, size in trials],
        sampled=sampled(path, started),
        engine_s=sum(float(t.history["epoch_time_s"].sum()) for t in experiment.trials if len(t.history)),
    )


def sampled(experiment: Path, started: float) -> str:
    """How many configs the sampler proposed (neither the cheap end's nor the accurate end's queued shapes,
    nor a proposal rejected before training), and how many seconds in the first was asked."""
    journal = experiment / STUDY_FILE
    if not journal.exists():
        return "-"
    study = optuna.load_study(study_name=experiment.name, storage=journal_storage(str(journal)))
    own = [
        t
        for t in study.get_trials(deepcopy=False)
        if not {"cheap_end", "accurate_end", "rejected"} & set(t.user_attrs) and t.datetime_start is not None
    ]
    first = min((t.datetime_start.timestamp() for t in own), default=math.nan) - started
    return f"{len(own)}" + ("" if math.isnan(first) else f" from {first:.0f} s")


def ray_trials(experiment: Path) -> list[tuple[float, int]]:
    """Each Ray trial's ``time_total_s`` and members (``pack_size``): a pack's own directory counts
    once, its members' directories (each holding the pack's clock) not at all."""
    out = []
    for result in experiment.glob("*/result.json"):
        lines = result.read_text().splitlines()
        if not lines:
            continue
        last = json.loads(lines[-1])
        trial_id = str(last.get("trial_id", ""))
        if pack_trial_of(trial_id) != trial_id:  # a member: its pack's own row counts
            continue
        out.append((float(last.get("time_total_s", 0.0)), int(last.get(PACK_SIZE) or 1)))
    return out


def measure_peer(method: str, seed: int, args: argparse.Namespace, minutes: float) -> Run:
    """A peer's run, in the table's terms. The Optuna study confirms only after its budget (the
    script confirms at the end), so its time to target is when that confirmation ends; the sweep
    screens every seed at once, so its time to target is when the first such config's pack ended."""
    budget_s = minutes * 60 if args.peer_seconds is None else args.peer_seconds
    if method == SWEEP:
        peer = run_sweep(budget_s, args.min_accuracy, args.confirm, args.subset)
        sure = [x for x in peer.screened if x.val_acc > args.min_accuracy and x.test_acc > args.min_accuracy]
        to_target = min((x.finished_s for x in sure if x.flops <= args.target_flops), default=math.inf)
    else:
        peer = run_peer(seed, budget_s, args.min_accuracy, args.confirm, args.subset)
        found = peer.confirmed is not None and peer.confirmed.flops <= args.target_flops
        to_target = peer.search_s + peer.confirm_s if found else math.inf
    return peer_row(method, seed, peer, budget_s, to_target, args.min_accuracy)


def peer_row(method: str, seed: int, peer: PeerRun, budget_s: float, to_target: float, bar: float) -> Run:
    """A peer's hypervolume counts what it had screened by each moment: the Optuna study's configs on
    their one screening seed (as its search sees them), the sweep's on their K seeds' means."""
    times = [budget_s * (i + 1) / CURVE_POINTS for i in range(CURVE_POINTS)]
    feasible = [x.flops for x in peer.screened if x.val_acc > bar]
    by_then = [[(x.val_acc, float(x.flops)) for x in peer.screened if x.finished_s <= t] for t in times]
    best, confirmed = peer.confirmed, "none above the bar"
    if best is not None:
        seeds = ", ".join(f"{100 * v:.2f}" for v, _ in peer.seeds)
        confirmed = (
            f"{best.config.label()} {best.flops:,} FLOPs val {100 * best.val_acc:.2f}% test {100 * best.test_acc:.2f}% "
            f"({len(peer.seeds)} seeds: {seeds}; found at {best.finished_s:.0f} s)"
        )
    return Run(
        method=method,
        seed=seed,
        times=times,
        hypervolume=[hypervolume(points, bar) for points in by_then],
        cheapest=fewest_flops_by(peer.screened, times, bar),
        screened=(
            hypervolume([(x.val_acc, float(x.flops)) for x in peer.screened], bar),
            float(min(feasible, default=math.nan)),
        ),
        counts={"started": len(peer.screened), "finished": len(peer.screened), "early": 0, "budget": 0},
        confirmed=confirmed,
        search_s=peer.search_s,
        confirm_s=peer.confirm_s,
        overhead=math.nan,
        past_budget_s=peer.search_s - budget_s,
        to_target_s=to_target,
        confirmed_flops=float(best.flops) if best is not None else math.nan,
        confirmed_test=best.test_acc if best is not None else math.nan,
        model_epochs=peer.model_epochs,
    )


def table(runs: list[Run], target: float) -> str:
    head = (
        f"{'method':<12}{'seed':>5}{'search s':>9}{'past':>6}{'confirm s':>10}{'total s':>8}{'started':>8}{'/min':>6}"
        f"{'done':>6}{'early':>6}{'budget':>7}{'HV@budget':>11}{'fewest FLOPs':>13}{f'to {target:g} s':>11}"
        f"{'model-ep/s':>11}{'engine':>8}{'overhead':>9}{'sampled':>16}  confirmed cheapest"
    )
    lines = [head]
    for r in runs:
        _, fewest = r.screened
        flops = "-" if math.isnan(fewest) else f"{fewest:,.0f}"
        to_target = "never" if math.isinf(r.to_target_s) else f"{r.to_target_s:.0f}"
        hv = "-" if math.isnan(r.hypervolume[-1]) else f"{r.hypervolume[-1]:.4g}"
        overhead = "-" if math.isnan(r.overhead) else f"{r.overhead:.1%}"
        engine = "-" if math.isnan(r.engine_s) else f"{r.engine_epochs_per_s:.1f}"
        c = r.counts
        lines.append(
            f"{r.method:<12}{r.seed:>5}{r.search_s:>9.0f}{r.past_budget_s:>6.0f}{r.confirm_s:>10.0f}{r.wall_s:>8.0f}"
            f"{c['started']:>8}{r.per_minute:>6.1f}{c['finished']:>6}{c['early']:>6}{c['budget']:>7}{hv:>11}"
            f"{flops:>13}{to_target:>11}{r.epochs_per_s:>11.1f}{engine:>8}{overhead:>9}{r.sampled:>16}  {r.confirmed}"
        )
    return "\n".join(lines)


def goals(
    runs: list[Run], args: argparse.Namespace, minutes: float, engine: tuple[int, float] | None, new: str = "cheap"
) -> list[str]:
    """The goals of the cost-aware default (``cheap``), each met or missed, from this budget's runs;
    ``engine``: the packed engine's (pack size, model-epochs per second) measured beside them."""
    bar, by = args.min_accuracy, {m: [r for r in runs if r.method == m] for m in dict.fromkeys(r.method for r in runs)}
    lines = []
    limit = minutes * 60 + GRACE_S
    if new in by:
        mine = by[new]
        cheap = [r for r in mine if r.confirmed_flops <= args.goal_flops and r.confirmed_test > bar]
        lines.append(
            f"{'met' if len(cheap) == len(mine) else 'missed'}: {new} confirmed a model of at most {args.goal_flops:g} "
            f"FLOPs (seed means of val and test above {bar:g}) in {len(cheap)} of {len(mine)} search seeds "
            f"({', '.join(f'{r.confirmed_flops:,.0f}' for r in mine)}; goal: every seed)"
        )
        slow = max(r.wall_s for r in mine)
        lines.append(
            f"{'met' if slow <= limit else 'missed'}: every {new} command ended within its budget plus {GRACE_S} s "
            f"(slowest {slow:.0f} s, limit {limit:.0f} s)"
        )
        if PEER in by:
            a = sorted(r.to_target_s for r in mine)[len(mine) // 2]
            b = sorted(r.to_target_s for r in by[PEER])[len(by[PEER]) // 2]
            ok = math.isfinite(a) and a <= b / 4
            lines.append(
                f"{'met' if ok else 'missed'}: median time to a confirmed model of <= {args.target_flops:g} FLOPs: "
                f"{new} {a:.0f} s, {PEER} {b:.0f} s (goal: at most a quarter)"
            )
            pairs = [(x, y) for x in mine for y in by[PEER] if x.seed == y.seed]
            ok = all(x.confirmed_flops <= y.confirmed_flops or math.isnan(y.confirmed_flops) for x, y in pairs)
            ok = ok and all(not math.isnan(x.confirmed_flops) for x, _ in pairs)
            lines.append(
                f"{'met' if ok else 'missed'}: confirmed FLOPs, {new} <= {PEER} in every search seed "
                f"({', '.join(f'{x.confirmed_flops:,.0f} vs {y.confirmed_flops:,.0f}' for x, y in pairs)})"
            )
            ok = all(x.hypervolume[-1] >= y.hypervolume[-1] for x, y in pairs)
            lines.append(
                f"{'met' if ok else 'missed'}: hypervolume at the budget, {new} >= {PEER} in every search seed "
                f"({', '.join(f'{x.hypervolume[-1]:.4g} vs {y.hypervolume[-1]:.4g}' for x, y in pairs)})"
            )
        if SWEEP in by:
            sweep = min((r.confirmed_flops for r in by[SWEEP] if not math.isnan(r.confirmed_flops)), default=math.inf)
            ok = all(r.confirmed_flops <= sweep for r in mine)
            lines.append(
                f"{'met' if ok else 'missed'}: confirmed FLOPs, {new} <= {SWEEP} ({sweep:,.0f}) in every search seed "
                f"({', '.join(f'{r.confirmed_flops:,.0f}' for r in mine)})"
            )
        ok = all(r.epochs_per_s >= r.engine_epochs_per_s / 2 for r in mine)
        rates = ", ".join(f"{r.epochs_per_s:.1f} vs {r.engine_epochs_per_s:.1f}" for r in mine)
        lines.append(
            f"{'met' if ok else 'missed'}: {new}'s model-epochs per second at least half the engine's on the same "
            f"packs, its trials' training steps alone ({rates})"
        )
        if engine is not None:
            size, rate = engine
            slowest = min(r.epochs_per_s for r in mine)
            lines.append(
                f"{'met' if slowest >= rate / 2 else 'missed'}: {new}'s model-epochs per second at least half "
                f"the engine's alone on packs of its median size of the cheapest shapes "
                f"({', '.join(f'{r.epochs_per_s:.1f}' for r in mine)} vs the engine's {rate:.1f} in packs of {size})"
            )
        for other in (m for m in by if m not in (new, *PEERS)):
            pairs = [(x, y) for x in mine for y in by[other] if x.seed == y.seed]
            ok = all(x.hypervolume[-1] >= y.hypervolume[-1] for x, y in pairs)
            lines.append(
                f"{'met' if ok else 'missed'}: hypervolume at the budget, {new} >= {other} in every search seed "
                f"({', '.join(f'{x.hypervolume[-1]:.4g} vs {y.hypervolume[-1]:.4g}' for x, y in pairs)})"
            )
    tuned = [r for r in runs if not math.isnan(r.overhead)]
    if tuned:
        ok = all(r.overhead < 0.10 for r in tuned)
        shares = ", ".join(f"{r.method} s{r.seed} {r.overhead:.1%}" for r in tuned)
        lines.append(f"{'met' if ok else 'missed'}: orchestration under 10% of the wall time ({shares})")
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
    fl_ax.set(xlabel="wall time (min)", ylabel="FLOPs", title="Fewest FLOPs above the bar")
    if any(c > 0 for r in runs for c in r.cheapest):  # a log axis needs a point: none above the bar has none
        fl_ax.set_yscale("log")
    for ax in (hv_ax, fl_ax):
        ax.set_xlim(0, runs[0].times[-1] / 60)
    hv_ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def run_budget(args: argparse.Namespace, minutes: float, storage: Path) -> list[Run]:
    """Every method and search seed at one budget, one after another."""
    runs = []
    for method in args.methods:
        for seed in range(1 if method == SWEEP else args.seeds):
            name = f"{method}-{minutes:g}min-s{seed}"
            print(f"running {name} ({minutes:g} min + confirmation) ...", flush=True)
            start = time.perf_counter()
            if method in PEERS:
                run = measure_peer(method, seed, args, minutes)
                wall = time.perf_counter() - start
            else:
                argv = [*METHODS[method], "--search-seed", str(seed), "--time-budget", f"{minutes:g}"]
                argv += ["--confirm", str(args.confirm), "--min-accuracy", str(args.min_accuracy)]
                argv += ["--storage-path", str(storage), "--name", name]
                argv += ["--subset", str(args.subset)] if args.subset else []
                run_search(argv)
                wall = time.perf_counter() - start  # the command alone, not this script's reading of it
                run = measure(
                    method, seed, storage / name, args.min_accuracy, minutes * 60, args.target_flops, args.confirm
                )
            run.wall_s = wall
            runs.append(run)
    return runs


def engine_beside(runs: list[Run], args: argparse.Namespace) -> tuple[int, float] | None:
    """The packed engine alone at the median pack size ``cheap`` ran (``sweep_peer.engine_rate``), or
    None where ``cheap`` did not run."""
    sizes = sorted(size for r in runs if r.method == "cheap" for size in r.pack_sizes)
    if not sizes:
        return None
    size = sizes[len(sizes) // 2]
    print(f"timing the packed engine alone in packs of {size} ...", flush=True)
    return size, engine_rate(size, args.confirm, args.subset, n_jobs=max(1, os.cpu_count() or 1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        storage = Path(args.storage_path or scratch).resolve()
        for minutes in args.budget_minutes:
            runs = run_budget(args, minutes, storage)
            engine = engine_beside(runs, args)
            print(
                f"\nSearch efficiency at a {minutes:g}-minute budget, bar {args.min_accuracy:g}, "
                f"--confirm {args.confirm}, {args.subset or 'all'} training images, {os.cpu_count()} CPUs"
            )
            print(table(runs, args.target_flops))
            for line in goals(runs, args, minutes, engine):
                print(line)
            out = (
                args.plot if len(args.budget_minutes) == 1 else str(Path(args.plot).with_suffix(f".{minutes:g}min.png"))
            )
            plot(runs, out)
            print(f"Anytime curves: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
