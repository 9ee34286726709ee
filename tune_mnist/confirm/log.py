"""``confirmation.json``: what the confirmation stage decided, round by round, and when it ran.

Why a file: the searcher lives inside the Tuner, so the search summary cannot ask it; ``--resume``
rebuilds the stage from it and the trial directories (``tune_mnist.confirm.searcher``); and it tells a
reader of the experiment which configs were trained again and why (the analysis needs only the trial
directories: seeds are grouped as usual)."""

from __future__ import annotations

import json
from typing import Any

from tune_mnist.core.layout import CONFIRM_FILE
from tune_mnist.experiment.storage import read_text, write_text


def write_log(experiment: str, log: dict[str, Any]) -> None:
    write_text(f"{experiment.rstrip('/')}/{CONFIRM_FILE}", json.dumps(log, indent=2) + "\n")


def read_log(experiment: str) -> dict[str, Any] | None:
    """The log, or None for an experiment without a confirmation stage (or one that never reached it)."""
    text = read_text(f"{experiment.rstrip('/')}/{CONFIRM_FILE}")
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
