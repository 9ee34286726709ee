"""The Pareto analysis on hand-built experiments in Ray's layout: a known front, ties, the bar, seeds,
errored / unfinished / half-written trials, and every bad input as one clear sentence."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import pareto
from analysis.aggregate import aggregate, trial_table
from analysis.find import resolve_experiment
from analysis.front import Objective, compute_front, nondominated, parse_objectives
from analysis.load import ERRORED, NO_RESULTS, NOT_STARTED, UNFINISHED, UNREADABLE, USABLE, load_experiment
from analysis.result import compute
from tune_mnist.core.config import TrialConfig
from tune_mnist.model.counts import mlp_flops, mlp_params

OBJECTIVES = [Objective("val_acc", "max"), Objective("flops", "min"), Objective("latency_p50_us", "min")]


# ---------------------------------------------------------------- building experiments by hand


def write_trial(
    experiment: Path,
    number: int,
    *,
    side: int | None = 8,
    crop: int | None = None,
    depth: int = 1,
    width: int = 8,
    seed: int = 0,
    epochs: int = 2,
    val_acc: float | list[float] = 0.95,
    flops: int | None = None,
    latency: float = 10.0,
    reported: int | None = None,
    error: str | None = None,
    tail: str = "",
) -> Path:
    """A trial directory as Ray writes it: params.json, result.json (one line per epoch), maybe error.txt."""
    config = TrialConfig(crop=crop, side=side, depth=depth, width=width, seed=seed, epochs=epochs)
    trial_id = f"abcde_{number:05d}"
    directory = experiment / f"{trial_id}_{config.input_spec}_{depth}x{width}_s{seed}"
    directory.mkdir(parents=True)
    params = {**config.to_dict(), "validation_size": 5000, "split_seed": 0, "subset": None, "min_accuracy": 0.9}
    (directory / "params.json").write_text(json.dumps(params))
    accs = val_acc if isinstance(val_acc, list) else [val_acc - 0.02 * (epochs - e) for e in range(1, epochs + 1)]
    lines = []
    for epoch in range(1, (epochs if reported is None else reported) + 1):
        row = {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "train_acc": accs[epoch - 1],
            "val_loss": 0.5,
            "val_acc": accs[epoch - 1],
            "test_loss": 0.5,
            "test_acc": accs[epoch - 1] - 0.005 if accs[epoch - 1] == accs[epoch - 1] else 0.93,
            "epoch_time_s": 0.1,
            "train_time_s": 0.1 * epoch,
            "params": mlp_params(config.in_features, depth, width),
            "flops": flops if flops is not None else mlp_flops(config.in_features, depth, width),
            "in_features": config.in_features,
            "input_spec": config.input_spec,
            "architecture": config.architecture,
            "latency_p50_us": latency,
            "latency_p90_us": latency * 1.2,
            "latency_p99_us": latency * 1.5,
            "latency_batch_us": latency / 50,
            "latency_batch_size": 1024,
            "device": "cpu",
            "device_name": "cpu",
            "threads": 1,
            "torch_version": "x",
            "node_ip": "10.0.0.1",
            "gpu_ids": "",
            "accuracy_shortfall": 0.0,
            "done": False,
            "training_iteration": epoch,
            "trial_id": trial_id,
            "config": params,
        }
        lines.append(json.dumps(row) + "\n")
    if lines or tail:
        (directory / "result.json").write_text("".join(lines) + tail)
    if error is not None:
        (directory / "error.txt").write_text(f"Traceback (most recent call last):\n  File x\n{error}\n")
    return directory


def write_state(experiment: Path, entries: list[dict]) -> None:
    """experiment_state-*.json as Ray writes it: trial_data is [trial JSON, runtime JSON] pairs."""
    data = [
        [
            json.dumps(
                {
                    "trial_id": e["trial_id"],
                    "status": e["status"],
                    "config": e.get("config", {}),
                    "relative_logdir": e.get("relative_logdir"),
                }
            ),
            json.dumps({"num_failures": 0}),
        ]
        for e in entries
    ]
    (experiment / "experiment_state-2026-01-01_00-00-00.json").write_text(
        json.dumps({"trial_data": data, "runner_data": {}, "stats": {}})
    )


def analyse(path: Path, min_accuracy: float = 0.9, objectives=OBJECTIVES, bar_on: str = "mean", epoch=None):
    experiment = load_experiment(path)
    trials, skipped = trial_table(experiment, epoch)
    table = aggregate(trials, "val_acc", bar_on)
    return experiment, compute_front(table, objectives, min_accuracy), skipped


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = pareto.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def known(tmp_path: Path) -> Path:
    """Seven configs with a known front over (val_acc max, FLOPs min, latency min) at the 0.90 bar."""
    exp = tmp_path / "known"
    write_trial(exp, 0, width=1, val_acc=0.95, flops=1000, latency=10)  # A: front
    write_trial(exp, 1, width=2, val_acc=0.97, flops=5000, latency=20)  # B: front
    write_trial(exp, 2, width=3, val_acc=0.97, flops=5000, latency=20)  # C: exact tie with B: front too
    write_trial(exp, 3, width=4, val_acc=0.94, flops=5000, latency=20)  # D: dominated by B
    write_trial(exp, 4, width=5, val_acc=0.85, flops=100, latency=5)  # E: would dominate, but below the bar
    write_trial(exp, 5, width=6, val_acc=0.95, flops=1000, latency=12)  # F: A is as good and faster
    write_trial(exp, 6, width=7, val_acc=0.99, flops=20000, latency=50)  # G: front (most accurate)
    return exp


def test_known_front_with_ties_and_a_config_below_the_bar(known):
    _, front, _ = analyse(known)
    table = front.table.set_index("width")
    assert set(front.front["width"]) == {1, 2, 3, 7}
    assert not table.loc[5, "feasible"] and not table.loc[5, "on_front"] and pd.isna(table.loc[5, "pareto_rank"])
    assert table.loc[[6, 4], "pareto_rank"].tolist() == [2, 3]  # F is behind the front, D behind F
    assert front.reference == [0.9, 3723264.0, 1000.0]


def test_hypervolume_against_hand_computed_rectangles(known):
    objectives = [Objective("val_acc", "max"), Objective("flops", "min")]
    _, front, _ = analyse(known, objectives=objectives)
    ref = 3723264.0  # the notebook's 784-1024-1024-10 model: the fixed FLOPs reference
    expected = 0.05 * (ref - 1000) + 0.02 * (ref - 5000) + 0.02 * (ref - 20000)
    assert front.hypervolume == pytest.approx(expected)
    assert front.box_fraction == pytest.approx(expected / (0.1 * ref))


@pytest.mark.slow  # the whole analysis with its four plots and report: over 3 s
def test_cli_prints_the_front_sorted_by_flops_with_picks_and_writes_files(known, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "remeasure.csv").write_text("from an earlier run with --remeasure\n")
    code, out, err = run_cli([known, "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    assert not (tmp_path / "out" / "remeasure.csv").exists()  # no stale output beside fresh ones
    front_lines = out.split("sorted by FLOPs:\n")[1].split("\n\n")[0].splitlines()[1:]
    assert [line.split()[1] for line in front_lines] == ["1x1", "1x2", "1x3", "1x7"]
    assert "Hypervolume" in out and "reference point: val_acc 0.9000 (the accuracy bar)" in out
    assert "Fewest FLOPs above the bar: resize8 1x1" in out
    assert "Lowest latency above the bar: resize8 1x1" in out
    assert "not in this experiment" in out  # the notebook's pick
    for name in (
        "trials.csv",
        "front.csv",
        "epochs.csv",
        "report.md",
        "accuracy_vs_flops.png",
        "latency_vs_flops.png",
        "accuracy_vs_latency.png",
        "learning_curves.png",
    ):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "out" / "trials.csv")) == 7
    assert sorted(pd.read_csv(tmp_path / "out" / "front.csv")["width"]) == [1, 2, 3, 7]


def test_notebook_pick_is_placed_on_or_off_the_front(tmp_path, capsys):
    exp = tmp_path / "nb"
    write_trial(exp, 0, side=8, depth=1, width=256, val_acc=0.97, latency=30)
    write_trial(exp, 1, side=8, depth=1, width=64, val_acc=0.97, latency=20)  # fewer FLOPs, faster, as accurate
    from analysis.report import notebook_text

    def where(min_accuracy: float = 0.9, objectives: str = "val_acc:max,flops:min,latency_p50_us:min") -> str:
        analysis = compute(load_experiment(exp), min_accuracy=min_accuracy, objectives=objectives)
        return " ".join(notebook_text(analysis))

    text = where()
    assert "resize8 1x256" in text and "off the front" in text and "resize8 1x64" in text
    assert "is on the front" in where(objectives="val_acc:max")
    write_trial(exp, 2, side=8, depth=1, width=256, seed=1, val_acc=0.90)  # second seed pulls the mean down
    assert "below the bar" in where(min_accuracy=0.95)


def test_seeds_are_grouped_and_the_bar_applies_to_mean_or_worst_seed(tmp_path):
    exp = tmp_path / "seeds"
    for seed, acc in enumerate([0.92, 0.95, 0.98]):
        write_trial(exp, seed, width=16, seed=seed, val_acc=acc, latency=10 + seed)
    write_trial(exp, 3, width=32, val_acc=0.96)
    _, front, _ = analyse(exp, min_accuracy=0.93, bar_on="mean")
    row = front.table.set_index("width").loc[16]
    assert row["n_seeds"] == 3 and row["seeds"] == "0;1;2" and len(row["trial_ids"].split(";")) == 3
    assert row["val_acc"] == pytest.approx(0.95) and row["val_acc_std"] == pytest.approx(0.03)
    assert row["val_acc_min"] == pytest.approx(0.92) and row["latency_p50_us"] == pytest.approx(11)
    assert row["feasible"] and row["bar_value"] == pytest.approx(0.95)
    assert pd.isna(front.table.set_index("width").loc[32, "val_acc_std"])  # one seed: no spread
    _, front, _ = analyse(exp, min_accuracy=0.93, bar_on="min")
    assert not front.table.set_index("width").loc[16, "feasible"]


def test_errored_unfinished_half_written_and_never_started_trials_are_counted_and_listed(tmp_path, capsys):
    exp = tmp_path / "mixed"
    write_trial(exp, 0, width=8, val_acc=0.95)
    write_trial(exp, 1, width=9, val_acc=0.96, tail="\n")  # a blank trailing line is fine
    write_trial(exp, 2, width=10, reported=0, error="RuntimeError: CUDA out of memory")
    write_trial(exp, 3, width=11, reported=1, error="ValueError: loss is nan")
    write_trial(exp, 4, width=12, epochs=3, reported=2, tail='{"epoch": 3, "train_loss": 0.4, "val_a')
    write_trial(exp, 5, width=13, reported=0)
    bad = write_trial(exp, 6, width=14)
    lines = (bad / "result.json").read_text().splitlines()
    (bad / "result.json").write_text(lines[0][:40] + "\n" + lines[1] + "\n")
    write_state(exp, [{"trial_id": "abcde_00007", "status": "PENDING", "config": {"side": 8, "width": 15}}])

    experiment = load_experiment(exp)
    status = {t.trial_id: t.status for t in experiment.trials}
    assert status == {
        "abcde_00000": USABLE,
        "abcde_00001": USABLE,
        "abcde_00002": ERRORED,
        "abcde_00003": ERRORED,
        "abcde_00004": UNFINISHED,
        "abcde_00005": NO_RESULTS,
        "abcde_00006": UNREADABLE,
        "abcde_00007": NOT_STARTED,
    }
    assert any("half-written last line" in w and "abcde_00004" in w for w in experiment.warnings)
    trial4 = next(t for t in experiment.trials if t.trial_id == "abcde_00004")
    assert list(trial4.history["epoch"]) == [1, 2] and "epoch 2 of 3" in trial4.reason

    code, out, err = run_cli([exp, "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    assert (
        "Trials: 8 trials (2 finished, 2 errored, 1 unfinished, 1 never reported, 1 unreadable, 1 not started); "
        "2 used." in out
    )
    assert "CUDA out of memory" in out and "errored after epoch 1 of 2: ValueError: loss is nan" in out
    assert "line 1 of result.json is not JSON" in out and "never started (Ray status PENDING)" in out
    assert "warning:" in err and "half-written last line" in err
    report = (tmp_path / "out" / "report.md").read_text()
    assert "CUDA out of memory" in report and "half-written" in report


def test_epoch_option_uses_that_epochs_metrics(known, tmp_path, capsys):
    experiment = load_experiment(known)
    trials, _ = trial_table(experiment, epoch=1)
    assert set(trials["epoch"]) == {1}
    assert trials.set_index("width").loc[7, "val_acc"] == pytest.approx(0.97)  # 0.99 - 0.02 at epoch 1
    code, _, err = run_cli([known, "--epoch", "5", "--out", tmp_path / "o"], capsys)
    assert code == 2
    assert err.strip() == (
        "error: No finished trial reported epoch 5: pass --epoch between 1 and 2, "
        "or leave --epoch out to use each trial's last epoch."
    )


def test_default_is_the_most_recent_experiment_under_the_storage_path(tmp_path):
    storage = tmp_path / "ray_results"
    old, new = storage / "old", storage / "new"
    write_trial(old, 0)
    write_trial(new, 0)
    (storage / ".gitkeep").write_text("")
    for path, stamp in ((old, 2_000_000_000), (new, 1_000_000_000)):
        for file in path.rglob("*"):
            os.utime(file, (stamp, stamp))
    assert Path(resolve_experiment(None, str(storage))).name == "old"
    assert Path(resolve_experiment("new", str(storage))).name == "new"
    assert len(load_experiment(f"file://{new}").usable()) == 1  # URIs go through pyarrow.fs


def one_sentence(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ")
    message = lines[-1][len("error: ") :]
    assert message.count(": ") >= 1 and message.endswith(".")
    return message


@pytest.mark.parametrize(
    "setup, argv, expected",
    [
        ("empty", [], "Experiment directory {path} is empty: pass the directory python -m tune_mnist.search wrote"),
        ("missing", [], "There is no experiment directory {path}: check the path"),
        (
            "not_experiment",
            [],
            "{path} is not a Ray Tune experiment (it has no trial directories with params.json or result.json)",
        ),
        ("storage", [], "{path} is a storage path holding 1 experiment(s), not one experiment: pass one of them"),
        ("file", [], "{path} is a file, not an experiment directory"),
        (
            "known",
            ["--objectives", "val_acc:max,latency:min"],
            "Unknown metric 'latency' in --objectives: use one of the reported metrics",
        ),
        (
            "known",
            ["--objectives", "flops"],
            "--objectives item 'flops' needs a direction: write flops:max or flops:min.",
        ),
        ("known", ["--objectives", "val_acc:max,input_spec:min"], "Metric 'input_spec' in --objectives is not numeric"),
        ("known", ["--reference", "params=3"], "--reference names 'params', which is not an objective"),
        ("errored", [], "None of the 2 trials in {path} finished (2 errored): fix the cause listed above"),
        (
            "no_val",
            [],
            "No trial reported val_acc: this experiment has no validation split (--validation-size 0): "
            "pass --accuracy-metric test_acc.",
        ),
    ],
)
def test_bad_inputs_fail_with_one_clear_sentence(setup, argv, expected, tmp_path, capsys):
    path = tmp_path / setup
    if setup == "empty":
        path.mkdir()
    elif setup == "not_experiment":
        (path / "stuff").mkdir(parents=True)
        (path / "notes.txt").write_text("hello")
        (path / "stuff" / "a.txt").write_text("x")
    elif setup == "storage":
        write_trial(path / "exp1", 0)
    elif setup == "file":
        path.write_text("{}")
    elif setup == "known":
        write_trial(path, 0, width=7, val_acc=0.99)
        write_trial(path, 1, width=3, val_acc=0.95)
    elif setup == "errored":
        write_trial(path, 0, reported=0, error="RuntimeError: boom")
        write_trial(path, 1, width=9, reported=1, error="RuntimeError: boom")
    elif setup == "no_val":
        write_trial(path, 0, val_acc=[float("nan"), float("nan")])
    code, out, err = run_cli([path, "--out", tmp_path / "out", *argv], capsys)
    assert code == 2
    message = one_sentence(err)
    assert message.startswith(expected.format(path=path.resolve())), message
    if setup == "errored":
        assert "RuntimeError: boom" in err  # the list of what went wrong comes first
    assert not (tmp_path / "out" / "front.csv").exists()


def test_nothing_above_the_bar_still_writes_everything_and_names_the_closest(tmp_path, capsys):
    """No config clears the bar: not a bad input (2) but its own status (3), with every file written."""
    from analysis.pareto import NOTHING_CLEARS_STATUS

    path = tmp_path / "known"
    write_trial(path, 0, width=7, val_acc=0.99)
    write_trial(path, 1, width=3, val_acc=0.95)
    out = tmp_path / "out"
    code, printed, err = run_cli([path, "--out", out, "--min-accuracy", "0.995"], capsys)
    assert code == NOTHING_CLEARS_STATUS == 3, err
    assert (
        "No config clears the bar: none has val_acc (mean over seeds) above 0.995. Closest: resize8 1x7 "
        "(64-7-10) at 0.9900, 0.0050 below the bar." in printed
    )
    for name in ("trials.csv", "front.csv", "epochs.csv", "report.md", "learning_curves.png", "accuracy_vs_flops.png"):
        assert (out / name).stat().st_size > 0, name
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and not trials["feasible"].any() and not trials["on_front"].any()
    assert "No config clears the bar" in (out / "report.md").read_text()


def test_remeasure_device_is_checked_first_and_a_device_change_is_said(tmp_path, capsys):
    import torch

    from analysis.remeasure import remeasure_device

    code, _, err = run_cli([tmp_path / "nothing-here", "--remeasure", "--device", "cuda:99"], capsys)
    assert code == 2 and one_sentence(err).startswith("--device cuda:99 ")
    device, note = remeasure_device("cpu", ["cuda:0"])
    assert device.type == "cpu" and "not comparable" in note
    device, note = remeasure_device("auto", ["cuda:0"])
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert (note is None) == torch.cuda.is_available()
    assert remeasure_device("auto", ["cpu"]) == (torch.device("cpu"), None)


def test_no_experiment_under_the_storage_path(tmp_path, capsys):
    code, _, err = run_cli(["--storage-path", tmp_path / "nothing"], capsys)
    assert code == 2
    assert one_sentence(err).startswith(
        f"There is no experiment under {tmp_path / 'nothing'}: run python -m tune_mnist.search first"
    )


def test_bad_option_values_are_usage_errors(capsys):
    for argv in (["--min-accuracy", "90"], ["--accuracy-metric", "acc"], ["--bar-on", "median"], ["--epoch", "0"]):
        with pytest.raises(SystemExit) as exc:
            pareto.parse_args(argv)
        assert exc.value.code == 2
    capsys.readouterr()


def test_a_front_change_within_the_round_to_round_range_is_called_noise():
    from analysis.remeasure import Remeasured
    from analysis.report import remeasure_text

    table = pd.DataFrame(
        {
            "label": ["a", "b"],
            "architecture": ["64-10", "64-1-10"],
            "n_seeds": [1, 1],
            "val_acc": [0.95, 0.96],
            "bar_value": [0.95, 0.96],
            "flops": [100, 100],
            "latency_p50_us": [10.0, 20.0],
        }
    )
    before = compute_front(table, OBJECTIVES, 0.9)
    after = compute_front(table.assign(latency_p50_us=[21.0, 20.0]), OBJECTIVES, 0.9)
    measured = pd.DataFrame(
        {
            "label": ["a", "b"],
            "trial_latency_p50_us": [10.0, 20.0],
            "latency_p50_us": [21.0, 20.0],
            "latency_p50_us_min": [19.0, 18.0],
            "latency_p50_us_max": [25.0, 22.0],
        }
    )
    text = "\n".join(remeasure_text(before, Remeasured(measured, after, 3, 1, {}), "val_acc", "latency_p50_us"))
    assert "Left the front with the re-measured latency: a." in text
    assert "a vs b: their latency_p50_us ranges over the rounds overlap (19.0-25.0 and 18.0-22.0 us)" in text


def brute_force_nondominated(points: np.ndarray, maximise: list[bool]) -> np.ndarray:
    signs = np.where(maximise, -1.0, 1.0)
    p = points * signs  # all minimised
    keep = np.ones(len(p), dtype=bool)
    for i in range(len(p)):
        for j in range(len(p)):
            if i != j and np.all(p[j] <= p[i]) and np.any(p[j] < p[i]):
                keep[i] = False
                break
    return keep


@pytest.mark.parametrize("seed", range(8))
def test_front_agrees_with_brute_force_on_random_points(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 80)), int(rng.integers(1, 5))
    # Small integer ranges make ties and duplicates common.
    points = rng.integers(0, 6, size=(n, m)).astype(float)
    maximise = list(rng.integers(0, 2, size=m).astype(bool))
    assert np.array_equal(nondominated(points, maximise), brute_force_nondominated(points, maximise))

    # The same through the table path, with a bar in front of it.
    table = pd.DataFrame(points, columns=[f"m{i}" for i in range(m)])
    table["bar_value"] = rng.uniform(0.8, 1.0, size=n)
    table["label"] = [f"c{i}" for i in range(n)]
    if not (table["bar_value"] > 0.85).any():
        table.loc[0, "bar_value"] = 0.99
    objectives = parse_objectives(",".join(f"m{i}:{'max' if x else 'min'}" for i, x in enumerate(maximise)), table)
    front = compute_front(table, objectives, 0.85)
    ok = table["bar_value"].to_numpy() > 0.85
    expected = np.zeros(n, dtype=bool)
    expected[ok] = brute_force_nondominated(points[ok], maximise)
    assert np.array_equal(front.table["on_front"].to_numpy(), expected)


def test_a_pack_members_trial_id_names_its_pack():
    from tune_mnist.core.layout import member_trial_id, pack_trial_of

    for pack in ("94014_00000", "8de7c56d"):
        assert pack_trial_of(member_trial_id(pack, 3)) == pack and pack_trial_of(pack) == pack
