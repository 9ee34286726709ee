"""The Pareto analysis of finished experiments: ``python -m analysis.pareto [EXPERIMENT]``.

Data flows one way: this package reads what ``tune_mnist.search`` wrote to disk and uses only
tune_mnist's config, objectives, metric names, file layout, storage, saved-model format, model and
measurements; it never imports the search, the trainable or Ray.

- ``find``, ``load``, ``trial_files``: an experiment directory or URI -> trials with their status and per-epoch rows
- ``aggregate``: one row per trial at an epoch -> one row per config, seeds grouped
- ``front``: the accuracy bar, the Pareto front (moocore), the hypervolume
- ``result``: load + aggregate + front -> ``Analysis``, the numbers every output is made from
- ``remeasure``: latency of the front's models timed again alone, the front recomputed
- ``outputs``: an ``Analysis`` as files: tables, plots, report.md, and the front's models
  (``export``: state_dict + config.json)
- ``console``: an ``Analysis`` as the printed summary
- ``plots``, ``report``, ``report_files``: the PNGs; the sentences both outputs share; the tables and report.md
- ``plot_labels``: the PNGs' front labels, placed clear of each other and of the markers (adjustText, optional)
- ``interactive``: the front as plotly figures (optional), for report.html and ``plotly_figures()``
- ``pareto``: the command line: compute, write, print
- ``api``: ``from analysis import load_analysis``: the same from Python, as DataFrames and figures"""

import importlib


def __getattr__(name: str) -> object:
    """``load_analysis`` and ``ExperimentAnalysis``, imported on first use (pandas, not at ``import analysis``)."""
    if name in ("load_analysis", "ExperimentAnalysis"):
        return getattr(importlib.import_module("analysis.api"), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
