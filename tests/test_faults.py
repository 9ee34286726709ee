"""Faults as a user meets them: one sentence and no traceback on the console, and a disk footprint
that is predicted before the search and bounded after it (real Ray, real MNIST subsets, real tmpfs
mounts, unmounted at teardown even when a test fails).

The footprint goal: a finished experiment occupies at most 1.5x the float32 weights of the models it
trained (rows and models; no optimizer state, one checkpoint per trial)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from tune_mnist.core.config import config_key
from tune_mnist.experiment.footprint import trained_weights_bytes, used_bytes
from tune_mnist.experiment.rebuild import remove_replaced, replaced_dirs

REPO = Path(__file__).resolve().parent.parent
SEARCH = [sys.executable, "-m", "tune_mnist.search"]
GOAL = 1.5
# The grid's 23 configs (119 MB of float32 weights) on a small subset: the weights dominate the footprint.
GRID = ["--space", "grid", "--subset", "2000", "--confirm", "1"]


def search(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*SEARCH, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def no_traceback(done: subprocess.CompletedProcess) -> None:
    console = done.stdout + done.stderr
    assert "Traceback" not in console and "Unhandled error" not in console, console[-4000:]
    assert "Experiment state snapshotting has been triggered" not in console


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if (p / "params.json").is_file())


def epochs_of(trial: Path) -> list[int]:
    path = trial / "result.json"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(int(json.loads(line)["epoch"]))
        except (ValueError, KeyError):
            continue
    return out


def finished_texts(experiment: Path, epochs: int) -> dict[str, str]:
    return {t.name: (t / "result.json").read_text() for t in trial_dirs(experiment) if epochs in epochs_of(t)}


def assert_footprint(experiment: Path) -> None:
    """One checkpoint per finished trial, without optimizer state, and the whole within the goal."""
    for trial in trial_dirs(experiment):
        checkpoints = sorted(trial.glob("checkpoint_*"))
        assert len(checkpoints) == 1, trial.name
        assert sorted(p.name for p in checkpoints[0].iterdir()) == ["config.json", "model.pt"], trial.name
    used, weights = used_bytes(experiment), trained_weights_bytes(experiment)
    assert weights > 0 and used <= GOAL * weights, (used, weights)


@pytest.fixture
def tmpfs(tmp_path):
    """A tmpfs mount point (size set by the test), unmounted at teardown even when the test fails."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    point.mkdir()

    def mount(size: str) -> Path:
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
        return point

    def resize(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(point)], check=True)

    try:
        yield SimpleNamespace(mount=mount, resize=resize, point=point)
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


# ---------------------------------------------------------------- before anything starts


def test_a_storage_without_room_is_refused_in_one_sentence_before_anything_is_written(tmpfs):
    point = tmpfs.mount("2m")
    done = search(*GRID, "--storage-path", str(point / "results"), "--name", "tight", timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: The storage {point / 'results'} has "), lines
    assert "--allow-low-space" in lines[0] and "Traceback" not in done.stderr
    assert not (point / "results" / "tight").exists()  # nothing written: the same command runs once there is room


def test_dry_run_prints_the_disk_figure():
    done = search("--space", "grid", "--dry-run", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"Disk: about 120\.\d MB once its 23 trials have finished \(119\.1 MB of it", done.stdout)
    assert "confirmation stage (--confirm 3)" in done.stdout


# ---------------------------------------------------------------- before a resume


def write_trial(experiment: Path, name: str, params: dict, epochs: list[int], checkpoint: bool = True) -> None:
    trial = experiment / name
    (trial / "checkpoint_000000").mkdir(parents=True)
    if checkpoint:
        (trial / "checkpoint_000000" / "training_state.pt").write_bytes(b"\0" * 1000)
    (trial / "params.json").write_text(json.dumps(params))
    (trial / "result.json").write_text("".join(json.dumps({"epoch": e}) + "\n" for e in epochs))


def test_resume_removes_the_directories_it_trains_again_and_counts_them(tmp_path):
    from tune_mnist.core.config import TrialConfig

    experiment = tmp_path / "exp"
    a, b, c = (TrialConfig(side=8, depth=1, width=w, epochs=2).to_dict() for w in (4, 8, 16))
    write_trial(experiment, "aaaaa_00000_resize8_1x4_s0", a, [1, 2])  # finished: kept
    write_trial(experiment, "aaaaa_00001_resize8_1x8_s0", b, [1])  # unfinished: replaced
    write_trial(experiment, "bbbbb_00001_resize8_1x4_s0", a, [1])  # unfinished, its config finished elsewhere
    write_trial(experiment, "bbbbb_00002_resize8_1x4_s0", a, [1, 2])  # finished it too: kept
    write_trial(experiment, "aaaaa_00002_pack2", {"members": [a, c]}, [1])  # a member left to train
    (experiment / "aaaaa_00003_resize8_1x16_s0").mkdir()  # the full disk cut it before params.json
    assert {i.base_name for i in replaced_dirs(str(experiment))} == {
        "aaaaa_00001_resize8_1x8_s0",
        "bbbbb_00001_resize8_1x4_s0",
        "aaaaa_00002_pack2",
        "aaaaa_00003_resize8_1x16_s0",
    }
    removed, size = remove_replaced(str(experiment))
    assert removed == 4 and size > 3000  # three checkpoints of 1,000 bytes and their rows
    assert sorted(p.name for p in experiment.iterdir()) == ["aaaaa_00000_resize8_1x4_s0", "bbbbb_00002_resize8_1x4_s0"]


# ---------------------------------------------------------------- real searches


@pytest.mark.slow
def test_dry_run_predicts_the_disk_use_and_a_finished_grid_keeps_its_models_only(tmp_path):
    args = [*GRID, "--epochs", "1", "--storage-path", str(tmp_path), "--name", "g"]
    dry = search(*args, "--dry-run", timeout=120)
    predicted = float(re.search(r"Disk: about ([\d,.]+) MB once", dry.stdout).group(1).replace(",", "")) * 1e6
    done = search(*args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    no_traceback(done)
    written = used_bytes(tmp_path / "g")
    assert abs(written - predicted) <= 0.2 * written, (written, predicted)
    assert_footprint(tmp_path / "g")


@pytest.mark.slow
def test_fault_drill_a_storage_fills_is_enlarged_and_the_search_resumes_to_the_end(tmpfs):
    """The grid on a 60 MB tmpfs (it needs about 120 MB finished, more while trials run): the storage
    fills, the search stops in one sentence; enlarged, --resume runs it to the end."""
    point = tmpfs.mount("60m")
    storage, name = point / "results", "drill"
    experiment = storage / name
    first = search(*GRID, "--storage-path", str(storage), "--name", name, "--allow-low-space")
    assert first.returncode == 2, first.stdout[-3000:] + first.stderr[-3000:]
    no_traceback(first)
    sentence = first.stderr.strip().splitlines()[-1]
    assert sentence.startswith(f"error: The storage {storage} failed a write (no space left"), sentence
    assert f"--resume --name {name} --storage-path {storage}" in sentence and "(Ray's messages: " in sentence
    log = Path(re.search(r"\(Ray's messages: (\S+)\)", sentence).group(1))
    assert log.is_file() and "No space left on device" in log.read_text()
    before = finished_texts(experiment, 2)

    tmpfs.resize("480m")
    resumed = search("--resume", "--name", name, "--storage-path", str(storage))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    no_traceback(resumed)
    for trial, text in before.items():  # every finished result.json is unchanged
        assert (experiment / trial / "result.json").read_text() == text, trial
    by_config: dict[str, list[list[int]]] = {}
    for trial in trial_dirs(experiment):
        key = config_key(json.loads((trial / "params.json").read_text()), seed=True)
        by_config.setdefault(key, []).append(sorted(set(epochs_of(trial))))
    assert len(by_config) == 23  # every config of the grid ends with its rows
    assert all([1, 2] in runs for runs in by_config.values()), by_config
    assert_footprint(experiment)
