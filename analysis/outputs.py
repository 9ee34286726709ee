"""The analysis as files: tables (CSV), plots (PNG) and report.md in the output directory, and with
``--export`` the front's models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analysis import report
from analysis.load import ANALYSIS_DIR, Experiment
from analysis.result import Analysis
from tune_mnist.errors import InputError


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
    for stale in report.FILE_MEANING:
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
    files = report.write_tables(out, analysis.experiment, front, remeasured)
    files += drawn
    files.append(out / "report.md")
    header, rows = report.table_rows(front.front, accuracy, latency, analysis.extra_columns)
    report.write_markdown(
        out,
        experiment=analysis.experiment,
        front=front,
        settings=analysis.settings,
        counts=report.counts_text(analysis.experiment, analysis.skipped),
        excluded=report.excluded_lines(analysis.experiment, analysis.skipped),
        warnings=analysis.experiment.warnings,
        front_table=report.format_table(header, rows, markdown=True),
        picks_text=picks(analysis),
        notebook=notebook(analysis),
        plots=drawn,
        remeasured=(
            report.remeasure_text(front, remeasured, accuracy, latency, markdown=True)
            if remeasured is not None
            else None
        ),
        files=files,
    )
    return files


@dataclass
class Exported:
    directory: Path
    configs: int
    index: Path
    warnings: list[str]


def export_models(analysis: Analysis, directory: str) -> Exported:
    """Every seed of each config on the final front (re-measured where it was) as model.pt + config.json."""
    from analysis.export import export_front

    chosen = analysis.final.front
    index, warnings = export_front(analysis.experiment, chosen, directory, analysis.epoch)
    return Exported(Path(directory).resolve(), len(chosen), index, warnings)


def picks(analysis: Analysis) -> list[str]:
    """The fewest-FLOPs and lowest-latency configs above the bar, in words."""
    return report.picks(
        analysis.final, analysis.accuracy_metric, analysis.latency_metric, analysis.remeasured is not None
    )


def notebook(analysis: Analysis) -> list[str]:
    """Where the notebook's pick stands."""
    return report.notebook_text(
        analysis.front,
        analysis.accuracy_metric,
        analysis.bar_on,
        analysis.remeasured.front if analysis.remeasured is not None else None,
    )
