"""The Ray Tune function trainable: one config = one trial.

The uint8 splits arrive once through ``tune.with_parameters`` (object store, zero-copy); the trial
builds its own float inputs on its own device, trains with ``tune_mnist.training.loop.train`` and reports
every metric once per epoch with a checkpoint, from which Tune resumes it when it restarts it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.layout import TRAINING_STATE_FILE
from tune_mnist.core.metrics import PACK_SIZE, PLACEMENT
from tune_mnist.core.objectives import accuracy_shortfall
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import Splits
from tune_mnist.model.saved import save_model
from tune_mnist.trainables.checkpoints import quiet_checkpoint_log
from tune_mnist.training.loop import TrainingState, new_state, train


def start_trial() -> tuple[torch.device, str, int]:
    """In a trial process: the GPU Ray assigned (Ray sets CUDA_VISIBLE_DEVICES to it), else the CPU;
    the assigned GPU ids; and the CPUs Ray reserved (at least one), which torch's threads are set to.
    No console line per epoch's checkpoint (``tune_mnist.trainables.checkpoints``).

    Ray no longer hides GPUs from trials that asked for none, so torch.cuda.is_available() alone
    would put CPU trials on a GPU; logical GPUs on a machine without CUDA also stay on the CPU."""
    quiet_checkpoint_log()
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    device = torch.device("cuda:0" if gpu_ids and torch.cuda.is_available() else "cpu")
    threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    torch.set_num_threads(threads)
    return device, ",".join(gpu_ids), threads


def save_checkpoint(
    directory: Path, state: TrainingState, config: TrialConfig, mean: float, std: float, row: dict
) -> None:
    """A checkpoint, a single trial's or a pack member's, is a saved model (``tune_mnist.model.saved``)
    plus the optimizer and shuffle state."""
    save_model(directory, state.model, config, mean, std, row)
    torch.save(state.state_dict(), directory / TRAINING_STATE_FILE)


def saved_state(directory: Path, device: torch.device) -> dict:
    """The training state of a running trial's checkpoint (``TrainingState.state_dict()``'s format): a
    trial Ray restarts in the run goes on exactly where it was (optimizer and shuffle order)."""
    return torch.load(directory / TRAINING_STATE_FILE, map_location=device, weights_only=True)


def complete_row(row: dict[str, Any], config: dict[str, Any], gpu_ids: str) -> dict[str, Any]:
    """Add where the trial ran and how far below the accuracy bar it is (what adaptive search minimises)."""
    row.setdefault(PACK_SIZE, 1)  # the same columns whether or not the config was packed
    row.update(
        zip(PLACEMENT, (ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id(), gpu_ids), strict=True)
    )
    row["accuracy_shortfall"] = accuracy_shortfall(row, config)
    return row


def run_trial(config: dict[str, Any], data: Splits) -> None:
    """Train ``config`` and report each epoch; ``data`` is shared by every trial of the experiment."""
    cfg = TrialConfig.from_dict(config)
    device, gpu_ids, threads = start_trial()
    checkpoint = tune.get_checkpoint()
    tensors = build_tensors(data, cfg, device)
    state = new_state(cfg, device)
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state.load_state_dict(saved_state(Path(directory), device))
    for row in train(cfg, tensors, state, threads=threads):
        complete_row(row, config, gpu_ids)
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(Path(directory), state, cfg, tensors.mean, tensors.std, row)
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(directory))
