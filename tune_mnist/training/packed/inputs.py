"""The inputs of a pack: every distinct input spec's tensors, built once and shared by the members
that use it (``tune_mnist.data.inputs.build_tensors`` does the work, exactly as for a single model)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tune_mnist.core.config import TrialConfig
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import Splits
from tune_mnist.training.packed.state import PackState
from tune_mnist.training.rows import split_sizes


@dataclass
class PackInputs:
    """Every distinct input spec's tensors, built once. Training inputs of all specs are padded
    with zero columns to the widest and stacked as one (specs * n, features) tensor, so one gather
    serves the whole pack; validation and test stay unpadded per spec."""

    train_x: torch.Tensor  # (specs * n, max features)
    train_y: torch.Tensor  # (n,), the same for every spec
    offsets: torch.Tensor  # (K, 1) long, in slot order: spec index * n
    val: list[tuple[torch.Tensor, torch.Tensor]]  # per spec: (x, slots using it)
    test: list[tuple[torch.Tensor, torch.Tensor]]
    val_y: torch.Tensor
    test_y: torch.Tensor
    sizes: dict[str, int] = field(default_factory=dict)  # tune_mnist.training.rows.split_sizes
    scaling: list[tuple[float, float]] = field(default_factory=list)  # per config (given order): input mean, std


def spec_key(config: TrialConfig) -> tuple:
    """What decides a config's input tensors: configs with equal keys share them."""
    return (config.crop, config.side, config.scaling)


def build_pack_inputs(splits: Splits, state: PackState) -> PackInputs:
    """Build each distinct input spec's tensors once and lay them out for the pack (see PackInputs)."""
    device, configs = state.device, state.configs
    specs: dict[tuple, int] = {}
    for config in configs:
        specs.setdefault(spec_key(config), len(specs))
    first = {key: next(c for c in configs if spec_key(c) == key) for key in specs}
    n = len(splits.train_labels)
    width = state.sizes[0]
    train_x = torch.zeros(len(specs) * n, width, device=device)
    val, test = [], []
    train_y = val_y = test_y = None
    scaling: dict[tuple, tuple[float, float]] = {}
    for key, index in specs.items():
        tensors = build_tensors(splits, first[key], device)
        scaling[key] = (tensors.mean, tensors.std)
        features = tensors.train_x.shape[1]
        train_x[index * n : (index + 1) * n, :features] = tensors.train_x
        slots = torch.tensor(sorted(state.slot[i] for i, c in enumerate(configs) if spec_key(c) == key), device=device)
        val.append((tensors.val_x, slots))
        test.append((tensors.test_x, slots))
        train_y, val_y, test_y = tensors.train_y, tensors.val_y, tensors.test_y
        del tensors
    offsets = torch.tensor([specs[spec_key(configs[i])] * n for i in state.order], device=device).view(-1, 1)
    return PackInputs(
        train_x,
        train_y,
        offsets,
        val,
        test,
        val_y,
        test_y,
        split_sizes(n, len(val_y), len(test_y)),
        [scaling[spec_key(c)] for c in configs],
    )
