"""``--pack cost`` on CPU trials (and ``auto`` in the adaptive spaces): the cost model measured on this
machine packs the configs whose steps
are overhead-bound and leaves the arithmetic-bound ones alone; ``--dry-run`` shows the plan and its
expected speed-up; a real list-space search on that plan gives every config its own trial and the
same numbers as one config per trial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import search_spaces
from tune_mnist import search
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig
from tune_mnist.model.counts import mlp_flops
from tune_mnist.strategies.cost_aware import budget_flops
from tune_mnist.training.packed.calibrate import measure_step_cost
from tune_mnist.training.packed.cost_model import KEEP_BELOW, StepCost, expected_time, plan_by_cost, seeds_are_cheap

#: Step costs of the shape this machine measures (a 2-core EPYC): the rule's tests use fixed ones.
COST = StepCost(solo_s=300e-6, pack_s=250e-6, member_s=30e-6, flops_per_s=50e9)
N_TRAIN = 55_000


def tiny(seed: int = 0, width: int = 10) -> TrialConfig:
    return TrialConfig(side=5, depth=1, width=width, seed=seed)


def test_overhead_bound_configs_pack_and_arithmetic_bound_ones_train_alone():
    configs = [tiny(s) for s in range(3)] + [TrialConfig(seed=s) for s in range(3)]  # + the 784-1024-1024 baseline
    plan = plan_by_cost(configs, 64, COST, N_TRAIN)
    assert sorted(map(sorted, plan)) == [[0, 1, 2], [3], [4], [5]]
    packed, alone = COST.packed(configs[:3], N_TRAIN), sum(COST.solo(c, N_TRAIN) for c in configs[:3])
    assert packed <= KEEP_BELOW * alone  # why the tiny ones share a pack
    baseline_two = COST.packed(configs[3:5], N_TRAIN)
    assert baseline_two > KEEP_BELOW * 2 * COST.solo(configs[3], N_TRAIN)  # and why the baselines do not
    assert expected_time(configs, plan, COST, N_TRAIN) < expected_time(configs, [[i] for i in range(6)], COST, N_TRAIN)


def test_a_pack_is_kept_only_if_it_pays_for_its_padding():
    """A tiny model padded to a wide one costs the wide one's arithmetic: plan_packs already keeps them
    apart, and the cost model keeps apart what padding would make slower."""
    wide = TrialConfig(side=5, depth=1, width=2048)
    plan = plan_by_cost([tiny(), wide], 64, COST, N_TRAIN)
    assert sorted(map(sorted, plan)) == [[0], [1]]


def test_the_machine_is_measured_with_positive_costs_and_a_wide_model_costs_more_than_a_tiny_one():
    cost = measure_step_cost(1)
    assert cost.solo_s > 0 and cost.flops_per_s > 0 and cost.pack_s >= 0 and cost.member_s >= 0
    assert cost.solo(TrialConfig(), N_TRAIN) > cost.solo(tiny(), N_TRAIN)


def test_dry_run_shows_the_plan_and_its_expected_speedup(capsys):
    assert search.main(["--space", "grid", "--dry-run", "--pack", "cost"]) == 0
    out = capsys.readouterr().out
    assert "--pack auto measured this machine's training step" in out and "x faster)" in out
    assert "configs alone" in out  # the grid's large configs stay one per trial


def test_a_dry_run_plans_for_the_images_the_space_trains_on(capsys):
    assert search.main(["--space", "smoke", "--dry-run", "--pack", "cost"]) == 0
    assert f"over {search_spaces.load('smoke').default_subset:,} images" in capsys.readouterr().out


def member_rows(experiment: Path) -> dict[tuple, list[float]]:
    """Each config's validation accuracies per epoch, from the solo-form trial directories."""
    out = {}
    for params_file in sorted(experiment.glob("*/params.json")):
        params = json.loads(params_file.read_text())
        if PACK_MEMBERS in params:
            continue
        rows = [json.loads(line) for line in (params_file.parent / "result.json").read_text().splitlines()]
        key = TrialConfig.from_dict(params).label()
        out[key] = [round(r["val_acc"], 6) for r in rows]
    return out


@pytest.mark.slow
def test_a_cost_planned_search_gives_every_config_its_trial_and_the_numbers_of_one_per_trial(tmp_path, local_ray):
    common = ["--space", "smoke", "--subset", "1000", "--validation-size", "500", "--epochs", "1"]
    common += ["--confirm", "1", "--storage-path", str(tmp_path), "--min-accuracy", "0.5"]
    assert search.main([*common, "--name", "auto", "--pack", "cost"]) == 0
    assert search.main([*common, "--name", "solo", "--pack", "1"]) == 0
    auto, solo = member_rows(tmp_path / "auto"), member_rows(tmp_path / "solo")
    assert set(auto) == set(solo)
    assert any(PACK_MEMBERS in json.loads(p.read_text()) for p in (tmp_path / "auto").glob("*/params.json"))
    for label, accuracies in solo.items():
        assert auto[label] == pytest.approx(accuracies, abs=2e-3), label  # float32 rounding: a flipped argmax or two


# ---------------------------------------------------------------- the adaptive spaces on the same costs


def test_a_proposal_is_screened_over_its_seeds_only_where_they_are_nearly_free():
    """Tiny configs: 3 seeds in a pack cost about one alone; the baseline: 3 seeds cost 3 trainings."""
    assert seeds_are_cheap(tiny(), 3, COST, N_TRAIN)
    assert not seeds_are_cheap(TrialConfig(), 3, COST, N_TRAIN)


def test_the_packing_searcher_gives_small_proposals_their_seeds_and_large_ones_one(mnist, one_thread):
    """No Ray: real Optuna proposals over the cheap space, planned with this machine's shape of costs;
    each config's rows are told back to its own Optuna trial, whatever its seed count."""
    from search_spaces import SpaceOptions, load
    from tune_mnist.data.splits import split_validation, subset
    from tune_mnist.strategies.pack_searcher import PackingSearcher
    from tune_mnist.training.packed.engine import train_packed

    splits = subset(split_validation(mnist, 500), 500)
    inner = load("cheap").searcher(SpaceOptions(epochs=1, search_seed=3, min_accuracy=0.5)).make_search_alg()
    inner.cheap_end = None  # the sampler's proposals, as once the cheap end is covered: small and large ones
    searcher = PackingSearcher(inner, size=8, seeds=3, bar=0.5, cost=COST, n_train=N_TRAIN)
    seen, packs = {}, [searcher.suggest("t0")[PACK_MEMBERS]]
    while searcher.ready:
        packs.append(searcher.suggest(f"t{len(packs)}")[PACK_MEMBERS])
    for n, pack in enumerate(packs):
        configs = [TrialConfig.from_dict(m) for m in pack]
        for c in configs:
            seen.setdefault(c.label(seed=False), []).append(c)
        (rows,) = list(train_packed(configs, splits, "cpu", latency=False))
        searcher.on_trial_complete(f"t{n}", {PACK_MEMBERS: rows})
    assert len(seen) == 8
    for members in seen.values():
        want = 3 if seeds_are_cheap(members[0], 3, COST, N_TRAIN) else 1
        assert [c.seed for c in members] == list(range(want))
    assert {len(m) for m in seen.values()} == {1, 3}  # this seed's proposals include both kinds
    assert all(t.state.name == "COMPLETE" for t in inner.study.trials)


def test_under_a_budget_the_cheap_search_never_proposes_what_it_cannot_afford():
    from search_spaces import SpaceOptions, load

    cap = budget_flops(COST, N_TRAIN, screening_s=170)
    assert budget_flops(COST, N_TRAIN, screening_s=590) > cap  # a longer budget affords larger models
    searcher = load("cheap").searcher(SpaceOptions(search_seed=0, min_accuracy=0.9)).make_search_alg()
    searcher.budget_flops = cap
    for i in range(20):
        c = TrialConfig.from_dict(searcher.suggest(f"t{i}"))
        assert mlp_flops(c.in_features, c.depth, c.width) <= cap
