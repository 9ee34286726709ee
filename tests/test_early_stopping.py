"""Bar-aware early stopping: the rule on learning curves, the Ray scheduler on real training rows (a
hopeless config stopped early, a promising one left to finish, the marker written), a real small
search whose stopped trials the summary and the analysis count apart, and bad --scheduler values
refused before Ray starts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pyarrow.fs as pafs
import pytest
import ray
import torch

from analysis.load import STOPPED_EARLY, USABLE, load_experiment
from tune_mnist import search
from tune_mnist.core.config import TrialConfig
from tune_mnist.core.layout import STOPPED_EARLY_FILE
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.strategies.early_stopping import decide, projected_accuracy
from tune_mnist.training.loop import new_state, train


def test_a_plateau_far_below_the_bar_stops_and_a_steady_learner_goes_on():
    assert decide([0.80, 0.82, 0.83], epochs=10, bar=0.9) is None  # 0.83 + 1.5*7*0.01 > 0.9
    stop = decide([0.80, 0.805, 0.807], epochs=10, bar=0.9)
    assert stop is not None and stop.rule == "bar" and stop.epoch == 3 and stop.projected < 0.9
    assert decide([0.11], epochs=10, bar=0.9) is not None  # no better than chance after an epoch
    assert decide([0.5], epochs=10, bar=0.9) is None  # 0.4 over chance in one epoch: may get there
    assert decide([0.2, 0.3], epochs=2, bar=0.9) is None  # the last epoch: nothing left to save


def test_a_trial_a_cheaper_finished_one_beats_stops_as_dominated():
    finished = [(1_000, 0.97)]
    stop = decide([0.92, 0.93, 0.935], epochs=5, bar=0.9, finished=finished, flops=50_000)
    assert stop is not None and stop.rule == "dominated" and "1,000 FLOPs" in stop.reason
    assert decide([0.92, 0.93, 0.935], epochs=5, bar=0.9, finished=finished, flops=500) is None  # cheaper: goes on
    assert projected_accuracy([0.93, 0.935], 4) >= 0.935


@pytest.fixture(scope="module")
def splits(mnist):
    return subset(split_validation(mnist, 2000, 0), 3000, 0)


def feed(
    scheduler, config: TrialConfig, splits, tmp_path: Path, bar: float, extra: dict | None = None
) -> tuple[list[str], Path]:
    """Train ``config`` for real and pass each epoch's row to the scheduler as Tune would (``extra``: more
    trial config keys, such as a confirmation round's)."""
    from ray.tune.schedulers import TrialScheduler

    trial_dir = tmp_path / config.label("_")
    storage = SimpleNamespace(storage_filesystem=pafs.LocalFileSystem(), trial_fs_path=str(trial_dir))
    trial = SimpleNamespace(
        trial_id=config.label("_"), config={**config.to_dict(), "min_accuracy": bar, **(extra or {})}, storage=storage
    )
    decisions = []
    for row in train(
        config, build_tensors(splits, config), new_state(config, torch.device("cpu")), latency=False, threads=1
    ):
        row["accuracy_shortfall"] = max(0.0, bar - row["val_acc"])
        decisions.append(scheduler.on_trial_result(None, trial, row))
        if decisions[-1] == TrialScheduler.STOP:
            break
    return decisions, trial_dir


def test_the_scheduler_stops_a_hopeless_trial_and_lets_a_promising_one_finish(splits, tmp_path, one_thread):
    from tune_mnist.strategies.schedulers import BarAwareScheduler

    scheduler = BarAwareScheduler(0.85)
    hopeless = TrialConfig(side=4, depth=0, width=1, lr=1e-4, batch_size=256, epochs=8)
    decisions, trial_dir = feed(scheduler, hopeless, splits, tmp_path, 0.85)
    assert decisions[-1] == "STOP" and len(decisions) < hopeless.epochs
    marker = json.loads((trial_dir / STOPPED_EARLY_FILE).read_text())
    assert marker["stopped_early"] and marker["rule"] == "bar" and marker["epoch"] == len(decisions)
    promising = TrialConfig(side=14, depth=1, width=64, lr=1e-2, batch_size=64, epochs=3)
    decisions, trial_dir = feed(scheduler, promising, splits, tmp_path, 0.85)
    assert decisions == ["CONTINUE"] * 3 and not (trial_dir / STOPPED_EARLY_FILE).exists()
    assert scheduler.finished and scheduler.finished[0][1] > 0.85


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--space", "random", "--scheduler", "asha"], "--scheduler asha is unknown: use one of bar, fifo."),
        (["--space", "grid", "--scheduler", "bar"], "--scheduler bar does not apply to the grid space"),
    ],
)
def test_bad_scheduler_values_are_refused_before_ray_starts(argv, message, tmp_path, capsys):
    ray.shutdown()
    assert search.main([*argv, "--storage-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not ray.is_initialized() and not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_real_search_counts_and_lists_the_trials_it_stopped_early(tmp_path, capsys, local_ray):
    argv = ["--space", "random", "--num-samples", "5", "--search-seed", "3", "--subset", "1000", "--epochs", "4"]
    argv += ["--lr", "1e-4", "--confirm", "1", "--storage-path", str(tmp_path), "--name", "early"]
    assert search.main(argv) == 0
    out = capsys.readouterr().out
    experiment = load_experiment(tmp_path / "early")
    stopped = [t for t in experiment.trials if t.status == STOPPED_EARLY]
    assert stopped and f"{len(stopped)} stopped early by the scheduler" in out
    for trial in stopped:
        assert (Path(trial.path) / STOPPED_EARLY_FILE).is_file() and "projects to at most" in trial.reason
        assert int(trial.history["epoch"].max()) < trial.params["epochs"]  # never mistaken for finished
    assert {t.status for t in experiment.trials} <= {STOPPED_EARLY, USABLE}
    assert experiment.counts()[STOPPED_EARLY] == len(stopped)


def test_a_confirmation_trial_is_never_stopped_early(splits, tmp_path, one_thread):
    from tune_mnist.strategies.schedulers import BarAwareScheduler
    from tune_mnist.strategies.screening_deadline import CONFIRM_ROUND

    hopeless = TrialConfig(side=4, depth=0, width=1, lr=1e-4, batch_size=256, epochs=3)
    scheduler = BarAwareScheduler(0.85)
    decisions, trial_dir = feed(scheduler, hopeless, splits, tmp_path, 0.85, extra={CONFIRM_ROUND: 1})
    assert decisions == ["CONTINUE"] * 3 and not (trial_dir / STOPPED_EARLY_FILE).exists()
    screening, _ = feed(BarAwareScheduler(0.85), hopeless, splits, tmp_path / "screen", 0.85)
    assert screening[-1] == "STOP"  # the same curve on a screening trial is stopped
