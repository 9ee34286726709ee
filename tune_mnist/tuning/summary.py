"""What the search prints when it ends: how many configs finished and failed, the best feasible one
by each objective, where the results are and what to run next; and the same as data, what
``run_search`` returns (``SearchResult``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tune_mnist.confirm.rule import marking_k, reached_end
from tune_mnist.confirm.summary import Pick, group_rows, pick_lines, picks, trial_rows
from tune_mnist.core.config import PACK_MEMBERS
from tune_mnist.core.layout import member_trial_dir
from tune_mnist.core.objectives import OBJECTIVES, SELECTION_METRIC
from tune_mnist.core.options import SearchOptions
from tune_mnist.strategies.budget import budget_ran_out, limit_lines
from tune_mnist.strategies.early_stopping import stopped_early
from tune_mnist.strategies.study_journal import dashboard_line
from tune_mnist.tuning.trials import pack_size


@dataclass(frozen=True)
class SearchResult:
    """What a search left: its experiment directory (None for a dry run of an unnamed search), its
    status (0: every config finished; 1: some failed or did not finish) and one pick per objective."""

    experiment: str | None
    status: int
    picks: tuple[Pick, ...] = ()


def member_path(result: Any, index: int, member: dict[str, Any]) -> str | None:
    """The trial directory of a result's ``index``-th config: a pack member's own, beside the pack's."""
    if not result.path or PACK_MEMBERS not in (result.metrics or {}):
        return result.path
    parent = result.path.rstrip("/").rsplit("/", 1)[0]
    return f"{parent}/{member_trial_dir(result.metrics.get('trial_id', ''), index, member)}"


def summarize(
    results: Any, options: SearchOptions, experiment: str, expected: int | None, wall_time: str | None = None
) -> SearchResult:
    """Print the summary of ``results`` (a Tune ResultGrid; ``expected``: the configs to train, None where an
    adaptive searcher decides); its status is 0 when every config finished, else 1."""
    finished, failed, unfinished, pairs = 0, 0, 0, []
    early = 0  # stopped by the scheduler (stopped_early.json): neither failures nor final results
    for result in results:
        for i, (member, row) in enumerate(trial_rows(result.config or {}, result.metrics or {})):
            if result.error is not None:
                failed += 1
            elif reached_end(member, row):
                finished += 1
                pairs.append((member, row))
            elif stopped_early(member_path(result, i, member), result.filesystem):
                early += 1
            else:
                unfinished += 1
    if expected is not None:
        unfinished += max(0, expected - finished - failed - unfinished - early)
    print(
        f"\n{finished} trials finished, {failed} failed, {unfinished} not finished"
        + (
            f" (configs, trained in packs of up to {pack_size(options)})."
            if pack_size(options) > 1
            else f" (configs: each proposal's {options.seeds} seeds trained together)."
            if expected is None and options.seeds > 1
            else "."
        )
    )
    by_budget = budget_ran_out(experiment)  # then what is unfinished was stopped by --time-budget: not a failure
    for line in limit_lines(early, unfinished, by_budget):
        print(line)
    if wall_time is not None:
        print(wall_time)
    groups = group_rows(pairs)  # seeds of a config together: picks on seed means, seeds shown
    feasible = [g for g in groups if g.mean(SELECTION_METRIC) > options.min_accuracy]
    for line in pick_lines(groups, OBJECTIVES, options.min_accuracy, marking_k(options.confirm)):
        print(line)
    if pairs and not feasible:
        print(f"  no finished trial reached {SELECTION_METRIC} > {options.min_accuracy:g}.")
    print(f"Results: {experiment}")
    if failed or unfinished:
        print(
            f"Continue it (finished trials are kept): python -m tune_mnist.search --resume --name {options.name} "
            f"--storage-path {options.storage_path}"
        )
    print(f"Next: python -m analysis.pareto {experiment}")
    dashboard = dashboard_line(experiment)  # an adaptive space's Optuna study, for optuna-dashboard
    if dashboard:
        print(dashboard)
    status = 0 if not failed and (not unfinished or by_budget) else 1
    return SearchResult(
        experiment, status, tuple(picks(groups, OBJECTIVES, options.min_accuracy, marking_k(options.confirm)))
    )
