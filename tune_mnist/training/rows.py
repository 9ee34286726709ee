"""The per-epoch result row, built in one place for the one-config loop and the packed engine, so that
a new metric is added once (its row in ``tune_mnist.core.metrics.METRICS``, its value here) and both
report it under the same name, in the table's order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.metrics import ACCURACY, COST, DESCRIPTION, EPOCH, LATENCY, LOSS, SPLIT_SIZES, TIMING, row_keys
from tune_mnist.model.counts import mlp_bias_relu_ops, mlp_flops, mlp_params


def split_sizes(train: int, val: int, test: int) -> dict[str, int]:
    """Samples in each split, under ``SPLIT_SIZES``' names."""
    return dict(zip(SPLIT_SIZES, (train, val, test)))


def static_fields(config: TrialConfig, sizes: Mapping[str, int]) -> dict[str, Any]:
    """What a config's rows repeat every epoch: its cost (``COST``) and description (``DESCRIPTION``)."""
    f, d, w = config.in_features, config.depth, config.width
    values = (
        mlp_params(f, d, w),
        mlp_flops(f, d, w),
        mlp_bias_relu_ops(f, d, w),
        f,
        config.input_spec,
        config.architecture,
        *(sizes[key] for key in SPLIT_SIZES),
    )
    return dict(zip(COST + DESCRIPTION, values, strict=True))


def epoch_row(
    epoch: int,
    losses: Sequence[float],
    accuracies: Sequence[float],
    epoch_time_s: float,
    train_time_s: float,
    static: Mapping[str, Any],
    measured: Mapping[str, Any],
) -> dict[str, Any]:
    """One epoch's row: ``losses`` and ``accuracies`` on (train, val, test), the epoch's and the running
    training time, ``static_fields`` and ``measured`` (``measure_latency``'s result, or only
    ``environment_row`` when latency was not measured: the latency keys are then left out).

    The keys are exactly the table's ``row_keys()`` (less the latency ones), in its order; anything else
    is a bug."""
    values = {
        EPOCH: epoch,
        **dict(zip(LOSS, losses, strict=True)),
        **dict(zip(ACCURACY, accuracies, strict=True)),
        **dict(zip(TIMING, (epoch_time_s, train_time_s))),
        **static,
        **measured,
    }
    keys = row_keys()  # the table as it is now (a test adds a metric to it)
    unknown = set(values) - set(keys)
    missing = set(keys) - set(LATENCY) - set(values)
    if unknown or missing:
        raise ValueError(
            f"An epoch row must have the keys of tune_mnist.core.metrics.METRICS: unknown "
            f"{sorted(unknown)} (add a row to that table), missing {sorted(missing)}."
        )
    return {key: values[key] for key in keys if key in values}
