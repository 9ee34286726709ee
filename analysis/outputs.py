"""The analysis as files in the output directory: the CSV tables (front, every config, every epoch),
the plots (PNG), ``report.md`` and ``report.html``, with ``FILE_MEANING`` naming what each file holds;
``report`` writes the sentences they carry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import report
from analysis.confirmation import LUCKY_PLOT, lucky_lines, lucky_table
from analysis.find import ANALYSIS_DIR, make_dir
from analysis.html_report import HTML_FILE, write_html
from analysis.load import Experiment, excluded_lines
from analysis.result import Analysis
from analysis.runtimes import remeasured_text

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


def output_dir(out: str | None, experiment: Experiment) -> Path:
    """``out``, else ``analysis/`` inside a local experiment or ``./<name>-analysis`` for a URI; made,
    and emptied of the files an earlier analysis wrote there (this one may not rewrite them all)."""
    if out:
        path = Path(out)
    elif experiment.location.local:
        path = Path(experiment.location.root) / ANALYSIS_DIR
    else:
        path = Path(f"{experiment.name}-{ANALYSIS_DIR}")
    make_dir(path, "--out")
    for stale in FILE_MEANING:
        (path / stale).unlink(missing_ok=True)
    return path


def write_outputs(analysis: Analysis, out: Path) -> list[Path]:
    """Plots, tables, report.md and report.html; returns the files written, in the order report.md lists them."""
    from analysis import plots  # matplotlib only when there is something to draw

    remeasured, accuracy, latency = analysis.remeasured, analysis.accuracy_metric, analysis.latency_metric
    drawn = plots.figures(analysis)
    if remeasured is not None:
        drawn["remeasure.png"] = plots.remeasure_figure(remeasured.table, latency)
    confirmation, lucky = confirmation_text(analysis)
    if not lucky.empty:
        drawn[LUCKY_PLOT] = plots.lucky_seed_figure(lucky, accuracy, analysis.min_accuracy)
    pngs = plots.save(drawn, out)
    files = write_tables(out, analysis)
    files += [*pngs, out / "report.md", out / HTML_FILE]
    write_markdown(out / "report.md", analysis, confirmation, remeasured_text(analysis, markdown=True), pngs, files)
    from analysis.interactive import analysis_section  # plotly where it is installed, else the sentence

    csvs = [f for f in files if f.suffix == ".csv"]
    write_html(out / "report.md", csvs, interactive=analysis_section(analysis))  # one self-contained file
    return files


def confirmation_text(analysis: Analysis) -> tuple[list[str], pd.DataFrame]:
    """The report's confirmation section and the lucky-seed table behind its plot."""
    lucky = lucky_table(analysis.trials, analysis.front.table, analysis.accuracy_metric)
    k = analysis.confirm_k
    confirmed = int(analysis.front.table["confirmed"].sum())
    lines = [
        f"{confirmed} of {len(analysis.front.table)} configs have at least {k} seeds (confirmed); the others are "
        "marked unconfirmed.",
        "",
        *lucky_lines(lucky, analysis.min_accuracy, analysis.accuracy_metric),
    ]
    if not lucky.empty:
        lines += ["", f"Plot: `{LUCKY_PLOT}`."]
    return lines, lucky


def epochs_table(experiment: Experiment, table: pd.DataFrame) -> pd.DataFrame:
    used = set(";".join(table["trial_ids"].astype(str)).split(";"))
    frames = []
    for t in experiment.usable():
        if t.trial_id in used:
            frames.append(t.history.assign(trial_id=t.trial_id, trial_dir=t.name, seed=t.params.get("seed")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_tables(out: Path, analysis: Analysis) -> list[Path]:
    front, remeasured = analysis.front, analysis.remeasured
    table = front.table.copy()
    if remeasured is not None:
        extra = remeasured.table.set_index("label")
        for column in [c for c in extra.columns if c.startswith("latency_")]:
            table[f"remeasured_{column}"] = table["label"].map(extra[column])
        table["on_front_remeasured"] = table["label"].isin(remeasured.front.front["label"])
    written = [out / "trials.csv", out / "front.csv", out / "epochs.csv"]
    table.to_csv(written[0], index=False)
    front.front.sort_values("flops").to_csv(written[1], index=False)
    epochs_table(analysis.experiment, table).to_csv(written[2], index=False)
    if remeasured is not None:
        written += [out / "remeasure.csv", out / "front_remeasured.csv"]
        remeasured.table.to_csv(written[3], index=False)
        remeasured.front.front.sort_values("flops").to_csv(written[4], index=False)
    for runtime, other in (remeasured.runtimes if remeasured is not None else {}).items():
        eager = remeasured.table[["label", *[c for c in remeasured.table if c.startswith("latency_")]]]
        table = other.table.merge(eager, on="label", suffixes=("", "_eager"))
        table = table.rename(columns={c: "eager_" + c[: -len("_eager")] for c in table if c.endswith("_eager")})
        written += [out / f"remeasure_{runtime}.csv", out / f"front_remeasured_{runtime}.csv"]
        table.to_csv(written[-2], index=False)
        other.front.front.sort_values("flops").to_csv(written[-1], index=False)
    return written


def write_markdown(
    path: Path,
    analysis: Analysis,
    confirmation: list[str],
    remeasured: list[str],
    plots: list[Path],
    files: list[Path],
) -> None:
    experiment, front = analysis.experiment, analysis.front
    lines = [
        f"# Pareto analysis of {experiment.name}",
        "",
        f"Experiment: `{experiment.path}`",
        "",
        "## Settings",
        "",
        *[f"- {s}" for s in analysis.settings],
        "",
        "## Trials",
        "",
        analysis.trial_counts + ".",
    ]
    excluded = excluded_lines(experiment, analysis.skipped)
    if excluded:
        lines += ["", "Not used:", "", *[f"- {line}" for line in excluded]]
    if experiment.warnings:
        lines += ["", "Warnings:", "", *[f"- {w}" for w in experiment.warnings]]
    heading = (
        f"## Pareto front ({len(front.front)} of {int(front.table['feasible'].sum())} configs above the bar, "
        "sorted by FLOPs)"
        if front.cleared
        else "## Pareto front: none (no config above the bar)"
    )
    lines += ["", heading, "", *report.front_lines(analysis, markdown=True)]
    lines += [
        "",
        "## Picks",
        "",
        *[f"- {p}" for p in report.picks(analysis)],
        *[f"- {n}" for n in report.notebook_text(analysis)],
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
    path.write_text("\n".join(lines) + "\n")
