"""Experiments written before the regrouping name the old module paths in their pickles (Ray's
experiment state, the searcher state, trainables pickled by reference): those names still resolve."""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys

import pytest

from tune_mnist._legacy import MOVED, SHADOWED


def old_reference(module: str, name: str) -> bytes:
    """A protocol-0 pickle of the global ``module.name``, written by hand as an old experiment holds it."""
    return f"c{module}\n{name}\n.".encode()


@pytest.mark.parametrize(
    "old_module, name, new_module",
    [
        ("tune_mnist.confirm_searcher", "ConfirmingSearcher", "tune_mnist.confirm.searcher"),
        ("tune_mnist.cost_aware", "CostAwareOptunaSearch", "tune_mnist.strategies.cost_aware"),
        ("tune_mnist.trainable", "run_trial", "tune_mnist.trainables.trainable"),
        ("tune_mnist.pack_trainable", "run_pack", "tune_mnist.trainables.pack_trainable"),
        ("tune_mnist.packed.plan", "plan_packs", "tune_mnist.training.packed.plan"),
        ("tune_mnist.data", "Splits", "tune_mnist.data.splits"),
        ("tune_mnist.data", "load_mnist", "tune_mnist.data.sources"),
        ("tune_mnist.model", "build_mlp", "tune_mnist.model.mlp"),
        ("tune_mnist.extras", "require", "tune_mnist.extras.optional"),
        ("tune_mnist.train", "TrainingState", "tune_mnist.training.loop"),
    ],
)
def test_a_pickle_naming_the_old_path_loads(old_module, name, new_module):
    loaded = pickle.loads(old_reference(old_module, name))
    assert loaded is getattr(importlib.import_module(new_module), name)


def test_every_old_name_is_the_new_module_itself():
    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    for package, module in SHADOWED.items():
        assert importlib.import_module(package).__name__ == package  # the package, handing names on
        importlib.import_module(module)


def test_an_unknown_name_is_still_an_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        pickle.loads(old_reference("tune_mnist.data", "no_such_name"))
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("tune_mnist.no_such_module")


def test_the_commands_keep_their_modules():
    """``-m tune_mnist.train`` and ``-m tune_mnist.search`` run the commands, not a module they once held."""
    import tune_mnist.search
    import tune_mnist.train

    assert tune_mnist.train.__file__.endswith("tune_mnist/train.py") and callable(tune_mnist.train.main)
    assert tune_mnist.search.__file__.endswith("tune_mnist/search.py")
    help_text = subprocess.run([sys.executable, "-m", "tune_mnist.train", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--width" in help_text.stdout


def test_an_old_module_is_never_loaded_twice():
    """In a fresh interpreter the old name of a module below a moved package gives the module already
    loaded under its new name, not a second copy of its file."""
    code = (
        "import sys, tune_mnist.training.packed.plan as new, tune_mnist.packed.plan as old; "
        "sys.exit(0 if old is new and sys.modules['tune_mnist.packed.plan'] is new else 1)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
