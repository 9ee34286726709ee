"""A check for a machine with a real NVIDIA GPU: fractional-GPU trials really train on CUDA, and how
their epoch times compare with the same configs on the CPU.

It runs one small search twice through ``tune_mnist.search.main`` (each starts and stops its own
local Ray sized to this machine): first with ``--gpus-per-trial 0.25`` (four trials share a GPU),
then with no GPUs. It fails (exit 1) unless every row of every GPU trial says ``device`` cuda:N and
every CPU trial says cpu, then prints, per config, the first epoch's time (CUDA start-up and
warm-up included) and the median of the later epochs on each device, side by side.

    python benchmarks/gpu_check.py                       # small space, 20,000 training images, 3 epochs
    python benchmarks/gpu_check.py --space smoke --subset 5000 --epochs 2
    python benchmarks/gpu_check.py --gpus-per-trial 0.5 --max-concurrent 4

Epoch times are measured while other trials share the GPU (and the CPUs): they show what a search
gets, not a model's speed alone. Exit status: 0 checked, 1 a trial not where it should be, 2 no CUDA
GPU here or the search refused its options.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from tune_mnist import search
from tune_mnist.core.layout import PARAMS_FILE, RESULT_FILE

# One config per trial, if this search packs several configs into one trial on GPUs (--pack).
ONE_PER_TRIAL = ["--pack", "1"] if "pack" in vars(search.parse_args([])) else []


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="small", help="a list space (default small: 8 configs)")
    parser.add_argument("--subset", type=int, default=20000, help="training images (default 20000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (default 3)")
    parser.add_argument("--gpus-per-trial", type=float, default=0.25, help="GPU fraction per trial (default 0.25)")
    parser.add_argument("--cpus-per-trial", type=float, default=1, help="CPUs per trial, both runs (default 1)")
    parser.add_argument("--max-concurrent", type=int, help="at most this many trials at once, both runs")
    parser.add_argument("--storage-path", help="where both experiments go (default: a new temporary directory)")
    return parser.parse_args(argv)


def no_cuda_reason() -> str | None:
    """Why this machine cannot run the check, or None."""
    if torch.version.cuda is None:
        return (
            f"torch {torch.__version__} is a CPU-only build: install a CUDA build of torch, on a machine with "
            "an NVIDIA GPU, to run benchmarks/gpu_check.py."
        )
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return (
            f"no CUDA GPU is visible here (torch {torch.__version__}, CUDA {torch.version.cuda}, "
            "torch.cuda.is_available() is False): run benchmarks/gpu_check.py on a machine with an NVIDIA GPU "
            "and its driver."
        )
    return None


def run(label: str, options: list[str], storage: str, name: str) -> dict[tuple, list[dict]]:
    print(f"\n=== {label}: python -m tune_mnist.search {' '.join(options)} --name {name}", flush=True)
    rc = search.main([*options, "--storage-path", storage, "--name", name])
    if rc != 0:
        raise SystemExit(f"error: the {label} search ended with exit status {rc} (see its output above).")
    return trials(Path(storage) / name)


def trials(experiment: Path) -> dict[tuple, list[dict]]:
    """Every trial's rows, keyed by (input spec, architecture, seed)."""
    found = {}
    for trial in sorted(p for p in experiment.iterdir() if (p / RESULT_FILE).is_file()):
        rows = [json.loads(line) for line in (trial / RESULT_FILE).read_text().splitlines() if line.strip()]
        if rows and "input_spec" in rows[0]:
            params = json.loads((trial / PARAMS_FILE).read_text())
            found[(rows[0]["input_spec"], rows[0]["architecture"], params.get("seed", 0))] = rows
    return found


def misplaced(runs: dict[tuple, list[dict]], expected: str) -> list[str]:
    """Trials with a row whose device is not ``expected`` (cuda: any cuda:N)."""
    bad = []
    for key, rows in runs.items():
        devices = {str(r.get("device")) for r in rows}
        if not all(d.split(":")[0] == expected for d in devices):
            bad.append(f"{key[0]} {key[1]} seed {key[2]}: device {', '.join(sorted(devices))}")
    return bad


def epoch_times(rows: list[dict]) -> tuple[float, float]:
    times = [r["epoch_time_s"] for r in rows]
    return times[0], statistics.median(times[1:]) if len(times) > 1 else float("nan")


def table(gpu: dict[tuple, list[dict]], cpu: dict[tuple, list[dict]]) -> str:
    head = (
        f"{'input':<14} {'model':<12} {'seed':>4} | {'GPU ep1 s':>9} {'GPU later s':>11} | "
        f"{'CPU ep1 s':>9} {'CPU later s':>11} | {'CPU/GPU':>7} | {'test acc GPU':>12} {'CPU':>6}"
    )
    lines = [head, "-" * len(head)]
    for key in sorted(set(gpu) | set(cpu)):
        g, c = gpu.get(key), cpu.get(key)
        g1, gl = epoch_times(g) if g else (float("nan"),) * 2
        c1, cl = epoch_times(c) if c else (float("nan"),) * 2
        ratio = cl / gl if g and c and gl > 0 else float("nan")
        ga = g[-1]["test_acc"] if g else float("nan")
        ca = c[-1]["test_acc"] if c else float("nan")
        lines.append(
            f"{key[0]:<14} {key[1]:<12} {key[2]:>4} | {g1:>9.3f} {gl:>11.3f} | {c1:>9.3f} {cl:>11.3f} | "
            f"{ratio:>6.2f}x | {ga:>12.4f} {ca:>6.4f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reason = no_cuda_reason()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    storage = args.storage_path or tempfile.mkdtemp(prefix="gpu_check-")
    common = [
        "--space",
        args.space,
        "--subset",
        str(args.subset),
        "--epochs",
        str(args.epochs),
        "--cpus-per-trial",
        f"{args.cpus_per_trial:g}",
        *ONE_PER_TRIAL,
    ]
    if args.max_concurrent:
        common += ["--max-concurrent", str(args.max_concurrent)]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    gpu = run(
        f"GPU ({args.gpus_per_trial:g} GPU per trial)",
        [*common, "--gpus-per-trial", f"{args.gpus_per_trial:g}"],
        storage,
        f"gpu-check-cuda-{stamp}",
    )
    bad = misplaced(gpu, "cuda")
    if not gpu or bad:
        print(
            "error: GPU trials did not all train on CUDA:\n  " + "\n  ".join(bad or ["no trial results"]),
            file=sys.stderr,
        )
        return 1
    cpu = run("CPU (no GPU)", common, storage, f"gpu-check-cpu-{stamp}")
    bad = misplaced(cpu, "cpu")
    if not cpu or bad:
        print(
            "error: CPU trials did not all stay on the CPU:\n  " + "\n  ".join(bad or ["no trial results"]),
            file=sys.stderr,
        )
        return 1

    any_row = next(iter(gpu.values()))[0]
    slots: dict[tuple, int] = {}
    for rows in gpu.values():
        slot = (rows[0]["node_ip"], str(rows[0]["gpu_ids"]))
        slots[slot] = slots.get(slot, 0) + 1
    print(
        f"\nAll {len(gpu)} GPU trials trained on CUDA ({any_row['device_name']}, torch {any_row['torch_version']}); "
        f"all {len(cpu)} CPU trials on the CPU ({next(iter(cpu.values()))[0]['device_name']})."
    )
    print("GPU trials per (node, GPU id): " + ", ".join(f"{ip} GPU {g}: {n}" for (ip, g), n in sorted(slots.items())))
    print(
        f"Epoch times in seconds ({args.subset:,} training images, {args.epochs} epochs; 'later' is the median of "
        "epochs 2 and up; trials ran side by side):"
    )
    print(table(gpu, cpu))
    print(f"\nExperiments: {storage}/gpu-check-cuda-{stamp} and {storage}/gpu-check-cpu-{stamp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
