"""The adaptive spaces' Ray Tune ``Searcher``: it owns an ``optuna.Study`` and drives it through
Optuna's public ask-and-tell calls.

Why not Ray's ``OptunaSearch``: keeping its study consistent across a resume, a pack of proposals and
a cost known before training meant reaching into its private state (its study, its trials, its set
of completed trials), which the next Ray or Optuna release may rename without a word. Here
``suggest`` asks the study for a trial and runs the space's define-by-run function on it (the spaces
take an ``optuna.trial.Trial``, as ``OptunaSearch`` gave them one); the searcher keeps its own map of
Ray trial id -> the asked trial, and ``on_trial_complete`` tells the study that trial's values and
drops it from the map. So a config is told once: a trial told already, or one this searcher never
asked for, is ignored.

Resume. The study lives in the experiment's journal (``tune_mnist.strategies.study_journal``), not in
the searcher: a searcher built, or unpickled, over an existing journal loads the study of the same
name and goes on from it. The study's trials still RUNNING there were proposed by a driver that is
gone (no trial of this run will report them), so they are told FAIL; the sampler is reseeded, since,
seeded as the first run's was, it would propose that run's first configs again. Ray's periodic
snapshots of the searcher are never read back, so ``save`` writes nothing; a pickled copy (the Tuner
pickles its search algorithm) holds only the settings and reopens the journal. On a storage URI
(``storage`` None) the study is in memory, and a resumed search starts its learning afresh."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher

#: The define-by-run space: suggests the sampled parameters on the trial, returns the fixed ones.
Space = Callable[..., dict[str, Any] | None]


class StudySearcher(Searcher):
    """Proposes configs from ``space`` with ``sampler`` and tells the study each one's ``metric``
    values, in ``mode`` (``"min"``/``"max"`` per metric); ``storage``: an Optuna storage (None: memory)."""

    def __init__(
        self,
        space: Space,
        metric: Sequence[str],
        mode: Sequence[str],
        sampler: optuna.samplers.BaseSampler,
        storage: optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
    ) -> None:
        super().__init__(metric=list(metric), mode=list(mode))
        self.space = space
        self.sampler = sampler
        self.storage = storage
        self.study_name = study_name
        self.trials: dict[str, optuna.trial.Trial] = {}  # Ray trial id -> its study trial, until told
        self.study = self._open()

    def __getstate__(self) -> dict[str, Any]:
        """The settings, never the study or the trials in flight: unpickled, the searcher reopens the journal."""
        return {**self.__dict__, "study": None, "trials": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.study = self._open()

    def save(self, checkpoint_path: str) -> None:
        """Writes nothing: ``--resume`` reopens the study from the experiment's journal."""

    def _open(self) -> optuna.Study:
        """The study, created or loaded from the storage; an earlier driver's RUNNING trials told FAIL."""
        study = optuna.create_study(
            storage=self.storage,
            sampler=self.sampler,
            study_name=self.study_name,
            directions=["minimize" if m == "min" else "maximize" for m in self.mode],
            load_if_exists=True,
        )
        earlier = study.get_trials(deepcopy=False)
        for trial in earlier:
            if trial.state == TrialState.RUNNING:
                study.tell(trial.number, state=TrialState.FAIL)
        if earlier:
            study.sampler.reseed_rng()
        if self.storage is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(list(self.metric))  # the dashboard's axis names
        return study

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        return self.propose(trial_id, self.space)

    def queued(self) -> int:
        """How many of the next proposals are already decided (a cost-aware searcher's cheap end): none here."""
        return 0

    def propose(self, trial_id: str, space: Space) -> dict[str, Any]:
        """A config from ``space`` on a newly asked study trial, held for ``trial_id``."""
        trial = self.study.ask()
        fixed = space(trial) or {}
        self.trials[trial_id] = trial
        return {**trial.params, **fixed}

    def share(self, trial_id: str, names: Sequence[str]) -> None:
        """The next proposal takes ``trial_id``'s values of ``names`` (Optuna's ``enqueue_trial`` with
        partial parameters: the sampler draws the rest)."""
        params = self.trials[trial_id].params
        self.study.enqueue_trial({k: params[k] for k in names if k in params}, skip_if_exists=False)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        trial = self.trials.pop(trial_id, None)
        if trial is None:
            return  # told already, or proposed by another searcher (a driver before a resume)
        values = None if error or not result else self.values(trial, result)
        if values is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, values)

    def values(self, trial: optuna.trial.Trial, result: dict) -> list[float] | None:
        """What the study is told for ``result``: its ``metric`` values; None (a FAIL) where one is missing."""
        values = [result.get(name) for name in self.metric]
        finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
        return [float(v) for v in values] if finite else None
