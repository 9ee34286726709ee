"""What the search prints when it ends: how many configs finished and failed, the best feasible one
by each objective, where the results are and what to run next."""

from __future__ import annotations

import argparse
import math
from typing import Any

from tune_mnist.config import PACK_MEMBERS, pack_members
from tune_mnist.objectives import OBJECTIVES, SELECTION_METRIC
from tune_mnist.trials import pack_size


def summarize(results: Any, args: argparse.Namespace, experiment: str, expected: int | None) -> int:
    """Print the summary of ``results`` (a Tune ResultGrid); ``expected``: the configs the run was to
    train, None where an adaptive searcher decides. Exit status 0 when every config finished, else 1."""
    finished, failed, unfinished, rows = 0, 0, 0, []
    for result in results:
        config, metrics = result.config or {}, result.metrics or {}
        configs = pack_members(config) or [config]
        member_rows = metrics.get(PACK_MEMBERS) or [metrics] * len(configs)
        for member, row in zip(configs, member_rows):
            if result.error is not None:
                failed += 1
            elif row.get("epoch") is not None and row.get("epoch") == member.get("epochs"):
                finished += 1
                rows.append(row)
            else:
                unfinished += 1
    if expected is not None:
        unfinished += max(0, expected - finished - failed - unfinished)
    print(
        f"\n{finished} trials finished, {failed} failed, {unfinished} not finished"
        + (
            f" (configs, trained in packs of up to {pack_size(args)})."
            if pack_size(args) > 1
            else f" (configs: each proposal's {args.seeds} seeds trained together)."
            if expected is None and args.seeds > 1
            else "."
        )
    )
    feasible = [r for r in rows if r.get(SELECTION_METRIC, math.nan) > args.min_accuracy]
    for metric, mode in OBJECTIVES:
        if feasible:
            pick = (max if mode == "max" else min)(feasible, key=lambda r: r[metric])
            print(
                f"  best by {metric} ({mode}) among {SELECTION_METRIC} > {args.min_accuracy:g}: "
                f"{pick['architecture']} {pick['input_spec']}: val_acc {pick['val_acc']:.4f}, "
                f"test_acc {pick['test_acc']:.4f}, FLOPs {pick['flops']:,}, "
                f"latency p50 {pick['latency_p50_us']:.1f} us"
            )
    if rows and not feasible:
        print(f"  no finished trial reached {SELECTION_METRIC} > {args.min_accuracy:g}.")
    print(f"Results: {experiment}")
    if failed or unfinished:
        print(
            f"Continue it (finished trials are kept): python -m tune_mnist.search --resume --name {args.name} "
            f"--storage-path {args.storage_path}"
        )
    print(f"Next: python -m analysis.pareto {experiment}")
    return 0 if not failed and not unfinished else 1
