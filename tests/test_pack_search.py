"""--pack end to end on real Ray: every config still gets its own trial directory, rows and
checkpoint, and the analysis reads a packed experiment as it reads an unpacked one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from analysis.load import load_experiment
from tune_mnist import search
from tune_mnist.core.metrics import PLACEMENT, row_keys
from tune_mnist.model.saved import load_model

pytestmark = pytest.mark.slow  # packed Ray searches, one interrupted and resumed: minutes


def member_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if "_m0" in p.name and (p / "params.json").is_file())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, local_ray) -> dict[str, Path]:
    storage = tmp_path_factory.mktemp("packs")
    common = ["--space", "smoke", "--seeds", "2", "--storage-path", str(storage)]
    assert search.main([*common, "--name", "packed", "--pack", "3"]) == 0
    assert search.main([*common, "--name", "single", "--pack", "1"]) == 0
    return {"packed": storage / "packed", "single": storage / "single"}


def test_every_packed_config_has_its_own_complete_trial(runs, mnist):
    members = member_dirs(runs["packed"])
    assert len(members) == 6  # 3 configs x 2 seeds, in packs of at most 3
    for trial in members:
        params = json.loads((trial / "params.json").read_text())
        assert "members" not in params and params["seed"] in (0, 1)
        rows = pd.read_json(trial / "result.json", lines=True)
        assert list(rows["epoch"]) == [1, 2]
        for column in (*row_keys(), *PLACEMENT, "pack_size", "accuracy_shortfall", "trial_id", "training_iteration"):
            assert column in rows, column
        (checkpoint,) = sorted(trial.glob("checkpoint_*"))
        model, config, meta = load_model(checkpoint)
        assert config.seed == params["seed"] and meta["metrics"]["test_acc"] == pytest.approx(rows["test_acc"].iloc[-1])


def test_analysis_cannot_tell_packed_from_single(runs):
    loaded = {kind: load_experiment(path) for kind, path in runs.items()}
    for experiment in loaded.values():
        assert len(experiment.trials) == len(experiment.usable()) == 6
    key = ["input_spec", "depth", "width", "seed"]

    def table(kind: str) -> pd.DataFrame:
        frames = []
        for trial in loaded[kind].usable():
            last = trial.history.iloc[-1]
            frames.append(
                {
                    **{k: trial.params[k] for k in ("depth", "width", "seed")},
                    "input_spec": last["input_spec"],
                    "val_acc": last["val_acc"],
                    "flops": last["flops"],
                }
            )
        return pd.DataFrame(frames).sort_values(key).reset_index(drop=True)

    packed, single = table("packed"), table("single")
    assert packed[key].equals(single[key]) and packed["flops"].equals(single["flops"])
    # Same seeds, same batch order: a packed member matches its solo run to float32 rounding,
    # which can flip at most a sample or two of the 2,000 validation images.
    assert (packed["val_acc"] - single["val_acc"]).abs().max() <= 2 / 2000


def test_an_interrupted_pack_is_trained_again_on_resume(tmp_path, local_ray, capsys):
    """SIGINT to the driver mid-pack, then --resume: an unfinished config starts over (docs/robustness.md),
    so its interrupted member directory goes and each config ends with one directory of every epoch."""
    repo = Path(__file__).resolve().parent.parent
    name, epochs = "interrupted-pack", 4
    command = [
        sys.executable,
        "-m",
        "tune_mnist.search",
        "--space",
        "small",
        "--subset",
        "4000",
        "--epochs",
        str(epochs),
        "--pack",
        "8",
        "--confirm",
        "1",  # this is about resuming packs: no confirmation seeds beside the 8 configs
        "--scheduler",
        "fifo",  # and no config stopped early
        "--storage-path",
        str(tmp_path),
        "--name",
        name,
    ]
    driver = subprocess.Popen(command, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    experiment = tmp_path / name

    def started() -> bool:  # every member has a row: the packs are all running or done
        members = member_dirs(experiment) if experiment.is_dir() else []
        return len([m for m in members if (m / "result.json").is_file() and (m / "result.json").read_text()]) == 8

    deadline = time.time() + 240
    while time.time() < deadline and driver.poll() is None and not started():
        time.sleep(0.2)
    assert driver.poll() is None, "the search ended before every pack had started"
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=120) != 0  # interrupted
    before = {m.name: (m / "result.json").read_text() for m in member_dirs(experiment)}
    finished = {member for member, text in before.items() if len(text.splitlines()) == epochs}
    assert len(before) == 8 and len(finished) < 8  # the last pack to start had epochs left
    # the resume in this process, on the module's Ray: only the interrupted driver needs its own
    capsys.readouterr()
    assert search.main(["--resume", "--name", name, "--storage-path", str(tmp_path)]) == 0
    resumed = capsys.readouterr().out
    assert f"Resume: {len(finished)} of 8 configs had finished and are kept" in resumed
    assert "did not finish their config" in resumed
    members = member_dirs(experiment)
    assert len(members) == 8 and {m.name for m in members} & set(before) == finished
    for member in finished:  # kept byte for byte
        assert (experiment / member / "result.json").read_text() == before[member]
    for member in members:  # the others trained again from epoch 1, once
        lines = (member / "result.json").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == list(range(1, epochs + 1))
