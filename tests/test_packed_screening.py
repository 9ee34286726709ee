"""Packed screening in the adaptive spaces, on real Ray Tune, Optuna, PyTorch and MNIST subsets (CPU):
proposals trained as packs over K seeds, each member its own trial directory with solo-form rows; a
config that cannot reach the bar stops inside its pack while the others train on, exactly as they
would alone; the searcher is told each config's own seed mean; a --pack that cannot apply is refused
before Ray. (A budget that bounds a packed search, confirmation included, and a --resume that extends
it: test_console, whose budgeted search is this one as a user watches it.)"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd
import pytest
import ray
import torch

from search_spaces import SpaceOptions, load
from tune_mnist import search
from tune_mnist.core.config import PACK_MEMBERS, TrialConfig
from tune_mnist.core.layout import STOPPED_EARLY_FILE
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.model.saved import load_model
from tune_mnist.strategies.early_stopping import MemberStopping
from tune_mnist.strategies.pack_searcher import PackingSearcher
from tune_mnist.training.loop import new_state, train
from tune_mnist.training.packed.engine import train_packed

CPU = torch.device("cpu")


def rows(trial: Path) -> pd.DataFrame:
    return pd.read_json(trial / "result.json", lines=True)


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if (p / "params.json").is_file())


def members(experiment: Path) -> list[Path]:
    return [p for p in trial_dirs(experiment) if PACK_MEMBERS not in json.loads((p / "params.json").read_text())]


# ---------------------------------------------------------------- refused before Ray starts


def test_a_pack_the_search_cannot_fill_is_refused_before_ray_starts(tmp_path, capsys):
    ray.shutdown()
    argv = ["--space", "cheap", "--num-samples", "2", "--pack", "4", "--storage-path", str(tmp_path)]
    assert search.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --pack 4 cannot apply to a search of --num-samples 2") and err.count("\n") == 1
    assert not ray.is_initialized() and not any(tmp_path.iterdir())


# ---------------------------------------------------------------- the searcher, told each config's own mean


def test_the_searcher_is_told_each_configs_own_seed_mean(mnist, one_thread):
    """No Ray: a pack proposed by the searcher, trained for real by the packed engine, told back."""
    splits = subset(split_validation(mnist, 500), 1000)
    inner = load("cheap").searcher(SpaceOptions(epochs=1, search_seed=0, min_accuracy=0.5)).make_search_alg()
    searcher = PackingSearcher(inner, size=3, seeds=2, bar=0.5)
    packs = [searcher.suggest("t0")[PACK_MEMBERS]]
    while searcher.ready:  # the 3 proposals, cut into packs where padding one to another costs too much
        packs.append(searcher.suggest(f"t{len(packs)}")[PACK_MEMBERS])
    told = []
    for n, pack in enumerate(packs):
        configs = [TrialConfig.from_dict(m) for m in pack]
        assert len({(c.depth, c.batch_size, c.epochs) for c in configs}) == 1  # one shape per pack
        assert [c.seed for c in configs] == [0, 1] * (len(configs) // 2)  # each config over 2 seeds
        numbers = [inner.trials[entry[0]].number for entry in searcher.packs[f"t{n}"]]
        (rows,) = list(train_packed(configs, splits, CPU, latency=False))
        searcher.on_trial_complete(f"t{n}", {PACK_MEMBERS: rows})
        told += [(number, rows[2 * j : 2 * j + 2]) for j, number in enumerate(numbers)]
    assert len(told) == 3
    trials = inner.study.trials
    for number, mine in told:  # each config is told the mean of its own two seeds, nobody else's
        assert trials[number].state.name == "COMPLETE"
        assert trials[number].values == [mine[0]["flops"], pytest.approx((mine[0]["val_acc"] + mine[1]["val_acc"]) / 2)]
    assert len({trials[number].values[1] for number, _ in told}) == 3


# ---------------------------------------------------------------- a member stopped inside its pack


@pytest.mark.slow
def test_a_member_stopped_inside_a_pack_stops_while_the_others_train_on_exactly(tmp_path, mnist, one_thread, local_ray):
    """A hopeless config (a 1-unit model at a tiny learning rate) stops after its first epoch; the two
    others train on to their last in the rebuilt pack. Each matches the same config trained alone,
    to float32 rounding, up to the epoch it stopped at.

    The learning rates keep float32 rounding from growing: at lr 3e-3 the 14x14 1x64 model's val_loss
    moves by 1.4e-4 in epoch 4 between two runs of the single path itself, at one thread and at two
    (a rounding order alone), and the packed member followed one of them, so whether it matched the
    solo run here depended on the machine's kernels, not on the pack."""
    from ray import tune

    from tune_mnist.trainables.pack_trainable import run_pack
    from tune_mnist.trainables.unpack import UnpackMembers

    splits = subset(split_validation(mnist, 1000), 3000)
    bar = 0.8
    configs = [
        TrialConfig(side=8, depth=1, width=1, lr=1e-4, batch_size=32, epochs=4, seed=0),
        TrialConfig(side=14, depth=1, width=64, lr=1e-3, batch_size=32, epochs=4, seed=0),
        TrialConfig(side=14, depth=1, width=32, lr=2e-3, batch_size=32, epochs=4, seed=1),
    ]
    trainable = tune.with_parameters(functools.partial(run_pack, stopping_rule=MemberStopping), data=splits)
    tuner = tune.Tuner(
        trainable,
        param_space={PACK_MEMBERS: [c.to_dict() for c in configs], "min_accuracy": bar},
        run_config=tune.RunConfig(name="stop", storage_path=str(tmp_path), callbacks=[UnpackMembers()]),
    )
    (result,) = tuner.fit()
    assert result.error is None
    dirs = sorted(p for p in (tmp_path / "stop").iterdir() if "_m000" in p.name)
    assert len(dirs) == 3
    hopeless, *good = dirs
    assert rows(hopeless)["epoch"].tolist() == [1] and (hopeless / STOPPED_EARLY_FILE).is_file()
    assert json.loads((hopeless / STOPPED_EARLY_FILE).read_text())["rule"] == "bar"
    for member in good:
        assert rows(member)["epoch"].tolist() == [1, 2, 3, 4] and not (member / STOPPED_EARLY_FILE).exists()
        assert rows(member)["pack_size"].tolist() == [3, 2, 2, 2]  # trained on in a pack of two
    for config, member in zip(configs, dirs):
        packed = rows(member)
        state = new_state(config, CPU)
        alone = list(train(config, build_tensors(splits, config), state=state, latency=False))
        for ours, (_, theirs) in zip(alone, packed.iterrows()):
            assert ours["epoch"] == theirs["epoch"]
            assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-4)
            assert abs(ours["val_acc"] - theirs["val_acc"]) <= 1.0 / ours["val_size"] + 1e-12
        if len(packed) == config.epochs:  # its final weights, saved from the rebuilt pack
            (checkpoint,) = [p for p in member.iterdir() if p.name.startswith("checkpoint_")]
            model, _, _ = load_model(checkpoint)
            for name, value in state.model.state_dict().items():
                saved = model.state_dict()[name]
                assert (saved - value).abs().max().item() <= 2e-5 * max(1.0, value.abs().max().item())


# ---------------------------------------------------------------- a packed adaptive search end to end


@pytest.fixture(scope="module")
def searches(packed_adaptive_search, tmp_path_factory, local_ray) -> dict[str, Path]:
    """The shared packed adaptive search and a solo one with the same options (one trial per proposal)."""
    storage = tmp_path_factory.mktemp("packed_screening")
    common = ["--space", "adaptive", "--epochs", "2", "--subset", "1000", "--validation-size", "1000"]
    common += ["--min-accuracy", "0.5", "--storage-path", str(storage)]
    assert search.main([*common, "--name", "solo", "--num-samples", "2", "--pack", "1", "--confirm", "1"]) == 0
    return {"packed": packed_adaptive_search, "solo": storage / "solo"}


@pytest.mark.slow
def test_a_packed_adaptive_search_writes_one_solo_form_trial_per_member(searches):
    packed, solo = members(searches["packed"]), trial_dirs(searches["solo"])
    assert len(packed) == 8  # 4 proposals x 2 seeds, in packs of 2 proposals
    by_config: dict[str, list[int]] = {}
    for member in packed:
        params = json.loads((member / "params.json").read_text())
        key = json.dumps({k: v for k, v in params.items() if k != "seed"}, sort_keys=True)
        by_config.setdefault(key, []).append(params["seed"])
    assert sorted(sorted(s) for s in by_config.values()) == [[0, 1]] * 4
    solo_params = json.loads((solo[0] / "params.json").read_text())
    solo_rows = rows(solo[0])
    for member in packed:
        # A member names its seed; a solo proposal leaves it at the default 0.
        assert set(json.loads((member / "params.json").read_text())) == set(solo_params) | {"seed"}
        assert set(rows(member).columns) == set(solo_rows.columns)
        assert [p.name for p in member.iterdir() if p.name.startswith("checkpoint_")]
    log = json.loads((searches["packed"] / "confirmation.json").read_text())
    assert log["finished_at"] and not any(c["seeds"] for r in log["rounds"] for c in r["configs"])
