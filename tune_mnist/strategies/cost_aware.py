"""A cost-aware Optuna searcher for the front above the bar, cheap end first, with FLOPs known up front.

Ray's ``OptunaSearch`` hands Optuna every objective as a black-box result of training and passes no
constraints. Here FLOPs and params are exact functions of the config (``tune_mnist.model.counts``), so:

- the objectives are FLOPs (down) and validation accuracy (up). FLOPs are computed from the proposed
  config when it is suggested (recorded on the Optuna trial as the user attributes ``flops`` and
  ``params`` before the trial trains) and told with the accuracy when it finishes;
- the bar is a constraint, ``bar - val_acc <= 0`` (``Trial.set_constraint``, Optuna 5's form), set
  from the trial's result. Optuna's multi-objective TPE ranks feasible trials first, by Pareto rank,
  then the infeasible ones by how far below the bar they are: it first finds models above the bar,
  then spreads along their front;
- the cheap end is pressed for: two proposals in three (``NARROWED``) come from the space narrowed to
  the FLOPs of the cheapest model already above the bar (its ``max_flops`` argument: each range given
  the values drawn before it), because a costlier model cannot be the cheapest answer. The third
  proposal is free, so the front's accurate end (what its hypervolume rewards) is searched too. One
  sampler call gives a proposal that fits: redrawing whole proposals until one fits was tried first
  and, once the incumbent was small, took half the driver's time. A narrowed proposal that still does
  not fit (a space without ``max_flops``) is told to Optuna as failed (TPE ignores failed trials) and
  drawn again, up to ``MAX_REJECTS`` times;
- under ``--time-budget`` every proposal is narrowed to ``budget_flops`` (``strategies.budget_cap``):
  a model that alone would take more than a quarter of the screening time is never proposed, since
  it would hold a CPU for much of the budget and could not be the cheap answer anyway;
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

from tune_mnist.core.config import TrialConfig
from tune_mnist.model.counts import mlp_flops, mlp_params
from tune_mnist.strategies.searcher_state import SavedWhenChanged
from tune_mnist.strategies.study_journal import StudyOptunaSearch, already_told

#: Proposals above the incumbent's FLOPs drawn again at most this many times per suggestion.
MAX_REJECTS = 10
#: Of every CYCLE proposals, NARROWED come from the space narrowed to the incumbent's FLOPs.
CYCLE, NARROWED = 3, 2
#: The constraint's name on the Optuna trial.
BAR = "accuracy_bar"


def config_costs(config: dict[str, Any]) -> tuple[int, int]:
    """(FLOPs, params) of a proposed config, from its shape alone."""
    c = TrialConfig.from_dict(config)
    return mlp_flops(c.in_features, c.depth, c.width), mlp_params(c.in_features, c.depth, c.width)


class CostAwareOptunaSearch(SavedWhenChanged, StudyOptunaSearch):
    """``OptunaSearch`` with FLOPs known at suggestion time, the bar as a constraint and the cheap end
    pressed for; ``storage`` and ``study_name`` as Ray's (``tune_mnist.strategies.study_journal``)."""

    IGNORES_EPOCHS = True  # on_trial_result learns nothing (tune_mnist.confirm.searcher saves less often)

    def __init__(
        self, space: Any, sampler: Any, bar: float, storage: Any = None, study_name: str | None = None
    ) -> None:
        super().__init__(
            space=space,
            metric=["flops", "val_acc"],
            mode=["min", "max"],
            sampler=sampler,
            storage=storage,
            study_name=study_name,
        )
        self.bar = bar
        self.base_space = space  # the space unbounded; narrowed to the incumbent where it can be
        self.narrows = "max_flops" in inspect.signature(space).parameters
        self.incumbent: float = math.inf  # FLOPs of the cheapest trial above the bar so far
        self.budget_flops: float = math.inf  # under --time-budget: what one proposal may cost (budget_cap)
        self.rejected = 0  # proposals never trained: dominated before training
        self.proposed = 0

    def set_search_properties(self, metric: Any, mode: Any, config: dict, **spec: Any) -> bool:
        self._changed()
        return super().set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | None:
        self._changed()
        self.proposed = getattr(self, "proposed", 0) + 1
        narrowed = math.isfinite(self.incumbent) and self.proposed % CYCLE < NARROWED
        cap = min(self.incumbent if narrowed else math.inf, getattr(self, "budget_flops", math.inf))
        if getattr(self, "narrows", False):
            self._space = functools.partial(self.base_space, max_flops=cap) if math.isfinite(cap) else self.base_space
        for attempt in range(MAX_REJECTS + 1):
            config = super().suggest(trial_id)
            if config is None:
                return None
            flops, params = config_costs(config)
            ot_trial = self._ot_trials[trial_id]
            ot_trial.set_user_attr("flops", flops)  # known before the trial trains
            ot_trial.set_user_attr("params", params)
            ot_trial.set_user_attr("epochs", config.get("epochs"))
            ot_trial.set_user_attr("narrowed", narrowed)
            if flops <= cap or attempt == MAX_REJECTS:
                return config
            # Dominated before training: more FLOPs than a model already above the bar.
            why = "the cheapest above the bar" if cap == self.incumbent else "what the time budget can train"
            ot_trial.set_user_attr("rejected", f"{flops:,} FLOPs > {cap:,.0f}, {why}")
            self._ot_study.tell(ot_trial, state=_fail_state())
            del self._ot_trials[trial_id]
            self.rejected += 1
        return None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Nothing to learn per epoch: the scheduler judges learning curves, the sampler final answers."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials or already_told(self, trial_id):
            return
        self._changed()
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
            self._ot_study.tell(ot_trial, [float(flops), accuracy])
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
