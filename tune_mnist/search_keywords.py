"""The search's options, their defaults and their checks, once: ``options_from(**keywords)`` builds the
frozen ``SearchOptions`` for ``run_search`` and for the command's parser alike, so both get the same
record and a bad value the same sentence, naming the option by its flag. A check that needs more than
the value (the space, the data, the experiment) stays with the stage that owns it."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tune_mnist.confirm.rule import DEFAULT_CONFIRM
from tune_mnist.core.errors import InputError
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY
from tune_mnist.core.options import SAMPLERS, SearchOptions
from tune_mnist.data.sources import DEFAULT_SPLIT_SEED, DEFAULT_VALIDATION_SIZE
from tune_mnist.extras.mlflow_store import BESIDE, check_uri
from tune_mnist.extras.optional import require

# ---------------------------------------------------------------- what a value may be
# Each check returns the record's value for a given one, or raises ValueError, which names the option's fix.


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def path(value: Any) -> str:
    """A path or URI: text, or from Python a ``pathlib.Path``."""
    if not isinstance(value, str | os.PathLike):
        raise ValueError(value)
    return os.fspath(value)


def switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):  # True is an int to Python, not a number here
        raise ValueError(value)
    return value


def positive_whole(value: Any) -> int:
    if whole(value) < 1:
        raise ValueError(value)
    return value


def nonnegative_whole(value: Any) -> int:
    if whole(value) < 0:
        raise ValueError(value)
    return value


def real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(value)
    return float(value)


def positive_real(value: Any) -> float:
    if real(value) <= 0:
        raise ValueError(value)
    return float(value)


def fraction(value: Any) -> float:
    if not 0 < real(value) < 1:
        raise ValueError(value)
    return float(value)


def gpus(value: Any) -> float:
    """0, a fraction of one GPU, or whole GPUs: Ray cannot give a trial 1.5 GPUs."""
    g = real(value)
    if g < 0 or (g > 1 and g != int(g)):
        raise ValueError(value)
    return g


def pack(value: Any) -> str:
    """``auto``, ``cost`` or a number of configs per trial, kept as text as the command reads it."""
    if value in ("auto", "cost"):
        return value
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return str(positive_whole(value))


def sampler(value: Any) -> str:
    if value not in SAMPLERS:
        raise ValueError(value)
    return value


def mlflow(value: Any) -> str | None:
    """``--mlflow`` alone (``mlflow=True``): a store beside the experiment; else a tracking URI."""
    if value is False:
        return None
    uri = BESIDE if value is True else text(value)
    check_uri(uri)  # its own sentence
    require("mlflow", "--mlflow")
    return uri


# ---------------------------------------------------------------- the options


@dataclass(frozen=True)
class Option:
    """One option: its default, the check of a given value, and the fix its refusal names (after "use")."""

    default: Any
    check: Callable[[Any], Any]
    fix: str


SWITCH = "True or False (it is a switch)"

#: Every option of the command, by keyword, in the order of ``--help``.
OPTIONS: dict[str, Option] = {
    # the search space
    "space": Option("grid", text, "the name of a search space, such as grid (--help lists them)"),
    "num_samples": Option(None, positive_whole, "a positive whole number of configs or trials"),
    "seeds": Option(1, positive_whole, "a positive whole number of seeds"),
    "confirm": Option(
        DEFAULT_CONFIRM,
        positive_whole,
        f"the number of seeds each answer-deciding config needs, such as {DEFAULT_CONFIRM} (the default), or 1 "
        "for no confirmation stage",
    ),
    "search_seed": Option(0, nonnegative_whole, "a whole number, 0 or more"),
    "sampler": Option("tpe", sampler, "tpe, gp or nsga2"),
    "epochs": Option(None, positive_whole, "a positive whole number of epochs"),
    "batch_size": Option(None, positive_whole, "a positive whole number of images"),
    "lr": Option(None, positive_real, "a positive learning rate, such as 0.001"),
    "min_accuracy": Option(
        DEFAULT_MIN_ACCURACY, fraction, f"a fraction between 0 and 1, such as {DEFAULT_MIN_ACCURACY:.2f}"
    ),
    "scheduler": Option(None, text, "the name of a scheduler (--help lists them)"),
    "time_budget": Option(None, positive_real, "a positive number of minutes, such as 10"),
    # the data
    "data_dir": Option(None, path, "a directory of MNIST-format files"),
    "train_csv": Option(None, path, "the path of a CSV file"),
    "test_csv": Option(None, path, "the path of a CSV file"),
    "download": Option(None, path, "a directory"),
    "validation_size": Option(DEFAULT_VALIDATION_SIZE, whole, "a whole number of images"),
    "split_seed": Option(DEFAULT_SPLIT_SEED, whole, "a whole number"),
    "subset": Option(None, whole, "a whole number of images"),
    # the experiment
    "name": Option(None, text, "the experiment's name, a directory name"),
    "storage_path": Option("ray_results", path, "a directory, or a URI such as s3://bucket/path"),
    "shared_storage": Option(False, switch, SWITCH),
    "resume": Option(False, switch, SWITCH),
    "dry_run": Option(False, switch, SWITCH),
    "allow_low_space": Option(False, switch, SWITCH),
    "mlflow": Option(None, mlflow, "True, or a tracking URI such as http://HOST:5000"),
    # the resources
    "cpus_per_trial": Option(1, positive_real, "a positive number of CPUs, such as 1 or 0.5"),
    "gpus_per_trial": Option(0, gpus, "0, a fraction such as 0.25, or a whole number of GPUs"),
    "max_concurrent": Option(None, positive_whole, "a positive whole number of trials"),
    "max_failures": Option(1, nonnegative_whole, "a whole number of restarts, 0 or more"),
    "pack": Option("auto", pack, "a positive number of configs per trial, auto or cost"),
    "address": Option(None, text, "auto, HOST:PORT or ray://HOST:PORT"),
}


def flag(keyword: str) -> str:
    """The command's flag of a keyword: ``time_budget`` -> ``--time-budget``."""
    return "--" + keyword.replace("_", "-")


def options_from(**keywords: Any) -> SearchOptions:
    """The record of the given options, the command's defaults for the rest (a keyword of None: the default);
    every value checked, every refusal one sentence."""
    unknown = sorted(set(keywords) - set(OPTIONS))
    if unknown:
        near = (difflib.get_close_matches(unknown[0], OPTIONS, n=1) or ["epochs"])[0]
        raise InputError(
            f"run_search has no option {unknown[0]!r}: use the keyword of a command-line option, such as {near} "
            f"for {flag(near)} (all of them: {', '.join(sorted(OPTIONS))})."
        )
    values = {keyword: option.default for keyword, option in OPTIONS.items()}
    values |= {keyword: checked(keyword, value) for keyword, value in keywords.items() if value is not None}
    if values["resume"] and not values["name"]:
        raise InputError("--resume needs --name: pass the name of the experiment to continue.")
    return SearchOptions(**values)


def checked(keyword: str, value: Any) -> Any:
    option = OPTIONS[keyword]
    try:
        return option.check(value)
    except InputError:  # a check with a sentence of its own (--mlflow's)
        raise
    except ValueError:
        shown = repr(value) if isinstance(value, str) else value
        raise InputError(f"{flag(keyword)} {shown} is invalid: use {option.fix}.") from None
