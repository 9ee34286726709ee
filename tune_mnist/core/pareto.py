"""Pareto dominance, defined once (by moocore) for the confirmation stage and the analysis, so the two
never disagree on the front; exact ties are both kept on it (``keep_weakly``)."""

from __future__ import annotations

from collections.abc import Sequence

import moocore
import numpy as np


def nondominated(points: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """True for every point (a row of ``points``) that no other point dominates; exact ties are all kept."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(points, maximise=list(maximise), keep_weakly=True), dtype=bool)


def pareto_layers(points: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """1 for the front, 2 for the front of what is left, and so on."""
    if len(points) == 0:
        return np.zeros(0, dtype=int)
    return np.asarray(moocore.pareto_rank(points, maximise=list(maximise)), dtype=int) + 1


def dominates(a: Sequence[float], b: Sequence[float], maximise: Sequence[bool]) -> bool:
    """Whether ``a`` dominates ``b``. An objective either point lacks (NaN) counts for neither."""
    both = [i for i, (x, y) in enumerate(zip(a, b)) if not (np.isnan(x) or np.isnan(y))]
    if not both:
        return False
    pair = np.array([[b[i] for i in both], [a[i] for i in both]], dtype=float)
    return not nondominated(pair, [maximise[i] for i in both])[0]
