"""The analysis's own files: the CSV tables (front, every config, every epoch) and report.md, with
``FILE_MEANING`` naming what each file holds; ``report`` writes the sentences they carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from analysis.front import Front
from analysis.load import Experiment
from analysis.report import hypervolume_text


def epochs_table(experiment: Experiment, table: pd.DataFrame) -> pd.DataFrame:
    used = set(";".join(table["trial_ids"].astype(str)).split(";"))
    frames = []
    for t in experiment.usable():
        if t.trial_id in used:
            frames.append(t.history.assign(trial_id=t.trial_id, trial_dir=t.name, seed=t.params.get("seed")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_tables(out: Path, experiment: Experiment, front: Front, remeasured: Any = None) -> list[Path]:
    table = front.table.copy()
    if remeasured is not None:
        extra = remeasured.table.set_index("label")
        for column in [c for c in extra.columns if c.startswith("latency_")]:
            table[f"remeasured_{column}"] = table["label"].map(extra[column])
        table["on_front_remeasured"] = table["label"].isin(remeasured.front.front["label"])
    written = [out / "trials.csv", out / "front.csv", out / "epochs.csv"]
    table.to_csv(written[0], index=False)
    front.front.sort_values("flops").to_csv(written[1], index=False)
    epochs_table(experiment, table).to_csv(written[2], index=False)
    if remeasured is not None:
        written += [out / "remeasure.csv", out / "front_remeasured.csv"]
        remeasured.table.to_csv(written[3], index=False)
        remeasured.front.front.sort_values("flops").to_csv(written[4], index=False)
    return written


def write_markdown(
    out: Path,
    *,
    experiment: Experiment,
    front: Front,
    settings: list[str],
    counts: str,
    excluded: list[str],
    warnings: list[str],
    front_table: str,
    picks_text: list[str],
    notebook: list[str],
    plots: list[Path],
    remeasured: list[str] | None,
    confirmation: list[str] | None = None,
    files: list[Path],
) -> Path:
    lines = [
        f"# Pareto analysis of {experiment.name}",
        "",
        f"Experiment: `{experiment.path}`",
        "",
        "## Settings",
        "",
        *[f"- {s}" for s in settings],
        "",
        "## Trials",
        "",
        counts + ".",
    ]
    if excluded:
        lines += ["", "Not used:", "", *[f"- {line}" for line in excluded]]
    if warnings:
        lines += ["", "Warnings:", "", *[f"- {w}" for w in warnings]]
    front_section = (
        [
            f"## Pareto front ({len(front.front)} of {int(front.table['feasible'].sum())} configs above the bar, "
            "sorted by FLOPs)",
            "",
            front_table,
            "",
            hypervolume_text(front),
        ]
        if front.cleared
        else ["## Pareto front: none (no config above the bar)", "", front_table]  # nothing_clears_text
    )
    lines += [
        "",
        *front_section,
        "",
        "## Picks",
        "",
        *[f"- {p}" for p in picks_text],
        *[f"- {n}" for n in notebook],
    ]
    if front.unranked:
        lines += ["", f"Above the bar but missing an objective value (not ranked): {', '.join(front.unranked)}."]
    if confirmation:
        lines += ["", "## Confirmation: the lucky-seed effect", "", *confirmation]
    if remeasured:
        lines += ["", "## Latency re-measured alone", "", *remeasured]
    lines += ["", "## Plots", ""]
    for plot in plots:
        lines += [f"![{plot.stem}]({plot.name})", ""]
    lines += ["## Files", "", *[f"- `{f.name}`: {FILE_MEANING.get(f.name, '')}" for f in files], ""]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


FILE_MEANING = {
    "trials.csv": "one row per config (seeds grouped): config, every metric (seed means; accuracies also "
    "_std and _min), bar_value, feasible, pareto_rank, on_front",
    "front.csv": "the front's rows of trials.csv, sorted by FLOPs",
    "epochs.csv": "every per-epoch row of every used trial (the learning curves' data)",
    "remeasure.csv": "re-measured latency of the front and the layer behind it: median, min and max over "
    "rounds, beside the trial-time value (trial_*)",
    "front_remeasured.csv": "the front recomputed among the re-measured configs with the re-measured latency",
    "accuracy_vs_flops.png": "accuracy vs FLOPs (log scale)",
    "latency_vs_flops.png": "latency vs FLOPs (log scale)",
    "accuracy_vs_latency.png": "accuracy vs latency",
    "learning_curves.png": "accuracy and training loss per epoch",
    "remeasure.png": "trial-time latency vs re-measured latency",
    "lucky_seed.png": "each config's first-seed accuracy (screening) vs its mean over seeds, y = x and the bar",
    "report.md": "this report",
    "report.html": "this report as one self-contained page (plots and tables embedded), for a browser offline",
    "remeasure_onnxruntime.csv": "with --runtime onnxruntime: ONNX Runtime latency of the re-measured configs "
    "(median, min and max over rounds), beside eager PyTorch's (eager_*)",
    "front_remeasured_onnxruntime.csv": "with --runtime onnxruntime: the front recomputed with its latency",
}
