"""What backs each number (docs/analysis.md): seeds per config, the confirmed mark, ``--bar-on lcb``, and
the screening pick (first seeds alone) against the confirmed one, since one-seed numbers picked near the
bar are biased up (the winner's curse)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tune_mnist.confirm.rule import LCB_Z
from tune_mnist.core.errors import InputError

#: The lucky-seed plot (analysis.plots).
LUCKY_PLOT = "lucky_seed.png"


def trial_groups(trials: pd.DataFrame, table: pd.DataFrame) -> list[pd.DataFrame]:
    """Each config's trial rows (by the aggregate's ``trial_ids``), in the table's order."""
    by_id = trials.set_index("trial_id", drop=False)
    return [by_id.loc[str(ids).split(";")] for ids in table["trial_ids"]]


def lcb_values(means: pd.Series, n_seeds: pd.Series, sigma: float | None, metric: str) -> pd.Series:
    """``mean - LCB_Z * sigma / sqrt(n)``; refused in one sentence where sigma is undefined."""
    if sigma is None:
        raise InputError(
            f"--bar-on lcb needs the spread of {metric} over seeds, but no config of this experiment has two "
            "or more seeds: run the search with --confirm 3 (the default) or --seeds 2, or use --bar-on mean."
        )
    return means - LCB_Z * sigma / np.sqrt(n_seeds.astype(float))


def seeds_cell(row: pd.Series) -> str:
    """The front table's seeds column: ``3``, or ``1 unconfirmed``."""
    n = int(row.get("n_seeds", 1))
    return f"{n}" if bool(row.get("confirmed", True)) else f"{n} unconfirmed"


def seeds_phrase(row: pd.Series) -> str:
    """For a pick: `` (1 seed, unconfirmed)`` where it is, else nothing (the std text says the seeds)."""
    if bool(row.get("confirmed", True)):
        return ""
    n = int(row.get("n_seeds", 1))
    return f" ({n} seed{'s' if n != 1 else ''}, unconfirmed)"


def screening_trials(trials: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Each config's first seed alone: what the search saw before confirmation."""
    firsts = [g.sort_values("seed").iloc[0] for g in trial_groups(trials, table)]
    return pd.DataFrame(firsts).reset_index(drop=True)


def lucky_table(trials: pd.DataFrame, table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Every config with two or more seeds: its first seed's ``metric`` (screening) beside the mean."""
    rows = []
    for (_, row), group in zip(table.iterrows(), trial_groups(trials, table)):
        if len(group) < 2:
            continue
        first = group.sort_values("seed").iloc[0]
        rows.append(
            {
                "label": row["label"],
                "n_seeds": len(group),
                "screening": float(first[metric]),
                "mean": float(group[metric].mean()),
                "std": float(group[metric].std(ddof=1)),
                "feasible": bool(row.get("feasible", False)),
            }
        )
    return pd.DataFrame(rows, columns=["label", "n_seeds", "screening", "mean", "std", "feasible"])


def lucky_lines(lucky: pd.DataFrame, bar: float, metric: str) -> list[str]:
    """The lucky-seed effect in words: how far the first seed was from the mean, and who crossed the bar."""
    if lucky.empty:
        return [f"No config has two or more seeds: the lucky-seed effect on {metric} cannot be measured."]
    gap = lucky["screening"] - lucky["mean"]
    crossed = lucky[(lucky["screening"] > bar) & (lucky["mean"] <= bar)]
    rose = lucky[(lucky["screening"] <= bar) & (lucky["mean"] > bar)]
    lines = [
        f"{len(lucky)} configs have two or more seeds: their first seed's {metric} minus their seed mean is "
        f"{100 * gap.mean():+.2f} points on average (range {100 * gap.min():+.2f} to {100 * gap.max():+.2f})."
    ]
    if not crossed.empty:
        lines.append(f"Above the bar on their first seed, below it on the mean: {', '.join(crossed['label'])}.")
    if not rose.empty:
        lines.append(f"Below the bar on their first seed, above it on the mean: {', '.join(rose['label'])}.")
    return lines


def changed_pick_lines(
    screening_feasible: pd.DataFrame, final_feasible: pd.DataFrame, accuracy: str, latency: str
) -> list[str]:
    """Where the pick on first seeds alone differs from the pick on seed means, both, in words."""
    out = []
    for metric, what in (("flops", "Fewest FLOPs"), (latency, "Lowest latency")):
        before, after = lowest(screening_feasible, metric, accuracy), lowest(final_feasible, metric, accuracy)
        if before is None or (after is not None and before["label"] == after["label"]):
            continue
        now = final_feasible[final_feasible["label"] == before["label"]]
        where = (
            f"over its seeds it has {accuracy} {100 * now.iloc[0][accuracy]:.2f}%"
            if not now.empty
            else "over its seeds it is below the bar"
        )
        out.append(
            f"{what}, screening pick (first seeds alone): {before['label']} at {accuracy} "
            f"{100 * before[accuracy]:.2f}%; {where}. The pick above is the one on seed means"
            f"{'' if after is not None else ' (none)'}."
        )
    return out


def lowest(feasible: pd.DataFrame, metric: str, accuracy: str) -> pd.Series | None:
    """The config with the lowest ``metric`` (the most accurate among ties): a pick; None where none has it."""
    have = feasible[feasible[metric].notna()] if metric in feasible else feasible.iloc[0:0]
    if have.empty:
        return None
    return have.sort_values([metric, accuracy], ascending=[True, False]).iloc[0]
