"""The analysis from Python: ``load_analysis(path)`` reads an experiment and computes what
``python -m analysis.pareto`` computes, as pandas tables and matplotlib figures, writing no file
unless ``write`` is called. The command line is the same steps plus printing and writing."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import report
from analysis.outputs import output_dir, write_outputs
from analysis.report_files import epochs_table
from analysis.result import Analysis, compute, load_finished
from tune_mnist.core.errors import InputError

EXPORT_FORMATS = ("state_dict", "onnx")


@dataclass
class ExperimentAnalysis:
    """One experiment's analysis: ``configs`` (one row per config, seeds grouped, with ``feasible``,
    ``pareto_rank`` and ``on_front``), ``front`` (its rows on the Pareto front), ``epochs`` (every
    epoch of the trials behind them), ``picks`` (the printed picks), ``figures()`` (matplotlib) and
    ``plotly_figures()`` (interactive); ``export()`` writes chosen models as ``--export`` does."""

    result: Analysis  # every number the command's outputs are made from

    @property
    def path(self) -> str:
        return str(self.result.experiment.path)

    @property
    def configs(self) -> pd.DataFrame:
        return self.result.final.table

    @property
    def front(self) -> pd.DataFrame:
        return self.result.final.front

    @cached_property
    def epochs(self) -> pd.DataFrame:
        return epochs_table(self.result.experiment, self.result.front.table)

    @property
    def picks(self) -> list[str]:
        result = self.result
        return report.picks(result.final, result.accuracy_metric, result.latency_metric, result.remeasured is not None)

    def figures(self) -> dict[str, Any]:
        """The command's plots as matplotlib figures (name -> Figure), drawn in a scratch directory that
        is removed again: the plot functions draw to files, and each is read back into a figure."""
        import matplotlib.image as mpimg
        import matplotlib.pyplot as plt

        from analysis import plots

        result, out = self.result, None
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch)
            drawn = plots.scatter_plots(
                result.front,
                out,
                result.accuracy_metric,
                result.latency_metric,
                result.experiment.name,
                report.notebook_matches(result.front.table),
                result.bar_on,
            )
            drawn.append(
                plots.learning_curves(
                    result.experiment, result.front.table, out, result.accuracy_metric, result.min_accuracy
                )
            )
            figures = {}
            for png in drawn:
                image = mpimg.imread(png)
                height, width = image.shape[:2]
                fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
                fig.figimage(image)
                figures[png.stem] = fig
        return figures

    def plotly_figures(self) -> dict[str, Any]:
        """Accuracy vs FLOPs and vs latency as interactive plotly figures (name -> Figure), as report.html
        shows them: hover a point for its config. Needs plotly (``pip install -e ".[plot]"``): without
        it, ``InputError`` says so."""
        from analysis.interactive import analysis_figures

        return analysis_figures(self.result)

    def export(
        self, directory: str | os.PathLike, labels: str | list[str] | None = None, format: str = "state_dict"
    ) -> pd.DataFrame:
        """Every seed of the configs named by ``labels`` (default: the front) into ``directory``, as
        ``--export`` writes them (``format="onnx"``: model.onnx checked against PyTorch, as ``--format
        onnx``); returns the index (index.csv). Load one with ``tune_mnist.model.saved.load_model``."""
        from analysis.export import export_front
        from analysis.outputs import Exported, convert_export

        if format not in EXPORT_FORMATS:
            raise InputError(f"format={format!r} is not an export format: pass one of {', '.join(EXPORT_FORMATS)}.")
        chosen = self.result.final.front
        if labels is not None:
            wanted = [labels] if isinstance(labels, str) else list(labels)
            unknown = [label for label in wanted if label not in set(self.configs["label"])]
            if unknown or not wanted:
                named = (
                    f"No config labelled {', '.join(map(repr, unknown))}" if unknown else "labels=[] names no config"
                )
                raise InputError(
                    f"{named} in {self.path}: pass labels from .configs['label'] (or None, for the front)."
                )
            chosen = self.configs[self.configs["label"].isin(wanted)]
        index, warnings = export_front(self.result.experiment, chosen, directory, self.result.epoch)
        exported = Exported(Path(directory).resolve(), len(chosen), index, warnings)
        if format == "onnx":
            convert_export(exported, self.result.experiment.run_options)
        for warning in exported.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return pd.read_csv(index)

    def write(self, out: str | os.PathLike | None = None) -> list[Path]:
        """Every file the command writes (tables, plots, report.md, report.html) into ``out`` (default:
        ``analysis/`` inside a local experiment); returns them."""
        return write_outputs(self.result, output_dir(None if out is None else str(out), self.result.experiment))


def load_analysis(
    experiment: str | os.PathLike | None = None, storage_path: str = "ray_results", **options: Any
) -> ExperimentAnalysis:
    """The analysis of ``experiment`` (a path, a URI, a name under ``storage_path``; None: the most
    recent there). ``options`` are ``analysis.result.compute``'s: ``epoch``, ``accuracy_metric``,
    ``bar_on``, ``min_accuracy``, ``objectives``, ``reference``. A bad one raises ``InputError``."""
    loaded = load_finished(None if experiment is None else str(experiment), storage_path)
    return ExperimentAnalysis(compute(loaded, **options))
