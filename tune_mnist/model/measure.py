"""What a model costs, measured on the model itself: latency and the environment it ran in (its
parameters and FLOPs are counted from its shape, ``tune_mnist.model.counts``).

Latency is per-sample inference on the trial's device after warm-up, at a fixed thread count:
batch-1 percentiles (single stream) and per-sample time at a large batch."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from tune_mnist.core.errors import InputError
from tune_mnist.core.metrics import ENVIRONMENT, LATENCY_US


def named_device(name: str) -> torch.device:
    """``--device NAME`` (auto: cuda where torch sees it, else cpu; cpu, cuda, cuda:N, ...) as a device
    this machine has, for the single run and the analysis's re-measurement alike; else one sentence
    naming the fix."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name} asks for a GPU, but torch sees no CUDA device here: use --device cpu.")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise InputError(
            f"--device {name} names a GPU this machine does not have (it has {torch.cuda.device_count()}): "
            f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}."
        )
    return device


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


def _time_calls(call: Callable[[Any], object], x: Any, calls: int) -> np.ndarray:
    """Seconds per ``call(x)``, with ``x`` made by the caller before timing (so its preparation is
    never timed): a module on a tensor, or an ONNX Runtime session's ``run`` on its feeds. CUDA
    events when ``x`` is a CUDA tensor, so the numbers are the kernels', not the launches'."""
    times = np.empty(calls)
    if isinstance(x, torch.Tensor) and x.device.type == "cuda":
        for i in range(calls):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call(x)
            end.record()
            end.synchronize()
            times[i] = start.elapsed_time(end) / 1e3
    else:
        for i in range(calls):
            t0 = time.perf_counter()
            call(x)
            times[i] = time.perf_counter() - t0
    return times


def latency_us(
    call: Callable[[Any], object], one: Any, many: Any, batch: int, warmup: int, calls: int, batch_calls: int
) -> dict[str, float]:
    """The ``LATENCY_US`` numbers of ``call`` after warm-up: batch-1 p50/p90/p99 over ``calls`` calls on
    ``one``, and the median per-sample time over ``batch_calls`` calls on ``many`` (``batch`` samples).
    Eager PyTorch and ONNX Runtime are timed by this one method, so their numbers compare."""
    _time_calls(call, one, warmup)
    _time_calls(call, many, max(1, warmup // 10))
    single = _time_calls(call, one, calls) * 1e6
    batched = _time_calls(call, many, batch_calls) * 1e6 / batch
    p50, p90, p99 = np.percentile(single, [50, 90, 99])
    return dict(zip(LATENCY_US, (float(p50), float(p90), float(p99), float(np.median(batched))), strict=True))


def measure_latency(
    model: nn.Module,
    in_features: int,
    threads: int | None = None,
    warmup: int = 20,
    calls: int = 200,
    batch: int = 1024,
    batch_calls: int = 5,
) -> dict[str, float | int | str]:
    """Per-sample inference latency in microseconds, on the model's device, in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with thread_count(threads) as used, torch.inference_mode():
        one = torch.rand(1, in_features, device=device)
        many = torch.rand(batch, in_features, device=device)
        latencies = latency_us(model, one, many, batch, warmup, calls, batch_calls)
    model.train(was_training)
    return {
        **latencies,
        "latency_batch_size": batch,
        **environment_row(device, used),
    }


def environment_row(device: torch.device, threads: int) -> dict[str, str | int]:
    """Where a number was measured: recorded beside every latency and epoch time."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return dict(zip(ENVIRONMENT, (str(device), name, threads, torch.__version__), strict=True))
