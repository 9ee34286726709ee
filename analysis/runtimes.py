"""``--remeasure --runtime onnxruntime``: the front's candidates timed in ONNX Runtime beside eager PyTorch,
in the same rounds, threads and CPU (the ``onnx`` extra is ONNX Runtime's CPU build), and the front each
runtime gives (docs/deploy-runtime.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tune_mnist.core.errors import InputError
from tune_mnist.extras.optional import require

if TYPE_CHECKING:
    import torch
    from torch import nn

    from analysis.result import Analysis

EAGER, ONNXRUNTIME = "eager", "onnxruntime"
RUNTIMES = (EAGER, ONNXRUNTIME)
#: What ``--export`` writes: a state_dict (``analysis.export``) or a verified ONNX file (``analysis.onnx_export``).
FORMATS = ("state_dict", "onnx")


def check_runtime(runtime: str, device: torch.device) -> None:
    """Fail before any work when the runtime cannot run here: the extra is missing or the device is a GPU."""
    if runtime == EAGER:
        return
    require("onnx", f"--runtime {runtime}")
    if device.type != "cpu":
        raise InputError(
            f"--runtime {runtime} times models on the CPU (the onnx extra installs ONNX Runtime's CPU "
            f"build), but the re-measurement would run on {device}: add --device cpu."
        )


def timer(runtime: str, model: nn.Module, in_features: int, threads: int) -> Callable[[int], dict[str, Any]] | None:
    """A function of the call count that times ``model`` in ``runtime`` (None for eager, which
    ``analysis.remeasure`` times itself): the model is exported and its session made once, here."""
    if runtime == EAGER:
        return None
    from tune_mnist.extras.onnx_runtime import export_onnx, measure_latency_onnx, session

    ort_session = session(export_onnx(model, in_features), threads)
    return lambda calls: measure_latency_onnx(ort_session, in_features, threads, calls=calls)


def remeasured_text(analysis: Analysis, markdown: bool = False) -> list[str]:
    """The re-measurement's section, printed and in report.md alike: trial-time against re-measured
    latency, then each other runtime against eager; none where nothing was re-measured."""
    from analysis.report import remeasure_text

    remeasured, accuracy, latency = analysis.remeasured, analysis.accuracy_metric, analysis.latency_metric
    if remeasured is None:
        return []
    lines = remeasure_text(analysis.front, remeasured, accuracy, latency, markdown)
    for runtime, other in remeasured.runtimes.items():
        lines += ["", *comparison_text(remeasured, other, runtime, accuracy, latency, markdown)]
    return lines


def comparison_text(
    eager: Any, other: Any, runtime: str, accuracy_metric: str, latency_metric: str, markdown: bool = False
) -> list[str]:
    """Eager against ``runtime`` per config, whether the front changes, and ``runtime``'s front."""
    from analysis.report import format_table, front_change_lines, recomputed_front_lines
    from tune_mnist.core.metrics import latency_text

    env = other.environment
    lines = [
        f"Eager PyTorch and {runtime} {env.get('onnxruntime_version', '')} on the same models, in the same "
        f"interleaved rounds, {other.threads} thread(s) each ({runtime}: intra-op {other.threads}, inter-op 1, "
        "sequential), median of rounds; MLP alone on transformed features.",
        f"Timed calls: eager, the module on a torch tensor made before the timed loop; {runtime}, "
        f"{env.get('timing', 'InferenceSession.run')}.",
        "",
    ]
    both = eager.table.merge(other.table, on="label", suffixes=("", f"_{runtime}")).set_index("label")
    both = both.sort_values(latency_metric)
    keys = ("latency_p50_us", "latency_p99_us", "latency_batch_us")
    header = ["config", *[f"{k} {side}" for k in keys for side in ("eager", runtime)], f"p50 {runtime}/eager"]
    rows = []
    for label, r in both.iterrows():
        cells = [str(label)]
        for key in keys:
            cells += [latency_text(r[key]), latency_text(r[f"{key}_{runtime}"])]
        cells.append(f"{r[f'latency_p50_us_{runtime}'] / r['latency_p50_us']:.2f}")
        rows.append(cells)
    lines += [format_table(header, rows, markdown), ""]
    lines += front_change_lines(eager.front, other.front, f"with {runtime}'s {latency_metric}, not eager's")
    return lines + recomputed_front_lines(other.front, runtime, accuracy_metric, latency_metric, markdown)
