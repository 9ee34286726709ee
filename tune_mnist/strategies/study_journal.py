"""The adaptive spaces' Optuna study, kept in a journal file inside the experiment directory.

Why: so that ``optuna-dashboard <experiment>/optuna.journal`` shows the study while the search runs
and after it, as Optuna users watch theirs; and so that ``--resume`` goes on with the same study.
Optuna's ``JournalStorage`` over a ``JournalFileBackend`` is one append-only file of operations, safe
to read while the driver writes; the dashboard takes a plain file path as such a journal. The study
is named after the experiment. A storage URI (``s3://...``) keeps the study in memory as before: the
journal needs a local (or network-mounted) file.

What a study trial is: one proposal of the searcher, that is one config. In the packed adaptive
searches (``tune_mnist.strategies.pack_searcher``) a config is screened over K seeds and the study
trial's values are the seed means; confirmation rounds add seeds outside the study. A proposal the
cost-aware searcher rejected before training, or one lost to an interruption, is a FAIL trial.

Resume, without counting a trial twice. Ray saves the searcher (and the study object inside it) with
every experiment snapshot and restores that snapshot on ``--resume``. A pickled ``JournalStorage``
keeps only its file's path: unpickled, it replays the journal, so the restored study is the journal's,
never the snapshot's copy. Two things can then differ from the snapshot after a hard kill (a Ctrl-C
or the budget saves a last snapshot, so neither happens there): a trial finished after the snapshot
is run again by Ray and reported again, which ``already_told`` turns away (the journal keeps its
first result); and a proposal made after the snapshot is RUNNING in the journal but unknown to the
restored searcher, which ``fail_lost`` marks FAIL."""

from __future__ import annotations

import os
from typing import Any

from ray.tune.search.optuna import OptunaSearch

from tune_mnist.core.layout import STUDY_FILE

#: The user attribute that says why a study trial was failed by ``fail_lost``.
LOST = "lost"


def journal_path(experiment: str) -> str | None:
    """``<experiment>/optuna.journal``, or None where the experiment is a URI (no local file)."""
    if "://" in experiment:
        return None
    return os.path.join(os.path.abspath(experiment), STUDY_FILE)


def journal_storage(path: str | None) -> Any:
    """Optuna's journal storage over the file ``path`` (created with its directory); None: in memory."""
    if path is None:
        return None
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    os.makedirs(os.path.dirname(path), exist_ok=True)
    return JournalStorage(JournalFileBackend(path))


def dashboard_line(experiment: str, written: bool = True) -> str | None:
    """The line that tells how to watch an experiment's study; None where it has no journal (a URI, or
    ``written`` and no journal file yet: a list space)."""
    path = journal_path(experiment)
    if path is None or (written and not os.path.isfile(path)):
        return None
    return f"Optuna study: {path}; watch it with: pip install optuna-dashboard, then optuna-dashboard {path}"


def already_told(searcher: Any, trial_id: str) -> bool:
    """Whether the study already holds a final result for ``trial_id`` (told before an interruption
    the restored searcher does not know of); such a trial is then marked completed in the searcher."""
    ot_trial = searcher._ot_trials.get(trial_id)
    if ot_trial is None:
        return False
    state = searcher._ot_study._storage.get_trial(ot_trial._trial_id).state
    if not state.is_finished():
        return False
    searcher._completed_trials.add(trial_id)
    return True


def fail_lost(searcher: Any) -> int:
    """Mark FAIL the study's RUNNING trials that the (just restored) ``searcher`` does not hold: proposals
    made after its last saved state, which no trial of the experiment will ever report. Their count."""
    from optuna.trial import TrialState

    study = getattr(searcher, "_ot_study", None)
    if study is None:
        return 0
    held = {t._trial_id for t in searcher._ot_trials.values()}
    lost = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if t._trial_id not in held]
    for trial in lost:
        study._storage.set_trial_user_attr(trial._trial_id, LOST, "proposed after the last saved search state")
        study.tell(trial.number, state=TrialState.FAIL)
    return len(lost)


def searchers_in(searcher: Any) -> list[Any]:
    """``searcher`` and the searchers it wraps (``inner``, ``searcher``: Ray's limiter), outermost first."""
    out = []
    while searcher is not None and searcher not in out:
        out.append(searcher)
        searcher = getattr(searcher, "inner", None) or getattr(searcher, "searcher", None)
    return out


def reconcile(searcher: Any) -> None:
    """After a restore: every Optuna searcher in ``searcher`` gives up the study trials it lost."""
    for each in searchers_in(searcher):
        if hasattr(each, "_ot_trials"):
            fail_lost(each)


class StudyOptunaSearch(OptunaSearch):
    """Ray's ``OptunaSearch`` that never tells its study a trial twice and gives up lost proposals
    when restored (see the module docstring); the ``adaptive`` space's searcher."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or already_told(self, trial_id):
            return
        super().on_trial_complete(trial_id, result=result, error=error)

    def _setup_study(self, mode: Any) -> None:
        """A study loaded from an existing journal (a search whose Ray state was rebuilt) gives up the
        proposals its earlier driver left RUNNING (this new searcher holds none of them), and its sampler
        is reseeded: seeded as the first run's was, it would propose that run's first configs again."""
        super()._setup_study(mode)
        if self._ot_study.get_trials(deepcopy=False):
            fail_lost(self)
            self._ot_study.sampler.reseed_rng()
        if self._storage is not None and isinstance(self._metric, list):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # experimental in some Optuna versions
                self._ot_study.set_metric_names(list(self._metric))  # the dashboard's axis names

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        reconcile(self)
