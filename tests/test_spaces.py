"""Every search space in search_spaces/ meets the contract written in search_spaces/__init__.py, and
load() refuses a module that does not, in one sentence naming the file and what it lacks."""

from __future__ import annotations

import importlib

import pytest

import search_spaces
from search_spaces import Adaptive, SpaceOptions
from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError

OPTIONS = SpaceOptions(epochs=1, batch_size=32, lr=0.01, num_samples=3, seeds=2, search_seed=1, min_accuracy=0.8)


@pytest.mark.parametrize("name", search_spaces.available())
def test_every_space_meets_the_contract(name):
    module = importlib.import_module(f"search_spaces.{name}")
    assert search_spaces.problems(module) == []
    space = search_spaces.load(name)
    assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION.strip() and "\n" not in module.DESCRIPTION
    assert space.name == name and space.description == module.DESCRIPTION
    subset = getattr(module, "DEFAULT_SUBSET", None)
    assert space.default_subset == subset and (subset is None or (isinstance(subset, int) and subset > 0))
    assert (space.configs is None) != (space.searcher is None)  # a list space or an adaptive one
    if space.configs is not None:
        configs = space.configs(OPTIONS)
        assert configs and all(isinstance(c, TrialConfig) for c in configs)
        assert len(set(configs)) == len(configs)
        assert all((c.epochs, c.batch_size, c.lr) == (1, 32, 0.01) for c in configs)  # the overrides apply
        assert {c.seed for c in configs} == {0, 1}  # --seeds 2
    else:
        from ray.tune.search import Searcher

        adaptive = space.searcher(OPTIONS)
        assert isinstance(adaptive, Adaptive) and adaptive.num_samples == 3
        assert adaptive.param_space["min_accuracy"] == 0.8
        assert isinstance(adaptive.make_search_alg(), Searcher)


def test_a_module_that_is_no_space_is_refused_in_one_sentence(tmp_path, monkeypatch):
    (tmp_path / "half.py").write_text("def configs(options):\n    return []\n")
    (tmp_path / "neither.py").write_text("DESCRIPTION = 'nothing to run'\n")
    monkeypatch.setattr(search_spaces, "__path__", [*search_spaces.__path__, str(tmp_path)])
    with pytest.raises(InputError) as half:
        search_spaces.load("half")
    assert str(half.value) == (
        f"Search space {tmp_path / 'half.py'} has no DESCRIPTION (a one-line string): see "
        "the contract in search_spaces/__init__.py."
    )
    with pytest.raises(InputError) as neither:
        search_spaces.load("neither")
    assert "neither.py defines neither configs(options) nor searcher(options)" in str(neither.value)


def test_an_unknown_space_is_refused_with_every_space_and_its_description():
    with pytest.raises(InputError) as unknown:
        search_spaces.load("nope")
    message = str(unknown.value)
    assert message.startswith("Unknown search space 'nope': use one of ")
    assert message.endswith("; or add search_spaces/nope.py.") and "\n" not in message
    for name in search_spaces.available():
        assert f"{name} ({importlib.import_module(f'search_spaces.{name}').DESCRIPTION})" in message


def test_help_describes_every_space(capsys):
    from tune_mnist import search

    with pytest.raises(SystemExit) as done:
        search.parse_args(["--help"])
    assert done.value.code == 0
    listing = capsys.readouterr().out.split("search spaces (--space NAME")[1]
    words = " ".join(listing.split())  # as one line, whatever the terminal's width
    for name in search_spaces.available():
        description = importlib.import_module(f"search_spaces.{name}").DESCRIPTION
        assert f" {name} {' '.join(description.split())}" in words, name
