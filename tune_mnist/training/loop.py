"""Train one config on tensors already on its device, yielding every metric once per epoch.

This loop is what the single-run CLI (``python -m tune_mnist.train``) and the Ray trainable both call.
The notebook's defaults: per-epoch random batches of 64, Adam 1e-3, cross-entropy."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tune_mnist.core.config import TrialConfig
from tune_mnist.data.inputs import Tensors
from tune_mnist.model.measure import environment_row, measure_latency, synchronize
from tune_mnist.model.mlp import build_mlp
from tune_mnist.training.rows import epoch_row, split_sizes, static_fields

EVAL_BATCH = 8192
Progress = Callable[[int, int, int], None]  # (epoch, steps done, steps in the epoch)


@dataclass
class TrainingState:
    """Everything needed to continue training exactly where it stopped (a checkpoint's content)."""

    model: nn.Sequential
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    epoch: int = 0
    train_time_s: float = 0.0

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "train_time_s": self.train_time_s,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.epoch = int(state["epoch"])
        self.train_time_s = float(state["train_time_s"])


def new_state(config: TrialConfig, device: torch.device) -> TrainingState:
    """A seeded model, its optimizer and its shuffle generator."""
    torch.manual_seed(config.seed)
    model = build_mlp(config.in_features, config.depth, config.width).to(device)
    # The fused kernel is the same Adam update in fewer launches, which matters most for small models.
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=device.type in ("cpu", "cuda"))
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    return TrainingState(model, optimizer, generator)


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean per-sample cross-entropy and accuracy over a whole split (NaN for an empty split)."""
    if len(y) == 0:
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for start in range(0, len(y), EVAL_BATCH):
        logits = model(x[start : start + EVAL_BATCH])
        target = y[start : start + EVAL_BATCH]
        loss += F.cross_entropy(logits, target, reduction="sum")
        correct += (logits.argmax(1) == target).sum()
    model.train(was_training)
    return float(loss) / len(y), float(correct) / len(y)


def train_epoch(
    state: TrainingState, x: torch.Tensor, y: torch.Tensor, batch_size: int, progress: Progress | None = None
) -> tuple[float, float]:
    """One pass over a fresh random permutation; returns the mean training loss and accuracy seen."""
    model, optimizer = state.model, state.optimizer
    model.train()
    n = len(y)
    order = torch.randperm(n, device=x.device, generator=state.generator)
    steps = math.ceil(n / batch_size)
    # Per step, only store the batch loss and predictions (two small ops, no host sync); the sums are
    # taken once after the epoch. Accumulating them each step would add several ops per step: a
    # noticeable share of a small model's CPU step, and more of a launch-bound GPU step.
    losses = torch.empty(steps, device=x.device)
    predictions = torch.empty(n, device=x.device, dtype=torch.long)
    every = max(1, steps // 50)
    for step in range(steps):
        start, stop = step * batch_size, min((step + 1) * batch_size, n)
        idx = order[start:stop]
        logits = model(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses[step] = loss.detach()
        predictions[start:stop] = logits.detach().argmax(1)
        if progress is not None and (step + 1) % every == 0:
            progress(state.epoch + 1, step + 1, steps)
    sizes = torch.full((steps,), float(batch_size), device=x.device)
    sizes[-1] = n - (steps - 1) * batch_size
    loss_sum = (losses * sizes).sum()
    correct = (predictions == y[order]).sum()
    return float(loss_sum) / n, float(correct) / n


def train(
    config: TrialConfig,
    tensors: Tensors,
    state: TrainingState | None = None,
    progress: Progress | None = None,
    latency: bool = True,
    threads: int | None = None,
) -> Iterator[dict]:
    """Yield one row of metrics per epoch, from ``state.epoch + 1`` to ``config.epochs``.

    ``state`` (from ``new_state`` or a checkpoint) is updated in place, so the caller can save it
    after any epoch."""
    device = tensors.device
    state = state or new_state(config, device)
    threads = threads or torch.get_num_threads()
    static = static_fields(config, split_sizes(len(tensors.train_y), len(tensors.val_y), len(tensors.test_y)))
    while state.epoch < config.epochs:
        synchronize(device)
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(state, tensors.train_x, tensors.train_y, config.batch_size, progress)
        synchronize(device)
        epoch_time = time.perf_counter() - start
        state.epoch += 1
        state.train_time_s += epoch_time
        val_loss, val_acc = evaluate(state.model, tensors.val_x, tensors.val_y)
        test_loss, test_acc = evaluate(state.model, tensors.test_x, tensors.test_y)
        measured = (
            measure_latency(state.model, config.in_features, threads=threads)
            if latency
            else environment_row(device, threads)
        )
        yield epoch_row(
            state.epoch,
            (train_loss, val_loss, test_loss),
            (train_acc, val_acc, test_acc),
            epoch_time,
            state.train_time_s,
            static,
            measured,
        )
