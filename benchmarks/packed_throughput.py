"""Model-epochs per second, side by side in one process on one device: the single-model path
(``tune_mnist.training.loop.train``, one config after another, as one-config trials run) against packs of K
configs trained together (``tune_mnist.training.packed.engine.train_packed``), for four shapes:

- tiny:     5x5 input (resize 5),   one hidden layer of 10   (25-10-10, 700 FLOPs: the cheap end of the front)
- small:    8x8 input (resize 8),   one hidden layer of 256  (64-256-10, the notebook's pick)
- middle:   14x14 input (resize 14), one hidden layer of 64  (196-64-10)
- baseline: 28x28 input,            two hidden layers of 1024 (784-1024-1024-10)

Members of a pack are the shape with seeds 0..K-1 (one learning rate, so Adam is the single path's
fused kernel; ``--distinct-lrs`` gives every member its own, which takes the scaled Adam path).
Both paths run without latency measurement. "train" counts the epochs' wall time only (what
``epoch_time_s`` sums to); "wall" also counts building the input tensors, the weights and the
per-epoch validation and test evaluation.

    python benchmarks/packed_throughput.py --quick                 # CPU: a few minutes
    python benchmarks/packed_throughput.py --device cuda           # GPU: packs up to the largest that fits
    python benchmarks/packed_throughput.py --shapes small --sizes 1,16,128,512 --epochs 2 --subset 10000
    python benchmarks/packed_throughput.py --shapes tiny --sizes 3,16,64   # CPU, 700-FLOP members: ~2 min

On CUDA the size ``max`` doubles the pack from the largest listed size until it runs out of memory
(or reaches --max-pack) and times the largest that trained. On CPU, packs whose stacked
parameters would exceed --max-pack-params are skipped (they would take hours on a few cores).

Goals: on one H100, at least 300 model-epochs/s for the small shapes, and the baseline's
packs within 10% per model of its solo CUDA-graph time (the pack of 1 on CUDA is that solo graphed
run); on CPU, packing not slower than one config per trial, and packs of 700-FLOP members (``tiny``)
at least 6x the single path's model-epochs per second.

Whole searches, as child processes of ``python -m tune_mnist.search`` (so they include Ray's start,
the trials' processes and the unpacking of results): ``--grid-pack K`` times the grid space without
and with ``--pack K``; ``--random-configs N`` times the random space with N configs, 2 epochs each,
packed as ``--pack auto`` packs them (goal: N = 1,000 in under 5 minutes on one H100,
with ``--search-args "--gpus-per-trial 1"``). ``--search-args`` go to every search run."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tune_mnist.core.config import TrialConfig
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.sources import load_mnist
from tune_mnist.data.splits import Splits, split_validation, subset
from tune_mnist.model.counts import mlp_params
from tune_mnist.model.measure import synchronize
from tune_mnist.train import cpu_name
from tune_mnist.training.loop import new_state, train
from tune_mnist.training.packed.engine import train_packed
from tune_mnist.training.packed.state import PackState

SHAPES = {
    "tiny": dict(side=5, depth=1, width=10),
    "small": dict(side=8, depth=1, width=256),
    "middle": dict(side=14, depth=1, width=64),
    "baseline": dict(depth=2, width=1024),
}
QUICK = dict(subset=2048, epochs=1, sizes="1,16,128", single=6)


@dataclass
class Row:
    shape: str
    path: str  # "single" or "pack"
    k: int  # models trained together (1 for single: they run one after another)
    models: int
    epochs: int
    train_s: float
    wall_s: float
    test_acc_mean: float
    note: str = ""

    @property
    def train_rate(self) -> float:
        return self.models * self.epochs / self.train_s if self.train_s else math.nan

    @property
    def wall_rate(self) -> float:
        return self.models * self.epochs / self.wall_s if self.wall_s else math.nan


def shape_configs(shape: str, count: int, epochs: int, batch_size: int, distinct_lrs: bool) -> list[TrialConfig]:
    configs = []
    for seed in range(count):
        lr = 1e-3 * 10 ** (-0.5 + seed / max(1, count - 1)) if distinct_lrs and count > 1 else 1e-3
        configs.append(TrialConfig(**SHAPES[shape], lr=lr, epochs=epochs, batch_size=batch_size, seed=seed))
    return configs


def run_single(shape: str, splits: Splits, device: torch.device, count: int, epochs: int, batch_size: int) -> Row:
    train_s, accs = 0.0, []
    synchronize(device)
    start = time.perf_counter()
    for config in shape_configs(shape, count, epochs, batch_size, False):
        tensors = build_tensors(splits, config, device)
        rows = list(train(config, tensors, new_state(config, device), latency=False))
        train_s += sum(r["epoch_time_s"] for r in rows)
        accs.append(rows[-1]["test_acc"])
    synchronize(device)
    return Row(shape, "single", 1, count, epochs, train_s, time.perf_counter() - start, sum(accs) / len(accs))


def run_pack(
    shape: str,
    splits: Splits,
    device: torch.device,
    k: int,
    epochs: int,
    batch_size: int,
    distinct_lrs: bool,
    use_graph: bool | None = None,
) -> Row:
    configs = shape_configs(shape, k, epochs, batch_size, distinct_lrs)
    synchronize(device)
    start = time.perf_counter()
    state = PackState(configs, device)
    train_s, accs = 0.0, []
    for rows in train_packed(configs, splits, device, latency=False, state=state, use_graph=use_graph):
        train_s += rows[0]["epoch_time_s"] * k
        accs = [r["test_acc"] for r in rows]
    synchronize(device)
    wall = time.perf_counter() - start
    del state
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return Row(shape, "pack", k, k, epochs, train_s, wall, sum(accs) / len(accs))


def best_of(repeat: int, run: Callable[[], Row]) -> Row:
    """The run with the least training time of ``repeat`` runs."""
    return min((run() for _ in range(max(1, repeat))), key=lambda row: row.train_s)


def fits(shape: str, splits: Splits, device: torch.device, k: int, batch_size: int) -> bool:
    """Whether a pack of k trains a few steps on the GPU without running out of memory."""
    tiny = subset(splits, batch_size * 4)
    try:
        configs = shape_configs(shape, k, 1, batch_size, False)
        for _ in train_packed(configs, tiny, device, latency=False):
            pass
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        torch.cuda.empty_cache()


def largest_fit(shape: str, splits: Splits, device: torch.device, start: int, limit: int, batch_size: int) -> int:
    k, best = max(1, start), 0
    while k <= limit and fits(shape, splits, device, k, batch_size):
        best, k = k, k * 2
    return best


def timed_search(label: str, argv: list[str], storage: str) -> tuple[str, list[str]]:
    """One search as a child process, timed from start to exit; its line and its printed picks."""
    command = [sys.executable, "-m", "tune_mnist.search", "--storage-path", storage, *argv]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    finished = [line for line in done.stdout.splitlines() if " trials finished" in line]
    picks = [line.split(" latency p50")[0].strip() for line in done.stdout.splitlines() if "  best by " in line]
    status = (
        (finished[-1].strip() if finished else "ok")
        if done.returncode == 0
        else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    )
    return f"{label:<28}: {wall:8.1f} s wall ({status})", picks


def search_wall_times(args: argparse.Namespace) -> list[str]:
    """The grid with --pack 1 and with --pack K (or auto), side by side, with their picks compared
    (without latency, which is measured anew); the random space with N configs (--pack auto)."""
    extra = shlex.split(args.search_args)
    lines = []
    with tempfile.TemporaryDirectory() as storage:
        if args.grid_pack:
            walls, picks = [], []
            for k in ("1", args.grid_pack):
                argv = ["--space", "grid", "--name", f"packbench-grid-{k}", "--pack", k, *extra]
                line, chosen = timed_search(f"grid, --pack {k}", argv, storage)
                lines.append(line)
                walls.append(float(line.split(":")[1].split()[0]))
                picks.append(chosen)
                print(line, *chosen, sep="\n  ", flush=True)
            same = "the same picks" if picks[0] == picks[1] else "DIFFERENT picks"
            ratio = walls[1] / walls[0]
            lines.append(f"grid --pack {args.grid_pack} / --pack 1: {ratio:.2f}x the wall time, {same}")
            print(lines[-1], flush=True)
        if args.random_configs:
            argv = [
                "--space",
                "random",
                "--num-samples",
                str(args.random_configs),
                "--epochs",
                "2",
                "--name",
                "packbench-random",
                *extra,
            ]
            lines.append(timed_search(f"random, {args.random_configs} configs x 2 epochs", argv, storage)[0])
            print(lines[-1], flush=True)
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    parser.add_argument(
        "--shapes",
        default="small,middle,baseline",
        help="comma list of " + ", ".join(SHAPES) + "; none = only the whole searches",
    )
    parser.add_argument(
        "--sizes",
        help="pack sizes, comma list; 'max' = largest that fits (CUDA only) "
        "(default 1,16,128,512, and max on CUDA; --quick 1,16,128)",
    )
    parser.add_argument("--epochs", type=int, help="epochs per model (default 2; --quick 1)")
    parser.add_argument("--subset", type=int, help="training images (default: all 55,000; --quick 2048)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--single", type=int, help="models the single path trains, one after another (default 2; --quick 6)"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every row R times and keep the fastest (training time): for shared machines",
    )
    parser.add_argument("--max-pack", type=int, default=16384, help="largest pack 'max' tries (CUDA)")
    parser.add_argument(
        "--max-pack-params",
        type=float,
        help="skip packs with more stacked parameters (default 6.4e7 on CPU, none on CUDA)",
    )
    parser.add_argument("--no-graph", action="store_true", help="CUDA: train packs eagerly, without the CUDA graph")
    parser.add_argument("--distinct-lrs", action="store_true", help="every member its own lr (scaled Adam path)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small run: subset {QUICK['subset']}, {QUICK['epochs']} epoch, sizes {QUICK['sizes']}",
    )
    parser.add_argument(
        "--grid-pack",
        metavar="K|auto",
        help="also time the whole grid search (its confirmation included) with --pack 1 and with --pack K or "
        "auto, and compare their picks (goal for auto on CPU: at most 0.7x, the same picks)",
    )
    parser.add_argument(
        "--random-configs",
        type=int,
        metavar="N",
        help="also time the whole random search with N configs, 2 epochs each, --pack auto",
    )
    parser.add_argument(
        "--search-args",
        default="",
        help="extra arguments for every search run, e.g. '--subset 5000' or '--gpus-per-trial 1'",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if args.device == "auto"
        else args.device
    )
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"--device {args.device}: this machine has no CUDA GPU; use --device cpu (or auto).", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    epochs = args.epochs or (QUICK["epochs"] if args.quick else 2)
    n_sub = args.subset or (QUICK["subset"] if args.quick else None)
    sizes_text = args.sizes or (QUICK["sizes"] if args.quick else "1,16,128,512" + (",max" if cuda else ""))
    sizes = [s.strip() for s in sizes_text.split(",") if s.strip()]
    single = args.single or (QUICK["single"] if args.quick else 2)
    max_params = args.max_pack_params or (None if cuda else 6.4e7)
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip() and s.strip() != "none"]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        print(f"Unknown shape {unknown[0]!r}: use {', '.join(SHAPES)}.", file=sys.stderr)
        return 2

    splits = subset(split_validation(load_mnist()), n_sub)
    where = torch.cuda.get_device_name(device) if cuda else f"CPU {cpu_name()}, {os.cpu_count()} cores"
    print(
        f"device {device} ({where}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{len(splits.train_labels)} training images, batch {args.batch_size}, {epochs} epoch(s), "
        f"best of {args.repeat}, "
        f"load average at start {os.getloadavg()[0]:.2f}",
        flush=True,
    )

    rows: list[Row] = []
    header = (
        f"{'shape':9} {'path':8} {'K':>6} {'train s':>9} {'model-ep/s':>11} {'wall s':>9} {'model-ep/s':>11} "
        f"{'vs single':>9} {'test acc':>8}  note"
    )
    print(header + "\n" + " " * 33 + "(train)" + " " * 15 + "(wall)")
    for shape in shapes:
        params = mlp_params(TrialConfig(**SHAPES[shape]).in_features, SHAPES[shape]["depth"], SHAPES[shape]["width"])
        # Untimed warm-up of both paths on a few batches: library start-up (MKL / oneDNN / cuBLAS
        # handles, autograd) is not charged to whichever row happens to run first.
        warm = subset(splits, args.batch_size * 4)
        run_single(shape, warm, device, 1, 1, args.batch_size)
        run_pack(shape, warm, device, 2, 1, args.batch_size, args.distinct_lrs, False if args.no_graph else None)
        base = best_of(
            args.repeat, lambda shape=shape: run_single(shape, splits, device, single, epochs, args.batch_size)
        )
        rows.append(base)
        print_row(base, base)
        for size in sizes:
            if size == "max":
                if not cuda:
                    continue
                numeric = [int(s) for s in sizes if s != "max"]
                k = largest_fit(shape, splits, device, max(numeric or [1]) * 2, args.max_pack, args.batch_size)
                if k == 0:
                    continue
                note = "largest that fits" if k * 2 <= args.max_pack else f"capped by --max-pack {args.max_pack}"
            else:
                k, note = int(size), ""
            if max_params and k * params > max_params:
                row = Row(
                    shape,
                    "pack",
                    k,
                    k,
                    epochs,
                    0.0,
                    0.0,
                    math.nan,
                    f"skipped: {k * params:.2g} stacked params > --max-pack-params {max_params:.2g}",
                )
                rows.append(row)
                print_row(row, base)
                continue
            try:
                row = best_of(
                    args.repeat,
                    lambda shape=shape, k=k: run_pack(
                        shape,
                        splits,
                        device,
                        k,
                        epochs,
                        args.batch_size,
                        args.distinct_lrs,
                        False if args.no_graph else None,
                    ),
                )
                row.note = note
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                row = Row(shape, "pack", k, k, epochs, 0.0, 0.0, math.nan, "out of memory")
            rows.append(row)
            print_row(row, base)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    searches = search_wall_times(args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": [asdict(r) | {"train_rate": r.train_rate, "wall_rate": r.wall_rate} for r in rows],
                    "searches": searches,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


def print_row(row: Row, base: Row) -> None:
    if not row.train_s:
        print(
            f"{row.shape:9} {row.path:8} {row.k:>6} {'-':>9} {'-':>11} {'-':>9} {'-':>11} {'-':>9} {'-':>8}  {row.note}"
        )
        return
    ratio = row.train_rate / base.train_rate
    print(
        f"{row.shape:9} {row.path:8} {row.k:>6} {row.train_s:9.2f} {row.train_rate:11.2f} {row.wall_s:9.2f} "
        f"{row.wall_rate:11.2f} {ratio:8.2f}x {row.test_acc_mean:8.4f}  {row.note}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
