"""Feasibility (the accuracy bar), the Pareto front over named objectives (``tune_mnist.core.pareto``'s
dominance, the confirmation stage's too), and moocore's hypervolume against a reported reference point."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import moocore
import pandas as pd

from tune_mnist.core.errors import InputError
from tune_mnist.core.metrics import THE_BAR, metric
from tune_mnist.core.pareto import nondominated, pareto_layers

SENSES = ("max", "min")


@dataclass(frozen=True)
class Objective:
    name: str
    sense: str  # "max" or "min"

    @property
    def maximise(self) -> bool:
        return self.sense == "max"

    def __str__(self) -> str:
        return f"{self.name}:{self.sense}"


def parse_objectives(text: str, table: pd.DataFrame) -> list[Objective]:
    """``name:max|min`` items separated by commas; every name must be a numeric column of ``table``."""
    numeric = [
        c for c in table.columns if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
    ]
    objectives: list[Objective] = []
    for item in [part.strip() for part in text.split(",") if part.strip()]:
        name, _, sense = item.partition(":")
        name, sense = name.strip(), sense.strip().lower()
        if sense not in SENSES:
            raise InputError(f"--objectives item {item!r} needs a direction: write {name}:max or {name}:min.")
        if name not in table.columns:
            raise InputError(
                f"Unknown metric {name!r} in --objectives: use one of the reported metrics {', '.join(numeric)}."
            )
        if name not in numeric:
            raise InputError(f"Metric {name!r} in --objectives is not numeric: use one of {', '.join(numeric)}.")
        if any(o.name == name for o in objectives):
            raise InputError(f"Metric {name!r} appears twice in --objectives: name each metric once.")
        objectives.append(Objective(name, sense))
    if not objectives:
        raise InputError("--objectives is empty: give at least one name:max|min, e.g. val_acc:max,flops:min.")
    return objectives


def parse_reference(text: str | None, objectives: list[Objective]) -> dict[str, float]:
    """``name=value`` items separated by commas (overrides of the reference point)."""
    out: dict[str, float] = {}
    names = [o.name for o in objectives]
    for item in [part.strip() for part in (text or "").split(",") if part.strip()]:
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in names:
            raise InputError(f"--reference names {name!r}, which is not an objective: use one of {', '.join(names)}.")
        try:
            out[name] = float(value)
        except ValueError:
            raise InputError(f"--reference item {item!r} needs a number: write {name}=VALUE.") from None
    return out


@dataclass
class Front:
    """The table with ``feasible``, ``pareto_rank`` and ``on_front`` columns, and the front's hypervolume."""

    table: pd.DataFrame
    objectives: list[Objective]
    min_accuracy: float
    reference: list[float]
    reference_source: list[str]
    hypervolume: float
    box_fraction: float | None  # hypervolume / volume between the ideal point and the reference
    ideal: list[float] | None
    unranked: list[str] = field(default_factory=list)  # feasible configs missing an objective value

    @property
    def front(self) -> pd.DataFrame:
        return self.table[self.table["on_front"]]

    @property
    def feasible(self) -> pd.DataFrame:
        return self.table[self.table["feasible"]]

    @property
    def cleared(self) -> bool:
        """Whether any config is above the bar (else the front is empty and its hypervolume 0)."""
        return bool(self.table["feasible"].any())

    @property
    def closest(self) -> pd.Series | None:
        """The config with the highest ``bar_value``: where nothing clears the bar, the one that came closest."""
        values = self.table["bar_value"]
        return self.table.loc[values.idxmax()] if values.notna().any() else None


def compute_front(
    table: pd.DataFrame,
    objectives: list[Objective],
    min_accuracy: float,
    reference: dict[str, float] | None = None,
) -> Front:
    """Mark feasible configs (``bar_value`` above ``min_accuracy``) and the front among them. Where none
    is feasible the table is still whole (the analysis writes every file and names the closest) and the
    front empty, with hypervolume 0 (it dominates nothing) against the reference a front would have."""
    table = table.copy()
    table["feasible"] = table["bar_value"] > min_accuracy
    names = [o.name for o in objectives]
    maximise = [o.maximise for o in objectives]
    complete = table[names].notna().all(axis=1)
    unranked = list(table.loc[table["feasible"] & ~complete, "label"])
    ranked = table["feasible"] & complete
    if table["feasible"].any() and not ranked.any():
        raise InputError(
            f"No config above the bar reported every objective ({', '.join(names)}): "
            "choose --objectives the trials reported."
        )
    table["pareto_rank"] = pd.Series(pd.NA, index=table.index, dtype="Int64")
    table["on_front"] = False
    if ranked.any():
        points = table.loc[ranked, names].to_numpy(dtype=float)
        table.loc[ranked, "pareto_rank"] = pareto_layers(points, maximise)
        table.loc[ranked, "on_front"] = nondominated(points, maximise)
    worst_among = table.loc[ranked if ranked.any() else complete]  # where a reference is this experiment's worst
    ref, source = reference_point(objectives, min_accuracy, worst_among, reference or {})
    front_points = table.loc[table["on_front"], names].to_numpy(dtype=float)
    hv = float(moocore.hypervolume(front_points, ref=ref, maximise=maximise)) if len(front_points) else 0.0
    ideal = ideal_point(objectives)
    fraction = None
    if ideal is not None:
        box = math.prod(abs(r - i) for r, i in zip(ref, ideal))
        fraction = hv / box if box > 0 else None
    return Front(table, objectives, min_accuracy, ref, source, hv, fraction, ideal, unranked)


def reference_point(
    objectives: list[Objective], min_accuracy: float, ranked: pd.DataFrame, given: dict[str, float]
) -> tuple[list[float], list[str]]:
    """A fixed point every front point should beat, from the metric table (``tune_mnist.core.metrics``);
    else this experiment's worst value (not fixed)."""
    ref, source = [], []
    for o in objectives:
        m = metric(o.name)
        if o.name in given:
            ref.append(given[o.name])
            source.append("--reference")
        elif o.sense == m.direction and m.reference == THE_BAR:
            ref.append(float(min_accuracy))
            source.append(THE_BAR)
        elif o.sense == m.direction and isinstance(m.reference, float):
            ref.append(m.reference)
            source.append(m.reference_source)
        else:
            values = ranked[o.name].astype(float)
            worst = values.min() if o.maximise else values.max()
            span = (values.max() - values.min()) or abs(worst) or 1.0
            ref.append(float(worst - 0.1 * span if o.maximise else worst + 0.1 * span))
            source.append("this experiment's worst value plus 10% of the range (not comparable across experiments)")
    return ref, source


def ideal_point(objectives: list[Objective]) -> list[float] | None:
    """Each objective's best possible value (1 for accuracies, 0 for costs); None when one has none."""
    out = []
    for o in objectives:
        m = metric(o.name)
        if o.sense != m.direction or m.ideal is None:
            return None
        out.append(m.ideal)
    return out
