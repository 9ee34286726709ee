"""--mlflow on a real search and a real analysis: runs, params and per-epoch metrics read back from
a real local MLflow store with MlflowClient (no mocks), packs as parent and member runs, and the
one-sentence message when the extra is missing."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

from analysis import pareto
from tune_mnist import search

pytest.importorskip("mlflow", reason='the mlflow extra is not installed (pip install -e ".[mlflow]")')

from mlflow.tracking import MlflowClient  # noqa: E402

TRIAL_ID_TAG, PARENT_TAG = "tune_mnist.trial_id", "mlflow.parentRunId"


def store(experiment: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{experiment / 'mlflow' / 'mlflow.db'}")


def rows(trial_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]


def quiet(call, *args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = call(*args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tracked(local_ray, tmp_path_factory) -> Path:
    """``--space smoke --subset 2000 --mlflow``: three trials, logged to the store beside the experiment."""
    storage = tmp_path_factory.mktemp("mlflow") / "ray_results"
    assert (
        search.main(
            [
                "--space",
                "smoke",
                "--subset",
                "2000",
                "--storage-path",
                str(storage),
                "--name",
                "smoke",
                "--min-accuracy",
                "0.5",
                "--mlflow",
            ]
        )
        == 0
    )
    return storage / "smoke"


@pytest.mark.slow
def test_every_trial_is_a_run_with_its_config_and_per_epoch_metrics(tracked):
    client = store(tracked)
    experiment = client.get_experiment_by_name("smoke")
    assert experiment is not None and experiment.artifact_location.startswith("file://")
    runs = [r for r in client.search_runs([experiment.experiment_id]) if TRIAL_ID_TAG in r.data.tags]
    trial_dirs = {d.name: d for d in tracked.iterdir() if (d / "result.json").is_file()}
    assert len(trial_dirs) >= 3  # the smoke space's three configs (and any trials a later stage added)
    assert sorted(r.info.run_name for r in runs) == sorted(trial_dirs)  # one run per trial
    for run in runs:
        assert run.info.status == "FINISHED" and run.info.run_name in trial_dirs
        trial_dir = trial_dirs[run.info.run_name]
        params = json.loads((trial_dir / "params.json").read_text())
        for key in ("depth", "width", "side", "crop", "lr", "epochs", "seed", "subset"):
            assert run.data.params[key] == str(params[key]), key
        history = client.get_metric_history(run.info.run_id, "val_acc")
        reported = rows(trial_dir)
        assert [m.step for m in history] == [r["epoch"] for r in reported] == [1, 2]
        assert [m.value for m in history] == pytest.approx([r["val_acc"] for r in reported])
        for metric in ("train_loss", "test_acc", "flops", "latency_p50_us", "epoch_time_s"):
            assert len(client.get_metric_history(run.info.run_id, metric)) == 2, metric
        assert run.data.tags["architecture"] == reported[-1]["architecture"]
        assert "config/depth" not in run.data.metrics and "time_total_s" not in run.data.metrics


@pytest.mark.slow
def test_the_analysis_logs_its_tables_plots_and_report(tracked, tmp_path):
    code, out, err = quiet(pareto.main, [str(tracked), "--mlflow"])
    assert code == 0, err
    client = store(tracked)
    experiment = client.get_experiment_by_name("smoke")
    (run,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'analysis'")
    assert run.info.status == "FINISHED"
    listed = {
        folder: {f.path.split("/")[-1] for f in client.list_artifacts(run.info.run_id, folder)}
        for folder in ("tables", "plots", "report")
    }
    assert {"trials.csv", "front.csv", "epochs.csv"} <= listed["tables"]
    assert {
        "accuracy_vs_flops.png",
        "latency_vs_flops.png",
        "accuracy_vs_latency.png",
        "learning_curves.png",
    } <= listed["plots"]
    assert listed["report"] == {"report.md", "report.html"}
    assert run.data.params["min_accuracy"] == "0.5" and run.data.metrics["front_size"] >= 1
    assert run.data.metrics["hypervolume"] > 0
    assert "MLflow" in out
    # an explicit tracking URI: a store elsewhere, the same experiment name
    other = tmp_path / "elsewhere" / "mlflow.db"
    code, _, err = quiet(pareto.main, [str(tracked), "--out", str(tmp_path / "out"), "--mlflow", f"sqlite:///{other}"])
    assert code == 0, err
    elsewhere = MlflowClient(f"sqlite:///{other}")
    experiment = elsewhere.get_experiment_by_name("smoke")
    assert len(elsewhere.search_runs([experiment.experiment_id])) == 1


@pytest.mark.slow
def test_a_pack_is_a_parent_run_with_one_child_run_per_config(local_ray, tmp_path):
    storage = tmp_path / "ray_results"
    assert (
        search.main(
            [
                "--space",
                "smoke",
                "--storage-path",
                str(storage),
                "--name",
                "packed",
                "--pack",
                "3",
                "--min-accuracy",
                "0.5",
                "--mlflow",
            ]
        )
        == 0
    )
    client = store(storage / "packed")
    experiment = client.get_experiment_by_name("packed")
    runs = client.search_runs([experiment.experiment_id])
    parents = {r.info.run_id: r for r in runs if PARENT_TAG not in r.data.tags}
    children = [r for r in runs if PARENT_TAG in r.data.tags]
    packs = [r for r in parents.values() if "pack_size" in r.data.params]
    # members share a depth: the two one-layer smoke configs train as one pack, the linear one alone
    assert "2" in {p.data.params["pack_size"] for p in packs}
    assert len(children) >= 3 and not any("members" in p.data.params for p in packs)
    member_dirs = {
        d.name: d for d in (storage / "packed").iterdir() if (d / "result.json").is_file() and "_m0" in d.name
    }
    assert sorted(c.info.run_name for c in children) == sorted(member_dirs)  # one child run per member directory
    for child in children:
        assert child.data.tags[PARENT_TAG] in parents
        history = client.get_metric_history(child.info.run_id, "val_acc")
        reported = rows(member_dirs[child.info.run_name])
        assert [m.value for m in history] == pytest.approx([r["val_acc"] for r in reported])
        assert child.data.params["width"] == str(
            json.loads((member_dirs[child.info.run_name] / "params.json").read_text())["width"]
        )


def test_missing_mlflow_extra_is_one_sentence_before_anything_runs(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    code, out, err = quiet(search.main, ["--space", "smoke", "--storage-path", str(tmp_path), "--mlflow"])
    assert code == 2 and 'pip install -e ".[mlflow]"' in err and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir())  # no experiment was started
    code, out, err = quiet(pareto.main, [str(tmp_path / "nothing"), "--mlflow"])
    assert code == 2 and 'pip install -e ".[mlflow]"' in err, err
