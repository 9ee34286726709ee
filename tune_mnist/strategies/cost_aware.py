"""A cost-aware study searcher for the front above the bar, cheap end first, with FLOPs known up front.

The plain study searcher (``tune_mnist.strategies.study_searcher``) tells Optuna every objective as a
black-box result of training, with no constraints. Here FLOPs and params are exact functions of the
config (``tune_mnist.model.counts``), so:

- the objectives are FLOPs (down) and validation accuracy (up). FLOPs are computed from the proposed
  config when it is suggested (recorded on the Optuna trial as the user attributes ``flops`` and
  ``params`` before the trial trains) and told with the accuracy when it finishes;
- the bar is a constraint, ``bar - val_acc <= 0`` (``Trial.set_constraint``, Optuna 5's form), set
  from the trial's result. Optuna's multi-objective TPE ranks feasible trials first, by Pareto rank,
  then the infeasible ones by how far below the bar they are: it first finds models above the bar,
  then spreads along their front;
- the cheap end is pressed for: two proposals in three (``NARROWED``) come from the space narrowed to
  the FLOPs of the cheapest model already above the bar (its ``max_flops`` argument: each range given
  the values drawn before it; a resumed search finds that model in the journal), because a costlier
  model cannot be the cheapest answer. The third proposal is free, so the front's accurate end (what
  its hypervolume rewards) is searched too. One sampler call gives a proposal that fits: redrawing
  whole proposals until one fits was tried first and, once the incumbent was small, took half the
  driver's time. A narrowed proposal that still does not fit (a space without ``max_flops``) is told
  to Optuna as failed (TPE ignores failed trials) and drawn again, up to ``MAX_REJECTS`` times;
- under ``--time-budget`` every proposal is narrowed to ``budget_flops``: a model that alone would take
  more than ``BUDGET_SHARE`` of the screening time at this machine's measured arithmetic rate
  (``tune_mnist.training.packed.cost_model``) is never proposed. The first proposals are random over
  the whole range, and on 2 cores at the full training set a 2x1860 model at 10 epochs holds a CPU for
  most of a 3-minute budget, while the answer looked for is a model of a few hundred FLOPs;
- with a ``cheap_end`` (``tune_mnist.strategies.cheap_end``), the first proposals are not sampled: the
  lattice's shapes, cheapest first, each enqueued as a full proposal (``enqueue_trial``, so the journal
  keeps them and a resumed search skips what it tried) until the next one would cost more than the
  incumbent or the budget allows; then, once, the front's accurate end (a few wide one-layer models,
  ``cheap_end.ACCURATE_END``), which the lattice never reaches; then the sampler proposes as above.
  ``queued`` says how many such proposals are ready, so the packing searcher can draw them as one
  generation;
- a trial the scheduler stopped early is told with its last accuracy (its constraint then says how
  far below the bar it stopped; a stopped trial is infeasible as far as the search knows).

Latency is not an objective: at batch 1 a tiny model's eager latency is mostly dispatch overhead and
the noise of the other trials sharing the CPU, and FLOPs orders models the same way where it
matters. The front's latency is re-measured alone afterwards (``python -m analysis.pareto --remeasure``)."""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

import optuna

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.objectives import selection_accuracy
from tune_mnist.model.counts import mlp_flops, mlp_params
from tune_mnist.strategies.cheap_end import MOST_EPOCHS, CheapEnd, Params, key, shape_flops
from tune_mnist.strategies.study_searcher import Space, StudySearcher
from tune_mnist.training.packed.cost_model import TRAIN_FLOPS_FACTOR, StepCost

#: Proposals above the incumbent's FLOPs drawn again at most this many times per suggestion.
MAX_REJECTS = 10
#: Of every CYCLE proposals, NARROWED come from the space narrowed to the incumbent's FLOPs.
CYCLE, NARROWED = 3, 2
#: The constraint's name on the Optuna trial.
BAR = "accuracy_bar"
#: Under --time-budget one proposal may take at most this share of the screening time.
BUDGET_SHARE = 0.25


def config_costs(config: dict[str, Any]) -> tuple[int, int]:
    """(FLOPs, params) of a proposed config, from its shape alone."""
    c = TrialConfig.from_dict(config)
    return mlp_flops(c.in_features, c.depth, c.width), mlp_params(c.in_features, c.depth, c.width)


def budget_flops(cost: StepCost, n_train: int, screening_s: float, epochs: int | None = None) -> float:
    """Per-sample forward FLOPs of the largest model worth proposing within ``screening_s``."""
    if n_train <= 0 or screening_s <= 0:
        return math.inf
    epochs = epochs or MOST_EPOCHS
    return BUDGET_SHARE * screening_s * cost.flops_per_s / (TRAIN_FLOPS_FACTOR * n_train * epochs)


class CostAwareSearcher(StudySearcher):
    """The study searcher with FLOPs known at suggestion time, the bar as a constraint and the cheap
    end pressed for; ``storage`` and ``study_name`` as ``StudySearcher``'s."""

    def __init__(
        self,
        space: Space,
        sampler: optuna.samplers.BaseSampler,
        bar: float,
        storage: optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        cheap_end: CheapEnd | None = None,
    ) -> None:
        self.bar = bar
        self.cheap_end = cheap_end
        self.queue: list[Params] = []  # the cheap end's proposals drawn from it, not yet proposed
        self.seen: set[tuple] = set()  # the params of every trial in the study (a resumed search)
        self.narrows = "max_flops" in inspect.signature(space).parameters
        self.incumbent: float = math.inf  # FLOPs of the cheapest trial above the bar so far
        self.budget_flops: float = math.inf  # under --time-budget: what one proposal may cost
        self.rejected = 0  # proposals never trained: dominated before training
        self.proposed = 0
        super().__init__(space, ["flops", "val_acc"], ["min", "max"], sampler, storage, study_name)

    def _open(self) -> optuna.Study:
        """The study, and the incumbent among its finished trials (a resumed search narrows at once)."""
        study = super()._open()
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        self.incumbent = min((t.values[0] for t in done if t.values[1] > self.bar), default=math.inf)
        self.seen = {key(t.params) for t in study.get_trials(deepcopy=False)}
        return study

    def queued(self) -> int:
        """How many of the next proposals are the cheap end's, then the accurate end's (0: the sampler's
        from here on)."""
        cap = min(self.incumbent, self.budget_flops)
        while self.cheap_end is not None:
            if not self.cheap_end.covered:  # the accurate end's proposals cost more than the incumbent
                self.queue = [p for p in self.queue if shape_flops(p) <= cap]
            if self.queue:
                break
            self.queue = self.cheap_end.next_group(cap, self.seen, self.budget_flops)
            if not self.queue:
                self.cheap_end = None  # covered, the accurate end too: the sampler's turn
        return len(self.queue)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.queued():
            return self.enqueued(trial_id, self.queue.pop(0))
        self.proposed += 1
        narrowed = math.isfinite(self.incumbent) and self.proposed % CYCLE < NARROWED
        cap = min(self.incumbent if narrowed else math.inf, self.budget_flops)
        space = functools.partial(self.space, max_flops=cap) if self.narrows and math.isfinite(cap) else self.space
        for attempt in range(MAX_REJECTS + 1):
            config = self.propose(trial_id, space)
            flops, _ = config_costs(config)
            trial = self.costs(trial_id, config)
            trial.set_user_attr("narrowed", narrowed)
            if flops <= cap or attempt == MAX_REJECTS:
                return config
            # Dominated before training: more FLOPs than a model already above the bar.
            why = "the cheapest above the bar" if cap == self.incumbent else "what the time budget can train"
            trial.set_user_attr("rejected", f"{flops:,} FLOPs > {cap:,.0f}, {why}")
            self.on_trial_complete(trial_id, error=True)  # told FAIL: TPE learns nothing from it
            self.rejected += 1
        return None

    def enqueued(self, trial_id: str, params: Params) -> dict[str, Any]:
        """The cheap end's next proposal, asked of the study as an enqueued trial (the space run on it
        unnarrowed, so that its ranges hold the fixed values)."""
        self.study.enqueue_trial(params, skip_if_exists=True)
        self.seen.add(key(params))
        config = self.propose(trial_id, self.space)
        end = "accurate_end" if self.cheap_end is not None and self.cheap_end.covered else "cheap_end"
        self.costs(trial_id, config).set_user_attr(end, True)
        return config

    def costs(self, trial_id: str, config: dict[str, Any]) -> optuna.trial.Trial:
        """The asked trial of ``config``, its FLOPs, params and epochs recorded before it trains."""
        flops, params = config_costs(config)
        trial = self.trials[trial_id]
        trial.set_user_attr("flops", flops)
        trial.set_user_attr("params", params)
        trial.set_user_attr("epochs", config.get("epochs"))
        return trial

    def values(self, trial: optuna.trial.Trial, result: dict) -> list[float] | None:
        """FLOPs and the selection accuracy, with the bar's constraint and what the dashboard shows."""
        flops = trial.user_attrs.get("flops")
        accuracy = selection_accuracy(result)
        if flops is None or math.isnan(accuracy):
            return None
        epochs = trial.user_attrs.get("epochs")
        trial.set_user_attr("val_acc", accuracy)
        trial.set_user_attr("epoch", result.get("epoch"))
        if epochs is not None and result.get("epoch") is not None and result["epoch"] < epochs:
            trial.set_user_attr("stopped_before_end", True)
        trial.set_constraint(BAR, self.bar - accuracy)
        if accuracy > self.bar:
            self.incumbent = min(self.incumbent, float(flops))
        return [float(flops), accuracy]
