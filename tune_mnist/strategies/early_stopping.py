"""Bar-aware early stopping: the rule, a pack's member stopping, the ``--scheduler`` names, and the
marker a stopped trial leaves.

The search wants the *cheapest model above the accuracy bar*. Ray's ASHA on one metric keeps the
trials that learn fastest, which are the big ones, and stops the cheap slow learners: the wrong way
round here. This rule asks two questions of a trial at every epoch instead, using only its own
learning curve and the trials that finished before it:

1. **Can it still reach the bar?** With ``r`` epochs left and an optimistic per-epoch gain ``g``
   (the larger of the last gain and the mean of the last two; after the first epoch, the gain over
   chance), the trial is hopeless when ``acc + SLACK * r * g < bar``. Learning curves flatten, so a
   straight line from the latest gain, stretched by SLACK, over-estimates what is left.
2. **Is it already dominated?** When a finished trial of no more FLOPs has a validation accuracy at
   or above this trial's optimistic final accuracy (same projection), this trial cannot reach the
   front (val_acc up, FLOPs down; latency follows FLOPs during a search, see docs/search.md).

Neither question stops a trial on its last epoch (nothing left to save). The Ray scheduler never
stops a pack of several configs (``--pack``: its members share one learning curve only by accident);
the pack stops its hopeless members itself (``MemberStopping``).

This module has no Ray import, so the CLI can check ``--scheduler`` before Ray starts and the
analysis can read the markers; the Ray scheduler itself is ``tune_mnist.strategies.schedulers``."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tune_mnist.core.config import CONFIRM_ROUND, TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import STOPPED_EARLY_FILE
from tune_mnist.core.metrics import EPOCH
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY, selection_accuracy

#: The accuracy of guessing among 10 classes: the "epoch 0" point of every learning curve.
CHANCE = 0.1
#: How much the straight-line projection is stretched: >1 keeps slow-but-steady learners.
SLACK = 1.5
#: Per-epoch gain assumed at least, so validation noise (a flat or falling epoch) is not read as a plateau.
MIN_GAIN = 0.002

#: ``--scheduler`` names and what each does (``--help`` shows these).
SCHEDULERS = {
    "bar": "bar-aware early stopping: stop a trial that cannot reach the accuracy bar in its remaining "
    "epochs at its observed gains, or that a finished trial of no more FLOPs already beats",
    "fifo": "Ray Tune's first-in-first-out scheduler: every trial runs to its last epoch",
}
#: The scheduler of each space unless ``--scheduler`` says otherwise; a space not named here uses fifo.
DEFAULT_SCHEDULERS = {"random": "bar", "adaptive": "bar", "cheap": "bar"}
#: Spaces that can only use fifo: the notebook's fixed studies, whose point is every config to its end.
FIFO_ONLY = ("grid", "small", "smoke")


@dataclass(frozen=True)
class StopDecision:
    """Why a trial stops: what ``stopped_early.json`` holds."""

    rule: str  # "bar" (cannot reach it) or "dominated"
    epoch: int
    epochs: int
    accuracy: float
    projected: float  # the optimistic final accuracy the decision used
    bar: float
    reason: str

    def to_json(self) -> str:
        return json.dumps({"stopped_early": True, **asdict(self)}, indent=2) + "\n"


def projected_accuracy(curve: list[float], epochs: int) -> float:
    """An optimistic final accuracy from ``curve`` (val_acc after epochs 1..len(curve))."""
    done = len(curve)
    left = max(0, epochs - done)
    gains = [b - a for a, b in zip([CHANCE, *curve][:-1], curve)]
    gain = gains[-1] if gains else 0.0
    if len(gains) >= 2:
        gain = max(gain, (gains[-1] + gains[-2]) / 2)
    return curve[-1] + SLACK * left * max(gain, MIN_GAIN)


def decide(
    curve: list[float], epochs: int, bar: float, finished: Sequence[tuple[int, float]] = (), flops: int | None = None
) -> StopDecision | None:
    """Stop (a ``StopDecision``) or go on (None) after the last epoch of ``curve``.

    ``finished``: (FLOPs, final val_acc) of the trials that ran to their end; ``flops``: this trial's."""
    epoch = len(curve)
    if not curve or epoch >= epochs or any(math.isnan(a) for a in curve):
        return None
    accuracy, projected = curve[-1], projected_accuracy(curve, epochs)
    common = dict(epoch=epoch, epochs=epochs, accuracy=accuracy, projected=projected, bar=bar)
    if projected <= bar:
        return StopDecision(
            rule="bar",
            reason=f"val_acc {accuracy:.4f} after epoch {epoch} of {epochs} projects to at most {projected:.4f}, "
            f"not above the bar {bar:g}",
            **common,
        )
    if flops is not None:
        beaten = [(f, a) for f, a in finished if f <= flops and a >= projected]
        if beaten:
            f, a = min(beaten)
            return StopDecision(
                rule="dominated",
                reason=f"val_acc {accuracy:.4f} after epoch {epoch} of {epochs} projects to at most "
                f"{projected:.4f}; a finished trial of {f:,} FLOPs (this one: {flops:,}) reached {a:.4f}",
                **common,
            )
    return None


class MemberStopping:
    """Keeps each config's mean curve over its seeds and says which members of a pack stop after an epoch.

    Why inside the pack trial and not in the Ray scheduler: the scheduler can only stop a whole trial,
    and a pack trial trains many configs (each over its K seeds). After every epoch each config of the
    pack is judged on the mean learning curve of its seeds by the first question of ``decide`` (can it
    still reach the bar in its remaining epochs?); a config that cannot stops, with all its seeds, and
    the pack trains on without them (``tune_mnist.trainables.pack_trainable`` rebuilds the pack from the
    others' exact single-model states). The second question (is a finished trial of no more FLOPs
    already better?) needs the other trials' results, which only the driver has, so packs do not ask it.

    Seeds of one config are judged together because the searcher and the answer read seed means: one
    unlucky seed must not stop a config whose mean would clear the bar. Confirmation trials (config key
    ``confirm_round``) are never stopped: they exist to measure a config's seed spread."""

    def __init__(self, configs: Sequence[TrialConfig], trial_config: dict[str, Any], enabled: bool = True) -> None:
        """``enabled``: False where no member stops (any scheduler but bar); a confirmation seed always
        runs to its end."""
        self.configs = list(configs)
        groups: dict[TrialConfig, list[int]] = {}  # a config (at seed 0) -> its members, its seeds
        for i, config in enumerate(self.configs):
            groups.setdefault(dataclasses.replace(config, seed=0), []).append(i)
        self.groups = list(groups.values())  # in first-seen order
        self.bar = float(trial_config.get("min_accuracy", DEFAULT_MIN_ACCURACY))
        self.enabled = enabled and trial_config.get(CONFIRM_ROUND) is None
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


def resolve_scheduler(name: str | None, space: str) -> str:
    """The scheduler a search runs with: ``name`` checked against ``space``, or the space's default.
    Raises InputError (one sentence) before Ray starts."""
    if name is None:
        return DEFAULT_SCHEDULERS.get(space, "fifo")
    if name not in SCHEDULERS:
        raise InputError(f"--scheduler {name} is unknown: use one of {', '.join(sorted(SCHEDULERS))}.")
    if name != "fifo" and space in FIFO_ONLY:
        raise InputError(
            f"--scheduler {name} does not apply to the {space} space, which trains every config to its last "
            "epoch: drop --scheduler, or use --space random, adaptive or cheap."
        )
    return name


def schedulers_text() -> str:
    """The ``--scheduler`` help: the names and which spaces use which by default."""
    names = "; ".join(f"{name}: {text}" for name, text in SCHEDULERS.items())
    defaults = ", ".join(sorted(DEFAULT_SCHEDULERS))
    return (
        f"{names}. Default: bar for the {defaults} spaces, fifo for the list spaces "
        f"{', '.join(FIFO_ONLY)} (which refuse bar); a --pack trial of several configs always runs to its end"
    )


def read_marker(text: str | None) -> dict[str, Any] | None:
    """A ``stopped_early.json`` as a dict, None when absent or unreadable."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and value.get("stopped_early") else None


def stopped_early(path: str | None, filesystem: Any = None) -> dict[str, Any] | None:
    """The ``stopped_early.json`` of the trial directory ``path`` (on ``filesystem``, a pyarrow one;
    local by default), None when the scheduler did not stop that trial."""
    if not path:
        return None
    import pyarrow.fs as pafs

    fs = filesystem or pafs.LocalFileSystem()
    try:
        with fs.open_input_stream(f"{path.rstrip('/')}/{STOPPED_EARLY_FILE}") as stream:
            return read_marker(stream.read().decode())
    except (OSError, FileNotFoundError, UnicodeDecodeError):
        return None
