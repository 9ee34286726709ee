"""The Ray Tune trainable for a pack: several configs trained together as one trial
(``tune_mnist.packed``), mostly to fill a GPU that one small MLP would leave idle.

Each epoch it reports ``{"epoch", "pack_size", "members": [one full row per config]}`` and a
checkpoint holding the pack's state plus, per member, the same files a single trial's checkpoint
has. ``tune_mnist.unpack`` (a Tune callback on the driver) turns those into one ordinary trial
directory per config, so nothing downstream can tell packed from unpacked runs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from tune_mnist.config import PACK_MEMBERS as MEMBERS, TrialConfig
from tune_mnist.data import Splits
from tune_mnist.inputs import build_tensors
from tune_mnist.packed import PackState, train_packed
from tune_mnist.saved import save_model
from tune_mnist.trainable import STATE_FILE, complete_row, trial_device, trial_threads

PACK_STATE_FILE = "pack_state.pt"


def member_dirname(index: int) -> str:
    return f"member_{index:04d}"


def member_configs(config: dict[str, Any]) -> list[TrialConfig]:
    return [TrialConfig.from_dict(member) for member in config[MEMBERS]]


def scaling_stats(splits: Splits, configs: list[TrialConfig]) -> list[tuple[float, float]]:
    """Each member's input mean and std (0 and 1 unless standardised), for its saved config.json."""
    stats: dict[tuple, tuple[float, float]] = {}
    out = []
    for config in configs:
        key = (config.crop, config.side, config.scaling)
        if key not in stats:
            if config.scaling == "standard":
                tensors = build_tensors(Splits(splits.train_images, splits.train_labels, splits.val_images[:0],
                                               splits.val_labels[:0], splits.test_images[:0], splits.test_labels[:0]),
                                        config)
                stats[key] = (tensors.mean, tensors.std)
            else:
                stats[key] = (0.0, 1.0)
        out.append(stats[key])
    return out


def run_pack(config: dict[str, Any], data: Splits) -> None:
    """Train every config of ``config["members"]`` together and report each epoch."""
    configs = member_configs(config)
    device, gpu_ids = trial_device()
    threads = trial_threads()
    torch.set_num_threads(threads)
    state = PackState(configs, device)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state.load_state_dict(torch.load(Path(directory) / PACK_STATE_FILE, map_location=device,
                                             weights_only=True))
    stats = scaling_stats(data, configs)
    for rows in train_packed(configs, data, device, state=state, threads=threads):
        for row in rows:
            complete_row(row, config, gpu_ids)
        with tempfile.TemporaryDirectory() as directory:
            torch.save(state.state_dict(), Path(directory) / PACK_STATE_FILE)
            for i, (member, row) in enumerate(zip(configs, rows)):
                target = Path(directory) / member_dirname(i)
                save_model(target, state.model(i, "cpu"), member, *stats[i], row)
                torch.save(state.member_state_dict(i), target / STATE_FILE)
            tune.report({"epoch": rows[0]["epoch"], "pack_size": len(rows), MEMBERS: rows},
                        checkpoint=tune.Checkpoint.from_directory(directory))
