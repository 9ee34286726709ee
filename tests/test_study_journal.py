"""The adaptive spaces' Optuna study in the experiment's ``optuna.journal``, on real Optuna, Ray Tune,
PyTorch and MNIST subsets: the study's trials are the experiment's configs with their seed means, a
journal from an interrupted search opens and holds every finished config, ``--resume`` goes on with the
same study and no trial is told twice, also after a hard kill between two saved states."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import ray.cloudpickle as cloudpickle
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from search_spaces import SpaceOptions, load
from tune_mnist import search
from tune_mnist.core.config import PACK_MEMBERS
from tune_mnist.core.layout import STOPPED_EARLY_FILE
from tune_mnist.core.objectives import SEARCH_OBJECTIVES
from tune_mnist.strategies.pack_searcher import PackingSearcher

REPO = Path(__file__).resolve().parents[1]
#: What a study trial's params are: the sampled ones (epochs is fixed by --epochs in these searches).
SAMPLED = ("crop", "side", "scaling", "depth", "width", "lr", "batch_size")


def study(experiment: Path, journal: Path | None = None) -> optuna.Study:
    """The study as a user loads it: the experiment's journal, the study named after the experiment."""
    storage = JournalStorage(JournalFileBackend(str(journal or experiment / "optuna.journal")))
    return optuna.load_study(study_name=experiment.name, storage=storage)


def last_rows(experiment: Path) -> dict[str, dict[int, dict]]:
    """Each config (its sampled params as a key) -> seed -> the last row of that seed if it has a result
    for the searcher: the last epoch, or the epoch at which the scheduler stopped it (``stopped_early.json``)."""
    out: dict[str, dict[int, dict]] = {}
    for trial in experiment.iterdir():
        if not (trial / "params.json").is_file() or not (trial / "result.json").is_file():
            continue
        params = json.loads((trial / "params.json").read_text())
        lines = (trial / "result.json").read_text().splitlines()
        if PACK_MEMBERS in params or not lines:
            continue  # a pack's own trial directory: its members have their own
        last = json.loads(lines[-1])  # json, not pandas: the floats exactly as written
        if last["epoch"] == params["epochs"] or (trial / STOPPED_EARLY_FILE).exists():
            out.setdefault(key(params), {})[params["seed"]] = last
    return out


def screened_seeds(experiment: Path) -> dict[str, int]:
    """Each config -> how many seeds screened it: the members of the pack that trained its seed 0 (all K
    where its seeds are nearly free, else 1; the confirmation stage adds the others later, and those are
    not what the searcher was told)."""
    out: dict[str, int] = {}
    for params_file in experiment.glob("*/params.json"):
        members = json.loads(params_file.read_text()).get(PACK_MEMBERS) or []
        seeds: dict[str, set[int]] = {}
        for member in members:
            seeds.setdefault(key(member), set()).add(member["seed"])
        out.update({k: len(s) for k, s in seeds.items() if 0 in s})
    return out


def key(params: dict) -> str:
    """The sampled params (a linear model's width is fixed, not sampled)."""
    sampled = [k for k in SAMPLED if not (k == "width" and params.get("depth") == 0)]
    return json.dumps({k: params[k] for k in sampled if k in params}, sort_keys=True)


def complete(st: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in st.trials if t.state == TrialState.COMPLETE]


def seed_mean(rows: list[dict], name: str, bar: float) -> float:
    """A config's value as the searcher is told it: the seeds' mean (the shortfall of the mean accuracy)."""
    if name == "accuracy_shortfall":
        return max(0.0, bar - seed_mean(rows, "val_acc", bar))
    return sum(float(r[name]) for r in rows) / len(rows)


def told_rows(experiment: Path) -> dict[str, dict[int, dict]]:
    """Where Ray ran a pack's last epoch again after a hard kill (its own result.json repeats the epoch),
    each member's row as the searcher was told it: the pack's first row of that epoch. A driver killed
    between a pack's end and Ray's next snapshot leaves Ray's state naming the pack's previous
    checkpoint, so the resumed run trains that epoch again; its rows, which the members' directories
    then hold, can differ from the first in a few predictions (measured: val_acc 0.890, 0.877, 0.890,
    then 0.889, 0.876, 0.887), and the study, never told twice, keeps the first."""
    out: dict[str, dict[int, dict]] = {}
    for params_file in experiment.glob("*/params.json"):
        members = json.loads(params_file.read_text()).get(PACK_MEMBERS)
        results = params_file.parent / "result.json"
        if not members or not results.is_file():
            continue
        rows = [json.loads(line) for line in results.read_text().splitlines()]
        epochs = [row["epoch"] for row in rows]
        if len(epochs) == len(set(epochs)):
            continue  # not run again
        first = next(row for row in rows if row["epoch"] == max(epochs))
        if len(first[PACK_MEMBERS]) == len(members):
            for member, row in zip(members, first[PACK_MEMBERS]):
                out.setdefault(key(member), {})[member["seed"]] = row
    return out


def assert_study_is_the_experiment(
    experiment: Path, seeds: int, values: tuple[str, ...], bar: float, stopped: bool = False
) -> None:
    """Every config whose screening seeds (``seeds``, or one where those are not nearly free) all have a
    result is one COMPLETE study trial with those seeds' means of ``values`` as its values, and the study
    has no other COMPLETE trial. ``stopped`` (a driver was interrupted or killed, and maybe resumed): every
    COMPLETE trial is such a config, but not every such config is told. A pack's members write their rows
    as the pack ends, a moment before the driver tells the study, so a stop in that moment leaves configs
    finished on disk and untold, however fast the machine; and a config still training when its driver
    stopped may finish after the resume, which no searcher of the new run proposed. The study holds
    those as FAIL (a resume tells the stopped driver's RUNNING trials FAIL)."""
    screened, told = screened_seeds(experiment), told_rows(experiment)
    configs = {}
    for k, by_seed in last_rows(experiment).items():
        by_seed = {**by_seed, **told.get(k, {})}
        n = screened.get(k, seeds)
        if n in (1, seeds) and all(s in by_seed for s in range(n)):
            configs[k] = [by_seed[s] for s in range(n)]
    trials = complete(study(experiment))
    told = sorted(key(t.params) for t in trials)
    assert configs and len(told) == len(set(told))  # each config once
    assert set(told) <= set(configs) if stopped else told == sorted(configs)
    for trial in trials:
        expected = [seed_mean(configs[key(trial.params)], v, bar) for v in values]
        assert trial.values == pytest.approx(expected, rel=1e-12, abs=1e-15), trial.params


# ---------------------------------------------------------------- resume, no trial told twice (no Ray)


def wait_for_two_finished(proc: subprocess.Popen, experiment: Path) -> None:
    """Until the running search's journal holds two finished configs (or it ends, or 300 s pass)."""
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            if (experiment / "optuna.journal").exists() and len(complete(study(experiment))) >= 2:
                return
        except KeyError:  # the journal file exists, the study's creation is not in it yet
            pass
        time.sleep(0.2)


def resume(name: str, storage: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``--resume`` of experiment ``name``, which must succeed; its console. In this process, on the module's
    Ray (local_ray): only the driver that is stopped needs a process of its own."""
    capsys.readouterr()
    assert search.main(["--resume", "--name", name, "--storage-path", str(storage)]) == 0
    return capsys.readouterr().out


def rows_of(accuracy: float, seeds: int) -> list[dict]:
    return [
        {"epoch": 1, "val_acc": accuracy + s / 100, "test_acc": accuracy, "flops": 1000.0, "latency_p50_us": 9.0 + s}
        for s in range(seeds)
    ]


@pytest.mark.parametrize("space, packed", [("adaptive", False), ("cheap", True)])
def test_a_searcher_over_an_existing_journal_goes_on_from_it_and_never_tells_a_trial_twice(space, packed, tmp_path):
    """--resume builds a new searcher over the experiment's journal, where the driver that stopped left
    its last proposals RUNNING; Ray's snapshot of a searcher, unpickled, is such a new searcher too."""
    journal = tmp_path / "optuna.journal"
    options = SpaceOptions(epochs=1, min_accuracy=0.5, study_journal=str(journal), study_name="e")
    seeds = 2 if packed else 1

    def new_searcher() -> Any:
        searcher = load(space).searcher(options).make_search_alg()
        return PackingSearcher(searcher, size=1, seeds=seeds, bar=0.5) if packed else searcher

    def told(searcher: Any, trial_id: str, accuracy: float) -> None:
        rows = rows_of(accuracy, seeds)
        if packed:
            searcher.on_trial_complete(trial_id, {PACK_MEMBERS: rows})
        else:
            searcher.on_trial_complete(trial_id, {**rows[0], "accuracy_shortfall": max(0.0, 0.5 - accuracy)})

    def states() -> list[TrialState]:
        return [t.state for t in study(tmp_path / "e", journal).trials]

    first = new_searcher()
    proposals = [first.suggest("t0"), first.suggest("t1")]
    told(first, "t0", 0.7)
    told(first, "t0", 0.9)  # reported again (a trial Ray ran again): the study keeps the first result
    told(first, "t9", 0.9)  # a trial this searcher never proposed
    values = study(tmp_path / "e", journal).trials[0].values
    assert states() == [TrialState.COMPLETE, TrialState.RUNNING]  # then the driver stops, t1 unfinished

    resumed = new_searcher()
    assert states() == [TrialState.COMPLETE, TrialState.FAIL]  # no trial of this run will report t1
    told(resumed, "t1", 0.8)  # the earlier driver's trial, finished after all: not this searcher's
    assert resumed.suggest("t2") not in proposals  # reseeded: not the first run's first config again
    trials = study(tmp_path / "e", journal).trials
    assert states() == [TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING] and trials[0].values == values
    inner = resumed.inner if packed else resumed
    if space == "cheap":  # the cheapest model above the bar, found in the journal: the next proposals narrow
        assert inner.incumbent == values[0]
    assert inner.study.metric_names == list(inner.metric)  # what the dashboard names the objectives

    cloudpickle.loads(cloudpickle.dumps(resumed))  # Ray's snapshot, restored: its own proposal is lost too
    assert states() == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]


# ---------------------------------------------------------------- real searches


@pytest.mark.slow
def test_the_study_is_the_experiments_configs_with_their_seed_means(packed_adaptive_search):
    """A packed adaptive search (4 proposals, each over 2 seeds; conftest's shared one)."""
    experiment = packed_adaptive_search
    assert_study_is_the_experiment(experiment, seeds=2, values=SEARCH_OBJECTIVES, bar=0.5)
    assert len(complete(study(experiment))) == 4
    assert study(experiment).directions == [optuna.study.StudyDirection.MINIMIZE] * len(SEARCH_OBJECTIVES)


@pytest.mark.slow
def test_an_interrupted_searchs_journal_holds_every_finished_config_and_resume_continues_it(
    tmp_path, local_ray, capsys
):
    name = "cut"
    experiment = tmp_path / name
    argv = ["--space", "cheap", "--epochs", "3", "--subset", "4000", "--validation-size", "1000", "--pack", "2"]
    # Five samples in packs of two: the third pack (the fifth config) is still to train when the first two
    # configs have finished, and a resume trains three configs, not four.
    argv += ["--min-accuracy", "0.5", "--num-samples", "5", "--storage-path", str(tmp_path), "--name", name]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tune_mnist.search", *argv], cwd=REPO, env=env)
    journal = experiment / "optuna.journal"
    wait_for_two_finished(proc, experiment)
    assert proc.poll() is None, "the search ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=180)
    interrupted = study(experiment)
    assert_study_is_the_experiment(experiment, seeds=3, values=("flops", "val_acc"), bar=0.5, stopped=True)
    assert 2 <= len(complete(interrupted)) < 5  # the two told before the stop are kept; interrupted midway
    assert f"optuna-dashboard {journal}" in resume(name, tmp_path, capsys)
    resumed = study(experiment)
    assert_study_is_the_experiment(experiment, seeds=3, values=("flops", "val_acc"), bar=0.5, stopped=True)
    before = {t.number: t.values for t in complete(interrupted)}
    assert {t.number: t.values for t in complete(resumed) if t.number in before} == before  # the same study
    assert not [t for t in resumed.trials if t.state == TrialState.RUNNING]


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> Path:
    """One driver killed with SIGKILL (no last snapshot) once two configs have finished."""
    storage = tmp_path_factory.mktemp("killed")
    experiment = storage / "killed"
    argv = ["--space", "cheap", "--epochs", "3", "--subset", "4000", "--validation-size", "1000", "--pack", "2"]
    argv += ["--min-accuracy", "0.5", "--num-samples", "5", "--storage-path", str(storage), "--name", "killed"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "tune_mnist.search", *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_two_finished(driver, experiment)
        assert driver.poll() is None, "the search ended before it could be killed"
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone, as kill -9 would
        driver.wait(timeout=30)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # its local Ray
        except ProcessLookupError:
            pass
    return experiment


@pytest.mark.slow
def test_after_a_hard_kill_the_resumed_study_is_still_the_experiments(killed, tmp_path, local_ray, capsys):
    """SIGKILL (no last snapshot), then --resume with Ray's saved state as the kill left it: a new searcher
    goes on over the same journal. (--resume never reads Ray's state: test_experiment_guard cuts it short
    and empties it, and the resume neither reads nor changes it.)"""
    name = killed.name
    experiment = tmp_path / name
    shutil.copytree(killed, experiment)
    out = resume(name, tmp_path, capsys)
    assert "the adaptive searcher goes on from its Optuna study (optuna.journal" in out
    assert_study_is_the_experiment(experiment, seeds=3, values=("flops", "val_acc"), bar=0.5, stopped=True)
    assert not [t for t in study(experiment).trials if t.state == TrialState.RUNNING]
