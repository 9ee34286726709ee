"""From trials to the result table: one row per trial at the chosen epoch, then one row per config
with its seeds grouped (accuracy as mean, standard deviation and minimum over seeds)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.confirmation import lcb_values
from analysis.load import Experiment, Trial
from tune_mnist.confirm.rule import pooled_sigma
from tune_mnist.core.config import CONFIG_KEYS, DATA_KEYS, TrialConfig, config_key
from tune_mnist.core.errors import InputError
from tune_mnist.core.labels import DISTINGUISHING, distinct_labels
from tune_mnist.core.layout import RAY_FIELDS_NOT_AVERAGED
from tune_mnist.core.metrics import ACCURACY, missing
from tune_mnist.model.counts import mlp_flops, mlp_params

#: A config's seeds are grouped by ``config_key(row, data=True)``: its fields but the seed, and the data it saw.
GROUP_KEYS = tuple(k for k in CONFIG_KEYS if k != "seed") + DATA_KEYS
BAR_ON = ("mean", "min", "lcb")  # lcb: mean - 1.645 * pooled seed std / sqrt(n) (analysis.confirmation)
FIRST = (
    "label",
    "input_spec",
    "architecture",
    "depth",
    "width",
    "crop",
    "side",
    "scaling",
    "lr",
    "batch_size",
    "epochs",
    "n_seeds",
    "seeds",
    "confirmed",
    "bar_value",
    "feasible",
)


def trial_table(experiment: Experiment, epoch: int | None = None) -> tuple[pd.DataFrame, list[tuple[Trial, str]]]:
    """One row per usable trial: its config (from params.json) and every metric it reported at
    ``epoch`` (default: its last). Trials without that epoch come back with the reason."""
    rows, skipped = [], []
    for trial in experiment.usable():
        history = trial.history
        if epoch is None:
            row = history.iloc[-1]
        else:
            match = history[history["epoch"] == epoch]
            if match.empty:
                skipped.append(
                    (
                        trial,
                        f"has no epoch {epoch} (it reported epochs "
                        f"{int(history['epoch'].min())} to {int(history['epoch'].max())})",
                    )
                )
                continue
            row = match.iloc[-1]
        try:
            config = TrialConfig.from_dict(trial.params)
        except (InputError, TypeError, ValueError) as exc:
            skipped.append((trial, f"has an invalid config in params.json ({exc})"))
            continue
        record: dict[str, Any] = {k: v for k, v in row.items() if not missing(v)}
        record.update(config.to_dict())
        record.update({k: trial.params.get(k) for k in DATA_KEYS})
        # Descriptions and costs follow from the config; fill them in for results that lack them.
        record.setdefault("input_spec", config.input_spec)
        record.setdefault("architecture", config.architecture)
        record.setdefault("in_features", config.in_features)
        record.setdefault("flops", mlp_flops(config.in_features, config.depth, config.width))
        record.setdefault("params", mlp_params(config.in_features, config.depth, config.width))
        record["trial_id"], record["trial_dir"] = trial.trial_id, trial.name
        rows.append(record)
    if not rows and epoch is not None and skipped:
        last = max(int(t.history["epoch"].max()) for t, _ in skipped)
        raise InputError(
            f"No finished trial reported epoch {epoch}: pass --epoch between 1 and {last}, "
            "or leave --epoch out to use each trial's last epoch."
        )
    return pd.DataFrame(rows), skipped


def aggregate(trials: pd.DataFrame, accuracy_metric: str = "val_acc", bar_on: str = "mean") -> pd.DataFrame:
    """One row per config: numeric metrics as seed means, accuracies also ``<m>_std`` and ``<m>_min``, and
    ``bar_value``, the ``bar_on`` statistic of ``accuracy_metric`` that the accuracy bar is applied to."""
    if bar_on not in BAR_ON:
        raise InputError(f"--bar-on {bar_on!r} is invalid: use mean, min or lcb.")
    if accuracy_metric not in trials.columns or trials[accuracy_metric].isna().all():
        reported = [m for m in ACCURACY if m in trials.columns and trials[m].notna().any()]
        hint = (
            "this experiment has no validation split (--validation-size 0): pass --accuracy-metric test_acc"
            if accuracy_metric == "val_acc" and "test_acc" in reported
            else f"pass --accuracy-metric with one it did ({', '.join(reported)})"
            if reported
            else "its result.json rows have no accuracy at all; check that the trials ran tune_mnist's trainable"
        )
        raise InputError(f"No trial reported {accuracy_metric}: {hint}.")
    keys = [k for k in GROUP_KEYS if k in trials.columns]
    groups = trials.assign(_key=trials.apply(config_key, axis=1, data=True)).groupby("_key", sort=False)
    rows = []
    for _, group in groups:
        group = group.sort_values("seed")
        row: dict[str, Any] = {}
        for column in group.columns:
            if column in ("_key", "seed") or column in RAY_FIELDS_NOT_AVERAGED or column == "trial_dir":
                continue
            values = group[column]
            if column in keys:
                row[column] = values.iloc[0]
            elif pd.api.types.is_bool_dtype(values):
                row[column] = bool(values.all())
            elif pd.api.types.is_numeric_dtype(values):
                row[column] = values.mean()
                if column in ACCURACY:
                    row[f"{column}_std"] = values.std(ddof=1) if values.notna().sum() > 1 else np.nan
                    row[f"{column}_min"] = values.min()
            else:
                distinct = [str(v) for v in dict.fromkeys(values) if not missing(v)]
                row[column] = ";".join(distinct) if distinct else None
        row["n_seeds"] = len(group)
        row["seeds"] = ";".join(str(int(s)) for s in group["seed"])
        row["trial_ids"] = ";".join(group["trial_id"])
        row["trial_dirs"] = ";".join(group["trial_dir"])
        row["bar_value"] = row[accuracy_metric] if bar_on == "mean" else row[f"{accuracy_metric}_min"]
        rows.append(row)
    table = pd.DataFrame(rows)
    if bar_on == "lcb":
        sigma = pooled_sigma(group[accuracy_metric] for _, group in groups)  # the seeds' spread within configs
        table["bar_value"] = lcb_values(table[accuracy_metric], table["n_seeds"], sigma, accuracy_metric)
    table.insert(0, "label", config_labels(table))
    front_cols = [c for c in FIRST if c in table.columns]
    return table[front_cols + [c for c in table.columns if c not in front_cols]].reset_index(drop=True)


def config_labels(table: pd.DataFrame) -> list[str]:
    """``TrialConfig.label`` without the seed (``resize8 1x256``), as the trial directories and the live table
    show it; ``distinct_labels`` tells apart two configs that would still read the same (``e8``)."""
    base = [_config(row).label(seed=False) for _, row in table.iterrows()]
    keys = [k for k in DISTINGUISHING if k in table.columns]
    return distinct_labels(base, [{k: row[k] for k in keys} for _, row in table.iterrows()])


def _config(row: pd.Series) -> TrialConfig:
    values = {k: row[k] for k in CONFIG_KEYS if k in row and not missing(row[k])}
    return TrialConfig.from_dict(values)
