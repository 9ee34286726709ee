"""The analysis from Python: ``load_analysis(path)`` reads an experiment and computes what
``python -m analysis.pareto`` computes, as pandas tables and matplotlib figures, writing no file
unless ``write`` is called. The command line is the same steps plus printing and writing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import report
from analysis.outputs import epochs_table, output_dir, write_outputs
from analysis.result import Analysis, compute, load_finished
from analysis.runtimes import FORMATS
from tune_mnist.core.errors import InputError


@dataclass
class ExperimentAnalysis:
    """One experiment's analysis as the command computes it: ``configs`` (one row per config, seeds grouped),
    ``front``, ``epochs``, ``picks``, ``figures()``, ``plotly_figures()`` and ``export()`` (as ``--export``)."""

    result: Analysis  # every number the command's outputs are made from

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
        return report.picks(self.result)

    def figures(self) -> dict[str, Any]:
        """The command's plots as matplotlib figures (name -> Figure)."""
        from analysis import plots

        return {Path(name).stem: fig for name, fig in plots.figures(self.result).items()}

    def plotly_figures(self) -> dict[str, Any]:
        """Accuracy vs FLOPs and vs latency as report.html's plotly figures (name -> Figure); without
        plotly (``pip install -e ".[plot]"``) an ``InputError`` says so."""
        from analysis.interactive import analysis_figures

        return analysis_figures(self.result)

    def export(
        self, directory: str | os.PathLike, labels: str | list[str] | None = None, format: str = "state_dict"
    ) -> pd.DataFrame:
        """Every seed of the configs named by ``labels`` (default: the front) into ``directory``, as
        ``--export`` writes them (``format="onnx"``: model.onnx checked against PyTorch, as ``--format
        onnx``); returns the index (index.csv). Load one with ``tune_mnist.model.saved.load_model``."""
        from analysis.export import export_front

        if format not in FORMATS:
            raise InputError(f"format={format!r} is not an export format: pass one of {', '.join(FORMATS)}.")
        chosen = self.result.final.front
        if labels is not None:
            wanted = [labels] if isinstance(labels, str) else list(labels)
            unknown = [label for label in wanted if label not in set(self.configs["label"])]
            if unknown or not wanted:
                named = (
                    f"No config labelled {', '.join(map(repr, unknown))}" if unknown else "labels=[] names no config"
                )
                raise InputError(
                    f"{named} in {self.result.experiment.path}: pass labels from .configs['label'] "
                    "(or None, for the front)."
                )
            chosen = self.configs[self.configs["label"].isin(wanted)]
        exported = export_front(self.result.experiment, chosen, directory, self.result.epoch, format)
        return pd.read_csv(exported.index)

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
