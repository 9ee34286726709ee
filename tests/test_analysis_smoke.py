"""The Pareto analysis on a real experiment: the smoke search run once (real Ray Tune, real MNIST),
then analysed through the CLI, with latency re-measurement and export."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import torch

from analysis import pareto
from analysis.load import load_experiment
from tune_mnist import search
from tune_mnist.core.metrics import PLACEMENT, row_keys
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.model.saved import load_model

pytestmark = pytest.mark.slow  # every test here reads a real smoke search run by the module fixture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk that closes every PNG
PLOTS = (
    "accuracy_vs_flops.png",
    "latency_vs_flops.png",
    "accuracy_vs_latency.png",
    "learning_curves.png",
    "remeasure.png",
)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke(local_ray, tmp_path_factory) -> Path:
    """A real experiment under <tmp>/ray_results/smoke (smoke accuracies are 75-87%: bar 0.5)."""
    storage = tmp_path_factory.mktemp("analysis") / "ray_results"
    assert (
        search.main(
            ["--space", "smoke", "--storage-path", str(storage), "--name", "smoke", "--min-accuracy", "0.5"]
            + ["--confirm", "1", "--pack", "1"]  # one trial per config here; tests/test_confirm.py covers confirmation
        )
        == 0
    )
    return storage / "smoke"


@pytest.fixture(scope="module")
def analysed(smoke, tmp_path_factory):
    """``python -m analysis.pareto EXPERIMENT --remeasure --export DIR``, in process."""
    export = tmp_path_factory.mktemp("export")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = pareto.main([str(smoke), "--remeasure", "--rounds", "2", "--export", str(export)])
    assert code == 0, err.getvalue()
    return {"out": out.getvalue(), "err": err.getvalue(), "dir": smoke / "analysis", "export": export}


def last_rows(smoke: Path) -> dict[str, dict]:
    rows = {}
    for trial in smoke.iterdir():
        if (trial / "result.json").is_file():
            lines = (trial / "result.json").read_text().splitlines()
            rows[trial.name] = json.loads(lines[-1])
    return rows


def test_loading_reads_every_trial_and_its_last_epoch(smoke, analysed):
    experiment = load_experiment(smoke)
    assert len(experiment.trials) == 3 and len(experiment.usable()) == 3 and not experiment.warnings
    trials = pd.read_csv(analysed["dir"] / "trials.csv")
    assert len(trials) == 3 and (trials["n_seeds"] == 1).all()
    for name, row in last_rows(smoke).items():
        mine = trials[trials["trial_dirs"] == name].iloc[0]
        for metric in ("val_acc", "test_acc", "flops", "params", "latency_p50_us", "epoch"):
            assert mine[metric] == pytest.approx(row[metric]), metric
    missing = [m for m in (*row_keys(), *PLACEMENT, "accuracy_shortfall") if m not in trials.columns]
    assert not missing
    # One row per trial (one seed each), with the columns that say what the analysis made of it.
    assert sorted(trials["trial_dirs"]) == sorted(last_rows(smoke)) and trials["label"].is_unique
    assert sorted(trials["trial_ids"]) == sorted(t.trial_id for t in experiment.trials)
    assert {"label", "architecture", "n_seeds", "bar_value", "feasible", "pareto_rank", "on_front"} <= set(trials)
    assert (trials["bar_value"] == trials["val_acc"]).all()  # one seed: the mean is the value


def dominates(a: pd.Series, b: pd.Series) -> bool:
    """``a`` is at least as good as ``b`` on every default objective and better on one."""
    pairs = ((a["val_acc"], b["val_acc"]), (-a["flops"], -b["flops"]), (-a["latency_p50_us"], -b["latency_p50_us"]))
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def test_the_front_is_the_non_dominated_configs_above_the_bar(analysed):
    trials = pd.read_csv(analysed["dir"] / "trials.csv")
    front = pd.read_csv(analysed["dir"] / "front.csv")
    assert (trials["feasible"] == (trials["val_acc"] > 0.5)).all()  # the experiment's bar
    feasible = trials[trials["feasible"]]
    assert set(front["label"]) == set(trials.loc[trials["on_front"], "label"]) <= set(feasible["label"])
    assert (front["val_acc"] > 0.5).all() and (front["pareto_rank"] == 1).all()
    for _, row in front.iterrows():
        assert not any(dominates(other, row) for _, other in feasible.iterrows()), row["label"]
    for _, row in feasible[~feasible["on_front"]].iterrows():
        assert any(dominates(other, row) for _, other in front.iterrows()), row["label"]


def test_the_front_table_is_printed_sorted_by_flops(analysed):
    out = analysed["out"]
    front = pd.read_csv(analysed["dir"] / "front.csv")
    assert list(front["flops"]) == sorted(front["flops"]) and len(front) >= 1
    table = out.split("sorted by FLOPs:\n")[1].split("\n\n")[0].splitlines()
    assert table[0].split()[:2] == ["config", "architecture"]
    assert [line.split("  ")[0].strip() for line in table[1:]] == list(front["label"])  # a label has 2+ words
    assert "Hypervolume" in out and "Fewest FLOPs above the bar" in out and "Lowest latency above the bar" in out
    assert "val_acc (mean over seeds) > 0.5 (from the experiment's --min-accuracy" in out
    assert "notebook's pick" in out


def test_every_output_file_is_written_and_pngs_are_valid(analysed):
    out = analysed["dir"]
    for name in ("trials.csv", "front.csv", "epochs.csv", "remeasure.csv", "front_remeasured.csv", "report.md", *PLOTS):
        assert (out / name).stat().st_size > 0, name
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
        assert (out / name).read_bytes()[-12:] == PNG_END, name  # written to the end
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 300 and image.shape[1] > 500 and image.std() > 0.01
    report = (out / "report.md").read_text()
    assert all(f"]({name})" in report for name in PLOTS)
    assert "## Pareto front" in report and "## Latency re-measured alone" in report
    # The picks come from the re-measured front: fewest FLOPs first, the more accurate one on a tie.
    final = pd.read_csv(out / "front_remeasured.csv").sort_values(["flops", "val_acc"], ascending=[True, False])
    pick = f"Fewest FLOPs above the bar: {final['label'].iloc[0]} ({final['architecture'].iloc[0]})"
    assert pick in report
    epochs = pd.read_csv(out / "epochs.csv")
    assert sorted(epochs.groupby("trial_id")["epoch"].max()) == [2, 2, 2]


def test_remeasure_times_the_front_again_and_recomputes_it(analysed):
    remeasured = pd.read_csv(analysed["dir"] / "remeasure.csv")
    front = pd.read_csv(analysed["dir"] / "front.csv")
    assert set(front["label"]) <= set(remeasured["label"])
    assert (remeasured["rounds"] == 2).all() and (remeasured["threads"] == 1).all()
    assert (remeasured["latency_p50_us"] > 0).all()
    assert (remeasured["latency_p50_us_min"] <= remeasured["latency_p50_us"]).all()
    assert (remeasured["latency_p50_us"] <= remeasured["latency_p50_us_max"]).all()
    assert len(pd.read_csv(analysed["dir"] / "front_remeasured.csv")) >= 1
    assert "Latency re-measured alone" in analysed["out"] and "Hypervolume (re-measured)" in analysed["out"]
    assert "round 2/2" in analysed["err"]  # the progress line
    trials = pd.read_csv(analysed["dir"] / "trials.csv")
    assert trials["remeasured_latency_p50_us"].notna().sum() == len(remeasured)


def test_export_round_trips_to_the_same_predictions(smoke, analysed, mnist):
    export = analysed["export"]
    index = pd.read_csv(export / "index.csv")
    front = pd.read_csv(analysed["dir"] / "front_remeasured.csv")
    assert sorted(index["label"]) == sorted(front["label"])
    run = json.loads((smoke / "tune_mnist_run.json").read_text())
    splits = subset(
        split_validation(mnist, run["validation_size"], run["split_seed"]), run["subset"], run["split_seed"]
    )
    for _, entry in index.iterrows():
        model, config, meta = load_model(export / entry["directory"])
        trial_dir = next(smoke.glob(f"{entry['trial_id']}_*"))
        checkpoint = sorted(trial_dir.glob("checkpoint_*"))[-1]
        original, _, _ = load_model(checkpoint)
        state = torch.load(export / entry["directory"] / "model.pt", weights_only=True)
        assert all(torch.equal(state[k], v) for k, v in original.state_dict().items())
        tensors = build_tensors(splits, config)
        with torch.inference_mode():
            mine, theirs = model(tensors.test_x).argmax(1), original(tensors.test_x).argmax(1)
        assert torch.equal(mine, theirs)
        accuracy = float((mine == tensors.test_y).float().mean())
        assert accuracy == pytest.approx(entry["test_acc"], abs=1.5 / len(tensors.test_y))
        assert meta["architecture"] == entry["architecture"]


def test_cli_entry_point_defaults_to_the_latest_experiment(smoke, tmp_path):
    """``python -m analysis.pareto`` with no experiment argument takes the latest one; it imports
    neither Ray nor the search (``-X importtime`` lists every module it imported on stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "analysis.pareto",
            "--storage-path",
            str(smoke.parent),
            "--out",
            str(tmp_path / "cli"),
            "--min-accuracy",
            "0.6",
            "--bar-on",
            "min",
            "--objectives",
            "test_acc:max,params:min",
            "--accuracy-metric",
            "test_acc",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"Experiment: {smoke}" in done.stdout
    assert "objectives: test_acc:max, params:min" in done.stdout
    assert "test_acc (worst seed) > 0.6 (from --min-accuracy)" in done.stdout
    assert (tmp_path / "cli" / "front.csv").stat().st_size > 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "analysis.pareto" in imported or "analysis.front" in imported
    assert not {m for m in imported if m == "ray" or m.startswith("ray.")}
    assert not imported & {"tune_mnist.search", "tune_mnist.trainables.trainable"}
