"""Which configs the confirmation stage trains again, and with which seeds: the rule, pure Python.

Why: the search screens many configs on one seed and picks the best near an accuracy bar, which
selects lucky seeds (the winner's curse). The confirmation stage trains the configs whose seed noise
can change the answer again, until each has ``k`` seeds, and the answer is read off seed means.

The rule, applied in rounds (each round waits for the trials of the one before):

1. the Pareto front above the bar, on seed means over ``OBJECTIVES`` (validation accuracy up, FLOPs
   and latency down), is confirmed first;
2. ``sigma``, the pooled within-config seed standard deviation of the accuracy, is estimated from
   every config that now has two or more seeds (``pooled_sigma``);
3. every other unconfirmed config whose mean lies within ``Z_BAND * sigma / sqrt(n)`` of the bar
   (n: its seeds so far) is confirmed too, unless it could not join the front even at the top of
   that band: a confirmed config above the bar at least that accurate and no more costly on every
   cost objective already dominates it;
4. repeat until the front on seed means is confirmed and no config is left in the band.

Nothing here imports Ray or torch, so the analysis (``--bar-on lcb``) shares ``pooled_sigma``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tune_mnist.core.config import CONFIG_KEYS, TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.core.objectives import OBJECTIVES, SELECTION_METRIC

#: Seeds per config after confirmation, unless ``--confirm`` says otherwise (1 turns the stage off).
DEFAULT_CONFIRM = 3
#: Half-width of the band around the bar, in standard errors (sigma / sqrt(n)): about 95% two-sided.
Z_BAND = 2.0
#: ``--bar-on lcb`` in the analysis: mean - LCB_Z * sigma / sqrt(n), a one-sided 95% lower bound.
LCB_Z = 1.645
#: The cost objectives (everything but the selection accuracy), minimised.
COSTS: tuple[str, ...] = tuple(name for name, _ in OBJECTIVES if name != SELECTION_METRIC)


def config_key(config: dict[str, Any]) -> str:
    """A config without its seed: the seeds of one config share this key (as the analysis groups them).

    An invalid config (``depth=-1``, ...) still gets a key, from its raw config fields: such a trial
    fails when it runs and is recorded as errored, so naming it must never crash the search's driver.
    It never finishes, so it never has a seed to confirm."""
    try:
        values = TrialConfig.from_dict(config).to_dict()
    except (InputError, TypeError, ValueError):
        values = {k: config[k] for k in CONFIG_KEYS if k in config}
    values.pop("seed", None)
    return json.dumps(values, sort_keys=True, default=repr)


def marking_k(confirm: object) -> int:
    """The seeds a config needs not to be marked unconfirmed: the experiment's ``--confirm`` K, or for
    an experiment run without the stage (``--confirm 1``, or from before it existed) the default K."""
    if isinstance(confirm, int) and not isinstance(confirm, bool) and confirm > 1:
        return confirm
    return DEFAULT_CONFIRM


@dataclass
class Seeds:
    """One config's finished seeds: accuracy and costs per seed."""

    accuracy: dict[int, float] = field(default_factory=dict)
    costs: dict[int, dict[str, float]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.accuracy)

    @property
    def mean(self) -> float:
        return sum(self.accuracy.values()) / self.n

    def cost(self, name: str) -> float:
        values = [c[name] for c in self.costs.values() if _number(c.get(name))]
        return sum(values) / len(values) if values else math.inf


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
        values = [float(v) for v in group if _number(v)]
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        squares += sum((v - mean) ** 2 for v in values)
        dof += len(values) - 1
    return math.sqrt(squares / dof) if dof else None


def front_keys(seeds: Mapping[str, Seeds], bar: float) -> set[str]:
    """The configs above the bar that no other config above the bar dominates, on seed means."""
    feasible = [key for key, s in seeds.items() if s.n and s.mean > bar]
    points = {key: _point(seeds[key]) for key in feasible}
    return {key for key in feasible if not any(_dominates(points[o], points[key]) for o in feasible if o != key)}


def plan_round(
    seeds: Mapping[str, Seeds], bar: float, k: int, z: float = Z_BAND
) -> tuple[list[Decision], float | None]:
    """The configs to bring to ``k`` seeds next (cheap near-bar configs first), and the sigma used."""
    unconfirmed = {key for key, s in seeds.items() if 0 < s.n < k}
    if not unconfirmed:
        return [], pooled_sigma(s.accuracy.values() for s in seeds.values())
    chosen = {key: "front" for key in front_keys(seeds, bar) & unconfirmed}
    sigma = pooled_sigma(s.accuracy.values() for s in seeds.values())
    if sigma is not None:
        confirmed_feasible = [s for s in seeds.values() if s.n >= k and s.mean > bar]
        for key in sorted(unconfirmed - set(chosen)):
            s = seeds[key]
            half = z * sigma / math.sqrt(s.n)
            if abs(s.mean - bar) > half:
                continue
            best_case = (s.mean + half, *(s.cost(c) for c in COSTS))
            if not any(_dominates(_point(d), best_case) for d in confirmed_feasible):
                chosen[key] = "band"
    decisions = [
        Decision(key, reason, abs(seeds[key].mean - bar), seeds[key].cost("flops")) for key, reason in chosen.items()
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


def _point(s: Seeds) -> tuple[float, ...]:
    return (s.mean, *(s.cost(c) for c in COSTS))


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """``a`` at least as good as ``b`` everywhere (accuracy first, up; costs down) and better somewhere."""
    better = [a[0] > b[0], *(x < y for x, y in zip(a[1:], b[1:]))]
    worse = [a[0] < b[0], *(x > y for x, y in zip(a[1:], b[1:]))]
    return any(better) and not any(worse)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
