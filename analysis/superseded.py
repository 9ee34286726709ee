"""Count each config once when it has several trial directories.

A ``--resume`` that had to rebuild Ray's damaged state (``tune_mnist.experiment.rebuild``) trains the unfinished
configs again in new trial directories, beside the old unfinished or errored ones. Those old ones are
not failures of the experiment: once another directory of the same config (same fields, seed and data
split) has finished, they are marked ``superseded`` and listed as such, never counted as errors."""

from __future__ import annotations

import json
from typing import Any, Protocol

from tune_mnist.core.config import TrialConfig

SUPERSEDED = "superseded"
DATA_KEYS = ("validation_size", "split_seed", "subset")


class _Trial(Protocol):
    name: str
    params: dict[str, Any]
    status: str
    reason: str


def config_key(params: dict[str, Any]) -> str | None:
    """The config and its data split as one string; None for params that are not one config."""
    try:
        config = TrialConfig.from_dict(params).to_dict()
    except (TypeError, ValueError):
        return None
    return json.dumps({**config, **{k: params.get(k) for k in DATA_KEYS}}, sort_keys=True, default=str)


def mark_superseded(trials: list[_Trial], usable: str) -> None:
    """Mark the not-usable trials whose config finished in another directory (in place)."""
    finished: dict[str, str] = {}
    for trial in trials:
        key = config_key(trial.params) if trial.status == usable else None
        if key is not None:
            finished.setdefault(key, trial.name)
    for trial in trials:
        if trial.status == usable or not trial.params:
            continue
        key = config_key(trial.params)
        if key in finished:
            trial.reason = f"{trial.status} ({trial.reason}); the same config finished in {finished[key]}"
            trial.status = SUPERSEDED
