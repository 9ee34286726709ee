"""The search's options as keyword arguments (the Python API): a frozen ``SearchOptions`` with one field
per command-line option, built from keywords by the command's own parser, so that a bad value is
refused with the very sentence the command prints (as an ``InputError``) and no default is written twice."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from tune_mnist.core.errors import InputError
from tune_mnist.search_options import build_parser


class _Refusing(argparse.ArgumentParser):
    """The command's parser, raising InputError where the command would print usage and exit."""

    def error(self, message: str) -> Any:
        raise InputError(f"{message[0].upper()}{message[1:].rstrip('.')}.")


def _options() -> dict[str, argparse.Action]:
    """Each option's destination -> its argparse action (help and positional-free: every option has a flag)."""
    return {a.dest: a for a in build_parser()._actions if a.option_strings and a.dest != "help"}


ACTIONS = _options()

#: One field per option of ``python -m tune_mnist.search``, with the command's default.
SearchOptions = dataclasses.make_dataclass(
    "SearchOptions",
    [(dest, Any, dataclasses.field(default=action.default)) for dest, action in ACTIONS.items()],
    frozen=True,
    namespace={"__doc__": "The options of one search, as the command line gives them (frozen)."},
)
SearchOptions.__module__ = __name__


def argv_of(**keywords: Any) -> list[str]:
    """The command line that the keywords stand for: ``epochs=2`` -> ``--epochs 2``; a flag ``True``
    is given, ``False`` left out; ``mlflow=True`` is ``--mlflow`` with no URI."""
    unknown = sorted(set(keywords) - set(ACTIONS))
    if unknown:
        raise InputError(
            f"run_search has no option {unknown[0]!r}: use the keyword of a command-line option, such as "
            f"epochs for --epochs (all of them: {', '.join(sorted(ACTIONS))})."
        )
    argv: list[str] = []
    for dest, value in keywords.items():
        action = ACTIONS[dest]
        flag = max(action.option_strings, key=len)
        if action.nargs == 0:  # store_true
            if not isinstance(value, bool):
                raise InputError(f"{dest}={value!r} is invalid: it is a switch, pass True or False.")
            argv += [flag] if value else []
        elif value is True and action.const is not None:  # an optional value given without one
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return argv


def options_from(**keywords: Any) -> Any:
    """A ``SearchOptions`` from keywords named as the options are (``time_budget`` for ``--time-budget``)."""
    args = build_parser(_Refusing).parse_args(argv_of(**keywords))
    return SearchOptions(**vars(args))


def options_of(args: argparse.Namespace) -> Any:
    """The command line's parsed options, frozen."""
    return SearchOptions(**vars(args))


def working_args(options: Any) -> argparse.Namespace:
    """The run's own copy of the options, which the run completes as it goes (the name it picks, the
    options a --resume reads back, the pack size ``auto`` resolves to)."""
    return argparse.Namespace(**dataclasses.asdict(options))
