"""What a model costs: parameters, FLOPs (as FlopCounterMode counts them), latency, wall time.

FLOPs are analytic, 2 * sum(in * out) over the Linear layers, a multiply-add counted as 2; bias adds
and ReLUs are a separate number. Latency is per-sample inference on the trial's device after warm-up,
at a fixed thread count: batch-1 percentiles (single stream) and per-sample time at a large batch."""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

import numpy as np
import torch
from torch import nn

from tune_mnist.model import layer_sizes

LATENCY_KEYS = ("latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_batch_us")


def mlp_params(in_features: int, depth: int, width: int) -> int:
    """Trainable parameters: weights and biases of every Linear layer."""
    sizes = layer_sizes(in_features, depth, width)
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def mlp_flops(in_features: int, depth: int, width: int) -> int:
    """Per-sample matmul FLOPs, 2 * sum(in * out): what torch's FlopCounterMode reports."""
    sizes = layer_sizes(in_features, depth, width)
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def mlp_bias_relu_ops(in_features: int, depth: int, width: int) -> int:
    """Per-sample bias additions plus ReLUs, reported apart from ``mlp_flops``."""
    sizes = layer_sizes(in_features, depth, width)
    return sum(sizes[1:]) + depth * width


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def counted_flops(model: nn.Module, in_features: int) -> int:
    """FLOPs of one sample as FlopCounterMode counts them (for checking ``mlp_flops``)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, in_features, device=device))
    return counter.get_total_flops()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def thread_count(threads: int | None) -> Iterator[int]:
    """Run a block at a fixed torch thread count, restoring the previous one after."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _time_calls(model: nn.Module, x: torch.Tensor, calls: int) -> np.ndarray:
    """Seconds per call; CUDA events on GPU so the numbers are the kernels', not the launches'."""
    times = np.empty(calls)
    if x.device.type == "cuda":
        for i in range(calls):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            model(x)
            end.record()
            end.synchronize()
            times[i] = start.elapsed_time(end) / 1e3
    else:
        for i in range(calls):
            t0 = time.perf_counter()
            model(x)
            times[i] = time.perf_counter() - t0
    return times


def measure_latency(model: nn.Module, in_features: int, threads: int | None = None, warmup: int = 20,
                    calls: int = 200, batch: int = 1024, batch_calls: int = 5) -> dict[str, float | int | str]:
    """Per-sample inference latency in microseconds, on the model's device, in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with thread_count(threads) as used, torch.inference_mode():
        one = torch.rand(1, in_features, device=device)
        many = torch.rand(batch, in_features, device=device)
        _time_calls(model, one, warmup)
        _time_calls(model, many, max(1, warmup // 10))
        single = _time_calls(model, one, calls) * 1e6
        batched = _time_calls(model, many, batch_calls) * 1e6 / batch
    model.train(was_training)
    p50, p90, p99 = np.percentile(single, [50, 90, 99])
    return {
        "latency_p50_us": float(p50), "latency_p90_us": float(p90), "latency_p99_us": float(p99),
        "latency_batch_us": float(np.median(batched)), "latency_batch_size": batch,
        **environment_row(device, used),
    }


def environment_row(device: torch.device, threads: int) -> dict[str, str | int]:
    """Where a number was measured: recorded beside every latency and epoch time."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"device": str(device), "device_name": name, "threads": threads, "torch_version": torch.__version__}
