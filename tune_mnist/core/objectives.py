"""What the study optimises, defined once: the accuracy bar and the objectives of the front.

The search CLI, the trainable (``accuracy_shortfall``), the search spaces, the summary and the
analysis all read these, so changing the default bar or objectives is a one-line change here."""

from __future__ import annotations

from tune_mnist.core.metrics import metric

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


def objectives_text(accuracy_metric: str = SELECTION_METRIC) -> str:
    """The default objectives as the analysis's ``--objectives`` writes them."""
    return ",".join(f"{accuracy_metric if name == SELECTION_METRIC else name}:{sense}" for name, sense in OBJECTIVES)
