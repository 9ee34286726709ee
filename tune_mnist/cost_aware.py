"""A cost-aware Optuna searcher: minimise FLOPs subject to the accuracy bar, with FLOPs known up front.

Ray's ``OptunaSearch`` hands Optuna every objective as a black-box result of training and passes no
constraints. Here FLOPs and params are exact functions of the config (``tune_mnist.counts``), so:

- the objective is FLOPs, computed from the proposed config when it is suggested (recorded on the
  Optuna trial as the user attributes ``flops`` and ``params`` before the trial trains);
- the bar is a constraint, ``bar - val_acc <= 0`` (``Trial.set_constraint``, Optuna 5's form), set
  from the trial's result. Optuna's TPE puts feasible trials first, ranked by FLOPs, then the
  infeasible ones by how far below the bar they are: it first finds models above the bar, then
  cheaper ones;
- a proposal whose FLOPs exceed the cheapest model already above the bar cannot improve the answer,
  whatever it would learn, so it is never trained: it is told to Optuna as failed (TPE ignores failed
  trials) and a new proposal is drawn, up to ``MAX_REJECTS`` times;
- a trial the scheduler stopped early is told with its last accuracy (its constraint then says how
  far below the bar it stopped; a stopped trial is infeasible as far as the search knows).

Latency is not an objective: at batch 1 a tiny model's eager latency is mostly dispatch overhead and
the noise of the other trials sharing the CPU, and FLOPs orders models the same way where it
matters. The front's latency is re-measured alone afterwards (``python -m analysis.pareto --remeasure``)."""

from __future__ import annotations

import math
from typing import Any

from ray.tune.search.optuna import OptunaSearch

from tune_mnist.config import TrialConfig
from tune_mnist.counts import mlp_flops, mlp_params

#: Proposals above the incumbent's FLOPs drawn again at most this many times per suggestion.
MAX_REJECTS = 50
#: The constraint's name on the Optuna trial.
BAR = "accuracy_bar"


def config_costs(config: dict[str, Any]) -> tuple[int, int]:
    """(FLOPs, params) of a proposed config, from its shape alone."""
    c = TrialConfig.from_dict(config)
    return mlp_flops(c.in_features, c.depth, c.width), mlp_params(c.in_features, c.depth, c.width)


class CostAwareOptunaSearch(OptunaSearch):
    """``OptunaSearch`` with FLOPs known at suggestion time and the bar as a constraint."""

    def __init__(self, space: Any, sampler: Any, bar: float) -> None:
        super().__init__(space=space, metric="flops", mode="min", sampler=sampler)
        self.bar = bar
        self.incumbent: float = math.inf  # FLOPs of the cheapest trial above the bar so far
        self.rejected = 0  # proposals never trained: dominated before training

    def suggest(self, trial_id: str) -> dict | None:
        for attempt in range(MAX_REJECTS + 1):
            config = super().suggest(trial_id)
            if config is None:
                return None
            flops, params = config_costs(config)
            ot_trial = self._ot_trials[trial_id]
            ot_trial.set_user_attr("flops", flops)  # known before the trial trains
            ot_trial.set_user_attr("params", params)
            ot_trial.set_user_attr("epochs", config.get("epochs"))
            if flops <= self.incumbent or attempt == MAX_REJECTS:
                return config
            # Dominated before training: more FLOPs than a model already above the bar.
            ot_trial.set_user_attr("rejected", f"{flops:,} FLOPs > {self.incumbent:,.0f}, the cheapest above the bar")
            self._ot_study.tell(ot_trial, state=_fail_state())
            del self._ot_trials[trial_id]
            self.rejected += 1
        return None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Nothing to learn per epoch: the scheduler judges learning curves, the sampler final answers."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        flops = ot_trial.user_attrs.get("flops")
        accuracy = _accuracy(result, self.bar)
        if error or result is None or flops is None or math.isnan(accuracy):
            self._ot_study.tell(ot_trial, state=_fail_state())
        else:
            epochs = ot_trial.user_attrs.get("epochs")
            ot_trial.set_user_attr("val_acc", accuracy)
            ot_trial.set_user_attr("epoch", result.get("epoch"))
            if epochs is not None and result.get("epoch") is not None and result["epoch"] < epochs:
                ot_trial.set_user_attr("stopped_before_end", True)
            ot_trial.set_constraint(BAR, self.bar - accuracy)
            self._ot_study.tell(ot_trial, float(flops))
            if accuracy > self.bar:
                self.incumbent = min(self.incumbent, float(flops))
        self._completed_trials.add(trial_id)


def _accuracy(result: dict | None, bar: float) -> float:
    """The selection accuracy of a result: val_acc, or bar - shortfall where test_acc stands in."""
    if not result:
        return math.nan
    value = result.get("val_acc")
    if isinstance(value, (int, float)) and value == value:
        return float(value)
    shortfall = result.get("accuracy_shortfall")
    return bar - float(shortfall) if isinstance(shortfall, (int, float)) and shortfall > 0 else math.nan


def _fail_state() -> Any:
    from optuna.trial import TrialState

    return TrialState.FAIL
