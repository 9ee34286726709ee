"""``save`` and ``restore`` for our Ray Tune searchers: their state is what they pickle.

Ray's ``Searcher`` has neither, and Tune saves the search algorithm with every experiment snapshot
(periodic, at least 10 s apart). A searcher pickles its ``__dict__`` unless it says otherwise with
``__getstate__``/``__setstate__``, as the study searcher does (``tune_mnist.strategies.study_searcher``:
its settings only, the study being the journal's)."""

from __future__ import annotations

from typing import Any

from ray import cloudpickle


class PickledState:
    """``save``/``restore`` of a ``Searcher`` through its pickled state."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            cloudpickle.dump(self.__getstate__(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__setstate__(cloudpickle.load(f))
