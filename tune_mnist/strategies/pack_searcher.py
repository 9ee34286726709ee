"""Packed screening for the adaptive spaces: several proposals at a time, each over K seeds, as one
pack trial, and the searcher told each config's own seed mean.

Why: a tiny MLP trained alone on the CPU pays mostly framework overhead per step (a 700-FLOP model:
about 1.5 ms of arithmetic in a 0.33 s epoch); stacked with others into one batched step
(``tune_mnist.training.packed``) it costs a fraction of that. And near the bar one seed is a lottery, so each
proposal is screened on K seeds (K = ``--confirm``): the searcher learns from the seed mean, and a pick
is confirmed the moment it is found.

How. ``suggest`` asks the inner searcher (``tune_mnist.strategies.study_searcher``) for ``size``
proposals one after another, under ids of their own (``<trial id>_c<j>``); TPE's constant liar
(``constant_liar=True`` on the spaces' samplers) keeps the proposals of one batch apart while none
has finished. A pack's members must share depth, batch size and epochs, so the first proposal's
values of those are enqueued for the next ones (``StudySearcher.share``: Optuna's ``enqueue_trial``
with partial parameters, the sampler draws the rest). The batch is cut into packs by ``plan_packs``
(which also keeps a small model out of a pack padded to a big one); the first is this trial, the
others the next trials. Each member is one config at one seed, so ``tune_mnist.trainables.unpack``
gives it its own trial directory.

Under ``--time-budget`` the packs are sized to the screening time left (``fitting``, ``out_of_time``,
``learn_pace``; docs/search.md, "Early stopping inside a pack").

When a pack ends, each config's seed rows are averaged (``seeds_mean``) and that mean
is told to the inner searcher for that config alone: a config stopped early inside the pack
(``tune_mnist.strategies.early_stopping.MemberStopping``) is told its last epoch's mean, as a stopped
single trial would be."""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

from ray.tune.search import Searcher

from tune_mnist.core.config import PACK_MEMBERS, TrialConfig
from tune_mnist.core.metrics import EPOCH
from tune_mnist.core.objectives import accuracy_shortfall
from tune_mnist.strategies.screening_deadline import current
from tune_mnist.strategies.study_searcher import StudySearcher
from tune_mnist.training.packed.cost_model import TRIAL_S, StepCost, plan_by_cost, seeds_are_cheap
from tune_mnist.training.packed.plan import plan_packs

#: What the members of a pack share, as the spaces name the parameters.
SHAPE = ("depth", "batch_size", "epochs")
#: A generation of the cheap end's proposals holds at most this many members (configs x seeds): the
#: engine trains 700-FLOP members at about 17x one model alone in packs of 64, 11x at 16 (docs/packed.md).
GENERATION_MEMBERS = 64
#: A drawn config in a pack: (inner searcher's id for it, the config, the seeds it trains over).
Entry = tuple[str, dict[str, Any], int]


def seeds_mean(rows: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """One config's seeds as one result: the mean of each number, and the shortfall of the mean
    accuracy (the analysis puts the bar on the seeds' mean by default, so the searcher does too)."""
    mean: dict[str, Any] = {}
    for key, value in rows[0].items():
        if key == "seed":
            continue
        if all(row.get(key) == value for row in rows):  # flops, architecture, device: the same for every seed
            mean[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            mean[key] = sum(float(row[key]) for row in rows) / len(rows)
    mean["accuracy_shortfall"] = accuracy_shortfall(mean, config)
    return mean


class PackingSearcher(Searcher):
    """Proposes packs of ``size`` configs x ``seeds`` seeds from ``inner``'s proposals."""

    def __init__(
        self,
        inner: StudySearcher,
        size: int,
        seeds: int,
        bar: float,
        limit: int = -1,
        cost: StepCost | None = None,
        n_train: int = 0,
    ) -> None:
        """``limit``: configs to propose in all (negative: no limit, a time budget ends the search).
        ``cost`` (``--pack auto`` on CPU: the step costs measured on this machine) and ``n_train``: pack
        only where packing pays, and screen a config over all ``seeds`` only where they are nearly free."""
        super().__init__()  # no metric of its own: a pack reports its members' rows, not the inner metrics
        self.inner = inner
        self.size = size
        self.seeds = seeds
        self.bar = bar
        self.cost, self.n_train = cost, n_train
        self.left = limit  # configs still to propose; negative: unlimited
        self.ready: list[list[Entry]] = []  # packs drawn but not handed out
        self.last: TrialConfig | None = None  # the config drawn last, what the next costs about
        self.pace = 1.0  # a pack epoch's wall time over the cost model's, from the last finished pack
        self.packs: dict[str, list[Entry]] = {}  # trial id -> its pack's entries

    def save(self, checkpoint_path: str) -> None:
        """Writes nothing: ``--resume`` builds a new searcher over the experiment directory."""

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if not self.ready:
            if self.left == 0 or self.out_of_time():
                return Searcher.FINISHED
            generation = self.inner.queued() > 0
            # --pack auto on CPU (a cost model): a generation as large as the engine carries well; a
            # --pack N the user gave, or a GPU's packs, stay the size they are.
            planned = generation and self.cost is not None
            size = max(self.size, GENERATION_MEMBERS // self.seeds) if planned else self.size
            drawn = self._draw(trial_id, size, generation)
            if isinstance(drawn, str) or drawn is None:
                return drawn
            configs = [TrialConfig.from_dict(c) for _, c in drawn]
            if self.cost is None:
                plan, seeds = plan_packs(configs, size), [self.seeds] * len(configs)
            else:
                plan = plan_by_cost(configs, size, self.cost, self.n_train)
                cheap = [seeds_are_cheap(c, self.seeds, self.cost, self.n_train) for c in configs]
                seeds = [self.seeds if ok else 1 for ok in cheap]
            self.ready = [[(*drawn[i], seeds[i]) for i in pack] for pack in plan]
        pack = self.ready.pop(0)
        self.packs[trial_id] = pack
        members = [{**config, "seed": seed} for _, config, n in pack for seed in range(n)]
        return {PACK_MEMBERS: members}

    def _draw(self, trial_id: str, size: int, generation: bool) -> list[tuple[str, dict[str, Any]]] | str | None:
        """Up to ``size`` proposals, the later ones enqueued with the first one's shape; or, as a
        ``generation``, the cheap end's proposals the inner searcher has queued
        (``CostAwareSearcher.queued``), full proposals of their own, which the planner cuts into packs."""
        drawn: list[tuple[str, dict[str, Any]]] = []
        size = size if self.left < 0 else min(size, self.left)
        while len(drawn) < size:
            sub = f"{trial_id}_c{len(drawn)}"
            if generation and drawn and not self.inner.queued():
                break  # the cheap end is covered: the sampler's proposals start a pack of their own
            if drawn and not generation:
                self.inner.share(drawn[0][0], SHAPE)
            with warnings.catch_warnings():
                # A shape outside a range the cost-aware space narrowed: Optuna warns and uses it.
                warnings.filterwarnings("ignore", message="Fixed parameter")
                config = self.inner.suggest(sub)
            if config is None or config == Searcher.FINISHED:
                return drawn or config
            drawn.append((sub, dict(config)))
            self.left -= 1 if self.left > 0 else 0
            self.last = TrialConfig.from_dict(config)
            if len(drawn) == 1:
                size = min(size, self.fitting(self.last, size))
        return drawn

    def fitting(self, config: TrialConfig, size: int) -> int:
        """How many configs like ``config`` (each over the seeds it would screen) one pack may hold and,
        by the cost model, still end before the screening deadline: the last generation is sized to
        the time left, so the budget stops little work half done. At least 1 (a pack that cannot
        finish stops itself, ``tune_mnist.trainables.pack_trainable``); ``size`` without a deadline or costs."""
        deadline = current()
        if deadline is None or self.cost is None or size <= 1:
            return size
        left = deadline.at - time.time()
        for k in range(size, 1, -1):
            if self.pack_seconds(config, k) <= left:
                return k
        return 1

    def out_of_time(self) -> bool:
        """Whether, by the cost model, not even one config like the last one drawn (over the seeds it
        would screen) can end before the screening deadline: a pack started now could only be stopped
        by the budget (``tune_mnist.trainables.pack_trainable.cannot_finish``), its slot's time spent on
        no result, so screening ends with the packs running and the confirmation stage starts sooner."""
        deadline = current()
        if deadline is None or self.cost is None or self.last is None:
            return False
        if self.pack_seconds(self.last, 1) <= deadline.at - time.time():
            return False
        deadline.mark_reached()  # the budget, not the space, ends screening: --resume extends it
        return True

    def pack_seconds(self, config: TrialConfig, k: int) -> float:
        """The cost model's seconds, at this run's pace, for a pack of ``k`` configs like ``config``, each
        over the seeds it would screen (callers have checked there is a cost model)."""
        assert self.cost is not None
        seeds = self.seeds if seeds_are_cheap(config, self.seeds, self.cost, self.n_train) else 1
        copies = [dataclasses.replace(config, seed=s) for s in range(seeds)]
        return self.cost.packed(copies * k, self.n_train) * self.pace

    def learn_pace(self, pack: list[Entry], result: dict[str, Any]) -> None:
        """The wall time of a finished pack's last epoch (training, evaluation, checkpoint, report) over
        the cost model's seconds for the members that trained in it: how much slower this run's pack
        epochs are than the bare steps the model was calibrated on (at least 1)."""
        rows, wall = result.get(PACK_MEMBERS) or [], result.get("time_this_iter_s")
        members = [{**config, "seed": seed} for _, config, n in pack for seed in range(n)]
        trained = [m for m, row in zip(members, rows) if row.get(EPOCH) == result.get(EPOCH)]
        if self.cost is None or not trained or not wall:
            return
        one_epoch = [TrialConfig.from_dict({**m, "epochs": 1}) for m in trained]
        model = self.cost.packed(one_epoch, self.n_train) - TRIAL_S
        if model > 0:
            self.pace = max(1.0, float(wall) / model)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pack = self.packs.pop(trial_id, None)
        if pack is None:
            return
        rows = (result or {}).get(PACK_MEMBERS) or []
        if not error:
            self.learn_pace(pack, result or {})
        at = 0
        for sub, _, n in pack:
            mine, at = rows[at : at + n], at + n
            if error or len(mine) != n:
                self.inner.on_trial_complete(sub, result=None, error=True)
                continue
            self.inner.on_trial_complete(sub, result=seeds_mean(mine, {"min_accuracy": self.bar}))
