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
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from tune_mnist import search as search_command
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig
from tune_mnist.core.layout import PARAMS_FILE
from tune_mnist.experiment.footprint import weights_bytes
from tune_mnist.experiment.rebuild import remove_replaced, replaced_dirs

REPO = Path(__file__).resolve().parent.parent
GOAL = 1.5
# The grid's 23 configs (119 MB of float32 weights) on a small subset: the weights dominate the footprint.
GRID = ["--space", "grid", "--subset", "2000", "--confirm", "1"]


def no_traceback(console: str) -> None:
    assert "Traceback" not in console and "Unhandled error" not in console, console[-4000:]
    assert "Experiment state snapshotting has been triggered" not in console


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if (p / "params.json").is_file())


def used_bytes(directory: str | Path) -> int:
    """Bytes of the files under ``directory`` (apparent sizes, as ``du -sb``)."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def trained_weights_bytes(experiment: str | Path) -> int:
    """The float32 weights of every model an experiment trained: one per config trial directory
    (pack directories excluded, their members counted)."""
    total = 0
    for params_file in Path(experiment).glob(f"*/{PARAMS_FILE}"):
        try:
            params = json.loads(params_file.read_text())
            if PACK_MEMBERS in params:
                continue
            total += weights_bytes(TrialConfig.from_dict(params))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # files a full disk cut short
    return total


def assert_footprint(experiment: Path) -> None:
    """One checkpoint per finished trial, without optimizer state, and the whole within the goal (the
    per-trial half is checked after a full disk and --resume too: test_experiment_guard)."""
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

    try:
        yield SimpleNamespace(mount=mount, point=point)
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


# ---------------------------------------------------------------- before anything starts


def command(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m tune_mnist.search``'s ``main`` in this process: what it refuses before Ray starts (and a dry
    run) needs no child Python; the entry point only passes main's exit status on."""
    capsys.readouterr()
    status = search_command.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_a_storage_without_room_is_refused_in_one_sentence_before_anything_is_written(tmpfs, capsys):
    point = tmpfs.mount("2m")
    status, _, err = command(capsys, *GRID, "--storage-path", str(point / "results"), "--name", "tight")
    assert status == 2, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: The storage {point / 'results'} has "), lines
    assert "--allow-low-space" in lines[0] and "Traceback" not in err
    assert not (point / "results" / "tight").exists()  # nothing written: the same command runs once there is room


def test_dry_run_prints_the_disk_figure(capsys):
    status, out, err = command(capsys, "--space", "grid", "--dry-run")
    assert status == 0, err[-2000:]
    assert re.search(r"Disk: about 120\.\d MB once its 23 trials have finished \(119\.1 MB of it", out)
    assert "confirmation stage (--confirm 3)" in out


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
def test_dry_run_predicts_the_disk_use_and_a_finished_grid_keeps_its_models_only(tmp_path, capsys, local_ray):
    """The grid's search through the command's ``main`` in this process, on the module's Ray: a child
    would start its own Ray (about 8 s with its imports), and nothing here needs a separate process."""
    args = [*GRID, "--epochs", "1", "--storage-path", str(tmp_path), "--name", "g"]
    _, dry, _ = command(capsys, *args, "--dry-run")
    predicted = float(re.search(r"Disk: about ([\d,.]+) MB once", dry).group(1).replace(",", "")) * 1e6
    status, out, err = command(capsys, *args)
    assert status == 0, out[-3000:] + err[-3000:]
    no_traceback(out + err)
    written = used_bytes(tmp_path / "g")
    assert abs(written - predicted) <= 0.2 * written, (written, predicted)
    assert_footprint(tmp_path / "g")
