"""The adaptive spaces' Optuna study, kept in a journal file inside the experiment directory.

Why: so that ``optuna-dashboard <experiment>/optuna.journal`` shows the study while the search runs
and after it, as Optuna users watch theirs; and so that ``--resume`` goes on with the same study.
Optuna's ``JournalStorage`` over a ``JournalFileBackend`` is one append-only file of operations, safe
to read while the driver writes; the dashboard takes a plain file path as such a journal. The study
is named after the experiment. A storage URI (``s3://...``) keeps the study in memory: the journal
needs a local (or network-mounted) file. The study's owner, and what a resume does with the journal:
``tune_mnist.strategies.study_searcher``.

What a study trial is: one proposal of the searcher, that is one config. In the packed adaptive
searches (``tune_mnist.strategies.pack_searcher``) a config is screened over K seeds and the study
trial's values are the seed means; confirmation rounds add seeds outside the study. A proposal the
cost-aware searcher rejected before training, or one a stopped driver left unfinished, is a FAIL trial."""

from __future__ import annotations

import os
from typing import Any

from tune_mnist.core.layout import STUDY_FILE


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
