"""The trained MLP in ONNX Runtime: export, a session at a fixed thread count, latency, and a check
that ONNX Runtime computes what PyTorch computes (docs/deploy-runtime.md).

The graph is the MLP alone, input ``features`` (N, in_features) of transformed images, output
``logits``: a plain stack of Gemm/Relu every runtime runs, timed as the eager numbers time the MLP.
Everything here needs the ``onnx`` extra (callers ``require`` it first)."""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tune_mnist.model.measure import latency_us

INPUT_NAME, OUTPUT_NAME = "features", "logits"
ONNX_FILE = "model.onnx"
RUNTIME = "onnxruntime"


def export_onnx(model: nn.Module, in_features: int, path: str | Path | None = None) -> bytes:
    """The model as ONNX bytes (and written to ``path`` if given), with the torch.export-based exporter
    (``dynamo=True``, which needs onnxscript), a dynamic batch dimension and opset 18."""
    model = model.to("cpu").eval()
    example = (torch.rand(2, in_features),)
    # The exporter prints progress lines and warns about its own internals; neither helps a user here.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            example,
            dynamo=True,
            verbose=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    data = program.model_proto.SerializeToString()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def session(model: bytes | str | Path, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session at ``threads`` intra-op threads, one inter-op, sequential, so that its
    numbers compare with eager PyTorch at the same thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class SessionCallable:
    """A session that takes a CPU torch tensor like a module does (for ``compare``, which is not
    timed: the tensor-to-NumPy conversion here would be timed with the call, so latency never uses it)."""

    def __init__(self, ort_session: Any) -> None:
        self.session = ort_session
        self.input = ort_session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> np.ndarray:
        return self.session.run(None, {self.input: x.numpy()})[0]


#: How the timed call is made, stated beside every ONNX Runtime latency (the report prints it).
TIMING = (
    "InferenceSession.run(None, {input: x}) with x a C-contiguous float32 NumPy array made before the "
    "timed loop, as a deployment calls it (no tensor conversion timed)"
)


def feeds(ort_session: Any, n: int, in_features: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The session's input as ONNX Runtime takes it: ``{input name: (n, in_features) float32 C-contiguous
    array}``, built once so that the timed calls pass it as it is."""
    x = np.random.default_rng(seed).random((n, in_features), dtype=np.float32)
    return {ort_session.get_inputs()[0].name: np.ascontiguousarray(x)}


def measure_latency_onnx(
    ort_session: Any,
    in_features: int,
    threads: int,
    warmup: int = 20,
    calls: int = 200,
    batch: int = 1024,
    batch_calls: int = 5,
) -> dict[str, float | int | str]:
    """Per-sample latency in microseconds with the keys and method of ``measure.measure_latency``.
    Each timed call is ``ort_session.run`` on feeds made before the loop (``TIMING``)."""
    import onnxruntime as ort

    run = functools.partial(ort_session.run, None)
    one, many = feeds(ort_session, 1, in_features), feeds(ort_session, batch, in_features)
    return {
        **latency_us(run, one, many, batch, warmup, calls, batch_calls),
        "latency_batch_size": batch,
        "runtime": RUNTIME,
        "device": "cpu",
        "device_name": "cpu",
        "threads": threads,
        "onnxruntime_version": ort.__version__,
        "timing": TIMING,
    }


def compare(
    model: nn.Module, ort_session: Any, x: torch.Tensor, labels: torch.Tensor | None = None, chunk: int = 4096
) -> dict[str, float | int]:
    """ONNX Runtime against PyTorch on ``x``: the largest absolute logit difference, the fraction of equal
    predictions and, given ``labels``, the ONNX model's accuracy."""
    run = SessionCallable(ort_session)
    model = model.to("cpu").eval()
    worst, same, right = 0.0, 0, 0
    with torch.inference_mode():
        for start in range(0, len(x), chunk):
            part = x[start : start + chunk].contiguous()
            theirs = torch.from_numpy(run(part))
            ours = model(part)
            worst = max(worst, float((theirs - ours).abs().max()))
            same += int((theirs.argmax(1) == ours.argmax(1)).sum())
            if labels is not None:
                right += int((theirs.argmax(1) == labels[start : start + chunk]).sum())
    n = max(1, len(x))
    return {
        "max_abs_diff": worst,
        "argmax_agreement": same / n,
        "accuracy": right / n if labels is not None else float("nan"),
        "samples": len(x),
    }
