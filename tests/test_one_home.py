"""One home per idea: the confirmation stage and the analysis share one Pareto dominance, one reader of
result.json with one rule for a bad line, one config key and one finite-number check."""

from __future__ import annotations

import json
import math

import pandas as pd
import pyarrow.fs as pafs
import pytest
from test_analysis_front import write_trial

from analysis import pareto, plots
from analysis.aggregate import aggregate, trial_table
from analysis.front import Objective, compute_front
from analysis.load import UNREADABLE, load_experiment
from analysis.trial_files import read_results
from tune_mnist.confirm.rule import Seeds, front_keys
from tune_mnist.core import metrics
from tune_mnist.core.config import TrialConfig, config_key
from tune_mnist.core.metrics import ENVIRONMENT, LATENCY, Metric, finite
from tune_mnist.core.objectives import OBJECTIVES
from tune_mnist.core.pareto import dominates
from tune_mnist.core.result_rows import CorruptResultFile, parse_result_rows
from tune_mnist.model.counts import mlp_bias_relu_ops, mlp_flops, mlp_params
from tune_mnist.trainables.unpack import read_rows
from tune_mnist.training.rows import epoch_row, split_sizes, static_fields

BAR = 0.9


def test_the_confirmation_stage_and_the_analysis_agree_on_the_front(tmp_path):
    """The same finished seeds, read by the analysis from disk and by the confirmation rule as Seeds:
    an exact tie is on both fronts, a config beaten on every objective on neither, one below the bar
    on neither."""
    experiment = tmp_path / "exp"
    cases = [  # (crop, side, width, seed, val_acc, latency)
        (None, 8, 8, 0, 0.95, 10.0),  # cheap and accurate: on the front on its seeds' means (0.95, 11 us)
        (None, 8, 8, 1, 0.95, 12.0),
        (8, None, 8, 0, 0.95, 11.0),  # the same FLOPs, accuracy and latency: an exact tie, on the front too
        (None, 14, 8, 0, 0.97, 20.0),  # more accurate, costlier: on the front
        (None, 8, 16, 0, 0.94, 11.0),  # costlier and less accurate than resize8 1x8: off the front
        (None, 8, 32, 0, 0.80, 5.0),  # below the bar
    ]
    for number, (crop, side, width, seed, acc, latency) in enumerate(cases):
        write_trial(
            experiment, number, crop=crop, side=side, width=width, seed=seed, val_acc=acc, epochs=1, latency=latency
        )
    trials, _ = trial_table(load_experiment(experiment))
    objectives = [Objective(name, sense) for name, sense in OBJECTIVES]
    front = compute_front(aggregate(trials), objectives, BAR)
    analysis_front = {config_key(row) for _, row in front.front.iterrows()}

    seeds: dict[str, Seeds] = {}
    for _, row in trials.iterrows():
        seeds.setdefault(config_key(row), Seeds()).rows[int(row["seed"])] = {
            name: float(row[name]) for name, _ in OBJECTIVES
        }
    assert front_keys(seeds, BAR) == analysis_front
    assert len(analysis_front) == 3


def test_dominance_counts_a_missing_objective_for_neither():
    maximise = [True, False]
    assert dominates([0.9, 10.0], [0.8, 20.0], maximise)
    assert not dominates([0.9, 10.0], [0.9, 10.0], maximise)  # an exact tie: neither
    assert not dominates([0.9, 30.0], [0.8, 20.0], maximise)
    assert dominates([0.9, math.nan], [0.8, 20.0], maximise)  # better on the one both have
    assert not dominates([math.nan, math.nan], [0.8, 20.0], maximise)


def test_a_half_written_last_line_is_skipped_and_a_bad_line_before_it_is_named():
    good = '{"epoch": 1}\n{"epoch": 2}\n'
    assert parse_result_rows(good, "r.json").rows == [{"epoch": 1}, {"epoch": 2}]
    assert parse_result_rows(good, "r.json").skipped is None
    cut = parse_result_rows(good + '{"epo', "t/result.json")
    assert cut.rows == [{"epoch": 1}, {"epoch": 2}]
    assert cut.skipped == "t/result.json: skipped a half-written last line (line 3, 5 characters, no newline)."
    with pytest.raises(CorruptResultFile, match=r"Line 2 of t/result.json is not a JSON row") as caught:
        parse_result_rows('{"epoch": 1}\n[1, 2]\n{"epoch": 3}\n', "t/result.json")
    assert caught.value.line == 2


def test_the_driver_and_the_analysis_read_result_files_by_the_one_rule(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"epoch": 1}\n{"epoch": 2')
    fs = pafs.LocalFileSystem()
    assert read_rows(fs, str(path)) == [{"epoch": 1}]
    warnings: list[str] = []
    assert list(read_results(path.read_text(), "t/result.json", warnings)["epoch"]) == [1]
    assert len(warnings) == 1
    path.write_text('{"epoch": 1}\nnot json\n{"epoch": 3}\n')
    with pytest.raises(CorruptResultFile):
        read_rows(fs, str(path))
    with pytest.raises(CorruptResultFile):
        read_results(path.read_text(), "t/result.json", [])


def test_a_trial_with_a_corrupt_result_file_is_unreadable_in_the_analysis(tmp_path):
    experiment = tmp_path / "exp"
    write_trial(experiment, 0)
    bad = write_trial(experiment, 1, width=16) / "result.json"
    bad.write_text("garbage\n" + bad.read_text())
    trial = next(t for t in load_experiment(experiment).trials if t.status == UNREADABLE)
    assert trial.reason == "line 1 of result.json is not JSON (the file is corrupt)"


def test_one_key_per_config_whatever_its_spelling():
    config = {"crop": 14, "side": 8, "depth": 1, "width": 8, "seed": 2, "lr": 0.001}
    assert config_key(config) == config_key({**config, "width": 8.0, "side": 8.0, "seed": 0})
    assert config_key({"crop": 14, "side": 14}) == config_key({"crop": 14, "side": math.nan})  # resize to itself
    assert config_key(config, seed=True) != config_key({**config, "seed": 0}, seed=True)
    data = {"validation_size": 5000, "split_seed": 0, "subset": None}
    assert config_key({**config, **data}) == config_key(config)  # the data counts only where asked
    assert config_key({**config, **data}, data=True) != config_key({**config, **data, "split_seed": 1}, data=True)
    assert config_key({"depth": -1, "width": 8}) == '{"depth": -1, "width": 8}'  # invalid: named, never raised


def test_the_fixed_references_are_the_notebooks_model():
    """The metric table holds the baseline's counts as numbers (core imports no model code)."""
    baseline = (784, 2, 1024)
    expected = {"flops": mlp_flops(*baseline), "params": mlp_params(*baseline)}
    expected["flops_bias_relu"] = mlp_bias_relu_ops(*baseline)
    assert {name: metrics.metric(name).reference for name in expected} == expected


def test_finite_counts_numbers_only():
    assert finite(1) and finite(0.5)
    assert not any(finite(v) for v in (math.nan, math.inf, True, None, "1"))


# ---------------------------------------------------------------- a new metric, walked through


def write_rows_trial(experiment, number: int, width: int, accuracy: float, latency: float) -> None:
    """A finished trial whose one row the row builder made, with ``weight_bytes`` computed beside it."""
    config = TrialConfig(side=8, depth=1, width=width, epochs=1)
    static = static_fields(config, split_sizes(100, 50, 50))
    measured = {
        **dict(zip(LATENCY, (latency, latency * 1.2, latency * 1.5, latency / 50, 1024))),
        **dict(zip(ENVIRONMENT, ("cpu", "cpu", 1, "x"))),
        "weight_bytes": 4 * static["params"],  # the code that computes the new metric
    }
    row = epoch_row(1, (0.5, 0.5, 0.5), (accuracy, accuracy, accuracy - 0.01), 0.1, 0.1, static, measured)
    directory = experiment / f"abcde_{number:05d}_{config.label('_')}"
    directory.mkdir(parents=True)
    params = {**config.to_dict(), "validation_size": 50, "split_seed": 0, "subset": None}
    (directory / "params.json").write_text(json.dumps(params))
    (directory / "result.json").write_text(json.dumps(row) + "\n")


def test_a_new_metric_needs_its_row_in_the_table_and_its_value_in_the_row(tmp_path, monkeypatch, capsys):
    """``weight_bytes`` (the float32 weights' size) is added as the Extending table says: a row in
    ``core.metrics.METRICS`` and its value where the row is built. The analysis then takes it as an
    objective, with the table's hypervolume reference and ideal, and its plots name it in the table's words."""
    with pytest.raises(ValueError, match=r"unknown \['weight_bytes'\] \(add a row to that table\)"):
        write_rows_trial(tmp_path / "refused", 0, 8, 0.9, 10.0)
    weight_bytes = Metric(
        "weight_bytes",
        metrics.COST_GROUP,
        unit="bytes",
        label="weights in float32",
        direction="min",
        log_axis=metrics.LOG,
        reference=4 * 1863690.0,
        reference_source=metrics.BASELINE,
        ideal=0.0,
    )
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, weight_bytes))
    experiment = tmp_path / "exp"
    for number, (width, accuracy, latency) in enumerate([(8, 0.90, 10.0), (64, 0.95, 12.0), (256, 0.93, 30.0)]):
        write_rows_trial(experiment, number, width, accuracy, latency)

    assert pareto.main([str(experiment), "--min-accuracy", "0.5", "--objectives", "val_acc:max,weight_bytes:min"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("config "))  # the front table's
    assert header.split()[-2:] == ["weight_bytes", "seeds"]
    assert "weight_bytes 7,454,760 (the notebook's 784-1024-1024-10 baseline)" in out
    assert "ideal point (val_acc 1, weight_bytes 0)" in out
    front = pd.read_csv(experiment / "analysis" / "front.csv")
    assert set(front["width"]) == {8, 64}  # 256 is costlier and less accurate than 64
    trials = pd.read_csv(experiment / "analysis" / "trials.csv").sort_values("width")
    assert list(trials["weight_bytes"]) == [4 * mlp_params(64, 1, w) for w in (8, 64, 256)]
    assert plots.axis_label("weight_bytes") == "weights in float32 [weight_bytes] (bytes)"
    assert metrics.log_axis("weight_bytes", trials["weight_bytes"])
