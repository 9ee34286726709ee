"""The Python API of the search: ``run_search(space="smoke", subset=2000, epochs=1)`` runs what
``python -m tune_mnist.search --space smoke --subset 2000 --epochs 1`` runs, with the same options and
checks (``tune_mnist.search_keywords``), and returns a ``SearchResult``."""

from __future__ import annotations

from typing import Any

from tune_mnist.search import execute
from tune_mnist.search_keywords import options_from
from tune_mnist.tuning.summary import SearchResult


def run_search(**options: Any) -> SearchResult:
    """Run a search; the keywords are the command's options with ``_`` for ``-`` (``time_budget=5``,
    ``storage_path="/shared/ray_results"``, ``resume=True``, ``pack=8``, ``mlflow=True`` for ``--mlflow``
    alone); a keyword of None is left to its default."""
    return execute(options_from(**options))
