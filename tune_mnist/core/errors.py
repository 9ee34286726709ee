"""One exception type for every bad input, so CLIs can print its single sentence and exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable


class InputError(ValueError):
    """A bad input: the message is one sentence naming the input and the fix."""


def exit_status(run: Callable[[], int | None]) -> int:
    """Run a CLI's body: a bad input becomes ``error: <sentence>`` on stderr and exit status 2."""
    try:
        return run() or 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
