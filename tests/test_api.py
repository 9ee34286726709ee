"""The Python API: ``run_search`` refuses what the command refuses, in the same sentence, and the
README's example runs as written (a real search on a subset, then its analysis as tables and figures)."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from tune_mnist import SearchOptions, run_search, search
from tune_mnist.core.errors import InputError
from tune_mnist.search_keywords import OPTIONS, flag, options_from
from tune_mnist.search_options import build_parser, parse_args

#: The fields a run works out (those with defaults), never given on the command line, and the command's options.
RUN_STATE = tuple(f.name for f in dataclasses.fields(SearchOptions) if f.default is not dataclasses.MISSING)
COMMAND_OPTIONS = tuple(f.name for f in dataclasses.fields(SearchOptions) if f.name not in RUN_STATE)

REPO = Path(__file__).resolve().parents[1]


def cli_error(capsys, *argv: str) -> str:
    """The sentence ``python -m tune_mnist.search`` prints for ``argv`` (after ``error:``): its ``main``, in
    this process: the entry point only passes main's exit status on (the tests that run the command as a
    child cover it), and nine bad values then cost no child Python each."""
    capsys.readouterr()
    assert search.main(list(argv)) == 2
    return capsys.readouterr().err.strip().splitlines()[-1].split("error: ", 1)[1]


@pytest.mark.parametrize(
    "keywords, argv",
    [
        ({"confirm": 0}, ["--confirm", "0"]),
        ({"confirm": "x"}, ["--confirm", "x"]),
        ({"pack": "x"}, ["--pack", "x"]),
        ({"min_accuracy": 1.5}, ["--min-accuracy", "1.5"]),
        ({"epochs": 0}, ["--epochs", "0"]),
        ({"time_budget": -2}, ["--time-budget", "-2"]),
        ({"gpus_per_trial": 1.5}, ["--gpus-per-trial", "1.5"]),
        ({"resume": True}, ["--resume"]),
        ({"mlflow": "x"}, ["--mlflow", "x"]),
    ],
)
def test_a_bad_value_is_the_commands_sentence(keywords, argv, capsys):
    """Both paths check the value once (``options_from``): the same sentence, naming the option by its flag."""
    with pytest.raises(InputError) as raised:
        run_search(**keywords)
    assert str(raised.value) == cli_error(capsys, *argv)
    assert str(raised.value).startswith(f"{argv[0]} ")


def test_a_wrong_type_names_the_option_and_the_fix():
    with pytest.raises(InputError, match=r"^--epochs '3' is invalid: use a positive whole number of epochs\.$"):
        run_search(epochs="3")
    with pytest.raises(InputError, match=r"^--seeds True is invalid: use a positive whole number of seeds\.$"):
        run_search(seeds=True)
    with pytest.raises(InputError, match=r"^--dry-run 'yes' is invalid: use True or False \(it is a switch\)\.$"):
        run_search(dry_run="yes")
    with pytest.raises(InputError, match=r"^--lr nan is invalid: use a positive learning rate"):
        run_search(lr=float("nan"))


def test_an_unknown_keyword_names_the_right_one():
    with pytest.raises(InputError, match="no option 'epoch'.*such as epochs for --epochs"):
        run_search(epoch=2)
    with pytest.raises(InputError, match="no option 'time_budgett'.*such as time_budget for --time-budget"):
        run_search(time_budgett=2)


def test_the_options_are_the_commands_typed_and_frozen_with_its_defaults():
    options = options_from()
    assert isinstance(options, SearchOptions)
    assert options.space == "grid" and options.confirm == 3 and options.pack == "auto"
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.space = "smoke"  # frozen: a stage that works something out returns a new record
    assert options.replace(space="smoke").space == "smoke" and options.space == "grid"
    # One field per option of the command (every flag --help lists), typed, beside what the run works out.
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", build_parser().format_help())) - {"--help"}
    assert flags == {flag(name) for name in COMMAND_OPTIONS} and not {flag(name) for name in RUN_STATE} & flags
    assert set(OPTIONS) == set(COMMAND_OPTIONS)  # each with its default and check
    hints = typing.get_type_hints(SearchOptions)
    assert all(hints[name] is not typing.Any for name in COMMAND_OPTIONS)
    # The command parses argv into the same record: the same defaults, the same values.
    assert parse_args([]) == options
    given = options.replace(epochs=3, time_budget=2.5, pack="cost", lr=0.01, shared_storage=True)
    assert options_from(epochs=3, time_budget=2.5, pack="cost", lr=0.01, shared_storage=True) == given
    argv = ["--epochs", "3", "--time-budget", "2.5", "--pack", "cost", "--lr", "1e-2", "--shared-storage"]
    assert parse_args(argv) == given
    # From Python: None is the default, a number of configs per trial and a Path are taken as the command reads them.
    assert options_from(seeds=None, pack=8, storage_path=REPO) == options.replace(pack="8", storage_path=str(REPO))
    assert parse_args(["--pack", "8", "--storage-path", str(REPO)]) == options_from(pack=8, storage_path=REPO)


def test_a_dry_run_trains_nothing(tmp_path, capsys):
    result = run_search(space="smoke", dry_run=True, storage_path=str(tmp_path))
    assert result.status == 0 and result.picks == ()
    assert "3 configs" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_load_analysis_of_no_experiment_is_one_sentence(tmp_path):
    from analysis import load_analysis

    with pytest.raises(InputError, match="There is no experiment directory"):
        load_analysis(str(tmp_path / "missing"))


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, monkeypatch, capsys, local_ray):
    """As written, in an empty directory: the experiment lands in ./ray_results, the analysis writes nothing.
    Run in this process (on the module's Ray, as a notebook's second search would be), not in a child."""
    checks = """
assert result.status == 0 and result.picks, result
assert not analysis.front.empty and len(analysis.configs) == 3 and not analysis.epochs.empty
assert sorted(figures) == ["accuracy_vs_flops", "accuracy_vs_latency", "latency_vs_flops", "learning_curves"]
import os
assert os.path.dirname(result.experiment) == os.path.abspath("ray_results")
assert "analysis" not in os.listdir(result.experiment)
"""
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example() + checks, "README.md", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "resize14 1x64" in out or "crop20-resize8" in out


def test_export_refuses_an_unknown_config_or_format_and_writes_nothing(tmp_path):
    """``ExperimentAnalysis.export``'s bad inputs: one sentence naming the input and the fix, no file written."""
    from test_analysis_front import write_trial

    from analysis import load_analysis

    experiment = tmp_path / "exp"
    write_trial(experiment, 0, side=8, width=8, val_acc=[0.5, 0.95])
    write_trial(experiment, 1, side=14, width=8, val_acc=[0.5, 0.93])
    analysis = load_analysis(experiment, min_accuracy=0.9)
    out = tmp_path / "models"
    with pytest.raises(
        InputError, match=r"No config labelled 'resize8 9x9' in .*pass labels from \.configs\['label'\]"
    ):
        analysis.export(out, ["resize8 9x9"])
    with pytest.raises(InputError, match=r"labels=\[\] names no config"):
        analysis.export(out, [])
    with pytest.raises(InputError, match="format='pt' is not an export format: pass one of state_dict, onnx"):
        analysis.export(out, format="pt")
    assert not out.exists()
