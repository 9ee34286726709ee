"""tune_mnist: a Ray Tune search over small MLP classifiers for MNIST.

Its subpackages are the stages of the data flow (core, data, model, training, trainables, experiment,
strategies, confirm, extras, tuning), each importing only the ones before it; each ``__init__`` says
what it holds. ``search.py`` and ``train.py`` are the commands, ``api.py`` the search from Python
(``run_search``). docs/architecture.md draws the flow with every module in it."""

import importlib

__version__ = "0.1.0"

#: The Python API, imported on first use so that ``import tune_mnist`` stays cheap (no Ray, no torch).
_API = {"run_search": "tune_mnist.api", "SearchResult": "tune_mnist.api", "SearchOptions": "tune_mnist.core.options"}


def __getattr__(name: str) -> object:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'tune_mnist' has no attribute {name!r}")
