"""The cheap end of the ``cheap`` space, screened first and in packs the engine carries.

FLOPs are a function of a config's shape, so the search need not start anywhere in the space: it
enumerates a lattice of shapes in bands of doubling FLOPs, cheapest band first (the first reaching
twice the cheapest shape with no layer narrower than the classes, ``first_band_top``), and hands
each shape to the study as a full proposal (``optuna.Study.enqueue_trial``), so Optuna records and
learns from every one of them. Inside a band the shapes are grouped by (crop, side, depth): the
members of one group differ only in width, so a pack of them pads little and trains at the engine's
rate rather than its largest member's. Groups come cheapest member first, and a group
holds every width of its band, so the first groups reach models that can clear the bar and the
incumbent they give caps the rest.

The bands stop where the cheapest model already above the bar (the incumbent) is, because a costlier
model cannot be the cheapest answer, or where the time budget's ``budget_flops`` is. Then the front's
accurate end is screened once (``ACCURATE_END``: a few wide one-layer models, which the front's
hypervolume rewards and the bands never reach), and from there the sampler (TPE, two proposals in
three narrowed to the incumbent) searches the rest of the space, including what the lattice leaves out.
The lattice: crops of 16, 20, 24 and 28 pixels (a crop of 12 cuts into the 20x20 box MNIST centres its
digits in; neighbouring crops differ by a pixel's rim), every input side up to the crop, 0-2 hidden
layers of any width, standardised inputs. What the user left open is screened with one recipe
(``SCREENING``) instead of sampled: sampled epochs and batch sizes made proposals' costs differ about
40x, and a time budget stopped the long ones after they had spent. The recipe trains up to the space's
most epochs and hopeless members stop early (``tune_mnist.strategies.early_stopping.MemberStopping``),
so epochs act as a fidelity: a config trains longer only while its seed mean may still clear the bar."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tune_mnist.core.config import NUM_CLASSES
from tune_mnist.model.counts import mlp_flops

#: The lattice the cheap end is enumerated over (see the module docstring).
CROPS = (16, 20, 24, 28)
SMALLEST_SIDE = 4
DEPTHS = (0, 1, 2)
WIDEST = 2048
SCALING = "standard"
#: The most epochs a config trains where --epochs does not fix them: the top of the spaces' range.
MOST_EPOCHS = 10
#: The screening recipe of each value the user did not fix: Adam's lr, batch size, epochs. lr 1e-2
#: is the top of the space's range (a tiny model learns slowly at less); batch 64 is the notebook's.
#: Epochs are a fidelity with the space's most as its top: each config's seed mean is judged after
#: every epoch and a config that cannot reach the bar stops (``MemberStopping``), so the epochs go to
#: the configs that may still clear it. A fixed 5 left the smallest models that clear the bar given a
#: few more epochs (25-10-10 on 5x5 inputs, 700 FLOPs: 8 epochs) just below it.
SCREENING = {"lr": 1e-2, "batch_size": 64, "epochs": MOST_EPOCHS}
#: The front's accurate end, screened once after the cheap end is covered: one hidden layer, widths
#: doubling, on 12x12 inputs from the 24-pixel crop (which keeps the 20x20 box MNIST centres its digits
#: in). The hypervolume of the front rewards accuracy at any cost far below the notebook's model, and
#: the lattice's bands stop at the incumbent, a few hundred FLOPs. Wide layers take Adam's default step
#: and smaller batches than the screening recipe's (10 epochs, validation accuracy: 14x14 1x128 reached
#: 94.9% at lr 1e-2 and 97.2% at 1e-3, one seed; 12x12 1x256 at lr 1e-3 97.9% at batch 32, 3 seeds).
ACCURATE_END = {"crop": 24, "side": 12, "scaling": SCALING, "depth": 1}
ACCURATE_WIDTHS = (32, 64, 128, 256, 512)
ACCURATE_RECIPE = {"lr": 1e-3, "batch_size": 32}

Params = dict[str, Any]


def shape_flops(params: Params) -> int:
    """FLOPs of a lattice shape (``crop``, ``side``, ``depth``, ``width`` where depth > 0)."""
    return mlp_flops(params["side"] ** 2, params["depth"], params.get("width", 1))


def band(low: float, high: float) -> list[list[Params]]:
    """The lattice's shapes of more than ``low`` and at most ``high`` FLOPs, one list per (crop, side,
    depth) group, widths ascending; the groups ordered by their cheapest shape."""
    groups = []
    for crop in CROPS:
        for side in range(SMALLEST_SIDE, crop + 1):
            for depth in DEPTHS:
                shapes = []
                for width in range(1, WIDEST + 1 if depth else 2):
                    flops = mlp_flops(side * side, depth, width)
                    if flops > high:
                        break
                    if flops > low:
                        shape = {"crop": crop, "side": side, "scaling": SCALING, "depth": depth}
                        shapes.append({**shape, "width": width} if depth else shape)
                if shapes:
                    groups.append(shapes)
    return sorted(groups, key=lambda group: (shape_flops(group[0]), group[0]["crop"], group[0]["side"]))


def first_band_top() -> int:
    """Half the first band's top: the cheapest shape with no layer narrower than the ten classes (a
    4x4 input, one hidden layer of 10: 520 FLOPs). Narrower bottlenecks and smaller inputs rarely clear
    a high bar; a first band of everything up to twice the cheapest shape (640 FLOPs) held 386 such
    shapes, which took a 3-minute budget's whole screening without one above 90%."""
    return mlp_flops(SMALLEST_SIDE**2, 1, NUM_CLASSES)


def key(params: Params) -> tuple:
    """A proposal's identity, to skip shapes the study has tried already (a resumed search)."""
    return tuple(sorted(params.items()))


@dataclasses.dataclass
class CheapEnd:
    """The bands not yet handed out. ``fixed``: lr / batch_size / epochs the user fixed (the space
    returns those itself, so they are not enqueued)."""

    fixed: frozenset[str] = frozenset()
    low: float = 0.0  # the upper FLOPs of the band enumerated last
    groups: list[list[Params]] = dataclasses.field(default_factory=list)
    covered: bool = False  # every shape below the cap handed out: the accurate end's turn, then the sampler's
    climbed: bool = False  # the accurate end handed out

    def recipe(self) -> Params:
        return {name: value for name, value in SCREENING.items() if name not in self.fixed}

    def next_group(self, cap: float, seen: set[tuple], budget: float = math.inf) -> list[Params]:
        """The next group's full proposals of at most ``cap`` FLOPs not in ``seen``; once the cheap end
        is covered (the next group's cheapest shape costs more than ``cap``), the accurate end's of at
        most ``budget`` FLOPs, once; then empty."""
        top = mlp_flops(CROPS[-1] ** 2, DEPTHS[-1], WIDEST)
        while not self.covered:
            if not self.groups:
                if self.low >= top:
                    self.covered = True
                    break
                high = 2 * (self.low or first_band_top())
                self.groups, self.low = band(self.low, high), high
                continue
            group = self.groups.pop(0)
            if shape_flops(group[0]) > cap:
                self.covered = True
                break
            proposals = [{**shape, **self.recipe()} for shape in group if shape_flops(shape) <= cap]
            fresh = [p for p in proposals if key(p) not in seen]
            if fresh:
                return fresh
        if self.climbed:
            return []
        self.climbed = True
        recipe = {name: ACCURATE_RECIPE.get(name, value) for name, value in self.recipe().items()}
        shapes = [{**ACCURATE_END, "width": width} for width in ACCURATE_WIDTHS]
        proposals = [{**shape, **recipe} for shape in shapes if shape_flops(shape) <= budget]
        return [p for p in proposals if key(p) not in seen]
