"""Which configs the confirmation stage trains again, and with which seeds: the rule, pure Python.

Why: screening on one seed and picking the best near the bar selects lucky seeds (the winner's
curse), so the configs whose seed noise can change the answer get more seeds, in rounds, and the
answer is read off seed means. The rule step by step: docs/search.md, "The confirmation stage".
Dominance is ``tune_mnist.core.pareto``'s, the analysis's own; nothing here imports Ray or torch, so
the analysis (``--bar-on lcb``) shares ``pooled_sigma``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tune_mnist.core.metrics import finite
from tune_mnist.core.objectives import OBJECTIVES, SELECTION_METRIC
from tune_mnist.core.pareto import dominates, nondominated

#: Seeds per config after confirmation, unless ``--confirm`` says otherwise (1 turns the stage off).
DEFAULT_CONFIRM = 3
#: Half-width of the band around the bar, in standard errors (sigma / sqrt(n)): about 95% two-sided.
Z_BAND = 2.0
#: ``--bar-on lcb`` in the analysis: mean - LCB_Z * sigma / sqrt(n), a one-sided 95% lower bound.
LCB_Z = 1.645
#: Which way each of ``OBJECTIVES`` is better, in their order (the order of a config's point).
MAXIMISE: tuple[bool, ...] = tuple(sense == "max" for _, sense in OBJECTIVES)


def marking_k(confirm: object) -> int:
    """The seeds a config needs not to be marked unconfirmed: the experiment's ``--confirm`` K, or for
    an experiment run without the stage (``--confirm 1``, or from before it existed) the default K."""
    if isinstance(confirm, int) and not isinstance(confirm, bool) and confirm > 1:
        return confirm
    return DEFAULT_CONFIRM


@dataclass
class Seeds:
    """One config's finished seeds: seed -> the row of its last epoch."""

    rows: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.rows)

    def mean(self, metric: str = SELECTION_METRIC) -> float:
        """The mean of ``metric`` over the seeds that reported it; NaN where none did."""
        values = [r[metric] for r in self.rows.values() if finite(r.get(metric))]
        return sum(values) / len(values) if values else math.nan

    def cost(self, name: str) -> float:
        """The seeds' mean of a cost objective; infinite where none reported it (never on the front)."""
        value = self.mean(name)
        return value if finite(value) else math.inf


def reached_end(config: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """Whether ``row`` is the config's last epoch: a finished seed (one stopped early or by the budget
    has no final result)."""
    return row.get("epoch") is not None and row.get("epoch") == config.get("epochs")


@dataclass(frozen=True)
class Decision:
    """One config chosen in a round and why (``front`` or ``band``)."""

    key: str
    reason: str
    distance: float  # |mean - bar|
    flops: float


def pooled_sigma(samples: Iterable[Iterable[float]]) -> float | None:
    """sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)) over the groups with two or more values; None if none."""
    squares, dof = 0.0, 0
    for group in samples:
        values = [float(v) for v in group if finite(v)]
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        squares += sum((v - mean) ** 2 for v in values)
        dof += len(values) - 1
    return math.sqrt(squares / dof) if dof else None


def front_keys(seeds: Mapping[str, Seeds], bar: float) -> set[str]:
    """The configs above the bar that no other config above the bar dominates, on seed means."""
    feasible = [key for key, s in seeds.items() if s.n and s.mean() > bar]
    points = np.array([_point(seeds[key], seeds[key].mean()) for key in feasible], dtype=float)
    return {key for key, kept in zip(feasible, nondominated(points, MAXIMISE)) if kept}


def plan_round(seeds: Mapping[str, Seeds], bar: float, k: int) -> tuple[list[Decision], float | None]:
    """The configs to bring to ``k`` seeds next (cheap near-bar configs first), and the sigma used."""
    sigma = pooled_sigma([r.get(SELECTION_METRIC) for r in s.rows.values()] for s in seeds.values())
    unconfirmed = {key for key, s in seeds.items() if 0 < s.n < k}
    if not unconfirmed:
        return [], sigma
    chosen = {key: "front" for key in front_keys(seeds, bar) & unconfirmed}
    if sigma is not None:
        confirmed_feasible = [s for s in seeds.values() if s.n >= k and s.mean() > bar]
        for key in sorted(unconfirmed - set(chosen)):
            s = seeds[key]
            half = Z_BAND * sigma / math.sqrt(s.n)
            if abs(s.mean() - bar) > half:
                continue
            best_case = _point(s, s.mean() + half)
            if not any(dominates(_point(d, d.mean()), best_case, MAXIMISE) for d in confirmed_feasible):
                chosen[key] = "band"
    decisions = [
        Decision(key, reason, abs(seeds[key].mean() - bar), seeds[key].cost("flops")) for key, reason in chosen.items()
    ]
    return sorted(decisions, key=lambda d: (d.distance, d.flops, d.key)), sigma


def missing_seeds(taken: Iterable[int], have: int, k: int) -> list[int]:
    """The smallest seeds not yet taken that bring a config from ``have`` finished seeds to ``k``."""
    used, out, seed = set(taken), [], 0
    while len(out) < k - have:
        if seed not in used:
            out.append(seed)
        seed += 1
    return out


def _point(s: Seeds, accuracy: float) -> tuple[float, ...]:
    """A config on ``OBJECTIVES``: ``accuracy`` for the selection accuracy, its seed-mean costs for the rest."""
    return tuple(accuracy if name == SELECTION_METRIC else s.cost(name) for name, _ in OBJECTIVES)
