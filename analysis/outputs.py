"""The analysis as files: tables (CSV), plots (PNG) and report.md in the output directory, and with
``--export`` the front's models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import report, report_files
from analysis.confirmation import LUCKY_PLOT, changed_pick_lines, lucky_lines, lucky_table
from analysis.find import ANALYSIS_DIR
from analysis.html_report import HTML_FILE, write_html
from analysis.load import Experiment
from analysis.result import Analysis
from tune_mnist.core.errors import InputError


def output_dir(out: str | None, experiment: Experiment) -> Path:
    """``out``, else ``analysis/`` inside a local experiment or ``./<name>-analysis`` for a URI; made,
    and emptied of the files an earlier analysis wrote there (this one may not rewrite them all)."""
    path = (
        Path(out)
        if out
        else (
            Path(experiment.location.root) / ANALYSIS_DIR
            if experiment.location.local
            else Path(f"{experiment.name}-{ANALYSIS_DIR}")
        )
    )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"Output directory {path} cannot be created ({exc.strerror}): pass --out with a directory you can write to."
        ) from None
    for stale in report_files.FILE_MEANING:
        (path / stale).unlink(missing_ok=True)
    return path


def write_outputs(analysis: Analysis, out: Path) -> list[Path]:
    """Plots, tables and report.md; returns the files written, in the order report.md lists them."""
    from analysis import plots  # matplotlib only when there is something to draw

    front, remeasured = analysis.front, analysis.remeasured
    accuracy, latency = analysis.accuracy_metric, analysis.latency_metric
    drawn = plots.scatter_plots(
        front, out, accuracy, latency, analysis.experiment.name, report.notebook_matches(front.table), analysis.bar_on
    )
    drawn.append(plots.learning_curves(analysis.experiment, front.table, out, accuracy, analysis.min_accuracy))
    if remeasured is not None:
        drawn.append(plots.remeasure_plot(remeasured.table, out, latency))
    confirmation, lucky = confirmation_text(analysis)
    if not lucky.empty:
        from analysis.confirm_plot import lucky_seed_plot

        drawn.append(lucky_seed_plot(lucky, out, accuracy, analysis.min_accuracy))
    files = report_files.write_tables(out, analysis.experiment, front, remeasured)
    runtime_lines = []
    for runtime, other in (remeasured.runtimes if remeasured is not None else {}).items():
        from analysis import runtimes

        files += runtimes.write_tables(out, remeasured, other)
        runtime_lines += ["", *runtimes.comparison_text(remeasured, other, runtime, accuracy, latency, markdown=True)]
    files += drawn
    files += [out / "report.md", out / HTML_FILE]
    header, rows = report.table_rows(front.front, accuracy, latency, analysis.extra_columns)
    report_files.write_markdown(
        out,
        experiment=analysis.experiment,
        front=front,
        settings=analysis.settings,
        counts=report.counts_text(analysis.experiment, analysis.skipped),
        excluded=report.excluded_lines(analysis.experiment, analysis.skipped),
        warnings=analysis.experiment.warnings,
        front_table=(
            report.format_table(header, rows, markdown=True)
            if front.cleared
            else report.nothing_clears_text(front, analysis.bar_label)
        ),
        picks_text=picks(analysis),
        notebook=notebook(analysis),
        plots=drawn,
        confirmation=confirmation,
        remeasured=(
            report.remeasure_text(front, remeasured, accuracy, latency, markdown=True) + runtime_lines
            if remeasured is not None
            else None
        ),
        files=files,
    )
    from analysis.interactive import analysis_section  # plotly where it is installed, else the sentence

    csvs = [f for f in files if f.suffix == ".csv"]
    write_html(out / "report.md", csvs, interactive=analysis_section(analysis))  # one self-contained file
    return files


@dataclass
class Exported:
    directory: Path
    configs: int
    index: Path
    warnings: list[str]
    format: str = "state_dict"
    lines: list[str] = field(default_factory=list)  # what the export checked, one line per model


def convert_export(exported: Exported, run_options: dict, threads: int = 1) -> None:
    """``--format onnx``: each exported model as a model.onnx checked against PyTorch on the test set."""
    from analysis.onnx_export import convert_to_onnx, verification_lines

    index, warnings = convert_to_onnx(exported.index, run_options, threads)
    exported.format, exported.lines = "onnx", verification_lines(index)
    exported.warnings += warnings


def log_to_mlflow(requested: str, analysis: Analysis, files: list[Path]) -> str:
    """``--mlflow``: the analysis as a run named analysis in the experiment's MLflow experiment; a line to print."""
    from analysis.mlflow_log import log_analysis

    front, experiment = analysis.final, analysis.experiment
    params = {
        "min_accuracy": analysis.min_accuracy,
        "accuracy_metric": analysis.accuracy_metric,
        "bar_on": analysis.bar_on,
        "objectives": ",".join(str(o) for o in analysis.objectives),
        "epoch": analysis.epoch or "last",
        "remeasured": analysis.remeasured is not None,
    }
    metrics = {
        "front_size": len(front.front),
        "feasible_configs": int(front.table["feasible"].sum()),
        "configs": len(analysis.front.table),
        "hypervolume": front.hypervolume,
    }
    uri, run_id = log_analysis(requested, experiment.location.root, experiment.name, files, params, metrics)
    return f"Logged to MLflow: run analysis ({run_id}) in experiment {experiment.name} at {uri}."


def export_models(analysis: Analysis, directory: str) -> Exported:
    """Every seed of each config on the final front (re-measured where it was) as model.pt + config.json."""
    from analysis.export import export_front

    chosen = analysis.final.front
    index, warnings = export_front(analysis.experiment, chosen, directory, analysis.epoch)
    return Exported(Path(directory).resolve(), len(chosen), index, warnings)


def picks(analysis: Analysis) -> list[str]:
    """The fewest-FLOPs and lowest-latency configs above the bar, in words; where confirmation changed a
    pick, the screening pick (first seeds alone) too. None where no config is above the bar (the front's
    place then says so, naming the closest: ``report.nothing_clears_text``)."""
    if not analysis.cleared:
        return []
    out = report.picks(
        analysis.final, analysis.accuracy_metric, analysis.latency_metric, analysis.remeasured is not None
    )
    if analysis.screening is not None:
        out += changed_pick_lines(
            analysis.screening.feasible, analysis.final.feasible, analysis.accuracy_metric, analysis.latency_metric
        )
    unconfirmed = analysis.front.front[~analysis.front.front["confirmed"]]
    if not unconfirmed.empty:
        out.append(
            f"Unconfirmed (fewer than {analysis.confirm_k} seeds, so a lucky seed may carry them): "
            f"{', '.join(unconfirmed['label'])}; run the search with --confirm {analysis.confirm_k}."
        )
    return out


def confirmation_text(analysis: Analysis) -> tuple[list[str], pd.DataFrame]:
    """The report's confirmation section and the lucky-seed table behind its plot."""
    if analysis.trials is None:
        return [], pd.DataFrame()
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


def notebook(analysis: Analysis) -> list[str]:
    """Where the notebook's pick stands."""
    return report.notebook_text(
        analysis.front,
        analysis.accuracy_metric,
        analysis.bar_on,
        analysis.remeasured.front if analysis.remeasured is not None else None,
    )
