"""The Ray Tune trainable for a pack: several configs trained together as one trial
(``tune_mnist.training.packed``), mostly to fill a GPU that one small MLP would leave idle.

Each epoch it reports ``{"epoch", "pack_size", "members": [one full row per config]}`` and a
checkpoint holding, per member, the same files a single trial's checkpoint has; a restarted pack
resumes from those (no second, padded copy of the pack is written). A pack of one config over
several seeds (adaptive search with ``--seeds``) also reports the seeds' mean of every metric, with
the shortfall of the mean accuracy, for the searcher to learn from. ``tune_mnist.trainables.unpack`` (a Tune
callback on the driver) turns those into one ordinary trial directory per config, so nothing
downstream can tell packed from unpacked runs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from tune_mnist.core.config import PACK_MEMBERS, PACK_SEEDS, TrialConfig, pack_members
from tune_mnist.core.layout import TRAINING_STATE_FILE, checkpoint_member_dir
from tune_mnist.core.metrics import EPOCH, PACK_SIZE
from tune_mnist.data.splits import Splits
from tune_mnist.model.saved import save_model
from tune_mnist.trainables.checkpoints import quiet_checkpoint_log
from tune_mnist.trainables.trainable import accuracy_shortfall, complete_row, saved_state, trial_device, trial_threads
from tune_mnist.training.packed import PackState, train_packed


def member_configs(config: dict[str, Any]) -> list[TrialConfig]:
    return [TrialConfig.from_dict(member) for member in pack_members(config) or [config]]


def seeds_mean(rows: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """One config's seeds as one result: the mean of each number, and the shortfall of the mean
    accuracy (the analysis puts the bar on the seeds' mean by default, so the searcher does too)."""
    mean: dict[str, Any] = {}
    for key, value in rows[0].items():
        if key == "seed":
            continue
        if all(row.get(key) == value for row in rows):  # flops, architecture, device: the same for every seed
            mean[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            mean[key] = sum(float(row[key]) for row in rows) / len(rows)
    mean["accuracy_shortfall"] = accuracy_shortfall(mean, config)
    return mean


def run_pack(config: dict[str, Any], data: Splits) -> None:
    """Train every config of ``config["members"]`` together and report each epoch."""
    quiet_checkpoint_log()  # no console line per epoch's checkpoint: tune_mnist.trainables.checkpoints
    configs = member_configs(config)
    device, gpu_ids = trial_device()
    threads = trial_threads()
    torch.set_num_threads(threads)
    state = PackState(configs, device)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # each member's own single-model checkpoint is the whole state
        with checkpoint.as_directory() as directory:
            for i, member in enumerate(configs):
                saved = saved_state(Path(directory) / checkpoint_member_dir(i), device, member.seed)
                state.load_member_state_dict(i, saved)
        state.check_in_step()
    for rows in train_packed(configs, data, device, state=state, threads=threads):
        for row in rows:
            complete_row(row, config, gpu_ids)
        with tempfile.TemporaryDirectory() as directory:
            for i, (member, row) in enumerate(zip(configs, rows)):
                target = Path(directory) / checkpoint_member_dir(i)
                save_model(target, state.model(i, "cpu"), member, *state.scaling[i], row)
                torch.save(state.member_state_dict(i), target / TRAINING_STATE_FILE)
            summary = seeds_mean(rows, config) if PACK_SEEDS in config else {}
            tune.report(
                {**summary, EPOCH: rows[0][EPOCH], PACK_SIZE: len(rows), PACK_MEMBERS: rows},
                checkpoint=tune.Checkpoint.from_directory(directory),
            )
