"""The adaptive space end to end on real Ray Tune, Optuna, PyTorch and an MNIST subset (CPU): one
config per trial, and with --seeds each proposal's seeds trained together as one pack whose
seeds' mean is what Optuna learns from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.aggregate import aggregate, trial_table
from analysis.load import load_experiment
from tune_mnist import search
from tune_mnist.core.config import PACK_MEMBERS
from tune_mnist.core.objectives import SEARCH_OBJECTIVES
from tune_mnist.model.saved import load_model
from tune_mnist.strategies.pack_searcher import seeds_mean

COMMON = [
    "--space",
    "adaptive",
    "--epochs",
    "1",
    "--subset",
    "1000",
    "--validation-size",
    "1000",
    "--min-accuracy",
    "0.6",
    "--confirm",
    "1",  # these tests count the search's own trials; tests/test_confirm.py covers confirmation
]


def params(trial: Path) -> dict:
    return json.loads((trial / "params.json").read_text())


def rows(trial: Path) -> pd.DataFrame:
    return pd.read_json(trial / "result.json", lines=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, local_ray) -> dict[str, Path]:
    storage = tmp_path_factory.mktemp("adaptive")
    argv = [*COMMON, "--storage-path", str(storage)]
    assert search.main([*argv, "--name", "plain", "--num-samples", "2", "--pack", "1"]) == 0
    assert search.main([*argv, "--name", "seeds", "--num-samples", "2", "--seeds", "2", "--pack", "1"]) == 0
    return {"plain": storage / "plain", "seeds": storage / "seeds"}


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if (p / "params.json").is_file())


@pytest.mark.slow
def test_adaptive_runs_one_config_per_trial_with_every_objective(runs):
    trials = trial_dirs(runs["plain"])
    assert len(trials) == 2
    for trial in trials:
        frame = rows(trial)
        assert list(frame["epoch"]) == [1] and (frame["pack_size"] == 1).all()
        for metric in SEARCH_OBJECTIVES:
            assert frame[metric].notna().all(), metric
        assert frame["accuracy_shortfall"].iloc[0] == pytest.approx(max(0.0, 0.6 - frame["val_acc"].iloc[0]))
    # A searcher's trial ids (8 hex digits) are matched to Ray's state: no trial is counted twice.
    experiment = load_experiment(runs["plain"])
    assert len(experiment.trials) == len(experiment.usable()) == 2


@pytest.mark.slow
def test_adaptive_seeds_train_together_and_report_their_mean(runs):
    """--seeds 2 --pack 1: each proposal's two seeds train as one pack trial (the searcher is told their
    mean: tests/test_packed_screening.py), each seed its own member directory and checkpoint."""
    trials = trial_dirs(runs["seeds"])
    packs = [t for t in trials if PACK_MEMBERS in params(t)]
    members = [t for t in trials if PACK_MEMBERS not in params(t)]
    assert len(packs) == 2 and len(members) == 4
    for pack in packs:
        config = params(pack)
        assert [m["seed"] for m in config[PACK_MEMBERS]] == [0, 1] and pack.name.endswith("_pack2")
        trial_id = pack.name.split("_")[0]  # a searcher's trial ids are 8 hex digits
        own = [m for m in members if m.name.startswith(trial_id + "_m")]
        assert sorted(params(m)["seed"] for m in own) == [0, 1]
        first = {k: v for k, v in params(own[0]).items() if k != "seed"}
        assert all({k: v for k, v in params(m).items() if k != "seed"} == first for m in own)
        member_rows = [rows(m).iloc[-1] for m in own]
        assert member_rows[0]["flops"] == member_rows[1]["flops"]
        assert (rows(own[0])["pack_size"] == 2).all()
        for member in own:  # each seed's own checkpoint, as a one-config trial has
            (checkpoint,) = member.glob("checkpoint_*")
            _, saved, meta = load_model(checkpoint)
            assert saved.seed == params(member)["seed"]
            assert meta["metrics"]["val_acc"] == pytest.approx(rows(member)["val_acc"].iloc[-1])


@pytest.mark.slow
def test_analysis_groups_the_seeds_of_each_proposal(runs):
    experiment = load_experiment(runs["seeds"])
    assert len(experiment.trials) == len(experiment.usable()) == 4
    table, _ = trial_table(experiment)
    grouped = aggregate(table)
    assert len(grouped) == 2 and (grouped["n_seeds"] == 2).all()
    assert set(grouped["seeds"]) == {"0;1"}


def test_seeds_mean_keeps_shared_values_and_averages_the_rest():
    rows_ = [
        {
            "epoch": 2,
            "seed": 0,
            "val_acc": 0.5,
            "test_acc": 0.4,
            "flops": 100,
            "architecture": "64-8-10",
            "latency_p50_us": 3.0,
        },
        {
            "epoch": 2,
            "seed": 1,
            "val_acc": 0.7,
            "test_acc": 0.6,
            "flops": 100,
            "architecture": "64-8-10",
            "latency_p50_us": 5.0,
        },
    ]
    mean = seeds_mean(rows_, {"min_accuracy": 0.9})
    assert "seed" not in mean and mean["flops"] == 100 and isinstance(mean["flops"], int)
    assert mean["architecture"] == "64-8-10" and mean["latency_p50_us"] == 4.0
    assert mean["val_acc"] == pytest.approx(0.6) and mean["accuracy_shortfall"] == pytest.approx(0.3)
    # No validation split: the bar is on the test accuracy, as for one config.
    no_val = [{**r, "val_acc": float("nan")} for r in rows_]
    assert seeds_mean(no_val, {"min_accuracy": 0.9})["accuracy_shortfall"] == pytest.approx(0.4)


def test_dry_run_says_the_seeds_train_together(capsys):
    assert search.main(["--space", "adaptive", "--seeds", "3", "--dry-run"]) == 0
    assert "each trained over 3 seeds in one trial" in capsys.readouterr().out


@pytest.mark.slow
def test_a_finished_adaptive_experiment_resumes_with_nothing_to_train(runs, capsys):
    """--resume counts the finished proposals from the trial directories (a seed pack once)."""
    before = sorted(p.name for p in runs["seeds"].iterdir() if p.is_dir())
    capsys.readouterr()
    assert search.main(["--resume", "--name", "seeds", "--storage-path", str(runs["seeds"].parent)]) == 0
    out = capsys.readouterr().out
    assert "Resume: 2 of 2 samples had finished and are kept" in out and "nothing to train" in out
    assert sorted(p.name for p in runs["seeds"].iterdir() if p.is_dir()) == before
