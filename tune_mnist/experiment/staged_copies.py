"""Trial files that a full storage cut short, put back from the driver's own copies on this machine.

Ray writes a trial's ``params.json``, ``result.json`` and ``progress.csv`` in the driver's staging
directory (``<Ray's temp dir>/session_*/artifacts/<time>/<name>/driver_artifacts``, on the local disk)
and uploads the whole directory to the storage at every experiment snapshot, rewriting every file,
a finished trial's too. When the storage is full, a rewrite can leave a finished trial's file empty
or cut short, and the trial would then count as unfinished and be trained again. Before a
``--resume`` (with space freed), ``restore_cut_files`` copies a staged file over the storage's where
the storage's is missing or a strict prefix of it: the staged copy is what was written, and the
storage's is what the full disk kept of it. Nothing else is touched; a storage URI (``s3://``) or
another machine's driver has no such copies, and the rebuild then trains what was cut again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tune_mnist.core.layout import PARAMS_FILE, RESULT_FILE
from tune_mnist.experiment.storage import is_uri

#: The files Ray rewrites at every snapshot that decide whether a trial finished.
TRIAL_FILES = (PARAMS_FILE, RESULT_FILE, "progress.csv")
STAGING = "driver_artifacts"


def ray_temp_dir() -> Path:
    """Where Ray keeps its sessions (its default, or ``RAY_TMPDIR``)."""
    return Path(os.environ.get("RAY_TMPDIR") or "/tmp") / "ray"


def staged_dirs(experiment: str, root: Path | None = None) -> list[Path]:
    """The staging directories of ``experiment`` by earlier drivers on this machine, oldest first: those
    of its name whose Ray state names its storage path (another experiment may have the same name)."""
    path = Path(experiment.rstrip("/"))
    found = {p.resolve() for p in (root or ray_temp_dir()).glob(f"session_*/artifacts/*/{path.name}/{STAGING}")}
    mine = [p for p in found if p.is_dir() and _names_storage(p, str(path.parent))]
    return sorted(mine, key=lambda p: p.stat().st_mtime)


def _names_storage(staging: Path, storage: str) -> bool:
    """Whether a staged experiment state holds ``storage`` (inside its pickled storage context, as hex)."""
    wanted = storage.encode().hex()
    for state in staging.glob("experiment_state-*.json"):
        try:
            if wanted in state.read_text(errors="ignore"):
                return True
        except OSError:
            continue
    return False


def _cut_short(stored: Path, staged: Path) -> bool:
    """The storage's file is missing, or a strict prefix of the staged one (what a full disk leaves)."""
    if not stored.is_file():
        return True
    size = stored.stat().st_size
    if size >= staged.stat().st_size:
        return False
    with stored.open("rb") as a, staged.open("rb") as b:
        return a.read() == b.read(size)


def restore_cut_files(experiment: str, root: Path | None = None) -> list[str]:
    """Copy staged trial files over the storage's where those were cut short; returns what it restored
    (``<trial directory>/<file>``)."""
    if is_uri(experiment) or not Path(experiment).is_dir():
        return []
    restored = []
    for staging in staged_dirs(experiment, root):
        for trial in staging.iterdir():
            target = Path(experiment) / trial.name
            if not trial.is_dir() or not target.is_dir():
                continue  # a trial directory the storage never had: nothing of it was cut
            for file_name in TRIAL_FILES:
                staged = trial / file_name
                if staged.is_file() and _cut_short(target / file_name, staged):
                    shutil.copyfile(staged, target / file_name)
                    restored.append(f"{trial.name}/{file_name}")
    return list(dict.fromkeys(restored))
