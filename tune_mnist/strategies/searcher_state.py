"""A searcher's saved state, pickled again only when it has changed.

Tune saves the searcher with every experiment snapshot. When a search forced one after every
checkpoint, pickling the searchers (an Optuna study inside them then) took a sixth of the driver's
time in a cost-aware search on 2 cores; snapshots are periodic now and the study searcher pickles
only its settings (``tune_mnist.strategies.study_searcher``), so what remains is the plain ``save`` /
``restore`` of the packing and confirming searchers. A searcher using this mixin calls ``_changed()``
wherever its state moves; ``save`` writes the bytes of the last pickling when nothing has."""

from __future__ import annotations

from typing import Any

#: The attribute holding (changes, bytes) of the last pickling; never pickled itself.
_SAVED = "_saved_state"


class SavedWhenChanged:
    """``save``/``restore`` for a Ray Tune ``Searcher`` whose whole state is its ``__dict__``."""

    def __getstate__(self) -> dict[str, Any]:
        """Also when pickled inside another searcher's state: never the cached bytes."""
        return {k: v for k, v in self.__dict__.items() if k != _SAVED}

    def _changed(self) -> None:
        self._changes = getattr(self, "_changes", 0) + 1

    def save(self, checkpoint_path: str) -> None:
        import ray.cloudpickle as cloudpickle

        changes = getattr(self, "_changes", 0)
        saved = self.__dict__.get(_SAVED)
        if saved is None or saved[0] != changes:
            saved = (changes, cloudpickle.dumps(self.__getstate__()))
            self.__dict__[_SAVED] = saved
        with open(checkpoint_path, "wb") as f:
            f.write(saved[1])

    def restore(self, checkpoint_path: str) -> None:
        import ray.cloudpickle as cloudpickle

        with open(checkpoint_path, "rb") as f:
            state: dict[str, Any] = cloudpickle.load(f)
        self.__dict__.update(state)
        self.__dict__.pop(_SAVED, None)
        self._changed()
