"""The cheap space starts from its cheapest shapes, in generations of packs that pad little, and hands
over to the sampler once nothing cheaper than the cheapest model above the bar is left. No Ray: the
searchers are driven as Tune would drive them."""

from __future__ import annotations

import dataclasses
import math
import time

import optuna
import pytest

from search_spaces import SpaceOptions, load
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig
from tune_mnist.model.counts import mlp_flops
from tune_mnist.strategies.cheap_end import (
    ACCURATE_RECIPE,
    ACCURATE_WIDTHS,
    MOST_EPOCHS,
    SCREENING,
    band,
    first_band_top,
    shape_flops,
)
from tune_mnist.strategies.cost_aware import BAR
from tune_mnist.strategies.pack_searcher import GENERATION_MEMBERS, PackingSearcher
from tune_mnist.strategies.screening_deadline import Deadline, publish
from tune_mnist.training.packed.cost_model import TRIAL_S, StepCost

#: Step costs of a 2-core CPU, as tests/test_pack_auto.py's: tiny models' steps are overhead.
CPU_COST = StepCost(solo_s=300e-6, pack_s=250e-6, member_s=30e-6, flops_per_s=50e9)


def flops_of(config: dict) -> int:
    c = TrialConfig.from_dict(config)
    return mlp_flops(c.in_features, c.depth, c.width)


def test_the_bands_hold_every_shape_once_cheapest_groups_first_each_group_one_input_and_depth():
    first, second = band(0, 640), band(640, 1280)
    shapes = [s for g in first + second for s in g]
    assert len({tuple(sorted(s.items())) for s in shapes}) == len(shapes)
    assert all(0 < shape_flops(s) <= 640 for g in first for s in g)
    assert all(640 < shape_flops(s) <= 1280 for g in second for s in g)
    for group in first:
        assert len({(s["crop"], s["side"], s["depth"]) for s in group}) == 1  # they pad in width only
        assert [s.get("width", 1) for s in group] == sorted(s.get("width", 1) for s in group)
    assert [shape_flops(g[0]) for g in first] == sorted(shape_flops(g[0]) for g in first)
    assert {"crop": 20, "side": 5, "scaling": "standard", "depth": 2, "width": 10} in [s for g in second for s in g]


def test_the_first_proposals_are_the_cheapest_shapes_with_the_screening_recipe_and_what_the_user_fixed():
    searcher = load("cheap").searcher(SpaceOptions(epochs=3, search_seed=0, min_accuracy=0.9)).make_search_alg()
    configs = [searcher.suggest(f"t{i}") for i in range(30)]
    flops = [flops_of(c) for c in configs]
    assert max(flops) <= 2 * first_band_top() and flops[0] == min(flops)
    assert all(c["epochs"] == 3 for c in configs)  # --epochs stays as given
    assert all(c["lr"] == SCREENING["lr"] and c["batch_size"] == SCREENING["batch_size"] for c in configs)
    assert all(t.user_attrs["cheap_end"] and t.user_attrs["flops"] == f for t, f in zip(searcher.study.trials, flops))
    assert len({tuple(sorted(c.items())) for c in configs}) == len(configs)


def test_generations_are_packs_of_close_shapes_and_the_sampler_takes_over_below_the_incumbent():
    inner = load("cheap").searcher(SpaceOptions(search_seed=0, min_accuracy=0.9)).make_search_alg()
    searcher = PackingSearcher(inner, size=8, seeds=3, bar=0.9, cost=CPU_COST, n_train=55_000)
    pack = searcher.suggest("t0")[PACK_MEMBERS]
    configs = [TrialConfig.from_dict(m) for m in pack]
    assert 8 * 3 < len(pack) <= GENERATION_MEMBERS  # more than a sampled pack: tiny shapes are cheap to carry
    assert {(c.depth, c.batch_size, c.epochs) for c in configs} == {(configs[0].depth, 64, MOST_EPOCHS)}
    assert max(c.in_features for c in configs) <= 2 * min(c.in_features for c in configs)
    inner.incumbent = 200.0  # a model of 200 FLOPs is above the bar: nothing costlier is screened from here
    while searcher.ready:
        searcher.suggest(f"r{len(searcher.packs)}")
    proposals = []
    for i in range(12):
        proposals += searcher.suggest(f"n{i}")[PACK_MEMBERS]
    assert inner.cheap_end is None  # covered: the later proposals are the sampler's
    cheap_end = [t for t in inner.study.trials[len(pack) // 3 :] if t.user_attrs.get("cheap_end")]
    assert cheap_end and all(t.user_attrs["flops"] <= 200 for t in cheap_end)
    assert any(not t.user_attrs.get("cheap_end") for t in inner.study.trials)


def test_once_the_cheap_end_is_covered_the_accurate_end_comes_once_with_adams_default_step_then_the_sampler():
    def accurate_end(options: SpaceOptions, budget: float = math.inf) -> list[dict]:
        searcher = load("cheap").searcher(options).make_search_alg()
        searcher.budget_flops = budget
        searcher.suggest("t0")
        searcher.on_trial_complete("t0", {"val_acc": 0.95, "epoch": 1})  # the cheapest shape is above the bar
        proposals = []
        while searcher.queued():
            proposals.append(searcher.suggest(f"q{len(proposals)}"))
        proposals += [searcher.suggest(f"s{i}") for i in range(3)]
        kinds = ["accurate", "cheap", "sampled"]
        marks = [next((k for k in kinds if t.user_attrs.get(f"{k}_end")), "sampled") for t in searcher.study.trials[1:]]
        order = ["cheap", "accurate", "sampled"]  # the cheap end, the accurate end once, then the sampler
        assert marks == sorted(marks, key=order.index) and marks[-3:] == ["sampled"] * 3
        return [c for c, mark in zip(proposals, marks) if mark == "accurate"]

    accurate = accurate_end(SpaceOptions(search_seed=0, min_accuracy=0.9))
    assert [c["width"] for c in accurate] == list(ACCURATE_WIDTHS)
    recipe = (ACCURATE_RECIPE["lr"], ACCURATE_RECIPE["batch_size"], MOST_EPOCHS)
    assert all((c["depth"], c["side"], c["lr"], c["batch_size"], c["epochs"]) == (1, 12, *recipe) for c in accurate)
    accurate = accurate_end(SpaceOptions(search_seed=0, min_accuracy=0.9, lr=3e-3), budget=50_000)
    assert 0 < len(accurate) < len(ACCURATE_WIDTHS)  # what the budget can train
    assert all(c["lr"] == 3e-3 and flops_of(c) <= 50_000 for c in accurate)  # --lr stays as given


@pytest.mark.parametrize("name, kind", [("tpe", "TPESampler"), ("gp", "GPSampler"), ("nsga2", "NSGAIISampler")])
def test_each_sampler_proposes_after_the_cheap_end_and_learns_the_bar(name, kind):
    """--sampler's three choices drive the cheap search past its queued shapes: each proposes within the
    space, learns each trial's FLOPs and accuracy with the bar as a constraint, and keeps proposing."""
    searcher = load("cheap").searcher(SpaceOptions(search_seed=0, min_accuracy=0.9, sampler=name)).make_search_alg()
    assert type(searcher.sampler).__name__ == kind
    searcher.cheap_end = None  # straight to the sampler's proposals
    for i in range(14):  # more than GP's 10 random start-up trials
        config = searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"val_acc": 0.8 + 0.01 * i, "epoch": config["epochs"]})
    done = searcher.study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
    assert [t.constraints[BAR] for t in done] == [0.9 - (0.8 + 0.01 * i) for i in range(14)]  # bar - val_acc
    assert all(t.values[0] == t.user_attrs["flops"] for t in done)
    assert searcher.suggest("t14")["epochs"] >= 1


def test_a_resumed_search_skips_the_shapes_its_journal_holds(tmp_path):
    options = SpaceOptions(epochs=1, min_accuracy=0.9, study_journal=str(tmp_path / "j"), study_name="e")
    first = load("cheap").searcher(options).make_search_alg()
    before = [first.suggest(f"t{i}") for i in range(5)]
    resumed = load("cheap").searcher(options).make_search_alg()
    after = [resumed.suggest(f"u{i}") for i in range(5)]
    assert not [c for c in after if c in before]


def test_under_a_budget_the_last_generation_is_sized_to_the_time_left():
    def first_pack(deadline: Deadline | None) -> list[TrialConfig]:
        inner = load("cheap").searcher(SpaceOptions(search_seed=0, min_accuracy=0.9)).make_search_alg()
        searcher = PackingSearcher(inner, size=8, seeds=3, bar=0.9, cost=CPU_COST, n_train=55_000)
        publish(deadline)
        try:
            return [TrialConfig.from_dict(m) for m in searcher.suggest("t0")[PACK_MEMBERS]]
        finally:
            publish(None)

    whole = first_pack(None)
    assert CPU_COST.packed(whole, 55_000) > 10  # a whole generation takes longer than the 10 s left below
    now = time.time()
    last = first_pack(Deadline(at=now + 10, started=now - 60))
    # fitting() sizes the pack by copies of its first, narrowest config; the group's wider members add a
    # little padded arithmetic to the pack's steps (0.3% here), hence the 1% allowance
    assert 3 <= len(last) < len(whole) and CPU_COST.packed(last, 55_000) <= 10 * 1.01


def test_once_not_one_config_can_end_before_the_deadline_no_pack_starts():
    inner = load("cheap").searcher(SpaceOptions(search_seed=0, min_accuracy=0.9)).make_search_alg()
    searcher = PackingSearcher(inner, size=8, seeds=3, bar=0.9, cost=CPU_COST, n_train=55_000)
    now = time.time()
    publish(Deadline(at=now + 600, started=now - 60))
    try:
        assert PACK_MEMBERS in searcher.suggest("t0")
        while searcher.ready:  # the generation's packs drawn with it still go out
            assert PACK_MEMBERS in searcher.suggest(f"r{len(searcher.packs)}")
        last = TrialConfig.from_dict(searcher.packs["t0"][-1][1])
        one = CPU_COST.packed([dataclasses.replace(last, seed=s) for s in range(3)], 55_000)
        deadline = Deadline(at=time.time() + one / 2, started=now - 60)  # half of what one such config takes
        publish(deadline)
        asked = len(inner.study.trials)
        assert searcher.suggest("late") == PackingSearcher.FINISHED
        assert len(inner.study.trials) == asked  # nothing asked of the study
        assert deadline.reached_at is not None  # the budget ended screening, not the space
    finally:
        publish(None)


def test_the_last_packs_are_sized_by_the_pace_of_the_packs_this_run_finished():
    """The step costs are calibrated on bare steps; a pack epoch also evaluates, checkpoints and reports.
    A finished pack whose last epoch took 3x the model's seconds makes the searcher plan with 3x."""
    inner = load("cheap").searcher(SpaceOptions(search_seed=0, min_accuracy=0.9)).make_search_alg()
    searcher = PackingSearcher(inner, size=8, seeds=3, bar=0.9, cost=CPU_COST, n_train=55_000)
    pack = searcher.suggest("t0")[PACK_MEMBERS]
    one_epoch = [dataclasses.replace(TrialConfig.from_dict(m), epochs=1) for m in pack]
    bare = CPU_COST.packed(one_epoch, 55_000) - TRIAL_S
    rows = [{**m, "epoch": MOST_EPOCHS, "val_acc": 0.5} for m in pack]
    searcher.on_trial_complete("t0", {"epoch": MOST_EPOCHS, "time_this_iter_s": 3 * bare, PACK_MEMBERS: rows})
    assert searcher.pace == pytest.approx(3)
    first = TrialConfig.from_dict(pack[0])
    seeds = [dataclasses.replace(first, seed=s) for s in range(3)]
    now = time.time()
    publish(Deadline(at=now + 30, started=now - 60))
    try:
        k = searcher.fitting(first, 20)
    finally:
        publish(None)
    assert 1 < k < 20 and 3 * CPU_COST.packed(seeds * k, 55_000) <= 30 < 3 * CPU_COST.packed(seeds * (k + 1), 55_000)
