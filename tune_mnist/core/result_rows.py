"""A trial's ``result.json`` read back into rows with one rule for a bad line, for every reader: a kill
can only cut the last line short, so a bad last line is skipped and said so (``ResultRows.skipped``);
a bad line before it is corruption (``CorruptResultFile``, naming the file and the line)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tune_mnist.core.errors import InputError


class CorruptResultFile(InputError):
    """A bad line before the last: the file is corrupt (``line``: its 1-based number)."""

    def __init__(self, where: str, line: int) -> None:
        super().__init__(
            f"Line {line} of {where} is not a JSON row, so the file is corrupt (a kill cuts only the last "
            "line short): restore it from a copy, or delete its trial directory to train the config again."
        )
        self.line = line


@dataclass(frozen=True)
class ResultRows:
    """The rows of a result file, and a sentence on a half-written last line that was skipped (else None)."""

    rows: list[dict[str, Any]]
    skipped: str | None = None


def parse_result_rows(text: str, where: str) -> ResultRows:
    """The rows of ``text``, a result file's content; ``where`` names the file in the messages."""
    lines = text.split("\n")
    last = max((number for number, line in enumerate(lines, 1) if line.strip()), default=0)
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = _row(line)
        if row is not None:
            rows.append(row)
        elif number < last:
            raise CorruptResultFile(where, number)
        else:
            newline = "" if text.endswith("\n") else ", no newline"
            skipped = f"{where}: skipped a half-written last line (line {number}, {len(line)} characters{newline})."
            return ResultRows(rows, skipped)
    return ResultRows(rows)


def _row(line: str) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None where it is not one."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
