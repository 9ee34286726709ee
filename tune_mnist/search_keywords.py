"""The search's options as keyword arguments (the Python API): the frozen ``SearchOptions``
(``tune_mnist.core.options``) built from keywords by the command's own parser, so that a bad value is
refused with the very sentence the command prints (as an ``InputError``) and no default is written twice."""

from __future__ import annotations

import argparse
from typing import Any

from tune_mnist.core.errors import InputError
from tune_mnist.core.options import SearchOptions
from tune_mnist.search_options import build_parser

__all__ = ["SearchOptions", "argv_of", "options_from", "options_of"]


class _Refusing(argparse.ArgumentParser):
    """The command's parser, raising InputError where the command would print usage and exit."""

    def error(self, message: str) -> Any:
        raise InputError(f"{message[0].upper()}{message[1:].rstrip('.')}.")


def _options() -> dict[str, argparse.Action]:
    """Each option's destination -> its argparse action (help and positional-free: every option has a flag)."""
    return {a.dest: a for a in build_parser()._actions if a.option_strings and a.dest != "help"}


ACTIONS = _options()


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


def options_from(**keywords: Any) -> SearchOptions:
    """A ``SearchOptions`` from keywords named as the options are (``time_budget`` for ``--time-budget``);
    no keyword: the command's defaults."""
    return options_of(build_parser(_Refusing).parse_args(argv_of(**keywords)))


def options_of(args: argparse.Namespace) -> SearchOptions:
    """The command line's parsed options, typed and frozen: all that goes below the CLI."""
    return SearchOptions(**vars(args))
