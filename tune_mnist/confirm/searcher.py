"""The confirmation stage as a Ray Tune ``Searcher``: screening and confirmation in one Tuner.

Why a searcher and not a second Tuner: a second Tuner in the same directory writes a second
experiment state, which the analysis would take for the whole experiment. How it runs, resumes from
the trial directories and ``confirmation.json`` (``save`` writes nothing), and shares a
``--time-budget`` with screening: docs/search.md. Only a seed that reached its last epoch counts:
a trial stopped early or by the budget never stands for its config's accuracy."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ray.tune.search import Searcher

from tune_mnist.confirm.rule import Seeds, missing_seeds, plan_round, reached_end
from tune_mnist.confirm.summary import trial_rows
from tune_mnist.core.config import TrialConfig, config_key, pack_members, trial_point
from tune_mnist.core.metrics import finite
from tune_mnist.core.objectives import SELECTION_METRIC
from tune_mnist.experiment.rebuild import finished_trials, read_log, write_log
from tune_mnist.strategies.screening_deadline import CONFIRM_ROUND, current
from tune_mnist.training.packed.cost_model import StepCost, plan_by_cost
from tune_mnist.training.packed.plan import plan_packs


@dataclass(frozen=True)
class Stage:
    """What the confirmation stage needs to know: ``k`` seeds per config, the bar, how the experiment's
    trials are shaped (``pack`` configs per trial on a list space; ``packed``: the trainable is the pack
    trainable, so a config's extra seeds go in one ``members`` trial), the run constants every trial
    carries, and where the experiment lives (for the log)."""

    k: int
    bar: float
    pack: int
    packed: bool
    constants: dict[str, Any]
    experiment: str
    cost: StepCost | None = None  # ``--pack auto`` on CPU: this machine's step costs, and the
    n_train: int = 0  # training images, so the rounds pack only where packing pays (cost_model)


class ConfirmingSearcher(Searcher):
    """Screening first (``screening`` points, or ``inner``'s first ``num_samples`` proposals), then the
    confirmation rounds."""

    def __init__(
        self,
        stage: Stage,
        screening: list[dict[str, Any]] | None = None,
        inner: Searcher | None = None,
        num_samples: int = 0,
    ) -> None:
        super().__init__(metric=getattr(inner, "metric", None), mode=getattr(inner, "mode", None))
        self.stage = stage
        self.screening = list(screening or [])
        self.inner = inner
        self.inner_left = num_samples if inner is not None else 0  # negative: unlimited (a budget ends it)
        self.space: dict[str, Any] = {}
        self.trials: dict[str, dict[str, Any]] = {}  # trial id -> {"point", "done", "inner"}
        self.seeds: dict[str, Seeds] = {}  # config key -> finished seeds
        self.taken: dict[str, set[int]] = {}  # config key -> every seed handed out
        self.queue: list[dict[str, Any]] = []
        self.rounds: list[dict[str, Any]] = []
        self.confirm_started: float | None = None
        self.finished_at: float | None = None
        self.screening_closed_at: float | None = None  # when a --time-budget ended screening

    # ------------------------------------------------------------ Tune's calls

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        self.space = dict(config or {})
        if self.inner is not None:
            return self.inner.set_search_properties(metric, mode, config, **spec)
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._screening_open():
            if self.screening:
                return self._hand_out(trial_id, self.screening.pop(0))
            if self.inner is not None and self.inner_left != 0:
                proposal = self.inner.suggest(trial_id)
                if proposal is None:
                    return None
                if proposal != Searcher.FINISHED:
                    if self.inner_left > 0:
                        self.inner_left -= 1
                    return self._hand_out(trial_id, proposal, inner=True)
                self.inner_left = 0
        if not self.queue:
            if any(not t["done"] for t in self.trials.values()):
                return None  # a round is a barrier: decide on complete results
            self.queue = self._next_round()
            if not self.queue:
                if self.finished_at is None:
                    self.finished_at = time.time()
                    self._write_log()
                return Searcher.FINISHED
        return self._hand_out(trial_id, self.queue.pop(0))

    def _screening_open(self) -> bool:
        """False once this run's screening deadline has passed (or an earlier run's closed screening
        and this run got no new budget)."""
        deadline = current()
        closed = self.screening_closed_at
        if closed is not None and deadline is not None and deadline.reopen and closed < deadline.started:
            closed = None  # --resume --time-budget M: screen again for M minutes
            self.finished_at = None  # and the stage runs again after it
        if closed is None and deadline is not None and deadline.passed():
            if self.screening or (self.inner is not None and self.inner_left != 0):
                deadline.mark_reached()  # proposals were left: the budget cut screening short
            closed = time.time()
        self.screening_closed_at = closed
        return closed is None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        trial = self.trials.get(trial_id)
        if trial is not None and trial["inner"] and self.inner is not None:
            self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        trial = self.trials.get(trial_id)
        if trial is None:
            return
        if trial["inner"] and self.inner is not None:
            self.inner.on_trial_complete(trial_id, result=result, error=error)
        trial["done"] = True
        if error or not result:
            return
        for config, row in trial_rows(trial["point"], result):
            self._record(config, row)

    def save(self, checkpoint_path: str) -> None:
        """Writes nothing: ``--resume`` rebuilds this searcher from the experiment directory (``resume``)."""

    def resume(self) -> None:
        """``--resume``: every seed the experiment's finished trial directories hold (handed out for good;
        a result where it reached its last epoch), and the rounds, times and closed screening of the
        confirmation log. An unfinished seed is not among them, so a round hands it out again."""
        for trial in finished_trials(self.stage.experiment):
            self.taken.setdefault(config_key(trial.params), set()).add(int(trial.params.get("seed", 0)))
            self._record(trial.params, trial.row)
        log = read_log(self.stage.experiment) or {}
        self.rounds = list(log.get("rounds") or [])
        self.confirm_started = log.get("confirm_started")
        self.finished_at = log.get("finished_at")
        self.screening_closed_at = log.get("screening_closed_by_budget_at")

    def _record(self, config: dict[str, Any], row: dict[str, Any]) -> None:
        """A seed's result, where ``row`` is its config's last epoch (stopped early or by the budget: none)."""
        if reached_end(config, row) and finite(row.get(SELECTION_METRIC)):
            self.seeds.setdefault(config_key(config), Seeds()).rows[int(config.get("seed", 0))] = row

    # ------------------------------------------------------------ the stage

    def _hand_out(self, trial_id: str, point: dict[str, Any], inner: bool = False) -> dict[str, Any]:
        merged = {**self.space, **point}
        for config in pack_members(merged) or [merged]:
            self.taken.setdefault(config_key(config), set()).add(int(config.get("seed", 0)))
        self.trials[trial_id] = {"point": merged, "done": False, "inner": inner}
        return point

    def _next_round(self) -> list[dict[str, Any]]:
        """Plan a round; its points (cheap near-bar configs first) with the seeds each config lacks."""
        decisions, sigma = plan_round(self.seeds, self.stage.bar, self.stage.k)
        configs: list[TrialConfig] = []
        grouped: list[list[TrialConfig]] = []
        for d in decisions:
            base = json.loads(d.key)
            need = missing_seeds(self.taken.get(d.key, ()), self.seeds[d.key].n, self.stage.k)
            seeded = [TrialConfig.from_dict({**base, "seed": s}) for s in need]
            configs += seeded
            grouped.append(seeded)
        if decisions:
            if self.confirm_started is None:
                self.confirm_started = time.time()
            self.rounds.append(
                {
                    "round": len(self.rounds) + 1,
                    "sigma": sigma,
                    "configs": [
                        {"config": json.loads(d.key), "reason": d.reason, "seeds": [c.seed for c in g]}
                        for d, g in zip(decisions, grouped)
                    ],
                }
            )
            self._write_log()
        return self._points(configs, grouped)

    def _points(self, configs: list[TrialConfig], grouped: list[list[TrialConfig]]) -> list[dict[str, Any]]:
        """One trial per seed on a CPU list space; packs as ``--pack`` packs them; on the pack trainable
        (adaptive ``--seeds``) one trial per config holding its missing seeds."""
        constants = {**self.stage.constants, CONFIRM_ROUND: len(self.rounds)}  # exempt from any stop
        flat = self.stage.cost is not None or not self.stage.packed  # cost-planned: lone configs flat
        if self.stage.cost is not None:
            packs = plan_by_cost(configs, self.stage.pack, self.stage.cost, self.stage.n_train)
        elif self.stage.pack > 1:
            packs = plan_packs(configs, self.stage.pack)
        elif self.stage.packed:
            return [trial_point(seeds, constants, flat) for seeds in grouped if seeds]
        else:
            packs = [[i] for i in range(len(configs))]
        return [trial_point([configs[i] for i in pack], constants, flat) for pack in packs]

    def _write_log(self) -> None:
        log = {
            "k": self.stage.k,
            "bar": self.stage.bar,
            "confirm_started": self.confirm_started,
            "finished_at": self.finished_at,
            "screening_closed_by_budget_at": self.screening_closed_at,
            "rounds": self.rounds,
        }
        write_log(self.stage.experiment, log)
