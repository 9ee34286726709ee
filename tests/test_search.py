"""The search end to end on real Ray Tune, real PyTorch and a real MNIST subset (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray

import search_spaces
from search_spaces import SpaceOptions
from tune_mnist import search
from tune_mnist.core.metrics import PACK_SIZE, PLACEMENT, row_keys
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.model.saved import load_model
from tune_mnist.search_keywords import options_from
from tune_mnist.training.loop import evaluate
from tune_mnist.tuning.ray_session import start_ray
from tune_mnist.tuning.summary import summarize
from tune_mnist.tuning.trials import trial_points
from tune_mnist.tuning.tuner import build_tuner

REPO = Path(__file__).resolve().parent.parent


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if (p / "params.json").is_file())


def rows(trial: Path) -> pd.DataFrame:
    return pd.read_json(trial / "result.json", lines=True)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, local_ray) -> Path:
    storage = tmp_path_factory.mktemp("storage")
    assert search.main(["--space", "smoke", "--storage-path", str(storage), "--name", "smoke"]) == 0
    return storage / "smoke"


@pytest.mark.slow
def test_smoke_every_trial_finishes_with_every_metric(smoke):
    trials = trial_dirs(smoke)
    assert len(trials) == 3
    for trial in trials:
        frame = rows(trial)
        params = json.loads((trial / "params.json").read_text())
        assert list(frame["epoch"]) == list(range(1, params["epochs"] + 1))
        for column in (*row_keys(), *PLACEMENT, PACK_SIZE, "accuracy_shortfall"):
            assert column in frame, column
            assert column == "gpu_ids" or frame[column].notna().all(), column
        written = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert [row["gpu_ids"] for row in written] == [""] * len(written)  # a CPU trial holds no GPU
        assert (frame["device"] == "cpu").all() and (frame["threads"] == 1).all()
        assert frame["test_acc"].iloc[-1] > 0.3  # 10 classes: chance is 0.1


@pytest.mark.slow
def test_checkpoint_reproduces_reported_test_accuracy(smoke, mnist):
    for trial in trial_dirs(smoke):
        last = rows(trial).iloc[-1]
        (checkpoint,) = sorted(trial.glob("checkpoint_*"))
        model, config, meta = load_model(checkpoint)
        params = json.loads((trial / "params.json").read_text())
        splits = subset(
            split_validation(mnist, params["validation_size"], params["split_seed"]),
            params["subset"],
            params["split_seed"],
        )
        tensors = build_tensors(splits, config)
        assert evaluate(model, tensors.test_x, tensors.test_y)[1] == pytest.approx(last["test_acc"], abs=1e-9)
        assert meta["metrics"]["test_acc"] == pytest.approx(last["test_acc"])


@pytest.mark.slow
def test_failing_trial_is_recorded_while_the_others_finish(tmp_path, capsys, local_ray):
    options = options_from(space="smoke", storage_path=str(tmp_path), name="broken", max_failures=0)
    space = search_spaces.load("smoke")
    configs = search.space_configs(options, space)
    options = search.with_subset(options, space)
    splits = search.prepare_data(options)
    points = trial_points(configs[:2], options)
    points.insert(1, {**points[0], "depth": -1})  # passes Ray, raises inside the trial
    start_ray(None, 1, 0, str(tmp_path), False)  # the module's Ray (local_ray), as search.main reuses it
    results = build_tuner(options, splits, points, space).fit()
    rc = summarize(results, options, str(tmp_path / "broken"), len(points)).status
    out = capsys.readouterr().out
    assert rc == 1 and "2 trials finished, 1 failed" in out
    errored = [t for t in trial_dirs(tmp_path / "broken") if (t / "error.txt").exists()]
    assert len(errored) == 1 and "depth=-1" in (errored[0] / "error.txt").read_text()
    # --max-failures 0 (the default is 1): the first attempt only, then Ray gives up on it. Each restart would
    # cost a new actor process (seconds); that the option reaches Ray is what is checked.
    (state_file,) = (tmp_path / "broken").glob("experiment_state-*.json")
    failures = {
        json.loads(trial)["trial_id"]: json.loads(runtime)["num_failures"]
        for trial, runtime in json.loads(state_file.read_text())["trial_data"]
    }
    assert sorted(failures.values()) == [0, 0, 1]


@pytest.mark.slow
def test_interrupted_experiment_resumes_without_rerunning_finished_trials(tmp_path, local_ray, capsys):
    name = "interrupted"
    command = [
        sys.executable,
        "-m",
        "tune_mnist.search",
        "--space",
        "small",
        "--subset",
        "2000",
        "--epochs",
        "2",
        "--max-concurrent",
        "1",
        "--storage-path",
        str(tmp_path),
        "--name",
        name,
    ]
    # The moment to interrupt is read from the driver's console, which prints a line as each trial
    # ends: these trials take under a second, and a poll of the experiment directory can come late.
    console = tmp_path / "driver.out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(console, "w") as out:
        driver = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
    experiment = tmp_path / name
    deadline = time.time() + 180
    while time.time() < deadline and driver.poll() is None:
        if "\nFinished " in console.read_text(errors="replace"):  # one trial done, the next (1 at a time) going
            break
        time.sleep(0.1)
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=120) != 0  # interrupted: not everything finished
    assert "Traceback" not in console.read_text(errors="replace")  # Ctrl-C: the project's lines only
    # Finished is what the experiment directory says: a trial directory whose rows reach the last epoch.
    finished_before = {}
    for trial in trial_dirs(experiment):
        text = (trial / "result.json").read_text() if (trial / "result.json").is_file() else ""
        if [json.loads(line)["epoch"] for line in text.splitlines()] == [1, 2]:
            finished_before[trial.name] = text
    assert 1 <= len(finished_before) < 8
    # the resume in this process, on the module's Ray: only the interrupted driver needs its own
    capsys.readouterr()
    assert search.main(["--resume", "--name", name, "--storage-path", str(tmp_path)]) == 0
    resumed = capsys.readouterr().out
    assert f"Resume: {len(finished_before)} of 8 configs had finished and are kept" in resumed
    assert f"{8 - len(finished_before)} trials finished, 0 failed, 0 not finished" in resumed  # this run's
    trials = trial_dirs(experiment)
    assert len(trials) == 8
    for trial in trials:
        epochs = list(rows(trial)["epoch"])
        assert epochs == [1, 2] if trial.name in finished_before else sorted(set(epochs)) == [1, 2], epochs
    for name_, text in finished_before.items():
        assert (experiment / name_ / "result.json").read_text() == text  # not run again


def test_grid_is_the_notebooks_study():
    configs = search_spaces.load("grid").configs(SpaceOptions())
    assert len(configs) == len(set(configs)) == 23
    keys = {(c.crop, c.side, c.depth, c.width) for c in configs}
    expected = {(None, None, d, 1024) for d in (1, 2, 3, 4)} | {(None, None, 2, w) for w in (1, 8, 1024, 2048)}
    expected |= {(None, 14, d, 1024) for d in (1, 2, 3, 4)} | {(14, None, d, 1024) for d in (1, 2, 3, 4)}
    expected |= {(None, s, 1, w) for s in (14, 8) for w in (4, 8, 64, 256)}
    assert keys == expected
    assert all((c.lr, c.batch_size, c.epochs, c.scaling) == (1e-3, 64, 2, "unit") for c in configs)


def test_seeds_overrides_and_random_space():
    options = SpaceOptions(seeds=3, epochs=1, lr=0.01)
    small = search_spaces.load("small").configs(options)
    assert len(small) == 24 and {c.seed for c in small} == {0, 1, 2}
    assert all(c.epochs == 1 and c.lr == 0.01 for c in small)
    drawn = search_spaces.load("random").configs(SpaceOptions(num_samples=200, search_seed=5))
    assert drawn == search_spaces.load("random").configs(SpaceOptions(num_samples=200, search_seed=5))
    assert all(
        4 <= c.input_side <= (c.crop or 28)
        and 0 <= c.depth <= 4
        and 1 <= c.width <= 2048
        and 1 <= c.epochs <= 10
        and 1e-4 <= c.lr <= 1e-2
        for c in drawn
    )
    assert {c.scaling for c in drawn} == {"unit", "standard"} and {c.depth for c in drawn} == {0, 1, 2, 3, 4}


def test_a_space_is_one_file(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text(
        "from tune_mnist.core.config import TrialConfig\nDESCRIPTION = 'mine'\n"
        "def configs(options):\n    return [TrialConfig(side=7, depth=1, width=3)]\n"
    )
    monkeypatch.setattr(search_spaces, "__path__", [*search_spaces.__path__, str(tmp_path)])
    assert "mine" in search_spaces.available()
    assert search_spaces.load("mine").configs(SpaceOptions())[0].architecture == "49-3-10"


def test_dry_run_lists_configs_without_ray(capsys):
    ray.shutdown()
    assert search.main(["--space", "grid", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "23 configs" in out and "3,723,264" in out and "1,863,690" in out
    assert not ray.is_initialized()
    assert search.main(["--space", "grid", "--dry-run", "--pack", "4"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("in 10 trials")]
    assert line.startswith("in 10 trials (heaviest first): 8 packs of sizes") and "trains 1.12x" in line
    assert out.strip().splitlines()[-1].startswith("Disk: about ")  # the expected disk use comes last


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--space", "nope"], "Unknown search space 'nope': use one of adaptive ("),
        (["--gpus-per-trial", "-1"], "--gpus-per-trial -1 is invalid"),
        (["--gpus-per-trial", "1.5"], "--gpus-per-trial 1.5 is invalid"),
        (["--min-accuracy", "90"], "--min-accuracy 90 is invalid"),
        (["--epochs", "0"], "--epochs 0 is invalid: use a positive whole number of epochs."),
        (["--cpus-per-trial", "-2"], "--cpus-per-trial -2 is invalid: use a positive number of CPUs"),
        (["--num-samples", "x"], "--num-samples 'x' is invalid: use a positive whole number"),
        (["--max-failures", "1.5"], "--max-failures 1.5 is invalid: use a whole number of restarts, 0 or more."),
        (["--sampler", "cmaes"], "--sampler 'cmaes' is invalid: use tpe, gp or nsga2."),
        (["--resume"], "--resume needs --name"),
        (["--resume", "--name", "never-ran"], "There is no experiment"),
        (
            ["--pack", "4", "--space", "adaptive", "--num-samples", "2"],
            "--pack 4 cannot apply to a search of --num-samples 2",
        ),
        (["--space", "smoke", "--validation-size", "70000"], "Validation size 70000 is invalid"),
        (["--space", "smoke", "--data-dir", "/nonexistent"], "Data directory /nonexistent does not exist"),
    ],
)
def test_bad_inputs_fail_before_ray_with_one_sentence(argv, message, tmp_path, capsys):
    ray.shutdown()
    assert search.main([*argv, "--storage-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not ray.is_initialized()


def test_argv_argparse_cannot_read_is_a_usage_error(capsys):
    """An unknown flag or a flag without its value: argparse's usage and error, exit status 2. A value it
    can read but the option does not take is one sentence instead (above), the one ``run_search`` raises."""
    for argv in (["--epochs"], ["--nope", "2"]):
        with pytest.raises(SystemExit) as exc:
            search.parse_args(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m tune_mnist.search" in err and "--epochs: expected one argument" in err


def test_unwritable_storage_path_is_refused(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert search.main(["--space", "smoke", "--storage-path", str(blocker / "results")]) == 2
    assert f"Storage path {blocker / 'results'} cannot be written" in capsys.readouterr().err


@pytest.mark.slow
def test_existing_experiment_is_not_overwritten(smoke, capsys):
    before = sorted(p.name for p in smoke.iterdir())
    assert search.main(["--space", "smoke", "--storage-path", str(smoke.parent), "--name", "smoke"]) == 2
    assert "already exists: pass --resume" in capsys.readouterr().err
    assert sorted(p.name for p in smoke.iterdir()) == before
