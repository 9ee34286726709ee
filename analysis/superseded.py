"""Count each config once when it has several trial directories.

A ``--resume`` that had to rebuild Ray's damaged state (``tune_mnist.experiment.rebuild``) trains the unfinished
configs again in new trial directories, beside the old unfinished or errored ones. Those old ones are
not failures of the experiment: once another directory of the same config (same fields, seed and data
split) has finished, they are marked ``superseded`` and listed as such, never counted as errors."""

from __future__ import annotations

from typing import Any, Protocol

from tune_mnist.core.config import config_key

SUPERSEDED = "superseded"


class _Trial(Protocol):
    name: str
    params: dict[str, Any]
    status: str
    reason: str


def _key(params: dict[str, Any]) -> str:
    """The config, its seed and its data split as one string."""
    return config_key(params, seed=True, data=True)


def mark_superseded(trials: list[_Trial], usable: str) -> None:
    """Mark the not-usable trials whose config finished in another directory (in place)."""
    finished: dict[str, str] = {}
    for trial in trials:
        if trial.status == usable:
            finished.setdefault(_key(trial.params), trial.name)
    for trial in trials:
        if trial.status == usable or not trial.params:
            continue
        key = _key(trial.params)
        if key in finished:
            trial.reason = f"{trial.status} ({trial.reason}); the same config finished in {finished[key]}"
            trial.status = SUPERSEDED
