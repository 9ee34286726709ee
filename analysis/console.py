"""The analysis as printed text: what was used, the front table, its hypervolume, the picks and
where the files are."""

from __future__ import annotations

from pathlib import Path

from analysis import report
from analysis.export import Exported
from analysis.load import excluded_lines
from analysis.result import Analysis
from analysis.runtimes import remeasured_text


def print_summary(analysis: Analysis, files: list[Path], out: Path, exported: Exported | None = None) -> None:
    experiment, front = analysis.experiment, analysis.front
    print(f"Experiment: {experiment.path}")
    print(f"Trials: {analysis.trial_counts}.")
    for line in excluded_lines(experiment, analysis.skipped):
        print(f"  not used: {line}")
    for trial in experiment.usable():
        if trial.reason:
            print(f"  note: {trial.name}: {trial.reason}")
    print("; ".join(analysis.settings) + ".")
    print()
    if analysis.front.cleared:
        print(
            f"Pareto front: {len(front.front)} of {int(front.table['feasible'].sum())} configs above the bar "
            f"({len(front.table)} configs in all), sorted by FLOPs:"
        )
    print("\n".join(report.front_lines(analysis)))
    if front.unranked:
        print(f"Above the bar but missing an objective value (not ranked): {', '.join(front.unranked)}.")
    remeasured = remeasured_text(analysis)
    if remeasured:
        print()
        print("\n".join(remeasured))
    print()
    for line in report.picks(analysis) + report.notebook_text(analysis):
        print(line)
    print()
    if exported is not None and exported.format == "onnx":
        print(
            f"Exported {exported.configs} front config(s) to {exported.directory} as ONNX (index: "
            f"{exported.index.name}); each model.onnx takes transformed features, see docs/deploy-runtime.md:"
        )
        print("\n".join(exported.lines))
    elif exported is not None:
        print(
            f"Exported {exported.configs} front config(s) to {exported.directory} "
            f"(index: {exported.index.name}); load one with tune_mnist.model.saved.load_model(DIR)."
        )
    print(f"Wrote {', '.join(f.name for f in files)} to {out.resolve()}")
