"""Which experiment to analyse: the path or URI given, a name under the storage path, or the most recent
experiment there, told apart from a storage path that holds several."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.fs as pafs

from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import (
    ERROR_FILE,
    EXPERIMENT_STATE_PREFIX,
    PARAMS_FILE,
    RESULT_FILE,
    RUN_FILE,
)
from tune_mnist.experiment.storage import Location, is_uri

ANALYSIS_DIR = "analysis"  # the default output directory inside an experiment
SEARCH_HINT = "python -m tune_mnist.search"


def make_dir(path: Path, option: str) -> Path:
    """``path`` made (with its parents) for the analysis to write into; where it cannot be, the option to change."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{option} directory {path} cannot be created ({exc.strerror}): "
            f"pass {option} with a directory you can write to."
        ) from None
    return path


def looks_like_experiment(loc: Location, path: str) -> bool:
    names = {i.base_name: i.type for i in loc.children(path)}
    if any(n.startswith(EXPERIMENT_STATE_PREFIX) for n in names) or RUN_FILE in names:
        return True
    return any(t == pafs.FileType.Directory and is_trial_dir(loc, f"{path.rstrip('/')}/{n}") for n, t in names.items())


def is_trial_dir(loc: Location, path: str) -> bool:
    return any(loc.kind(f"{path}/{f}") == pafs.FileType.File for f in (PARAMS_FILE, RESULT_FILE, ERROR_FILE))


def experiments_under(storage: str | os.PathLike) -> list[tuple[float, str]]:
    """(modification time, path) of each experiment directly under a storage path, oldest first."""
    loc = Location(storage)
    if loc.kind(loc.root) != pafs.FileType.Directory:
        return []
    found = []
    for info in loc.children():
        if info.type == pafs.FileType.Directory and looks_like_experiment(loc, info.path):
            # Ray's files and the trial directories date an experiment; our own analysis/ output does not.
            stamps = [
                c.mtime.timestamp()
                for c in loc.children(info.path)
                if c.mtime is not None and c.base_name != ANALYSIS_DIR
            ]
            found.append(
                (
                    max(stamps, default=0.0),
                    info.path if not is_uri(str(storage)) else f"{str(storage).rstrip('/')}/{info.base_name}",
                )
            )
    return sorted(found)


def resolve_experiment(experiment: str | None, storage_path: str = "ray_results") -> str:
    """The experiment to analyse: the given path or URI, a name under ``storage_path``, or the most
    recent experiment there."""
    if experiment is None:
        found = experiments_under(storage_path)
        if not found:
            raise InputError(
                f"There is no experiment under {storage_path}: run {SEARCH_HINT} first, or pass an "
                "experiment directory (or --storage-path where your experiments are)."
            )
        return found[-1][1]
    if not is_uri(experiment) and not Path(experiment).exists():
        candidate = Path(storage_path) / experiment
        if "/" not in experiment and candidate.is_dir():
            return str(candidate)
    return experiment
