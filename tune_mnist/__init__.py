"""tune_mnist: a Ray Tune search over small MLP classifiers for MNIST.

The subpackages are the stages of the data flow; each imports only the ones above it in this list:

    core         the vocabulary: configs, labels, metric and objective names, errors, file layout
    data         MNIST files -> validated arrays, the validation split, a config's input tensors
    model        a config's MLP, its counts, latency measurement, saved models
    training     the one-config loop, the per-epoch row, the packed engine (K configs as one)
    trainables   one config or a pack as a Ray Tune trial, checkpoints, unpacking a pack's rows
    experiment   the experiment on disk: storage, the driver lock, guards, rebuild, resumed options
    strategies   early stopping, schedulers, the time budget, limits, the cost-aware searcher
    confirm      the confirmation stage: rule, searcher, log, summary
    extras       optional ONNX and MLflow, imported only when an option asks
    tuning       the run: trials, the Ray session, the Tuner of each mode, live table, summary
    search.py    ``python -m tune_mnist.search`` (its options: search_options, search_keywords)
    train.py     ``python -m tune_mnist.train``
    api.py       ``from tune_mnist import run_search``: the search from Python

ray_results/<experiment>/ on disk is then read by ``analysis`` (a separate package that never imports
Ray or the search). docs/architecture.md draws the same picture with every module in it.
"""

import importlib

__version__ = "0.1.0"

#: The Python API, imported on first use so that ``import tune_mnist`` stays cheap (no Ray, no torch).
_API = {"run_search": "tune_mnist.api", "SearchResult": "tune_mnist.api", "SearchOptions": "tune_mnist.core.options"}


def __getattr__(name: str) -> object:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'tune_mnist' has no attribute {name!r}")
