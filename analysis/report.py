"""Words and tables, printed and in report.md alike: the front table, the hypervolume sentence, the two
picks, the notebook's pick and the re-measurement."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.confirmation import changed_pick_lines, lowest, seeds_cell, seeds_phrase
from analysis.front import Front
from analysis.result import Analysis
from tune_mnist.core import metrics
from tune_mnist.core.metrics import latency_text
from tune_mnist.core.pareto import dominates

NOTEBOOK_PICK = {"input_spec": "resize8", "depth": 1, "width": 256}


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def accuracy_text(row: pd.Series, metric: str) -> str:
    mean, std = row.get(metric), row.get(f"{metric}_std")
    if mean is None or pd.isna(mean):
        return "-"
    return f"{mean:.4f} ± {std:.4f}" if std is not None and pd.notna(std) else f"{mean:.4f}"


def table_rows(
    table: pd.DataFrame, accuracy_metric: str, latency_metric: str, extra: Sequence[str] = ()
) -> tuple[list[str], list[list[str]]]:
    """The front table's header and rows, sorted by FLOPs (then accuracy, best first)."""
    others = [m for m in ("val_acc", "test_acc") if m != accuracy_metric and m in table]
    header = [
        "config",
        "architecture",
        f"{accuracy_metric} (mean ± std)",
        *others,
        metrics.metric("flops").heading,
        metrics.metric("params").heading,
        f"{latency_metric}",
        *extra,
        "seeds",
    ]
    ordered = table.sort_values(["flops", accuracy_metric], ascending=[True, False])
    rows = []
    for _, r in ordered.iterrows():
        rows.append(
            [
                str(r["label"]),
                str(r.get("architecture", "")),
                accuracy_text(r, accuracy_metric),
                *[f"{r[m]:.4f}" if pd.notna(r[m]) else "-" for m in others],
                _num(r.get("flops")),
                _num(r.get("params")),
                latency_text(r.get(latency_metric)),
                *[_num(r.get(m), 4) for m in extra],
                seeds_cell(r),
            ]
        )
    return header, rows


def format_table(header: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    left = {0, 1}
    fmt = lambda cells: "  ".join(
        c.ljust(w) if i in left else c.rjust(w)  # noqa: E731
        for i, (c, w) in enumerate(zip(cells, widths))
    )
    return "\n".join([fmt(header)] + [fmt(r) for r in rows])


def front_lines(analysis: Analysis, markdown: bool = False) -> list[str]:
    """The front table sorted by FLOPs and its hypervolume; where no config clears the bar, that sentence."""
    front = analysis.front
    if not front.cleared:
        return [nothing_clears_text(front, analysis.bar_label)]
    header, rows = table_rows(front.front, analysis.accuracy_metric, analysis.latency_metric, analysis.extra_columns)
    return [format_table(header, rows, markdown), "", hypervolume_text(front)]


def hypervolume_text(front: Front, where: str = "") -> str:
    ref = ", ".join(
        f"{o.name} {_num(v, 4) if abs(v) < 100 else _num(v)} ({s})"
        for o, v, s in zip(front.objectives, front.reference, front.reference_source)
    )
    text = (
        f"Hypervolume{where}: {front.hypervolume:.6g} over {', '.join(str(o) for o in front.objectives)}, "
        f"reference point: {ref}."
    )
    if front.box_fraction is not None:
        ideal = ", ".join(f"{o.name} {v:g}" for o, v in zip(front.objectives, front.ideal or []))
        text += (
            f" The front dominates {100 * front.box_fraction:.2f}% of the box between that point and the "
            f"ideal point ({ideal})."
        )
    return text


def describe(row: pd.Series, accuracy_metric: str, latency_metric: str) -> str:
    bits = [f"{accuracy_metric} {100 * row[accuracy_metric]:.2f}%"]
    if pd.notna(row.get(f"{accuracy_metric}_std")):
        bits[0] += f" ± {100 * row[f'{accuracy_metric}_std']:.2f} over {int(row['n_seeds'])} seeds"
    for m in ("val_acc", "test_acc"):
        if m != accuracy_metric and pd.notna(row.get(m)):
            bits.append(f"{m} {100 * row[m]:.2f}%")
    bits.append(f"{_num(row['flops'])} FLOPs per sample")
    if pd.notna(row.get(latency_metric)):
        bits.append(f"{latency_metric} {latency_text(row[latency_metric])} us")
    return f"{row['label']} ({row.get('architecture', '?')}): " + ", ".join(bits) + seeds_phrase(row)


def nothing_clears_text(front: Front, bar_label: str) -> str:
    """Where no config is above the bar: that, in one sentence, and the config that came closest."""
    text = f"No config clears the bar: none has {bar_label} above {front.min_accuracy:g}."
    closest = front.closest
    if closest is not None:
        gap = front.min_accuracy - float(closest["bar_value"])
        text += (
            f" Closest: {closest['label']} ({closest.get('architecture', '?')}) at {closest['bar_value']:.4f}, "
            f"{gap:.4f} below the bar."
        )
    return text + " Lower the bar (--min-accuracy) or train longer (more --epochs in the search)."


def picks(analysis: Analysis) -> list[str]:
    """The fewest-FLOPs and lowest-latency configs above the bar, in words (re-measured where they were),
    and the screening pick where confirmation changed it; none where no config is above the bar."""
    if not analysis.front.cleared:
        return []
    accuracy, latency = analysis.accuracy_metric, analysis.latency_metric
    remeasured = " (latency re-measured alone)" if analysis.remeasured is not None else ""
    out = []
    for metric, what in (("flops", "Fewest FLOPs"), (latency, "Lowest latency")):
        best = lowest(analysis.final.feasible, metric, accuracy)
        if best is None:
            out.append(f"{what}: no config above the bar reported {metric}.")
        else:
            out.append(f"{what} above the bar: {describe(best, accuracy, latency)}{remeasured}.")
    if analysis.screening is not None:
        out += changed_pick_lines(analysis.screening.feasible, analysis.final.feasible, accuracy, latency)
    unconfirmed = analysis.front.front[~analysis.front.front["confirmed"]]
    if not unconfirmed.empty:
        out.append(
            f"Unconfirmed (fewer than {analysis.confirm_k} seeds, so a lucky seed may carry them): "
            f"{', '.join(unconfirmed['label'])}; run the search with --confirm {analysis.confirm_k}."
        )
    return out


def remeasure_text(
    front: Front, remeasured: Any, accuracy_metric: str, latency_metric: str, markdown: bool = False
) -> list[str]:
    """Trial-time against re-measured latency, what changed on the front, the new front."""
    env = remeasured.environment
    lines = [
        f"Latency re-measured alone on {env.get('device_name', '?')} ({env.get('device', '?')}), "
        f"{remeasured.threads} thread(s), torch {env.get('torch_version', '?')}, {remeasured.rounds} "
        f"interleaved rounds, median of rounds; {len(remeasured.table)} configs (the front and the layers "
        "behind it):",
        "",
    ]
    if remeasured.note:
        lines[-1:-1] = [remeasured.note]
    t = remeasured.table.sort_values(f"trial_{latency_metric}")
    header = ["config", f"{latency_metric} during search", "re-measured (median)", "range over rounds"]
    rows = [
        [
            str(r["label"]),
            latency_text(r[f"trial_{latency_metric}"]),
            latency_text(r[latency_metric]),
            f"{latency_text(r[f'{latency_metric}_min'])}-{latency_text(r[f'{latency_metric}_max'])}",
        ]
        for _, r in t.iterrows()
    ]
    lines += [format_table(header, rows, markdown), ""]
    lines += front_change_lines(front, remeasured.front, "with the re-measured latency")
    left = set(front.front["label"]) - set(remeasured.front.front["label"])
    lines += _within_noise(remeasured, sorted(left), latency_metric)
    return lines + recomputed_front_lines(remeasured.front, "re-measured", accuracy_metric, latency_metric, markdown)


def front_change_lines(before: Front, after: Front, how: str) -> list[str]:
    """Which configs joined or left the front when it was recomputed ``how`` (or that none did)."""
    old, new = set(before.front["label"]), set(after.front["label"])
    if old == new:
        return [f"The front is the same {how}."]
    joined = [f"Joined the front {how}: {', '.join(sorted(new - old))}."] if new - old else []
    return joined + ([f"Left the front {how}: {', '.join(sorted(old - new))}."] if old - new else [])


def recomputed_front_lines(
    front: Front, latency: str, accuracy_metric: str, latency_metric: str, markdown: bool
) -> list[str]:
    """The front recomputed with another ``latency`` (re-measured, or a runtime's), sorted by FLOPs, and
    its hypervolume."""
    header, rows = table_rows(front.front, accuracy_metric, latency_metric)
    return [
        "",
        f"Front with the {latency} latency, sorted by FLOPs:",
        "",
        format_table(header, rows, markdown),
        "",
        hypervolume_text(front, f" ({latency})"),
    ]


def _within_noise(remeasured: Any, left: list[str], metric: str) -> list[str]:
    """Say so where a config left the front to one whose re-measured latency range overlaps its own."""
    t = remeasured.table.set_index("label")
    front = remeasured.front
    out = []
    for label in left:
        row = front.table[front.table["label"] == label].iloc[0]
        for _, other in front.front.iterrows():
            if not _dominates(other, row, front):
                continue
            a, b = t.loc[label], t.loc[other["label"]]
            if a[f"{metric}_min"] <= b[f"{metric}_max"] and b[f"{metric}_min"] <= a[f"{metric}_max"]:
                out.append(
                    f"{label} vs {other['label']}: their {metric} ranges over the rounds overlap "
                    f"({a[f'{metric}_min']:.1f}-{a[f'{metric}_max']:.1f} and "
                    f"{b[f'{metric}_min']:.1f}-{b[f'{metric}_max']:.1f} us), so that ordering is within "
                    "noise: re-measure on a quiet machine, with more --rounds for a steadier median."
                )
    return out


def notebook_matches(table: pd.DataFrame) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for key, value in NOTEBOOK_PICK.items():
        mask &= table[key] == value
    return table[mask]


def _dominates(a: pd.Series, b: pd.Series, front: Front) -> bool:
    """Whether config ``a`` dominates config ``b`` on the front's objectives."""
    names = [o.name for o in front.objectives]
    return dominates(
        a[names].astype(float).tolist(), b[names].astype(float).tolist(), [o.maximise for o in front.objectives]
    )


def notebook_text(analysis: Analysis) -> list[str]:
    """Where the notebook's pick is: not run, below the bar, on the front, or off it and beaten by whom
    (and, after a re-measurement, where it is on the re-measured front)."""
    front, accuracy_metric, bar_on = analysis.front, analysis.accuracy_metric, analysis.bar_on
    remeasured = analysis.remeasured.front if analysis.remeasured is not None else None
    table = front.table
    matches = notebook_matches(table)
    if matches.empty:
        return [
            "The notebook's pick (8x8 input, one hidden layer of 256: resize8 1x256) is not in this "
            "experiment (the grid and small spaces include it)."
        ]
    out = []
    for _, row in matches.iterrows():
        name = f"The notebook's pick {row['label']} ({accuracy_metric} {row[accuracy_metric]:.4f})"
        if not row["feasible"]:
            out.append(
                f"{name} is below the bar: its {bar_on} {accuracy_metric} {row['bar_value']:.4f} is not "
                f"above {front.min_accuracy:g}."
            )
        elif row["on_front"]:
            out.append(f"{name} is on the front.")
        else:
            by = [r["label"] for _, r in front.front.iterrows() if _dominates(r, row, front)]
            out.append(
                f"{name} meets the bar but is off the front: {', '.join(by[:3]) or 'another config'} "
                f"is at least as good on every objective and better on one."
            )
        if remeasured is not None and row["feasible"]:
            again = remeasured.table[remeasured.table["label"] == row["label"]]
            if again.empty:
                out.append("It was not re-measured (it is not among the front's first layers).")
            else:
                where = "on" if bool(again["on_front"].iloc[0]) else "off"
                out.append(f"With the re-measured latency it is {where} the front.")
    return out
