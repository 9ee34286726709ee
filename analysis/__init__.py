"""The Pareto analysis of finished experiments: ``python -m analysis.pareto [EXPERIMENT]``. It reads
what ``tune_mnist.search`` wrote to disk and never imports the search, the trainable or Ray
(docs/architecture.md lists its modules in the order the data flows through them)."""

import importlib


def __getattr__(name: str) -> object:
    """``load_analysis`` and ``ExperimentAnalysis``, imported on first use (pandas, not at ``import analysis``)."""
    if name in ("load_analysis", "ExperimentAnalysis"):
        return getattr(importlib.import_module("analysis.api"), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
