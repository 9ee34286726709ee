"""What a user watches and ships: the search's console (live table, no per-checkpoint lines, no
repeated snapshot warnings), config labels, progress lines in a log, and the analysis of an
experiment where no config clears the bar."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tune_mnist import search
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig
from tune_mnist.core.labels import short_number
from tune_mnist.tuning.live_table import finished_line, table_text

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT_WARNING = "Experiment state snapshotting has been triggered multiple times"


def run_module(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    """A CLI as a user runs it into a log: stdout and stderr are pipes, not a terminal (and Ray's warnings
    as a user gets them: no threshold that silences the snapshot warning)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", None)
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "value, text",
    [
        (1e-3, "1e-3"),
        (0.00020916, "2.1e-4"),
        (0.0125, "1.3e-2"),
        (0.5, "0.5"),
        (64, "64"),
        (12.0, "12"),
        (2e-5, "2e-5"),
    ],
)
def test_short_numbers(value, text):
    assert short_number(value) == text


def test_labels_read_linear_and_short_learning_rates():
    linear = TrialConfig(crop=20, side=13, scaling="standard", depth=0, width=1, lr=0.00020916, batch_size=64, epochs=8)
    assert linear.label() == "crop20-resize13-std linear lr2.1e-4 s0"
    assert linear.label("_", seed=False) == "crop20-resize13-std_linear_lr2.1e-4"
    # The defaults (Adam 1e-3, batch 64) are not repeated: the grid's labels stay short.
    assert TrialConfig(depth=2, width=2048).label("_") == "full28_2x2048_s0"
    assert TrialConfig(side=8, depth=1, width=256, batch_size=128, seed=3).label() == "resize8 1x256 b128 s3"


def test_the_analysis_names_configs_as_their_trial_directories():
    import pandas as pd

    from analysis.aggregate import config_labels

    a = TrialConfig(crop=20, side=13, scaling="standard", depth=0, width=1, lr=0.00020916, epochs=8)
    b = TrialConfig(side=8, depth=1, width=32, lr=1e-2)
    twin = TrialConfig(side=8, depth=1, width=32, lr=1e-2, epochs=4)  # same label as b but for its epochs
    table = pd.DataFrame([c.to_dict() for c in (a, b, twin)])
    assert config_labels(table) == [
        a.label(seed=False),
        "resize8 1x32 lr1e-2 e2",
        "resize8 1x32 lr1e-2 e4",
    ]


# ---------------------------------------------------------------- the live table, offline


class FakeTrial(SimpleNamespace):
    """What the table reads of a Ray trial: str(), config, status, last_result, error_file."""

    def __str__(self) -> str:
        return self.name


def fake_trial(name: str, config: dict, status: str, result: dict) -> FakeTrial:
    return FakeTrial(name=name, config=config, status=status, last_result=result, error_file=None, trial_id="t")


def test_live_table_fits_120_columns_and_shows_a_packs_best_member():
    long = "crop20-resize13-std 3x1024 lr2.1e-4 b256 s0"
    one = fake_trial(
        long,
        {},
        "TERMINATED",
        {"epoch": 8, "val_acc": 0.9712, "test_acc": 0.97, "flops": 3723264, "latency_p50_us": 812.0},
    )
    members = [{"side": 8, "depth": 1, "width": 32}, {"side": 14, "depth": 1, "width": 64}]
    rows = [{"epoch": 1, "val_acc": 0.5, "flops": 4736}, {"epoch": 1, "val_acc": 0.8, "flops": 26368}]
    pack = fake_trial("pack2 t", {"members": members}, "RUNNING", {"epoch": 1, "pack_size": 2, "members": rows})
    text = table_text([one, pack], at_end=True)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert lines[1].split() == ["│", "config", "status", "epoch", "val_acc", "test_acc", "FLOPs", "latency", "p50", "│"]
    assert long in text and "0.9712" in text and "3.72M" in text and "812 us" in text
    assert re.search(r"pack2 t\s+RUNNING\s+1\s+0\.8000", text)  # the best member's numbers
    assert "best member: resize14 1x64 s0" in finished_line(pack)


# ---------------------------------------------------------------- real runs


@pytest.mark.slow
def test_smoke_search_console_is_the_table_and_the_projects_lines_and_its_analysis_below_the_bar_exits_3(
    tmp_path, capsys
):
    """One smoke search as a user runs it into a log; then the analysis of that experiment at a bar no
    config clears writes everything and exits 3 (in this process: test_confirm and test_analysis_smoke
    run ``python -m analysis.pareto`` as a command)."""
    from analysis.pareto import NOTHING_CLEARS_STATUS, main

    done = run_module(
        ["tune_mnist.search", "--space", "smoke", "--subset", "2000", "--storage-path", str(tmp_path), "--name", "c"]
    )
    console = done.stdout + done.stderr
    assert done.returncode == 0, console[-3000:]
    header = next(line for line in done.stdout.splitlines() if " config " in line and "status" in line)
    for column in ("config", "val_acc", "test_acc", "FLOPs", "latency p50"):
        assert column in header
    for label in ("resize14 1x64 lr1e-2 s0", "crop20-resize8 linear lr1e-2 s0"):
        assert re.search(rf"{re.escape(label)}\s+TERMINATED\s+2\s+0\.\d{{4}}", done.stdout), label
    assert "Checkpoint successfully created" not in console
    assert SNAPSHOT_WARNING not in console  # no snapshot is forced per checkpoint, so Ray has nothing to warn of
    assert "started with configuration" not in console  # no per-trial config tables either
    # One checkpoint left per trial: the latest, from which the analysis loads the model, without optimizer state.
    for trial_dir in (tmp_path / "c").glob("*_s0"):
        assert [p.name for p in trial_dir.glob("checkpoint_*")] == ["checkpoint_000001"], trial_dir
        assert sorted(p.name for p in (trial_dir / "checkpoint_000001").iterdir()) == ["config.json", "model.pt"]
    capsys.readouterr()
    out = tmp_path / "analysis-out"
    assert main([str(tmp_path / "c"), "--out", str(out), "--min-accuracy", "0.99"]) == NOTHING_CLEARS_STATUS == 3
    printed = capsys.readouterr().out
    assert "No config clears the bar" in printed and "Closest: resize14 1x64 lr1e-2" in printed
    for file in (
        "trials.csv",
        "front.csv",
        "epochs.csv",
        "accuracy_vs_flops.png",
        "latency_vs_flops.png",
        "accuracy_vs_latency.png",
        "learning_curves.png",
        "report.md",
    ):
        assert (out / file).stat().st_size > 0, file
    assert "No config clears the bar" in (out / "report.md").read_text()
    html = out / "report.html"
    assert not html.exists() or "No config clears the bar" in html.read_text()


def test_a_failed_trial_is_one_line_naming_its_error_and_files(tmp_path):
    from tune_mnist.experiment.ray_log import RayLog
    from tune_mnist.tuning.live_table import failure_line

    error = tmp_path / "error.txt"
    error.write_text("Traceback (most recent call last):\n  File ...\nRuntimeError: CUDA out of memory\n\n")
    trial = fake_trial("full28 2x2048 s0", {}, "ERROR", {"epoch": 1})
    trial.error_file = str(error)
    with RayLog("t") as log:
        line = failure_line(trial, retried=True)
    assert "\n" not in line and line.startswith("Trial full28 2x2048 s0 failed after epoch 1: RuntimeError: CUDA")
    assert f"traceback in {error}" in line and f"(Ray's messages: {log.path})" in line
    assert "it is kept as failed" in failure_line(trial, retried=False)


def test_epoch_progress_redraws_only_on_a_terminal(capsys):
    from tune_mnist.train import EpochProgress

    live, plain = EpochProgress(live=True), EpochProgress(live=False, quiet_s=0)
    live(2, 40, 40)
    assert "\r  epoch 2 [" in capsys.readouterr().err
    plain(2, 20, 40)
    assert capsys.readouterr().err == "  epoch 2: 20/40 batches\n"


@pytest.mark.slow
def test_single_run_into_a_pipe_writes_plain_lines(tmp_path):
    done = run_module(
        ["tune_mnist.train", "--side", "8", "--depth", "1", "--width", "16", "--epochs", "2"]
        + ["--subset", "1000", "--validation-size", "500", "--out", str(tmp_path / "m")]
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\r" not in done.stdout + done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("epoch ")] == [
        "epoch 1",
        "epoch 2",
    ]


def test_the_final_table_reads_a_trial_that_never_got_a_directory(tmp_path, capsys):
    """A searcher may create a trial that a time budget ends before it starts: it has no directory, and
    Ray raises when asked for its error file. The table must still print (it crashed the search once)."""
    import time

    from ray.train._internal.storage import StorageContext
    from ray.tune.experiment.trial import Trial
    from ray.tune.registry import register_trainable

    from tune_mnist.tuning.live_table import LiveTable, error_file

    register_trainable("never_started", lambda config: None)
    trial = Trial("never_started", config={}, storage=StorageContext(str(tmp_path), "experiment"))
    with pytest.raises(RuntimeError):
        trial.error_file  # noqa: B018 - what Ray does for such a trial
    assert error_file(trial) is None
    table = LiveTable()
    table.setup(start_time=time.time())
    table._print_heartbeat([trial], force=True)
    assert "PENDING" in capsys.readouterr().out


# ---------------------------------------------------------------- progress under a time budget


def test_the_budgets_clock_counts_down_from_the_commands_start():
    from tune_mnist.strategies.screening_deadline import publish_budget
    from tune_mnist.tuning.progress_lines import budget_line, clock

    assert [clock(s) for s in (0.2, 12, 247, 3725)] == ["1s", "12s", "4m07s", "1h02m05s"]
    assert budget_line() is None  # no budget, no clock
    publish_budget(1000.0 + 300, 300)
    try:
        assert budget_line(now=1000.0 + 53) == "Time budget: 4m07s left of 5m00s (counted from the command's start)."
        assert budget_line(now=1000.0 + 400).startswith("Time budget: 0s left of 5m00s")
    finally:
        publish_budget(None)
    assert budget_line() is None


def members(experiment: Path) -> list[Path]:
    """The solo-form trial directories of a packed search: one per config and seed, not the packs'."""
    return [
        p
        for p in experiment.iterdir()
        if (p / "params.json").is_file() and PACK_MEMBERS not in json.loads((p / "params.json").read_text())
    ]


#: The budgeted search's budget: Ray's table prints at the start and at the end (every 30 s between),
#: which is enough for a clock that counts down; the space (the cheap one, unlimited under a budget) is
#: too large to finish in it, so the budget ends it whatever the machine's speed. The command's start-up
#: (about 10 s) counts against it, and screening ends 10 s before the budget does: packs of one epoch on
#: 1,000 images finish in seconds (at 30 s, with two epochs on 3,000, no pack had finished by then).
BUDGET_S = 35
#: The resumed run's budget: in this process, on a Ray already running, the start-up is short.
RESUME_S = 30
#: The command may end this long after its budget (the issue's bound).
GRACE_S = 30


@pytest.mark.slow
def test_a_budgeted_packed_search_shows_the_time_left_and_its_best_confirmed_config_ends_in_time_and_resumes(
    tmp_path, request
):
    """The cheap space's packed screening under --time-budget, as a user watches it: the budget's clock,
    the best config confirmed so far, every pick confirmed; the budget bounds the whole command,
    confirmation included; a --resume with a new budget screens more and is bounded by it."""
    argv = ["tune_mnist.search", "--space", "cheap", "--subset", "1000", "--validation-size", "1000", "--epochs", "1"]
    # The bar: the cheap space screens its cheapest shapes first (up to about 1,000 FLOPs), whose 3-seed means
    # after one epoch on 1,000 images stayed below 0.6 in a 35 s run; 0.5 is within their reach.
    argv += ["--min-accuracy", "0.5", "--time-budget", str(BUDGET_S / 60)]
    argv += ["--storage-path", str(tmp_path), "--name", "b"]
    start = time.time()
    done = run_module(argv)
    # search and confirmation, Ray's start-up included; and the interpreter's start and Ray's shutdown around them
    assert time.time() - start <= BUDGET_S + GRACE_S + 30
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "the time budget ran out" in done.stdout
    left = re.findall(
        rf"^Time budget: (\d+)s left of {BUDGET_S}s \(counted from the command's start\)\.$", done.stdout, re.M
    )
    assert len(left) >= 2 and [int(s) for s in left] == sorted((int(s) for s in left), reverse=True), left
    assert int(left[0]) < BUDGET_S  # the command's start-up already counted
    best = re.findall(
        r"^Best confirmed so far \(by val_acc, 3 seeds\): (.+): val_acc (0\.\d{4}), test_acc 0\.\d{4}, FLOPs [\d,]+\.$",
        done.stdout,
        re.M,
    )
    assert best, done.stdout[-3000:]
    # The last one, on the final table, is the end summary's pick by val_acc: one rule for both.
    label, accuracy = best[-1]
    pick = re.search(
        r"best by val_acc \(max\) among val_acc > 0\.5 \(seed means\): (.+): val_acc (0\.\d{4}) over 3 seeds",
        done.stdout,
    )
    assert pick is not None and pick.groups() == (label, accuracy), done.stdout[-3000:]
    # A table (the one before any config finished) said so first.
    assert done.stdout.index("Best confirmed so far: none yet (3 seeds of a config finished, mean val_acc > 0.5).") < (
        done.stdout.index("Best confirmed so far (by")
    )
    # Every answer printed is confirmed (K = 3 seeds). A config the budget left on fewer seeds may be
    # named beside a pick ("not yet confirmed ... --resume confirms it"), never as the pick itself.
    picks = [line for line in done.stdout.splitlines() if line.lstrip().startswith("best by ")]
    assert all(re.search(r" over [3-9] seeds \(", line) and "unconfirmed" not in line for line in picks), picks
    (run,) = json.loads((tmp_path / "b" / "search_budget.json").read_text())["runs"]
    assert run["ends"] == "screening" and run["ended"] - run["command_started"] <= BUDGET_S + GRACE_S

    request.getfixturevalue("local_ray")  # the resumed run in this process, on a Ray started after the command's
    before = len(members(tmp_path / "b"))
    start = time.time()
    resume = ["--resume", "--name", "b", "--storage-path", str(tmp_path), "--time-budget", str(RESUME_S / 60)]
    assert search.main(resume) == 0
    assert time.time() - start <= RESUME_S + GRACE_S
    runs = json.loads((tmp_path / "b" / "search_budget.json").read_text())["runs"]
    assert len(runs) == 2 and runs[1]["budget_s"] == pytest.approx(RESUME_S)
    assert len(members(tmp_path / "b")) > before  # the resumed run screened more
    assert math.isfinite(runs[1]["ended"]) and runs[1]["ended"] - runs[1]["command_started"] <= RESUME_S + GRACE_S


def test_a_trial_that_never_started_is_named_at_the_end_so_that_ray_can_list_it(tmp_path):
    """Ray's ResultGrid asks every trial its path; one a budget ended before it started had none and
    crashed the search after its work was saved."""
    from ray.train._internal.storage import StorageContext
    from ray.tune.experiment.trial import Trial
    from ray.tune.registry import register_trainable

    from tune_mnist.tuning.ray_private import NameNeverStarted

    register_trainable("never_started", lambda config: None)
    trial = Trial("never_started", config={}, storage=StorageContext(str(tmp_path), "experiment"))
    with pytest.raises(RuntimeError):
        trial.path  # noqa: B018 - what ResultGrid asks
    NameNeverStarted().on_experiment_end(trials=[trial])
    assert trial.path.startswith(str(tmp_path / "experiment")) and not Path(trial.path).exists()
