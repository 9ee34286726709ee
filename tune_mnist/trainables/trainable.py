"""The Ray Tune function trainable: one config = one trial.

The uint8 splits arrive once through ``tune.with_parameters`` (object store, zero-copy); the trial
builds its own float inputs on its own device, trains with ``tune_mnist.training.loop.train`` and reports
every metric once per epoch with a checkpoint, from which Tune resumes it when it restarts it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.layout import CONFIG_FILE, MODEL_FILE, TRAINING_STATE_FILE
from tune_mnist.core.metrics import EPOCH, PACK_SIZE, PLACEMENT, REPLAYED
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import Splits
from tune_mnist.model.saved import save_model
from tune_mnist.trainables.checkpoints import quiet_checkpoint_log
from tune_mnist.trainables.stored_final import copy_to, stored_final
from tune_mnist.training.loop import new_state, train


def trial_device() -> tuple[torch.device, str]:
    """The GPU Ray assigned (Ray sets CUDA_VISIBLE_DEVICES to it), else the CPU.

    Ray no longer hides GPUs from trials that asked for none, so torch.cuda.is_available() alone
    would put CPU trials on a GPU; logical GPUs on a machine without CUDA also stay on the CPU."""
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    device = torch.device("cuda:0" if gpu_ids and torch.cuda.is_available() else "cpu")
    return device, ",".join(gpu_ids)


def trial_threads() -> int:
    """The CPUs Ray reserved for this trial (at least one)."""
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    return max(1, int(cpus))


def save_checkpoint(directory: Path, state: Any, config: TrialConfig, mean: float, std: float, row: dict) -> None:
    """A checkpoint is a saved model (``tune_mnist.model.saved``) plus the optimizer and shuffle state."""
    save_model(directory, state.model, config, mean, std, row)
    torch.save(state.state_dict(), directory / TRAINING_STATE_FILE)


def saved_state(directory: Path, device: torch.device, seed: int) -> dict:
    """The training state of a checkpoint (``TrainingState.state_dict()``'s format). A running trial's
    checkpoint holds it whole; a finished trial's keeps only its model (``tune_mnist.trainables.checkpoints``) and
    is restored only if the driver was killed before the storage's state said the trial finished: then
    its weights and epoch carry on, with a fresh optimizer and shuffle order."""
    saved = directory / TRAINING_STATE_FILE
    if saved.is_file():
        return torch.load(saved, map_location=device, weights_only=True)
    metrics = json.loads((directory / CONFIG_FILE).read_text()).get("metrics", {})
    return {
        "model": torch.load(directory / MODEL_FILE, map_location=device, weights_only=True),
        "optimizer": {"state": {}},
        "generator": torch.Generator().manual_seed(seed).get_state(),
        "epoch": int(metrics.get(EPOCH) or 0),
        "train_time_s": float(metrics.get("train_time_s") or 0.0),
    }


def load_saved(state: Any, saved: dict) -> None:
    """Put ``saved_state`` into a single trial's ``TrainingState`` (a fresh optimizer stays fresh)."""
    if saved["optimizer"].get("param_groups") is None:
        state.model.load_state_dict(saved["model"])
        state.epoch, state.train_time_s = saved["epoch"], saved["train_time_s"]
        return
    state.load_state_dict(saved)


def complete_row(row: dict[str, Any], config: dict[str, Any], gpu_ids: str) -> dict[str, Any]:
    """Add where the trial ran and how far below the accuracy bar it is (what adaptive search minimises)."""
    row.setdefault(PACK_SIZE, 1)  # the same columns whether or not the config was packed
    row.update(
        zip(PLACEMENT, (ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id(), gpu_ids), strict=True)
    )
    row["accuracy_shortfall"] = accuracy_shortfall(row, config)
    return row


def accuracy_shortfall(row: dict[str, Any], config: dict[str, Any]) -> float:
    """How far the selection accuracy (validation; test when there is no validation split) is below the bar."""
    selected = row["val_acc"] if row["val_acc"] == row["val_acc"] else row["test_acc"]
    return max(0.0, float(config.get("min_accuracy", DEFAULT_MIN_ACCURACY)) - selected)


def run_trial(config: dict[str, Any], data: Splits) -> None:
    """Train ``config`` and report each epoch; ``data`` is shared by every trial of the experiment."""
    quiet_checkpoint_log()  # no console line per epoch's checkpoint: tune_mnist.trainables.checkpoints
    cfg = TrialConfig.from_dict(config)
    device, gpu_ids = trial_device()
    threads = trial_threads()
    torch.set_num_threads(threads)
    checkpoint = tune.get_checkpoint()
    stored = stored_final(checkpoint, cfg.epochs) if checkpoint is not None else None
    if stored is not None:  # finished on the storage after Ray's last snapshot (a hard kill): nothing to train
        with tempfile.TemporaryDirectory() as directory:
            copy_to(stored, directory)
            tune.report({**stored.row, REPLAYED: True}, checkpoint=tune.Checkpoint.from_directory(directory))
        return
    tensors = build_tensors(data, cfg, device)
    state = new_state(cfg, device)
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            load_saved(state, saved_state(Path(directory), device, cfg.seed))
    for row in train(cfg, tensors, state, threads=threads):
        complete_row(row, config, gpu_ids)
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(Path(directory), state, cfg, tensors.mean, tensors.std, row)
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(directory))
