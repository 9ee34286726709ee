"""Reading an experiment's files one at a time: Ray's trial
statuses from its newest experiment state, and a trial directory's per-epoch results (a half-written
last line skipped), error line, newest checkpoint and stop markers. ``load`` turns them into trials."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pyarrow.fs as pafs

from tune_mnist.core.layout import (
    CHECKPOINT_PREFIX,
    EXPERIMENT_STATE_PREFIX,
    MODEL_FILE,
    RAY_FIELDS_DROPPED_ON_READ,
    STOPPED_BY_BUDGET_FILE,
    STOPPED_EARLY_FILE,
)
from tune_mnist.core.result_rows import parse_result_rows
from tune_mnist.experiment.storage import Location
from tune_mnist.strategies.early_stopping import read_marker


def trial_states(loc: Location, children: list[pafs.FileInfo], warnings: list[str]) -> dict[str, dict]:
    """Ray's status of each trial from the newest experiment_state-*.json (plain JSON fields only)."""
    # FileInfo objects do not compare: sorting two state files (a resumed experiment) raised TypeError
    files = [c for c in children if c.base_name.startswith(EXPERIMENT_STATE_PREFIX) and c.base_name.endswith(".json")]
    if not files:
        return {}
    newest = max(files, key=lambda c: (c.mtime.timestamp() if c.mtime else 0, c.base_name))
    try:
        state = json.loads(loc.read_text(newest.path))
        out = {}
        for entry in state.get("trial_data", []):
            info = json.loads(entry[0])  # Ray 2.60: [trial JSON, runtime JSON]
            out[info["trial_id"]] = info
        return out
    except (json.JSONDecodeError, KeyError, TypeError, IndexError, OSError):
        warnings.append(
            f"{newest.base_name} could not be read as JSON; trial statuses come from the trial directories alone."
        )
        return {}


def read_results(text: str, where: str, warnings: list[str]) -> pd.DataFrame:
    """Ray's result.json as a DataFrame, one row per epoch, by ``tune_mnist.core.result_rows``' rule for a
    bad line: a half-written last line is skipped with a warning, a bad line elsewhere raises ``CorruptResultFile``."""
    parsed = parse_result_rows(text, where)
    if parsed.skipped:
        warnings.append(parsed.skipped)
    rows = [{k: v for k, v in row.items() if k not in RAY_FIELDS_DROPPED_ON_READ} for row in parsed.rows]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    if "epoch" not in frame.columns:
        frame["epoch"] = frame.get("training_iteration", pd.Series(range(1, len(frame) + 1)))
    # A trial restored from a checkpoint may report an epoch again: the later row wins.
    frame = frame.dropna(subset=["epoch"]).drop_duplicates("epoch", keep="last").sort_values("epoch")
    frame["epoch"] = frame["epoch"].astype(int)
    return frame.reset_index(drop=True)


def error_line(text: str) -> str:
    """The exception line of Ray's error.txt (its last non-empty line), shortened."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no message"
    return line if len(line) <= 200 else line[:197] + "..."


def latest_checkpoint(loc: Location, path: str) -> str | None:
    checkpoints = [
        c for c in loc.children(path) if c.type == pafs.FileType.Directory and c.base_name.startswith(CHECKPOINT_PREFIX)
    ]
    for c in sorted(checkpoints, key=lambda c: c.base_name, reverse=True):
        if loc.kind(f"{c.path}/{MODEL_FILE}") == pafs.FileType.File:
            return c.path
    return None


def stopped_marker(loc: Location, path: str) -> dict[str, Any] | None:
    """The trial directory's stopped_early.json (tune_mnist.strategies.schedulers wrote it), or None."""
    if loc.kind(f"{path}/{STOPPED_EARLY_FILE}") != pafs.FileType.File:
        return None
    try:
        return read_marker(loc.read_text(f"{path}/{STOPPED_EARLY_FILE}"))
    except OSError:
        return None


def budget_marker(loc: Location, path: str) -> bool:
    """Whether the trial directory has the budget's stopped_by_budget.json (tune_mnist.strategies.schedulers)."""
    return loc.kind(f"{path}/{STOPPED_BY_BUDGET_FILE}") == pafs.FileType.File
