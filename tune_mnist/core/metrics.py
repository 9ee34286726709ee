"""Every reported metric, in one table: its name (one string in the rows, the analysis, its CSV files
and plots), unit, words, direction, plot axis and hypervolume reference. Everything downstream reads
``METRICS``, so a new evaluated metric is a row here and its computation in ``tune_mnist.training.rows``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

#: ``Metric.group``: the part of a per-epoch row that holds the metric (``tune_mnist.training.rows``
#: fills each part at once), or ``SEARCH`` for a value the trainable reports beside the row.
EPOCH_GROUP, LOSS_GROUP, ACCURACY_GROUP, TIMING_GROUP = "epoch", "loss", "accuracy", "timing"
COST_GROUP, DESCRIPTION_GROUP, SPLIT_GROUP = "cost", "description", "split sizes"
LATENCY_GROUP, ENVIRONMENT_GROUP = "latency", "environment"
SEARCH = "search"
#: ``Metric.log_axis``: a log axis always (counts spanning decades), where the values span more than
#: ``WIDE`` times (latency), or never.
LOG, LOG_IF_WIDE, LINEAR = "log", "log if wide", "linear"
WIDE = 20
#: ``Metric.reference`` of an accuracy: the accuracy bar, which every config on the front is above.
THE_BAR = "the accuracy bar"
#: The notebook's model, 784-1024-1024-10: the fixed reference of the cost objectives, so that
#: hypervolumes of different experiments compare (``tests/test_one_home.py`` checks these counts).
BASELINE = "the notebook's 784-1024-1024-10 baseline"
US_PER_SAMPLE = "us/sample"


@dataclass(frozen=True)
class Metric:
    """One reported metric and how every output reads it."""

    name: str
    group: str
    unit: str = ""  # "" where it has none (a loss, a count of operations beside FLOPs)
    label: str = ""  # in words, for plot axes and titles; the name where empty
    short: str = ""  # in a table's header or a sentence ("FLOPs"); the name where empty
    direction: str = ""  # "max" or "min": which way is better; "" for a description
    log_axis: str = LINEAR
    #: The hypervolume's reference where it is an objective in its direction: a fixed value (beside
    #: ``reference_source``), ``THE_BAR``, or None for this experiment's worst value (not comparable).
    reference: float | str | None = None
    reference_source: str = ""
    ideal: float | None = None  # its best possible value (1 for an accuracy, 0 for a cost), if it has one

    @property
    def words(self) -> str:
        return self.label or self.name

    @property
    def heading(self) -> str:
        return self.short or self.name


def _accuracy(name: str, label: str) -> Metric:
    return Metric(name, ACCURACY_GROUP, "fraction", label, direction="max", reference=THE_BAR, ideal=1.0)


def _loss(name: str) -> Metric:
    return Metric(name, LOSS_GROUP, direction="min", ideal=0.0)


def _timing(name: str) -> Metric:
    return Metric(name, TIMING_GROUP, "s", direction="min", ideal=0.0)


def _cost(
    name: str,
    unit: str = "",
    label: str = "",
    short: str = "",
    log_axis: str = LINEAR,
    reference: float | None = None,
) -> Metric:
    source = BASELINE if reference is not None else ""
    return Metric(
        name,
        COST_GROUP,
        unit,
        label,
        short,
        direction="min",
        log_axis=log_axis,
        reference=reference,
        reference_source=source,
        ideal=0.0,
    )


def _latency(name: str, label: str, short: str) -> Metric:
    return Metric(
        name,
        LATENCY_GROUP,
        US_PER_SAMPLE,
        label,
        short,
        direction="min",
        log_axis=LOG_IF_WIDE,
        reference=1000.0,
        reference_source="1 ms",
        ideal=0.0,
    )


EPOCH = "epoch"
#: Every metric, the per-epoch row's in the order the rows hold them.
METRICS: tuple[Metric, ...] = (
    Metric(EPOCH, EPOCH_GROUP),
    _loss("train_loss"),
    _accuracy("train_acc", "training accuracy"),
    _loss("val_loss"),
    _accuracy("val_acc", "validation accuracy"),
    _loss("test_loss"),
    _accuracy("test_acc", "test accuracy"),
    _timing("epoch_time_s"),
    _timing("train_time_s"),
    _cost("params", unit="parameters", label="parameters", short="params", log_axis=LOG, reference=1863690.0),
    _cost(
        "flops",
        unit="FLOPs/sample",
        label="FLOPs per sample (multiply-add = 2)",
        short="FLOPs",
        log_axis=LOG,
        reference=3723264.0,
    ),
    _cost("flops_bias_relu", log_axis=LOG, reference=4106.0),
    _cost("in_features"),
    Metric("input_spec", DESCRIPTION_GROUP),
    Metric("architecture", DESCRIPTION_GROUP),
    Metric("train_size", SPLIT_GROUP),
    Metric("val_size", SPLIT_GROUP),
    Metric("test_size", SPLIT_GROUP),
    _latency("latency_p50_us", "latency, batch 1, median", "latency p50"),
    _latency("latency_p90_us", "latency, batch 1, p90", "latency p90"),
    _latency("latency_p99_us", "latency, batch 1, p99", "latency p99"),
    _latency("latency_batch_us", "latency per sample at a large batch", "latency batch"),
    Metric("latency_batch_size", LATENCY_GROUP, log_axis=LOG_IF_WIDE),
    Metric("device", ENVIRONMENT_GROUP),
    Metric("device_name", ENVIRONMENT_GROUP),
    Metric("threads", ENVIRONMENT_GROUP),
    Metric("torch_version", ENVIRONMENT_GROUP),
    #: What the adaptive searcher minimises (``tune_mnist.core.objectives.SEARCH_OBJECTIVES``).
    Metric("accuracy_shortfall", SEARCH, "fraction", direction="min", ideal=0.0),
)


def metric(name: str) -> Metric:
    """The table's row for ``name``; a column the table does not know (one a trainable of the user's
    reported) is a metric with no unit, words or direction."""
    return next((m for m in METRICS if m.name == name), Metric(name, SEARCH))


def names(group: str) -> tuple[str, ...]:
    """The metrics of one ``group``, in the table's order."""
    return tuple(m.name for m in METRICS if m.group == group)


def row_keys() -> tuple[str, ...]:
    """Every key of every per-epoch row the training loop yields, in the order the rows hold them."""
    return tuple(m.name for m in METRICS if m.group != SEARCH)


def log_axis(name: str, values: Iterable[float]) -> bool:
    """Whether a plot draws ``name``'s ``values`` (the numbers it has) on a log axis."""
    kind = metric(name).log_axis
    if kind != LOG_IF_WIDE:
        return kind == LOG
    values = list(values)
    return bool(values) and min(values) > 0 and max(values) / min(values) > WIDE


def missing(value: object) -> bool:
    """Whether a value is absent: None, or NaN (a table's empty cell, a split the run did not hold out)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def finite(value: object) -> bool:
    """Whether a reported value is a number to count: an int or a float, finite, and not a bool
    (a missing split's accuracy is NaN; a flag such as ``done`` is no measurement)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def latency_text(value: object) -> str:
    """A latency in microseconds with three significant digits (0.266, 23.4, 812), whole from 1000 on
    (1,234), as the live table and the analysis write it; "-" where there is none."""
    if not finite(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


ACCURACY = names(ACCURACY_GROUP)
LOSS = names(LOSS_GROUP)
TIMING = names(TIMING_GROUP)
COST = names(COST_GROUP)
SPLIT_SIZES = names(SPLIT_GROUP)
DESCRIPTION = (*names(DESCRIPTION_GROUP), *SPLIT_SIZES)
LATENCY = names(LATENCY_GROUP)
#: Per-sample latencies in microseconds: batch-1 percentiles, then the per-sample time at a large batch.
LATENCY_US = tuple(name for name in LATENCY if metric(name).unit == US_PER_SAMPLE)
ENVIRONMENT = names(ENVIRONMENT_GROUP)

PACK_SIZE = "pack_size"  # configs trained together in the trial (1 unless --pack)
#: A pack trial's report (not a member's row): member index -> the early-stop decision of this epoch.
STOPPED_MEMBERS = "stopped_members"
#: A pack trial's report: True when the pack stopped because it could not finish before the budget's end.
STOPPED_BY_BUDGET = "stopped_by_budget"
PLACEMENT = ("node_ip", "node_id", "gpu_ids")  # added by the trainable: where the trial ran
