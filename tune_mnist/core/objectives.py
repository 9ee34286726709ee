"""What the study optimises, defined once: the accuracy bar and the objectives of the front.

The search CLI, the trainables (``accuracy_shortfall``), the search spaces, the summary and the
analysis all read these, so changing the default bar or objectives is a one-line change here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tune_mnist.core.metrics import finite, metric

#: The accuracy bar: a model counts as good enough when its selection accuracy is above it.
DEFAULT_MIN_ACCURACY = 0.90
#: The accuracy the search selects on (a validation split held out from the training set).
SELECTION_METRIC = "val_acc"
#: The front's objectives (name, sense: the metric's direction) in the summary and the analysis.
OBJECTIVES: tuple[tuple[str, str], ...] = tuple(
    (name, metric(name).direction) for name in (SELECTION_METRIC, "flops", "latency_p50_us")
)
#: What the adaptive searcher minimises: the shortfall below the bar instead of the accuracy itself,
#: so every model above the bar counts as equally accurate and cost decides between them.
SEARCH_OBJECTIVES: tuple[str, ...] = ("accuracy_shortfall", "flops", "latency_p50_us")


def selection_accuracy(row: Mapping[str, Any]) -> float:
    """The accuracy the bar applies to in a result row (the scheduler, member stopping, the cost-aware
    searcher): ``SELECTION_METRIC``, else the test accuracy where no validation split was held out, else NaN."""
    for name in (SELECTION_METRIC, "test_acc"):
        value = row.get(name)
        if finite(value):
            return float(value)
    return math.nan


def accuracy_shortfall(row: Mapping[str, Any], config: Mapping[str, Any]) -> float:
    """How far a row's selection accuracy is below the run's bar (``config["min_accuracy"]``): what the
    adaptive searcher minimises (``SEARCH_OBJECTIVES``); 0 where it has no accuracy."""
    return max(0.0, float(config.get("min_accuracy", DEFAULT_MIN_ACCURACY)) - selection_accuracy(row))


def objectives_text(accuracy_metric: str = SELECTION_METRIC) -> str:
    """The default objectives as the analysis's ``--objectives`` writes them."""
    return ",".join(f"{accuracy_metric if name == SELECTION_METRIC else name}:{sense}" for name, sense in OBJECTIVES)
