"""Old module paths, from before ``tune_mnist`` was grouped into subpackages, resolved to the new ones.

Experiments written before the regrouping hold pickles naming the old paths: Ray's experiment state
(the trainable functions, pickled by reference), the searcher state (``tune_mnist.confirm_searcher.
ConfirmingSearcher``, ``tune_mnist.cost_aware...``), the schedulers and callbacks. ``install`` puts a
finder first on ``sys.meta_path`` that answers an old name with the new module itself (the same module
object, not a copy), imported only when something asks for it, so those experiments load and resume.

Three old modules gave their names to the packages that now hold them (``tune_mnist.data``,
``tune_mnist.model``, ``tune_mnist.extras``), and ``tune_mnist.train`` is still the single-run
command while its loop moved: those hand the old module's names on themselves (``hand_on``), so
``tune_mnist.data.Splits`` and ``tune_mnist.train.TrainingState`` still resolve.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

#: Each old dotted module name -> the module that holds its code now.
MOVED: dict[str, str] = {
    "tune_mnist.config": "tune_mnist.core.config",
    "tune_mnist.labels": "tune_mnist.core.labels",
    "tune_mnist.errors": "tune_mnist.core.errors",
    "tune_mnist.metrics": "tune_mnist.core.metrics",
    "tune_mnist.objectives": "tune_mnist.core.objectives",
    "tune_mnist.layout": "tune_mnist.core.layout",
    "tune_mnist.inputs": "tune_mnist.data.inputs",
    "tune_mnist.options": "tune_mnist.data.options",
    "tune_mnist.counts": "tune_mnist.model.counts",
    "tune_mnist.measure": "tune_mnist.model.measure",
    "tune_mnist.saved": "tune_mnist.model.saved",
    "tune_mnist.rows": "tune_mnist.training.rows",
    "tune_mnist.single_run": "tune_mnist.training.single_run",
    "tune_mnist.packed": "tune_mnist.training.packed",
    "tune_mnist.packed.engine": "tune_mnist.training.packed.engine",
    "tune_mnist.packed.inputs": "tune_mnist.training.packed.inputs",
    "tune_mnist.packed.plan": "tune_mnist.training.packed.plan",
    "tune_mnist.packed.state": "tune_mnist.training.packed.state",
    "tune_mnist.packed.trainer": "tune_mnist.training.packed.trainer",
    "tune_mnist.trainable": "tune_mnist.trainables.trainable",
    "tune_mnist.pack_trainable": "tune_mnist.trainables.pack_trainable",
    "tune_mnist.unpack": "tune_mnist.trainables.unpack",
    "tune_mnist.checkpoints": "tune_mnist.trainables.checkpoints",
    "tune_mnist.storage": "tune_mnist.experiment.storage",
    "tune_mnist.driver_lock": "tune_mnist.experiment.driver_lock",
    "tune_mnist.experiment_guard": "tune_mnist.experiment.experiment_guard",
    "tune_mnist.storage_guard": "tune_mnist.experiment.storage_guard",
    "tune_mnist.rebuild": "tune_mnist.experiment.rebuild",
    "tune_mnist.run_options": "tune_mnist.experiment.run_options",
    "tune_mnist.early_stopping": "tune_mnist.strategies.early_stopping",
    "tune_mnist.schedulers": "tune_mnist.strategies.schedulers",
    "tune_mnist.budget": "tune_mnist.strategies.budget",
    "tune_mnist.screening_deadline": "tune_mnist.strategies.screening_deadline",
    "tune_mnist.search_limits": "tune_mnist.strategies.search_limits",
    "tune_mnist.cost_aware": "tune_mnist.strategies.cost_aware",
    "tune_mnist.searcher_state": "tune_mnist.strategies.searcher_state",
    "tune_mnist.confirm_rule": "tune_mnist.confirm.rule",
    "tune_mnist.confirm_searcher": "tune_mnist.confirm.searcher",
    "tune_mnist.confirm_log": "tune_mnist.confirm.log",
    "tune_mnist.confirm_summary": "tune_mnist.confirm.summary",
    "tune_mnist.onnx_runtime": "tune_mnist.extras.onnx_runtime",
    "tune_mnist.mlflow_tracking": "tune_mnist.extras.mlflow_tracking",
    "tune_mnist.mlflow_store": "tune_mnist.extras.mlflow_store",
    "tune_mnist.tuner": "tune_mnist.tuning.tuner",
    "tune_mnist.confirm_tuner": "tune_mnist.tuning.confirm_tuner",
    "tune_mnist.ray_session": "tune_mnist.tuning.ray_session",
    "tune_mnist.live_table": "tune_mnist.tuning.live_table",
    "tune_mnist.summary": "tune_mnist.tuning.summary",
    "tune_mnist.dry_run": "tune_mnist.tuning.dry_run",
    "tune_mnist.trials": "tune_mnist.tuning.trials",
}


#: Old modules whose name is now a package's: the package hands on the old module's names (``hand_on``).
SHADOWED: dict[str, str] = {
    "tune_mnist.data": "tune_mnist.data.sources",
    "tune_mnist.model": "tune_mnist.model.mlp",
    "tune_mnist.extras": "tune_mnist.extras.optional",
    "tune_mnist.train": "tune_mnist.training.loop",  # still the single-run command; the loop moved
}

#: Where the old module's other names went when it was split after the move.
SPLIT_OFF: dict[str, tuple[str, ...]] = {"tune_mnist.data": ("tune_mnist.data.splits",)}


def hand_on(package: str, name: str) -> object:
    """A package's module ``__getattr__``: ``name`` from the old module the package replaced, imported on
    first use (so importing the package stays cheap: ``tune_mnist.model`` must not import torch)."""
    for module in (SHADOWED[package], *SPLIT_OFF.get(package, ())):
        try:
            return getattr(importlib.import_module(module), name)
        except AttributeError:
            continue
    raise AttributeError(f"module {package!r} has no attribute {name!r}")


class _Alias(importlib.abc.Loader):
    """Loads an old name by importing the new module and putting it in ``sys.modules`` under the old name."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder module; exec_module swaps in the real one

    def exec_module(self, module: ModuleType) -> None:
        # The import system reads sys.modules back after exec_module, so the old name becomes the new module.
        sys.modules[module.__name__] = importlib.import_module(self.target)


class LegacyFinder(importlib.abc.MetaPathFinder):
    """Finds only the old names in ``MOVED``; every other import goes on to the usual finders."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once): first, so that an old dotted name below a moved
    package (``tune_mnist.packed.plan``) never loads its file a second time under the old name."""
    if not any(isinstance(finder, LegacyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LegacyFinder())
