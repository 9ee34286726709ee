"""What ONNX Runtime latency would cost each trial of a search: export + session + timing, per model.

``python benchmarks/onnx_trial_cost.py [--threads 1] [--calls 200]`` runs, in one fresh process as a
trial's worker would, for a few grid shapes: the ONNX export (torch.export-based, ``dynamo=True``;
the first one pays for importing and warming the exporter), the ONNX Runtime session, the ONNX
Runtime latency measurement, and beside it the eager measurement every trial already does. This is
what decided that the search does not measure ONNX Runtime latency per trial (docs/deploy-runtime.md)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from tune_mnist.extras.optional import require  # noqa: E402
from tune_mnist.model.measure import measure_latency  # noqa: E402
from tune_mnist.model.mlp import build_mlp  # noqa: E402

SHAPES = [(64, 1, 8), (64, 1, 256), (196, 1, 1024), (784, 2, 1024), (784, 2, 2048)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads (default 1)")
    parser.add_argument("--calls", type=int, default=200, help="batch-1 calls timed (default 200, as trials)")
    args = parser.parse_args(argv)
    require("onnx", "benchmarks/onnx_trial_cost.py")
    from tune_mnist.extras.onnx_runtime import export_onnx, measure_latency_onnx, session

    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, {args.calls} batch-1 calls; seconds per model (first export includes warm-up)")
    print(
        f"{'model':<16} {'export':>7} {'session':>8} {'ort time':>9} {'ort total':>10} {'eager time':>11} "
        f"{'p50 eager':>10} {'p50 ort':>8}"
    )
    for in_features, depth, width in SHAPES:
        model = build_mlp(in_features, depth, width).eval()
        t0 = time.perf_counter()
        data = export_onnx(model, in_features)
        t1 = time.perf_counter()
        sess = session(data, args.threads)
        t2 = time.perf_counter()
        ort = measure_latency_onnx(sess, in_features, args.threads, calls=args.calls)
        t3 = time.perf_counter()
        eager = measure_latency(model, in_features, threads=args.threads, calls=args.calls)
        t4 = time.perf_counter()
        label = f"{in_features}-{depth}x{width}"
        print(
            f"{label:<16} {t1 - t0:>7.2f} {t2 - t1:>8.3f} {t3 - t2:>9.2f} {t3 - t0:>10.2f} {t4 - t3:>11.2f} "
            f"{eager['latency_p50_us']:>10.1f} {ort['latency_p50_us']:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
