"""Bar-aware early stopping of the members of a pack, decided inside the pack trial.

Why inside the trial and not in the Ray scheduler: the scheduler can only stop a whole trial, and a
pack trial trains many configs (each over its K seeds). Here, after every epoch, each config of the
pack is judged on the mean learning curve of its seeds by the first question of
``tune_mnist.strategies.early_stopping.decide`` (can it still reach the bar in its remaining epochs?); a config
that cannot stops, with all its seeds, and the pack trains on without them (``tune_mnist.trainables.pack_trainable``
rebuilds the pack from the others' exact single-model states). The second question (is a finished
trial of no more FLOPs already better?) needs the other trials' results, which only the driver has,
so packs do not ask it.

Seeds of one config are judged together because the searcher and the answer read seed means: one
unlucky seed must not stop a config whose mean would clear the bar. Confirmation trials (config key
``confirm_round``) are never stopped: they exist to measure a config's seed spread. Torch-free."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from tune_mnist.core.config import CONFIRM_ROUND, TrialConfig
from tune_mnist.core.metrics import EPOCH
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY, selection_accuracy
from tune_mnist.strategies.early_stopping import StopDecision, decide


def config_groups(configs: Sequence[TrialConfig]) -> list[list[int]]:
    """Indices of the members of each config (a config's seeds together), in first-seen order."""
    groups: dict[TrialConfig, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(dataclasses.replace(config, seed=0), []).append(i)
    return list(groups.values())


class MemberStopping:
    """Keeps each config's mean curve over its seeds and says which members stop after an epoch."""

    def __init__(self, configs: Sequence[TrialConfig], trial_config: dict[str, Any]) -> None:
        self.configs = list(configs)
        self.groups = config_groups(self.configs)
        self.bar = float(trial_config.get("min_accuracy", DEFAULT_MIN_ACCURACY))
        self.enabled = trial_config.get(CONFIRM_ROUND) is None  # a confirmation seed always runs to its end
        self.curves: dict[int, dict[int, list[float]]] = {}  # group -> epoch -> accuracy of each seed

    def after_epoch(self, rows: dict[int, dict[str, Any]]) -> dict[int, StopDecision]:
        """``rows``: member index -> its row of this epoch (only the members still training). Returns
        the members to stop now, each with its config's decision."""
        if not self.enabled:
            return {}
        stops: dict[int, StopDecision] = {}
        for g, members in enumerate(self.groups):
            if not all(i in rows for i in members):
                continue  # stopped already (or not in this report)
            epoch = int(rows[members[0]][EPOCH])
            curve = self.curves.setdefault(g, {})
            curve[epoch] = [selection_accuracy(rows[i]) for i in members]
            means = [sum(curve[e]) / len(curve[e]) if e in curve else math.nan for e in range(1, epoch + 1)]
            decision = decide(means, self.configs[members[0]].epochs, self.bar)
            if decision is not None:
                stops.update(dict.fromkeys(members, decision))
        return stops
