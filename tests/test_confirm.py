"""The confirmation stage (``--confirm K``) end to end on real Ray and a real MNIST subset, its rule on
hand-made numbers, and what the analysis says about the seeds behind each number (``--bar-on lcb`` on
a hand-built experiment)."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import ray
from test_analysis_front import write_trial

from analysis.aggregate import aggregate, trial_table
from analysis.load import load_experiment
from analysis.result import compute
from tune_mnist import search
from tune_mnist.confirm.rule import LCB_Z, Seeds, missing_seeds, plan_round, pooled_sigma
from tune_mnist.confirm.summary import group_rows, pick_lines, picks
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig

REPO = Path(__file__).resolve().parent.parent
SMOKE = ["--space", "smoke"]


def seeds(accuracies: list[float], flops: float, latency: float = 10.0) -> Seeds:
    return Seeds(
        {seed: {"val_acc": acc, "flops": flops, "latency_p50_us": latency} for seed, acc in enumerate(accuracies)}
    )


def test_the_api_returns_the_pick_the_summary_prints_when_a_budget_left_a_cheaper_config_unconfirmed():
    """A --time-budget can end the confirmation stage with a cheaper config above the bar on one seed beside a
    confirmed one: the summary names the confirmed one first (the other on a "not yet confirmed" line), and
    ``run_search``'s ``picks`` must name the same config, not the unconfirmed one."""
    confirmed = TrialConfig(crop=20, side=5, depth=1, width=11, epochs=5).to_dict()
    cheaper = {**confirmed, "width": 10}
    row = {"val_acc": 0.91, "test_acc": 0.91, "flops": 770.0, "params": 0.0, "latency_p50_us": 1.0}
    pairs = [({**confirmed, "seed": s}, row) for s in range(3)] + [(cheaper, {**row, "flops": 700.0})]
    groups = group_rows(pairs)
    objectives = [("flops", "min")]
    lines = pick_lines(groups, objectives, bar=0.9, k=3)
    [pick] = picks(groups, objectives, bar=0.9, k=3)
    assert pick.label in lines[0] and pick.seeds == 3 and pick.means["flops"] == 770.0, (pick, lines)
    assert "not yet confirmed" in lines[1] and "1x10" in lines[1], lines


def trial_params(experiment: Path) -> list[dict]:
    """Each trained model's params: a pack's own trial dir (its member list) is skipped, its members
    are written as solo-form trials beside it."""
    params = [json.loads(p.read_text()) for p in sorted(experiment.glob("*/params.json"))]
    return [p for p in params if PACK_MEMBERS not in p]


def seeds_by_config(experiment: Path) -> dict[tuple, list[int]]:
    out: dict[tuple, list[int]] = {}
    for p in trial_params(experiment):
        out.setdefault((p["crop"], p["side"], p["depth"], p["width"]), []).append(p.get("seed", 0))
    return {k: sorted(v) for k, v in out.items()}


# ---------------------------------------------------------------- the rule, on hand-made numbers


def test_rule_confirms_the_front_first_then_the_band_around_the_bar():
    bar = 0.90
    first = {"front": seeds([0.905], 100), "near": seeds([0.897], 50), "far": seeds([0.70], 10)}
    decisions, sigma = plan_round(first, bar, 3)
    assert [d.key for d in decisions] == ["front"] and sigma is None  # no spread known yet: front only
    after = {**first, "front": seeds([0.905, 0.899, 0.902], 100)}  # sigma = 0.003
    decisions, sigma = plan_round(after, bar, 3)
    assert sigma == pytest.approx(0.003)
    # near: |0.897 - 0.9| = 0.003 <= 2 * 0.003 / 1, and nothing confirmed is cheaper: confirmed; far is not
    assert [(d.key, d.reason) for d in decisions] == [("near", "band")]
    done = {**after, "near": seeds([0.897, 0.9, 0.894], 50)}
    assert plan_round(done, bar, 3)[0] == []


def test_rule_skips_a_near_bar_config_a_confirmed_one_beats_even_at_its_best():
    bar = 0.90
    table = {
        "cheap": seeds([0.95, 0.951, 0.949], 10, 5.0),  # confirmed, far above the bar, cheaper and faster
        "costly": seeds([0.899], 100, 50.0),  # near the bar, but could not join the front
    }
    assert plan_round(table, bar, 3)[0] == []


def test_rule_leaves_configs_with_k_seeds_alone_and_fills_missing_seeds():
    assert plan_round({"a": seeds([0.91, 0.90, 0.92], 10)}, 0.9, 3)[0] == []
    assert missing_seeds({0}, 1, 3) == [1, 2]
    assert missing_seeds({0, 1, 2}, 1, 3) == [3, 4]  # seeds handed out (even unfinished) are never reused
    assert pooled_sigma([[1.0], [0.9, 0.92], [0.5, 0.5, 0.53]]) == pytest.approx(math.sqrt((0.0002 + 0.0006) / 3))


def test_confirm_zero_is_one_sentence_before_ray(capsys):
    ray.shutdown()  # a Ray that an earlier module's searches left running (local_ray)
    assert search.main([*SMOKE, "--confirm", "0", "--storage-path", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert "--confirm 0 is invalid" in err and "1 for no confirmation stage" in err
    assert not ray.is_initialized()


# ---------------------------------------------------------------- the analysis on a hand-built experiment


def test_bar_on_lcb_gives_the_documented_numbers_and_marks_unconfirmed(tmp_path):
    experiment = tmp_path / "hand"
    for seed, acc in enumerate([0.92, 0.90, 0.91]):  # A: three seeds, std 0.01
        write_trial(experiment, seed, side=8, width=8, seed=seed, val_acc=[0.5, acc])
    write_trial(experiment, 3, side=14, width=8, val_acc=[0.5, 0.905])  # B: one seed
    trials, _ = trial_table(load_experiment(experiment))
    table = aggregate(trials, "val_acc", "lcb").set_index("input_spec")
    sigma = 0.01  # pooled over the configs with two or more seeds: only A
    assert table.loc["resize8", "bar_value"] == pytest.approx(0.91 - LCB_Z * sigma / math.sqrt(3))  # 0.900502
    assert table.loc["resize14", "bar_value"] == pytest.approx(0.905 - LCB_Z * sigma)  # 0.88855
    analysis = compute(load_experiment(experiment), bar_on="lcb", min_accuracy=0.9)
    front = analysis.front.table.set_index("input_spec")
    assert front.loc["resize8", "feasible"] and not front.loc["resize14", "feasible"]
    # no run options: an experiment run without confirmation, marked against the default K = 3
    assert analysis.confirm_k == 3
    assert front.loc["resize8", "confirmed"] and not front.loc["resize14", "confirmed"]
    mean = compute(load_experiment(experiment), bar_on="mean", min_accuracy=0.9).front.table.set_index("input_spec")
    assert mean.loc["resize14", "feasible"]  # on the mean, the lucky single seed clears the bar


def test_bar_on_lcb_without_any_second_seed_is_refused(tmp_path, capsys):
    """In process (the ``python -m analysis.pareto`` entry point is tests/test_analysis_smoke.py's)."""
    from analysis import pareto

    experiment = tmp_path / "single"
    write_trial(experiment, 0, val_acc=[0.5, 0.95])
    assert pareto.main([str(experiment), "--bar-on", "lcb"]) == 2
    assert "--bar-on lcb needs the spread" in capsys.readouterr().err


# ---------------------------------------------------------------- real searches


@pytest.fixture(scope="module")
def storage(tmp_path_factory, local_ray) -> Path:
    return tmp_path_factory.mktemp("confirm")


@pytest.mark.slow
def test_near_bar_config_is_confirmed_and_far_below_is_not(storage, capsys):
    # smoke on 2,000 images: resize14 1x64 reaches ~0.87, the other two ~0.79; bar 0.86 sits next to the best
    assert search.main([*SMOKE, "--storage-path", str(storage), "--name", "near", "--min-accuracy", "0.86"]) == 0
    out = capsys.readouterr().out
    experiment = storage / "near"
    by_config = seeds_by_config(experiment)
    assert by_config[(None, 14, 1, 64)] == [0, 1, 2]
    assert by_config[(20, 8, 0, 1)] == [0] and by_config[(None, 8, 1, 32)] == [0]  # far below: not rerun
    assert "confirmation stage" in out and "over 3 seeds" in out
    log = json.loads((experiment / "confirmation.json").read_text())
    assert log["finished_at"] and log["rounds"][0]["configs"][0]["reason"] == "front"
    analysis = compute(load_experiment(experiment), min_accuracy=0.86)
    row = analysis.front.table.set_index("width").loc[64]
    trials, _ = trial_table(load_experiment(experiment))
    assert row["n_seeds"] == 3 and row["confirmed"]
    assert row["val_acc"] == pytest.approx(trials[trials["width"] == 64]["val_acc"].mean())


@pytest.mark.slow
def test_configs_with_k_seeds_already_are_not_rerun(storage):
    argv = [*SMOKE, "--storage-path", str(storage), "--name", "k", "--min-accuracy", "0.5", "--seeds", "3"]
    assert search.main([*argv, "--epochs", "1"]) == 0
    assert all(v == [0, 1, 2] for v in seeds_by_config(storage / "k").values())
    assert len(trial_params(storage / "k")) == 9


@pytest.mark.slow
def test_confirm_1_is_todays_search_and_the_analysis_marks_unconfirmed(storage, capsys):
    argv = [*SMOKE, "--storage-path", str(storage), "--name", "off", "--min-accuracy", "0.5", "--confirm", "1"]
    assert search.main(argv) == 0
    assert len(trial_params(storage / "off")) == 3 and not (storage / "off" / "confirmation.json").exists()
    assert "no confirmation stage" in capsys.readouterr().out
    from analysis import pareto

    assert pareto.main([str(storage / "off"), "--out", str(storage / "off-analysis")]) == 0
    out = capsys.readouterr().out
    assert "1 unconfirmed" in out and "unconfirmed)" in out and "run the search with --confirm 3" in out


@pytest.mark.slow
def test_adaptive_space_confirms_its_candidates(storage):
    argv = ["--space", "adaptive", "--num-samples", "3", "--epochs", "1", "--subset", "1000"]
    argv += ["--validation-size", "1000", "--min-accuracy", "0.15", "--storage-path", str(storage), "--name", "ad"]
    assert search.main(argv) == 0
    log = json.loads((storage / "ad" / "confirmation.json").read_text())
    assert log["finished_at"]
    counts = Counter(len(v) for v in seeds_by_config(storage / "ad").values())
    assert counts[3] == 3  # each proposal screened on its 3 seeds in a pack: confirmed when found
    assert not any(c["seeds"] for r in log["rounds"] for c in r["configs"])  # nothing left to confirm


#: A confirmation trial's "Finished" line on the driver's console: its label ends with seed 1 or 2.
CONFIRMATION_FINISHED = re.compile(r"^Finished \S.* s[12]\b", re.MULTILINE)


@pytest.mark.slow
def test_interrupted_confirmation_resumes_without_training_a_seed_twice(storage):
    name = "interrupted"
    argv = [*SMOKE, "--storage-path", str(storage), "--name", name, "--min-accuracy", "0.5"]
    # All three smoke configs clear 0.5, so the stage trains 6 seeds, one trial at a time: once the first has
    # finished, 5 remain, however fast the machine, and Ctrl-C lands inside the stage. The moment is read from
    # the driver's console, which prints a line as each trial ends: the trial directories reach the storage
    # path only with Ray's periodic uploads, so a poll of them can come after the stage has ended.
    argv += ["--subset", "10000", "--epochs", "2", "--max-concurrent", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    console = storage / f"{name}.out"
    with open(console, "w") as out:
        command = [sys.executable, "-m", "tune_mnist.search", *argv]
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    log = storage / name / "confirmation.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if CONFIRMATION_FINISHED.search(console.read_text(errors="replace")):
            break
        time.sleep(0.1)
    text = console.read_text(errors="replace")
    assert proc.poll() is None, "the search ended before Ctrl-C: " + text[-2000:]
    assert CONFIRMATION_FINISHED.search(text), "no confirmation trial finished within 300 s: " + text[-2000:]
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=180)
    assert not json.loads(log.read_text()).get("finished_at")  # interrupted inside the stage
    # the resume in this process, on the module's Ray: only the interrupted driver needs its own
    assert search.main(["--resume", "--name", name, "--storage-path", str(storage)]) == 0
    assert json.loads(log.read_text())["finished_at"]
    pairs = Counter(
        (p["crop"], p["side"], p["depth"], p["width"], p.get("seed", 0))
        for p in trial_params(storage / name)
        if (storage / name).exists()
    )
    assert max(pairs.values()) == 1, pairs  # no seed trained twice
    confirmed = [c for c in json.loads(log.read_text())["rounds"][0]["configs"]]
    by_config = seeds_by_config(storage / name)
    for c in confirmed:
        cfg = c["config"]
        assert by_config[(cfg["crop"], cfg["side"], cfg["depth"], cfg["width"])] == [0, 1, 2]


def test_the_summary_says_a_stage_not_started_yet_apart_from_no_stage(tmp_path):
    """A run stopped before its confirmation stage began is not a run without one."""
    from tune_mnist.confirm.summary import wall_time_line

    pending = wall_time_line(str(tmp_path), 0.0, 12.0, k=3)
    off = wall_time_line(str(tmp_path), 0.0, 12.0, k=1)
    assert pending == "Wall time: search 12.0 s (confirmation stage not started yet; --resume runs it)."
    assert off == "Wall time: search 12.0 s (no confirmation stage: --confirm 1)."
