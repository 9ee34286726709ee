"""``--resume`` refuses, in one sentence before anything is written, an experiment written before
``tune_mnist`` was grouped into subpackages (docs/robustness.md): its ``tuner.pkl`` names module paths
that are gone (``tune_mnist.live_table``, ...), found among the pickle's strings with ``pickletools``,
which imports nothing and runs no code. The analysis still reads such an experiment (it reads JSON)."""

from __future__ import annotations

import pickletools
import pkgutil
import re

import tune_mnist
from tune_mnist.core.errors import InputError
from tune_mnist.experiment.storage import Location

#: Ray's pickled Tuner in the experiment directory: it names our searcher, scheduler and callbacks.
TUNER_FILE = "tuner.pkl"
_MODULE_PATH = re.compile(r"tune_mnist(\.[A-Za-z_]\w*)+")


def pickled_strings(data: bytes) -> set[str]:
    """Every string a pickle pushes (module and class names among them); a pickle cut short gives the
    strings before the cut."""
    strings: set[str] = set()
    try:
        for _, arg, _ in pickletools.genops(data):
            if isinstance(arg, str):
                strings.add(arg)
    except (ValueError, EOFError):  # damaged: what came before the damage still counts
        pass
    return strings


def retired_modules(data: bytes) -> list[str]:
    """The ``tune_mnist`` module paths a pickle names that the package no longer has."""
    current = {module.name for module in pkgutil.iter_modules(tune_mnist.__path__)}
    named = (s for s in pickled_strings(data) if _MODULE_PATH.fullmatch(s))
    return sorted({name for name in named if name.split(".")[1] not in current})


def refuse_old_layout(experiment: str) -> None:
    """Raise InputError when ``experiment``'s Ray state names module paths from before the regrouping."""
    location = Location(experiment)
    try:
        with location.fs.open_input_stream(location.join(TUNER_FILE)) as stream:
            data = stream.read()
    except (FileNotFoundError, OSError):
        return  # no Ray state to restore: the resume reads the trial directories only
    retired = retired_modules(data)
    if retired:
        raise InputError(
            f"Experiment {experiment} was written by an older tune_mnist (its Ray state names {retired[0]}, a "
            "module path from before the package was regrouped), so it cannot be resumed: start a new experiment "
            f"under another --name (python -m analysis.pareto {experiment} still reads this one)."
        )
