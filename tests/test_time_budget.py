"""--time-budget: a real search ends within its budget plus a bounded grace, records the trials it
stopped, and resumes; list spaces run in a seeded random order under it; bad budgets are refused before Ray
starts; with the default confirmation stage the budget ends the screening and the confirmation trials
run after it, never stopped. Also the cost-aware searcher (the cheap space): Optuna is told each
config's FLOPs before the trial trains, and the bar as a constraint."""

from __future__ import annotations

import json
import time

import pytest
import ray

from analysis.load import STOPPED_BY_BUDGET, USABLE, load_experiment
from search_spaces import SpaceOptions, load
from tune_mnist import search
from tune_mnist.core.config import TrialConfig
from tune_mnist.core.layout import STOPPED_BY_BUDGET_FILE, STOPPED_EARLY_FILE
from tune_mnist.model.counts import mlp_flops
from tune_mnist.strategies.budget import anytime_order


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--time-budget", "0"], "--time-budget 0 is invalid: use a positive number of minutes"),
        (["--time-budget", "-2"], "--time-budget -2 is invalid"),
    ],
)
def test_bad_budgets_are_refused_before_ray_starts(argv, message, tmp_path, capsys):
    ray.shutdown()
    assert search.main(["--space", "random", *argv, "--storage-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not ray.is_initialized() and not any(tmp_path.iterdir())


def test_a_budget_runs_list_spaces_in_a_seeded_random_order():
    points = [TrialConfig(depth=1, width=w).to_dict() for w in range(1, 21)]
    ordered = anytime_order(points, seed=0)
    assert sorted(p["width"] for p in ordered) == list(range(1, 21)) and ordered != points
    assert anytime_order(points, seed=0) == ordered and anytime_order(points, seed=1) != ordered


def test_the_cost_aware_searcher_is_told_flops_before_training_and_the_bar_as_a_constraint():
    adaptive = load("cheap").searcher(SpaceOptions(epochs=1, search_seed=0, min_accuracy=0.9))
    searcher = adaptive.make_search_alg()
    config = searcher.suggest("t0")
    study = searcher.study
    (trial,) = study.trials
    c = TrialConfig.from_dict(config)
    assert trial.state.name == "RUNNING" and trial.user_attrs["flops"] == mlp_flops(c.in_features, c.depth, c.width)
    searcher.on_trial_complete("t0", {"val_acc": 0.95, "epoch": 1, "flops": trial.user_attrs["flops"]})
    done = study.trials[0]
    assert done.state.name == "COMPLETE" and done.values == [float(trial.user_attrs["flops"]), 0.95]
    assert done.constraints and next(iter(done.constraints.values())) == pytest.approx(0.9 - 0.95)
    cheap_end = 0
    while searcher.queued():  # the cheap end's shapes of no more FLOPs than that model come first
        assert searcher.trials == {}
        searcher.suggest(f"c{cheap_end}")
        told = study.trials[-1].user_attrs
        assert told.get("accurate_end") or told["flops"] <= searcher.incumbent  # then the accurate end, once
        searcher.on_trial_complete(f"c{cheap_end}", error=True)
        cheap_end += 1
    assert cheap_end > 0
    narrowed = 0
    for i in range(1, 7):  # two proposals in three cost no more than the model above the bar
        proposed = searcher.suggest(f"t{i}")
        p = TrialConfig.from_dict(proposed)
        told = study.trials[-1].user_attrs
        assert told["flops"] == mlp_flops(p.in_features, p.depth, p.width)
        if told["narrowed"]:
            narrowed += 1
            assert told["flops"] <= searcher.incumbent
    assert narrowed == 4
    assert searcher.rejected == 0  # the narrowed space fits in one draw: nothing is drawn again


@pytest.mark.slow
def test_a_budgeted_search_ends_in_time_and_resumes(tmp_path, capsys, local_ray):
    # No --num-samples: under a budget the random space draws 2,000 configs, so the budget, not the list, ends the
    # search (20 samples finished inside a 45 s budget on a quiet machine now and then, and the test failed)
    argv = ["--space", "random", "--subset", "2000", "--epochs", "10", "--scheduler", "fifo"]
    argv += ["--confirm", "1"]
    argv += ["--storage-path", str(tmp_path), "--name", "budget", "--time-budget", "0.25"]
    start = time.monotonic()
    assert search.main(argv) == 0  # stopped by the budget is not a failure
    assert time.monotonic() - start < 15 + 120 + 60  # budget + grace + a busy machine
    assert "the time budget ran out" in capsys.readouterr().out
    runs = json.loads((tmp_path / "budget" / "search_budget.json").read_text())["runs"]
    assert len(runs) == 1 and runs[0]["reached"] and runs[0]["ended"] - runs[0]["reached_at"] < 120
    experiment = load_experiment(tmp_path / "budget")
    assert STOPPED_BY_BUDGET in experiment.counts() or USABLE in experiment.counts()
    assert search.main(["--resume", "--name", "budget", "--storage-path", str(tmp_path), "--time-budget", "0.1"]) == 0
    runs = json.loads((tmp_path / "budget" / "search_budget.json").read_text())["runs"]
    assert len(runs) == 2 and runs[1]["budget_s"] == pytest.approx(6)
    assert len(load_experiment(tmp_path / "budget").usable()) >= len(experiment.usable())


@pytest.mark.slow
def test_a_budget_ends_screening_and_the_confirmation_stage_runs_after_it(tmp_path, capsys, local_ray):
    """Default --confirm 3 and the default (bar) scheduler on a list space: screening gets two thirds of
    the budget, the confirmation trials run after it, never stopped early or by the screening deadline,
    the whole command ends within the budget plus 30 s, and a plain --resume finishes a stage the
    budget's end cut short."""
    # The random space's 2,000 budget configs in a seeded random order: the small ones clear 0.5 in seconds, the
    # budget stops the rest (a list of 30 could all finish inside the budget on a quiet machine)
    argv = ["--space", "random", "--subset", "3000", "--epochs", "4", "--lr", "5e-3"]
    argv += ["--min-accuracy", "0.5", "--time-budget", "0.5", "--storage-path", str(tmp_path), "--name", "bc"]
    start = time.time()
    assert search.main(argv) == 0
    assert time.time() - start < 30 + 30  # screening and confirmation, the data load included
    out = capsys.readouterr().out
    assert "the time budget ran out" in out and "Wall time: search" in out
    experiment = tmp_path / "bc"
    (run,) = json.loads((experiment / "search_budget.json").read_text())["runs"]
    assert run["reached"] and run["ends"] == "screening" and run["screening_s"] == pytest.approx(20)
    if run["ended_confirmation"]:  # the budget's end cut the stage: a plain --resume finishes it
        assert search.main(["--resume", "--name", "bc", "--storage-path", str(tmp_path)]) == 0
    log = json.loads((experiment / "confirmation.json").read_text())
    assert log["rounds"] and log["finished_at"] and log["confirm_started"] >= run["reached_at"]
    loaded = load_experiment(experiment)
    confirming = [t for t in loaded.trials if t.params.get("confirm_round") is not None]
    assert confirming and all(t.status == USABLE for t in confirming)  # never stopped early or by the budget
    assert all(not (experiment / t.name / STOPPED_EARLY_FILE).exists() for t in confirming)
    for trial in loaded.trials:
        if trial.path and (experiment / trial.name / STOPPED_BY_BUDGET_FILE).exists():
            assert trial.params.get("confirm_round") is None
            # stopped by the budget, unless its last epoch's row arrived before the stop did (then its rows are final)
            finished = trial.status == USABLE and int(trial.history["epoch"].max()) == trial.params["epochs"]
            assert trial.status == STOPPED_BY_BUDGET or finished, (trial.name, trial.status, trial.reason)


def write_trial(experiment, name: str, config: dict, rows: list[dict]) -> None:
    trial = experiment / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps(config))
    (trial / "result.json").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_the_searcher_confirms_after_the_deadline_and_resume_keeps_or_reopens_screening(tmp_path):
    """No Ray: the ConfirmingSearcher under published deadlines; --resume rebuilds it from the trial
    directories and confirmation.json, as a fresh Tuner's searcher."""
    from tune_mnist.confirm.searcher import ConfirmingSearcher, Stage
    from tune_mnist.strategies.screening_deadline import CONFIRM_ROUND, Deadline, publish

    a, b, c = (TrialConfig(side=s, depth=0, width=1, epochs=2).to_dict() for s in (8, 10, 12))
    stage = Stage(k=3, bar=0.5, pack=1, packed=False, constants={}, experiment=str(tmp_path))
    searcher = ConfirmingSearcher(stage, screening=[a, b, c])
    row = {"val_acc": 0.8, "epoch": 2, "flops": 1000, "latency_p50_us": 5.0}
    try:
        now = time.time()
        publish(Deadline(now + 600, now))
        assert searcher.suggest("t1") == a and searcher.suggest("t2") == b
        searcher.on_trial_complete("t1", row)
        publish(deadline := Deadline(now - 1, now - 60))  # the budget has run out: c is never proposed
        assert searcher.suggest("t3") is None and deadline.reached_at is not None
        searcher.on_trial_complete("t2", {**row, "epoch": 1})  # stopped by the budget: no result for b
        point = searcher.suggest("t4")
        assert point[CONFIRM_ROUND] == 1 and point["side"] == 8 and point["seed"] == 1
        searcher.save(str(tmp_path / "state"))
        assert not (tmp_path / "state").exists()  # Ray's copy of the searcher is never what resumes it
        # What the experiment directory holds: a finished, b stopped at epoch 1, t4 (a's seed 1) never written.
        write_trial(tmp_path, "aaaaa_00000_a", a, [{**row, "epoch": 1}, row])
        write_trial(tmp_path, "aaaaa_00001_b", b, [{**row, "epoch": 1}])
        log = (tmp_path / "confirmation.json").read_text()
        for reopen, expected in ((False, "confirm"), (True, "screen")):
            (tmp_path / "confirmation.json").write_text(log)  # as the interrupted run left it
            resumed = ConfirmingSearcher(stage, screening=[b, c])  # the list space's unfinished configs
            resumed.resume()
            assert len(resumed.rounds) == 1 and resumed.seeds[next(iter(resumed.seeds))].n == 1
            publish(Deadline(time.time() + 600, time.time(), reopen=reopen))  # a resumed run's own budget
            nxt = resumed.suggest("t5")
            if expected == "screen":
                assert nxt == b  # stopped by the budget, so screened again
            else:  # a's seed 1 never finished, so it is handed out again, in round 2
                assert nxt[CONFIRM_ROUND] == 2 and nxt["side"] == 8 and nxt["seed"] == 1
    finally:
        publish(None)


def test_the_scheduler_stops_screening_trials_at_the_deadline_and_never_a_confirmation_trial(tmp_path):
    from types import SimpleNamespace

    import pyarrow.fs as pafs

    from tune_mnist.strategies.schedulers import BarAwareScheduler
    from tune_mnist.strategies.screening_deadline import CONFIRM_ROUND, Deadline, publish

    def trial(name: str, status: str, **config) -> SimpleNamespace:
        storage = SimpleNamespace(storage_filesystem=pafs.LocalFileSystem(), trial_fs_path=str(tmp_path / name))
        return SimpleNamespace(trial_id=name, status=status, config=config, storage=storage)

    trials = [trial("run", "RUNNING"), trial("wait", "PENDING"), trial("conf", "RUNNING", **{CONFIRM_ROUND: 1})]
    stopped = []
    controller = SimpleNamespace(get_trials=lambda: trials, stop_trial=stopped.append)
    scheduler = BarAwareScheduler(0.5)
    try:
        publish(Deadline(time.time() + 600, time.time()))
        scheduler.choose_trial_to_run(controller)
        assert not stopped  # before the deadline nothing is stopped
        publish(deadline := Deadline(time.time() - 1, time.time() - 60))
        scheduler.choose_trial_to_run(controller)
    finally:
        publish(None)
    assert [t.trial_id for t in stopped] == ["run", "wait"] and deadline.reached_at is not None
    assert (tmp_path / "run" / STOPPED_BY_BUDGET_FILE).is_file() and not (tmp_path / "wait").exists()


def test_a_new_searcher_over_the_journal_goes_on_with_the_study(tmp_path):
    """--resume builds the searchers afresh: the cost-aware searcher inside the confirming one reopens
    its study from the journal, with the incumbent it had, and goes on proposing."""
    from tune_mnist.confirm.searcher import ConfirmingSearcher, Stage

    options = SpaceOptions(search_seed=0, min_accuracy=0.9, study_journal=str(tmp_path / "j"), study_name="e")
    inner = load("cheap").searcher(options).make_search_alg()
    stage = Stage(k=3, bar=0.9, pack=1, packed=False, constants={}, experiment=str(tmp_path))
    searcher = ConfirmingSearcher(stage, inner=inner, num_samples=-1)
    searcher.set_search_properties(None, None, {})
    config = searcher.suggest("t0")
    searcher.on_trial_complete("t0", {"val_acc": 0.95, "epoch": config["epochs"]})
    again = load("cheap").searcher(options).make_search_alg()
    resumed = ConfirmingSearcher(stage, inner=again, num_samples=-1)
    resumed.set_search_properties(None, None, {})
    assert again.incumbent == inner.incumbent < float("inf")
    assert [t.state.name for t in again.study.trials] == ["COMPLETE"]
    assert resumed.suggest("t1") is not None  # the reopened study goes on proposing


def test_under_a_budget_rays_list_of_trials_never_started_is_not_printed(tmp_path):
    import logging

    from tune_mnist.strategies.budget import RAY_RESULTS_LOGGER, SearchBudget

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(RAY_RESULTS_LOGGER)
    logger.addHandler(handler)
    try:
        with SearchBudget(5.0, str(tmp_path), interrupt=False):
            logger.warning("Failed to fetch metrics for 2 trial(s):\n- a\n- b")
            logger.warning("something else")
        logger.warning("Failed to fetch metrics for 1 trial(s):\n- c")  # without a budget: shown
    finally:
        logger.removeHandler(handler)
    assert seen == ["something else", "Failed to fetch metrics for 1 trial(s):\n- c"]
    assert json.loads((tmp_path / "search_budget.json").read_text())["runs"][0]["budget_s"] == 300
