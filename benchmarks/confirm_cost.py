"""What the confirmation stage costs, and what it changes: the same search run twice in this process,
with ``--confirm 1`` (no stage) and with the default ``--confirm 3``, then one table: search-phase wall,
confirmation wall, total, the ratio of the totals (goal: at most 1.5x on the full grid), and the
fewest-FLOPs pick before (each config's first seed alone) and after confirmation (seed means), each
with its per-seed accuracies.

    python benchmarks/confirm_cost.py                 # the full grid twice: about 10 minutes on 2 idle cores
    python benchmarks/confirm_cost.py --quick         # smoke space, 2,000 images, bar 0.75: about 1 minute
    python benchmarks/confirm_cost.py --space small -- --subset 5000   # after --, options for both searches

Run it on an idle machine: other work on the cores changes both walls, not the same way."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from analysis.load import load_experiment
from analysis.result import compute
from tune_mnist import search
from tune_mnist.core.layout import CONFIRM_FILE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/confirm_cost.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--space", default="grid", help="the search space to run twice (default grid)")
    parser.add_argument(
        "--quick", action="store_true", help="the smoke space on its 2,000 images with bar 0.75 (about 1 minute)"
    )
    parser.add_argument("--storage-path", help="where the two experiments go (default: a temporary directory)")
    parser.add_argument("search_options", nargs="*", help="after --: more options for both searches")
    return parser.parse_args(argv)


def run_search(argv: list[str]) -> tuple[float, str]:
    """One search in this process; its wall seconds and its printed summary."""
    out = io.StringIO()
    started = time.time()
    with contextlib.redirect_stdout(out):
        code = search.main(argv)
    wall = time.time() - started
    if code != 0:
        sys.exit(f"search {' '.join(argv)} ended with status {code}:\n{out.getvalue()[-2000:]}")
    return wall, out.getvalue()


def pick_text(analysis, feasible, seeds_of) -> str:  # noqa: ANN001 - analysis objects
    if feasible.empty:
        return "none above the bar"
    row = feasible.sort_values(["flops", analysis.accuracy_metric], ascending=[True, False]).iloc[0]
    return f"{row['label']} {100 * row['val_acc']:.2f}% [{seeds_of(row['label'])}]"


def picks(experiment: Path) -> tuple[str, str]:
    """The fewest-FLOPs pick on first seeds alone and on seed means, each with its seeds' accuracies."""
    analysis = compute(load_experiment(experiment))
    trials = analysis.trials.set_index("trial_id", drop=False)
    table = analysis.front.table.set_index("label")

    def seeds_of(label: str) -> str:
        group = trials.loc[str(table.loc[label, "trial_ids"]).split(";")].sort_values("seed")
        return ", ".join(f"s{int(r.seed)} {100 * r.val_acc:.2f}" for r in group.itertuples())

    after = pick_text(analysis, analysis.front.feasible, seeds_of)
    before = pick_text(analysis, analysis.screening.feasible, seeds_of) if analysis.screening else after
    return before, after


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common = ["--space", "smoke", "--min-accuracy", "0.75"] if args.quick else ["--space", args.space]
    common += args.search_options
    storage = Path(args.storage_path or tempfile.mkdtemp(prefix="confirm-cost-"))
    stamp = time.strftime("%H%M%S")
    rows = []
    for label, extra in (("--confirm 1", ["--confirm", "1"]), ("--confirm 3", [])):
        name = f"{'off' if extra else 'on'}-{stamp}"
        wall, _ = run_search([*common, *extra, "--storage-path", str(storage), "--name", name])
        log_path = storage / name / CONFIRM_FILE
        log = json.loads(log_path.read_text()) if log_path.exists() else {}
        started, ended = log.get("confirm_started"), log.get("finished_at")
        confirm = (ended - started) if started and ended else 0.0
        before, after = picks(storage / name)
        rows.append((label, wall - confirm, confirm, wall, before, after))
    base = rows[0][3]
    print(f"\nConfirmation cost ({' '.join(common)}), experiments under {storage}:")
    header = f"{'run':<12} {'search s':>9} {'confirm s':>9} {'total s':>8} {'ratio':>6}  pick before -> pick after"
    print(header)
    for label, search_s, confirm_s, total, before, after in rows:
        print(f"{label:<12} {search_s:9.1f} {confirm_s:9.1f} {total:8.1f} {total / base:6.2f}  {before} -> {after}")
    print("goal: the default run's total at most 1.5x the --confirm 1 run's on the full grid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
