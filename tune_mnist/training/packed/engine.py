"""``train_packed``: train a pack epoch by epoch and yield one ordinary result row per member."""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.core.metrics import PACK_SIZE
from tune_mnist.data.splits import Splits
from tune_mnist.model.measure import environment_row, measure_latency, synchronize
from tune_mnist.training.packed.inputs import build_pack_inputs
from tune_mnist.training.packed.state import PackState
from tune_mnist.training.packed.trainer import PackTrainer
from tune_mnist.training.rows import epoch_row, static_fields


def train_packed(
    configs: list[TrialConfig],
    splits: Splits,
    device: torch.device | str,
    latency: bool = True,
    threads: int | None = None,
    state: PackState | None = None,
    use_graph: bool | None = None,
) -> Iterator[list[dict]]:
    """Train ``configs`` as one pack; yield, once per epoch, one metrics row per config (in the
    order given) with the keys and meanings of ``tune_mnist.training.loop.train``'s rows, plus
    ``pack_size`` (K, the number of configs trained together).

    ``epoch_time_s`` is the pack's epoch wall time divided by K (synchronised on GPU), so that
    summing it over configs gives the device time spent; ``train_time_s`` is its running sum.
    Latency is measured for each member on its own, unpacked into a plain ``build_mlp`` model, by
    ``tune_mnist.model.measure.measure_latency``, once per member after its first epoch here and
    repeated in its later rows: it depends on the shape, not the weights, and measuring 63 members
    every epoch took about 0.4 s of a 2-3 s pack epoch on 2 CPU cores.

    ``state`` (a ``PackState`` of these configs, fresh or loaded from checkpoints) is updated in
    place, so the caller can checkpoint members after any epoch with ``state.member_training_state(i)``
    and export weights with ``state.model(i)``. ``use_graph`` (default: on CUDA) captures
    the training step as a CUDA graph."""
    configs = list(configs)
    device = torch.device(device)
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"Device {str(device)!r} cannot train a pack: use cpu or cuda.")
    if state is None:
        state = PackState(configs, device)
    elif state.configs != configs or state.device != device:
        raise InputError(
            "The PackState passed to train_packed was made for other configs or another device: "
            "build it with PackState(configs, device)."
        )
    threads = threads or torch.get_num_threads()
    inputs = build_pack_inputs(splits, state)
    state.scaling = inputs.scaling  # what a member's saved model needs to standardise its inputs
    trainer = PackTrainer(state, inputs, use_graph=use_graph)
    k, epochs = state.k, configs[0].epochs
    static = [static_fields(config, inputs.sizes) for config in configs]
    measured: dict[int, dict] = {}  # member -> its latency (or, without, the environment), measured once
    while state.epoch < epochs:
        synchronize(device)
        start = time.perf_counter()
        train_loss, train_acc = trainer.train_epoch()
        synchronize(device)
        epoch_time = (time.perf_counter() - start) / k
        state.epoch += 1
        val_loss, val_acc = trainer.evaluate(inputs.val, inputs.val_y)
        test_loss, test_acc = trainer.evaluate(inputs.test, inputs.test_y)
        rows = []
        for i, config in enumerate(configs):
            state.train_time_s[i] += epoch_time
            if i not in measured:
                measured[i] = (
                    measure_latency(state.model(i), config.in_features, threads=threads)
                    if latency
                    else environment_row(device, threads)
                )
            row = epoch_row(
                state.epoch,
                (train_loss[i], val_loss[i], test_loss[i]),
                (train_acc[i], val_acc[i], test_acc[i]),
                epoch_time,
                state.train_time_s[i],
                static[i],
                measured[i],
            )
            row[PACK_SIZE] = k
            rows.append(row)
        yield rows
