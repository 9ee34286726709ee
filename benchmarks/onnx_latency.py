"""Is the ONNX Runtime latency the analysis reports what a deployment sees? Ours against a bare
``InferenceSession.run``, side by side in one process.

``python benchmarks/onnx_latency.py [--threads 1] [--calls 200] [--rounds 7]`` exports a few model
shapes of the grid's front, makes one session per model, and in each round times every model twice
in a new order: ``tune_mnist.extras.onnx_runtime.measure_latency_onnx`` (what ``--remeasure --runtime
onnxruntime`` reports) and a bare loop written here from ONNX Runtime's API alone, ``session.run(None,
{name: x})`` on a float32 NumPy array made once before the loop, timed call by call with
``time.perf_counter`` the same way (and, for scale, the former method: a torch tensor converted inside each timed call).
Each takes the batch-1 p50 over ``--calls`` calls after the same
warm-up; the table gives the median over rounds and ours/bare. Goal: ours within 15% of bare
(0.85-1.15) for every model. On a shared machine compare the ratio, not the microseconds."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tune_mnist.extras.optional import require  # noqa: E402
from tune_mnist.model.mlp import build_mlp  # noqa: E402

SHAPES = [(196, 1, 64), (784, 2, 8), (196, 1, 1024), (784, 2, 1024)]
GOAL = 0.15
WARMUP = 20


def bare_p50_us(sess: object, in_features: int, calls: int) -> float:
    """Batch-1 p50 of a bare ``session.run`` on an array prepared once: the reference."""
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(1).random((1, in_features), dtype=np.float32)
    feed = {name: x}
    for _ in range(WARMUP):
        sess.run(None, feed)
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6)


def tensor_p50_us(sess: object, in_features: int, calls: int) -> float:
    """Batch-1 p50 as the analysis timed it before: a torch tensor converted (``x.numpy()``) and the
    feeds built inside each timed call (``SessionCallable``), for the size of what that cost."""
    import torch

    from tune_mnist.extras.onnx_runtime import SessionCallable
    from tune_mnist.model.measure import _time_calls

    call, x = SessionCallable(sess), torch.rand(1, in_features)
    _time_calls(call, x, WARMUP)
    return float(np.median(_time_calls(call, x, calls)) * 1e6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    parser.add_argument("--calls", type=int, default=200, help="batch-1 calls timed per measurement (default 200)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds, each visiting the models in a new order")
    args = parser.parse_args(argv)
    require("onnx", "benchmarks/onnx_latency.py")
    import torch

    from tune_mnist.extras.onnx_runtime import export_onnx, measure_latency_onnx, session

    torch.set_num_threads(args.threads)
    sessions = [session(export_onnx(build_mlp(i, d, w).eval(), i), args.threads) for i, d, w in SHAPES]
    ours: list[list[float]] = [[] for _ in SHAPES]
    bare: list[list[float]] = [[] for _ in SHAPES]
    tensor: list[list[float]] = [[] for _ in SHAPES]
    rng = np.random.default_rng(0)
    for _ in range(args.rounds):
        for m in rng.permutation(len(SHAPES)):
            in_features, sess = SHAPES[m][0], sessions[m]
            first_ours = rng.random() < 0.5  # neither always goes first
            for ours_turn in (first_ours, not first_ours):
                if ours_turn:
                    result = measure_latency_onnx(sess, in_features, args.threads, warmup=WARMUP, calls=args.calls)
                    ours[m].append(result["latency_p50_us"])
                else:
                    bare[m].append(bare_p50_us(sess, in_features, args.calls))
            tensor[m].append(tensor_p50_us(sess, in_features, args.calls))
    print(
        f"ONNX Runtime batch-1 p50, us: median of {args.rounds} rounds, {args.calls} calls each, "
        f"{args.threads} thread(s); ours = measure_latency_onnx, bare = session.run on a prepared array"
    )
    print(f"{'model':<18} {'bare':>8} {'ours':>8} {'ours/bare':>10} {'tensor':>8} {'tensor/bare':>12}")
    worst = 0.0
    for (i, d, w), o, b, t in zip(SHAPES, ours, bare, tensor, strict=True):
        ratio = float(np.median(o)) / float(np.median(b))
        worst = max(worst, abs(ratio - 1))
        print(
            f"{f'{i}-{d}x{w}':<18} {np.median(b):>8.2f} {np.median(o):>8.2f} {ratio:>10.3f} "
            f"{np.median(t):>8.2f} {np.median(t) / np.median(b):>12.3f}"
        )
    print("(tensor: the former method, a torch tensor converted inside each timed call; for scale only)")
    verdict = "met" if worst <= GOAL else "missed"
    print(f"goal: ours within {GOAL:.0%} of bare for every model: {verdict} (worst {worst:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
