"""The packed engine (tune_mnist.training.packed) against the single-model path, on CPU and real MNIST."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import search_spaces
from search_spaces import SpaceOptions
from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.core.metrics import PACK_SIZE, row_keys
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.model.mlp import build_mlp
from tune_mnist.training.loop import new_state, train
from tune_mnist.training.packed import plan, trainer
from tune_mnist.training.packed.engine import train_packed
from tune_mnist.training.packed.plan import plan_packs
from tune_mnist.training.packed.state import PackState

CPU = torch.device("cpu")
# Mixed widths, input specs (sizes 64, 196, 100 standardised, 784) and learning rates; one epoch count.
MIXED = [
    TrialConfig(side=8, depth=1, width=32, lr=1e-3, epochs=2, seed=1),
    TrialConfig(side=14, depth=1, width=64, lr=3e-3, epochs=2, seed=2),
    TrialConfig(crop=20, side=10, scaling="standard", depth=1, width=16, lr=1e-3, epochs=2, seed=3),
    TrialConfig(depth=1, width=48, lr=5e-4, epochs=2, seed=0),
]


@pytest.fixture(scope="module")
def splits(mnist):
    return subset(split_validation(mnist, 500), 1000)


@pytest.fixture(scope="module")
def solo(splits):
    """Each MIXED config trained alone with tune_mnist.train: (rows, final TrainingState)."""
    out = []
    for config in MIXED:
        state = new_state(config, CPU)
        rows = list(train(config, build_tensors(splits, config), state=state, latency=False))
        out.append((rows, state))
    return out


def padding_is_zero(state: PackState) -> bool:
    """Whether every padded entry of the stacked weights, biases and Adam moments is exactly zero
    (docs/packed.md says why it stays so)."""
    for tensors in (state.params, state.exp_avg, state.exp_avg_sq):
        for i, sizes in enumerate(state.member_sizes):
            for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                weight, bias = tensors[2 * l][state.slot[i]], tensors[2 * l + 1][state.slot[i]]
                if weight[n_in:].any() or weight[:, n_out:].any() or bias[:, n_out:].any():
                    return False
    return True


def max_relative_difference(ours: dict, theirs: dict) -> float:
    return max(float((ours[k] - theirs[k]).abs().max() / theirs[k].abs().max()) for k in theirs)


@pytest.mark.slow
@pytest.mark.parametrize("adam", ["fused per lr", "scaled"])
def test_members_match_single_path(splits, solo, adam, monkeypatch):
    if adam == "scaled":
        monkeypatch.setattr(trainer, "FUSED_LR_GROUPS", 0)  # force the many-learning-rates Adam
    state = PackState(MIXED, CPU)
    epochs = list(train_packed(MIXED, splits, CPU, latency=False, state=state))
    assert len(epochs) == 2 and all(len(rows) == len(MIXED) for rows in epochs)
    assert padding_is_zero(state)
    # What each member's saved model standardises its inputs with: the single path's mean and std.
    for config, (mean, std) in zip(MIXED, state.scaling):
        tensors = build_tensors(splits, config)
        assert (mean, std) == (tensors.mean, tensors.std)
    assert state.scaling[2] != (0.0, 1.0)
    for i, (solo_rows, solo_state) in enumerate(solo):
        # Weights after two epochs (32 Adam steps): float32 rounding of other matmul blocking only.
        assert max_relative_difference(state.model(i).state_dict(), solo_state.model.state_dict()) < 2e-5
        for ours, theirs in zip((rows[i] for rows in epochs), solo_rows):
            assert ours["epoch"] == theirs["epoch"] and ours["pack_size"] == len(MIXED)
            for split in ("train", "val", "test"):
                assert abs(ours[f"{split}_acc"] - theirs[f"{split}_acc"]) <= 1.0 / ours[f"{split}_size"] + 1e-12
                assert ours[f"{split}_loss"] == pytest.approx(theirs[f"{split}_loss"], rel=1e-4)
            for key in (
                "params",
                "flops",
                "flops_bias_relu",
                "in_features",
                "input_spec",
                "architecture",
                "train_size",
                "val_size",
                "test_size",
            ):
                assert ours[key] == theirs[key], key


def test_rows_have_the_single_path_keys_and_latency(splits):
    configs = [TrialConfig(side=8, depth=0, epochs=1, seed=s, lr=lr) for s, lr in ((0, 1e-3), (1, 2e-3))]
    (rows,) = list(train_packed(configs, subset(splits, 256), CPU, latency=True))
    for row in rows:
        assert set(row) == set(row_keys()) | {PACK_SIZE}
        assert row["latency_p50_us"] > 0 and row["pack_size"] == 2
        assert row["epoch_time_s"] == pytest.approx(row["train_time_s"])  # the pack's time / K, summed


def test_exported_state_dict_loads_into_build_mlp(splits, tmp_path):
    configs = MIXED[:2]
    state = PackState(configs, CPU)
    *_, rows = train_packed(configs, subset(splits, 300), CPU, latency=False, state=state)
    for i, config in enumerate(configs):
        path = tmp_path / f"member{i}.pt"
        torch.save(state.model(i, "cpu").state_dict(), path)
        model = build_mlp(config.in_features, config.depth, config.width)
        model.load_state_dict(torch.load(path, weights_only=True))  # strict: exactly build_mlp's keys
        assert list(model.state_dict()) == ["1.weight", "1.bias", "3.weight", "3.bias"]
        tensors = build_tensors(subset(splits, 300), config)
        with torch.no_grad():
            acc = float((model(tensors.test_x).argmax(1) == tensors.test_y).double().mean())
        assert abs(acc - rows[i]["test_acc"]) <= 1.0 / len(tensors.test_y) + 1e-12


def test_resume_from_member_checkpoints_is_exact(splits, tmp_path):
    small = subset(splits, 400)
    configs = [MIXED[0], MIXED[1]]
    straight = PackState(configs, CPU)
    rows_straight = list(train_packed(configs, small, CPU, latency=False, state=straight))

    first = PackState(configs, CPU)
    next(iter(train_packed(configs, small, CPU, latency=False, state=first)))
    checkpoints = [first.member_training_state(i).state_dict() for i in range(len(configs))]
    # A member checkpoint is a single-model checkpoint: it loads into tune_mnist.train's state.
    single = new_state(configs[0], CPU)
    single.load_state_dict(checkpoints[0])
    assert single.epoch == 1
    resumed = PackState(configs, CPU)
    for i, checkpoint in enumerate(checkpoints):
        resumed.load_member_state_dict(i, checkpoint)
    rows_resumed = list(train_packed(configs, small, CPU, latency=False, state=resumed))
    assert [r[0]["epoch"] for r in rows_resumed] == [2]
    for i in range(len(configs)):
        for key, value in straight.model(i).state_dict().items():
            assert torch.equal(value, resumed.model(i).state_dict()[key])
        assert rows_resumed[0][i]["test_acc"] == rows_straight[1][i]["test_acc"]

    # A member checkpoint round-trips through torch.save and torch.load(weights_only=True), as a trial's does.
    torch.save(straight.member_training_state(1).state_dict(), tmp_path / "member.pt")
    alone = new_state(configs[1], CPU)
    alone.load_state_dict(torch.load(tmp_path / "member.pt", weights_only=True))
    assert all(
        torch.equal(a, b) for a, b in zip(alone.model.state_dict().values(), straight.model(1).state_dict().values())
    )


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and message[0].isupper()


@pytest.mark.parametrize(
    "configs, match",
    [
        ([], "no configs"),
        ([TrialConfig(batch_size=32), TrialConfig(batch_size=64)], "share batch_size"),
        ([TrialConfig(epochs=1), TrialConfig(epochs=2)], "share epochs"),
        ([TrialConfig(depth=1), TrialConfig(depth=2)], "share depth"),
        ([{"depth": 1}], "not a TrialConfig"),
    ],
)
def test_bad_packs_fail_with_one_sentence(splits, configs, match):
    with pytest.raises(InputError, match=match) as info:
        next(iter(train_packed(configs, splits, CPU)))
    assert one_sentence(str(info.value))


def test_bad_device_and_pack_size_fail_with_one_sentence(splits):
    with pytest.raises(InputError, match="cannot train a pack") as info:
        next(iter(train_packed([TrialConfig()], splits, "meta")))
    assert one_sentence(str(info.value))
    with pytest.raises(InputError, match="Pack size") as info:
        plan_packs([TrialConfig()], 0)
    assert one_sentence(str(info.value))


def test_planning_imports_no_torch():
    """The search plans packs (and --dry-run sizes them) without loading the training engine."""
    code = (
        "import sys, tune_mnist.training.packed.plan, tune_mnist.core.layout, tune_mnist.training.rows; "
        "assert 'torch' not in sys.modules and 'ray' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plan_packs_groups_packable_configs():
    configs = [
        TrialConfig(side=side, depth=depth, width=width, batch_size=batch, lr=lr)
        for side in (8, 14)
        for depth in (0, 1, 2)
        for width in (16, 256)
        for batch in (32, 64)
        for lr in (1e-3, 3e-3)
    ]
    packs = plan_packs(configs, 5)
    assert sorted(i for pack in packs for i in pack) == list(range(len(configs)))
    for pack in packs:
        assert 1 <= len(pack) <= 5
        plan.check_packable([configs[i] for i in pack])


def test_plan_packs_bounds_padding_and_puts_heavy_packs_first():
    # The same shape over 10 seeds: one run, cut evenly.
    same = [TrialConfig(side=8, depth=1, width=256, seed=s) for s in range(10)]
    assert sorted(map(len, plan_packs(same, 8))) == [5, 5]
    # A 784-8-8-10 model padded to 784-2048-2048-10 would train 900 times its parameters: not packed.
    mixed = [TrialConfig(depth=2, width=8), TrialConfig(depth=2, width=2048), TrialConfig(depth=2, width=2000)]
    assert plan_packs(mixed, 8) == [[2, 1], [0]]  # in (width, input) order inside a pack
    # The grid and a random space: every pack within the bound, and far less padding than by order alone.
    for space, options in (("grid", SpaceOptions()), ("random", SpaceOptions(num_samples=300, epochs=2))):
        configs = search_spaces.load(space).configs(options)
        packs = plan_packs(configs, 64)
        for pack in packs:
            members = [configs[i] for i in pack]
            assert (
                plan.padded_params(members)
                <= plan.PAD_SLACK * plan.own_params(members) + len(pack) * plan.PAD_FREE_PARAMS
            )
        total = sum(plan.padded_params([configs[i] for i in pack]) for pack in packs)
        assert total <= plan.PAD_SLACK * plan.own_params(configs), space
        work = [plan.padded_params([configs[i] for i in pack]) * configs[pack[0]].epochs for pack in packs]
        assert work == sorted(work, reverse=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_matches_eager_and_single_path(splits):
    cuda = torch.device("cuda")
    small = subset(splits, 640)  # 10 full batches: 3 eager warm-up steps, capture, 7 replays, each epoch
    configs = MIXED[:3]
    graphed, eager = PackState(configs, cuda), PackState(configs, cuda)
    rows_graph = list(train_packed(configs, small, cuda, latency=False, state=graphed, use_graph=True))
    rows_eager = list(train_packed(configs, small, cuda, latency=False, state=eager, use_graph=False))
    assert padding_is_zero(graphed)
    for i, config in enumerate(configs):
        a, b = graphed.model(i, "cpu").state_dict(), eager.model(i, "cpu").state_dict()
        assert max_relative_difference(a, b) < 1e-6  # same kernels: equal up to atomics, if any
        assert rows_graph[-1][i]["test_acc"] == rows_eager[-1][i]["test_acc"]
        single = new_state(config, cuda)
        list(train(config, build_tensors(small, config, cuda), state=single, latency=False))
        assert max_relative_difference(a, {k: v.cpu() for k, v in single.model.state_dict().items()}) < 2e-5
