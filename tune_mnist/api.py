"""The Python API of the search: ``run_search(space="smoke", subset=2000, epochs=1)`` runs what
``python -m tune_mnist.search --space smoke --subset 2000 --epochs 1`` runs and returns a
``SearchResult`` (the experiment's path, the exit status, the picks). Both build the same ``SearchOptions``
with the same defaults and checks (``tune_mnist.search_keywords``): a bad value raises the ``InputError``
whose sentence the command prints, naming the option by its flag (``--time-budget``).
``SearchResult.analysis()`` loads the analysis (``analysis.load_analysis``), imported only then: the search
never imports the analysis otherwise."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from tune_mnist.confirm.summary import Pick
from tune_mnist.search import execute
from tune_mnist.search_keywords import options_from


@dataclass(frozen=True)
class SearchResult:
    """What a search left: its experiment directory (None for a dry run of an unnamed search), its
    status (0: every config finished; 1: some failed or did not finish) and one pick per objective."""

    experiment: str | None
    status: int
    picks: tuple[Pick, ...]

    def analysis(self, **options: Any) -> Any:
        """The experiment's analysis (``analysis.load_analysis``; its keywords pass on)."""
        return importlib.import_module("analysis").load_analysis(self.experiment, **options)


def run_search(**options: Any) -> SearchResult:
    """Run a search; the keywords are the command's options with ``_`` for ``-`` (``time_budget=5``,
    ``storage_path="/shared/ray_results"``, ``resume=True``, ``pack=8``, ``mlflow=True`` for ``--mlflow``
    alone); a keyword of None is left to its default."""
    outcome = execute(options_from(**options))
    return SearchResult(outcome.experiment, outcome.status, outcome.picks)
