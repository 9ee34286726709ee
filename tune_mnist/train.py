"""``python -m tune_mnist.train``: one config, trained and measured in this process, as the notebook did,
and its model saved (the loop is ``tune_mnist.training.loop``)."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from tune_mnist.core.config import CONFIG_KEYS, SCALINGS, TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import CONFIG_FILE, MODEL_FILE, default_model_dir
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.options import DataSource, add_data_options, load_data, positive_int
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.model.measure import named_device
from tune_mnist.model.saved import save_model
from tune_mnist.training.loop import new_state, train

#: The options' defaults are TrialConfig's, so the CLI and the config cannot disagree.
DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrialConfig)}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def interactive() -> bool:
    """Carriage-return progress only where a person watches both streams: in a log file (``> run.log``,
    a pipe, a batch job) it would pile dozens of updates into one line."""
    return sys.stdout.isatty() and sys.stderr.isatty()


class EpochProgress:
    """The in-epoch progress: on a terminal a bar redrawn in place; otherwise a plain line only when
    an epoch has run ``quiet_s`` seconds since the last one (long epochs show they are alive, short
    ones print only their per-epoch line)."""

    def __init__(self, live: bool, quiet_s: float = 30.0) -> None:
        self.live, self.quiet_s = live, quiet_s
        self.last = time.monotonic()

    def __call__(self, epoch: int, done: int, total: int) -> None:
        if self.live:
            filled = int(30 * done / total)
            bar = f"[{'=' * filled}{' ' * (30 - filled)}]"
            print(f"\r  epoch {epoch} {bar} {done}/{total} batches", end="", file=sys.stderr, flush=True)
        elif time.monotonic() - self.last >= self.quiet_s:
            print(f"  epoch {epoch}: {done}/{total} batches", file=sys.stderr, flush=True)
            self.last = time.monotonic()

    def epoch_done(self) -> None:
        """Clear the bar before the epoch's line (on a terminal); restart the quiet interval."""
        if self.live:
            print("\r" + " " * 70 + "\r", end="", file=sys.stderr)
        self.last = time.monotonic()


@dataclass(frozen=True)
class SingleRun:
    """What ``python -m tune_mnist.train`` trains, on which data and device, and where its model goes."""

    config: TrialConfig
    data: DataSource
    validation_size: int
    split_seed: int
    subset: int | None
    device: str  # auto, cpu, cuda or cuda:N
    threads: int | None  # None: torch's own choice
    out: Path | None  # None: models/<config label>

    @classmethod
    def of(cls, options: object) -> SingleRun:
        """From the command's parsed options (any record with its fields)."""
        config = TrialConfig(**{name: getattr(options, name) for name in CONFIG_KEYS})
        fields = ("validation_size", "split_seed", "subset", "device", "threads", "out")
        return cls(config, DataSource.of(options), **{name: getattr(options, name) for name in fields})


def run(job: SingleRun) -> Path:
    config = job.config
    device = named_device(job.device)
    if job.threads:
        torch.set_num_threads(job.threads)
    threads = torch.get_num_threads()
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"Environment: device {device}{gpu}, Python {platform.python_version()}, torch {torch.__version__}, "
        f"CPU {cpu_name()}, {threads} thread{'s' if threads != 1 else ''}"
    )
    arrays = load_data(job.data)
    splits = subset(split_validation(arrays, job.validation_size, job.split_seed), job.subset, job.split_seed)
    tensors = build_tensors(splits, config, device)
    print(
        f"Data: {arrays.source}: train {len(splits.train_labels)}, validation {len(splits.val_labels)}, "
        f"test {len(splits.test_labels)}"
    )
    state = new_state(config, device)
    rows = []
    progress = EpochProgress(interactive())
    for row in train(config, tensors, state, progress=progress, threads=threads):
        progress.epoch_done()
        if not rows:
            print(
                f"Model: {row['architecture']} ({row['input_spec']}), params {row['params']:,}, "
                f"FLOPs {row['flops']:,} per sample (+ {row['flops_bias_relu']:,} bias adds and ReLUs)"
            )
        rows.append(row)
        print(
            f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%} | "
            f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.2%} | "
            f"test loss {row['test_loss']:.4f} acc {row['test_acc']:.2%} | {row['epoch_time_s']:.2f} s",
            flush=True,
        )
    last = rows[-1]
    times = [r["epoch_time_s"] for r in rows]
    spread = statistics.variance(times) if len(times) > 1 else 0.0
    print("Summary:")
    print(f"  params {last['params']:,}; FLOPs {last['flops']:,} per sample")
    print(
        f"  latency per sample on {last['device']} at {last['threads']} thread(s): batch-1 p50 "
        f"{last['latency_p50_us']:.1f} us, p90 {last['latency_p90_us']:.1f} us, p99 {last['latency_p99_us']:.1f} us; "
        f"at batch {last['latency_batch_size']} {last['latency_batch_us']:.2f} us"
    )
    print(f"  epoch time mean {statistics.mean(times):.2f} s, variance {spread:.4f} s^2 over {len(times)} epochs")
    print(f"  accuracy: train {last['train_acc']:.2%}, validation {last['val_acc']:.2%}, test {last['test_acc']:.2%}")
    out = job.out or Path(default_model_dir(config))
    save_model(out, state.model, config, tensors.mean, tensors.std, last)
    print(f"Saved model to {out}/ ({MODEL_FILE} state_dict, {CONFIG_FILE})")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_mnist.train", description=__doc__)
    model = parser.add_argument_group("model and input")
    model.add_argument(
        "--crop",
        type=int,
        help="centre-crop the 28x28 image to CxC first (default: no crop)",
    )
    model.add_argument(
        "--side",
        type=int,
        help="then resize to SxS, antialiased (default: keep the size)",
    )
    model.add_argument(
        "--scaling",
        choices=SCALINGS,
        help="unit: pixels in [0, 1] (the notebook); standard: training mean/std (default %(default)s)",
    )
    model.add_argument(
        "--depth",
        type=int,
        help="hidden layers, 0 = linear (default %(default)s)",
    )
    model.add_argument("--width", type=int, help="units per hidden layer (default %(default)s)")
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, help="default %(default)s")
    fit.add_argument("--batch-size", type=int, help="default %(default)s")
    fit.add_argument("--lr", type=float, help="Adam learning rate (default %(default)g)")
    fit.add_argument(
        "--seed",
        type=int,
        help="seed of the weights and batch order (default %(default)s)",
    )
    # The config's defaults, shown by %(default)s; TrialConfig checks the values (one sentence each).
    parser.set_defaults(**DEFAULTS)
    add_data_options(parser)
    where = parser.add_argument_group("run")
    where.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda or cuda:N")
    where.add_argument("--threads", type=positive_int, help="torch threads (default: torch's own choice)")
    where.add_argument(
        "--out",
        type=Path,
        help="where to save model.pt and config.json (default models/<config label>, e.g. models/resize8_1x256_s0)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(SingleRun.of(args))  # an impossible config is refused here, in one sentence
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("\nInterrupted: no model was saved.", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
