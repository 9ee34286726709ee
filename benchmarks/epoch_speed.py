"""Seconds per training epoch, side by side in one process, for three data paths:

- notebook: the course notebook's path. A pandas DataFrame of the training set (label, then 784
  pixel columns, as ``mnist_train.csv`` read with pandas), a torch Dataset that turns ``df.iloc[i]``
  into a PIL image and applies torchvision transforms (Resize where the input is smaller, ToTensor,
  Normalize(0, 1)) per sample, in a DataLoader with batch 64 and shuffle.
- project: this project's path, ``tune_mnist.data.inputs.build_tensors`` (transforms applied once to the
  whole tensor) then ``tune_mnist.training.loop.train_epoch`` per epoch (what ``tune_mnist.training.loop.train``
  times as ``epoch_time_s``).
- floor: a plain whole-tensor loop written inline here: randperm, index, forward, backward, step,
  nothing else. The best a Python training loop can do with this model and optimizer.

All three train the same model (``tune_mnist.model.mlp.build_mlp``, same seed) with the same optimizer
construction as ``tune_mnist.training.loop.new_state`` (Adam lr 1e-3, fused on CPU), batch 64,
cross-entropy, on all 60,000 training images (no validation split, as the notebook), and report
test accuracy on the 10,000 test images after the last epoch.

    python benchmarks/epoch_speed.py                   # both models, 2 epochs (several minutes)
    python benchmarks/epoch_speed.py --quick           # a fast check on a subset
    python benchmarks/epoch_speed.py --models small --epochs 1 --threads 2

Goals: project >= 2x faster than the notebook on the baseline and >= 20x on the small
model, within 1.2x of the floor on both, baseline test accuracy within 0.5 points of 97.1%.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from tune_mnist.core.config import TrialConfig
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.sources import MnistArrays, load_mnist
from tune_mnist.data.splits import split_validation
from tune_mnist.train import cpu_name
from tune_mnist.training.loop import evaluate, new_state, train_epoch

MODELS = {
    "baseline": TrialConfig(side=None, depth=2, width=1024),
    "small": TrialConfig(side=8, depth=1, width=256),
}
NOTEBOOK_BASELINE_TEST_ACC = 0.971
QUICK_IMAGES = 64 * 150  # --quick: 150 batches of 64 per epoch
WARMUP_BATCHES = 30  # untimed, on a throwaway model, before the first timed epoch of each path


class Run:
    """One data path: set up once (timed as ``prep_s``), then ``epoch()`` trains one epoch and returns
    its wall time, and ``test_acc()`` evaluates on the test set."""

    name = ""

    def __init__(self) -> None:
        self.epoch_s: list[float] = []
        self.epoch_cpu_s: list[float] = []  # process CPU time: what a shared machine's load does not inflate
        self.prep_s = 0.0

    def epoch(self) -> float:
        wall, cpu = time.perf_counter(), time.process_time()
        self.train_one_epoch()
        self.epoch_s.append(time.perf_counter() - wall)
        self.epoch_cpu_s.append(time.process_time() - cpu)
        return self.epoch_s[-1]

    def train_one_epoch(self) -> None:
        raise NotImplementedError

    def warm_up(self) -> None:
        """A few untimed batches on a throwaway model, so that no path pays the process's first-use costs
        (allocator growth, lazy initialisation) inside a timed epoch."""
        raise NotImplementedError

    @property
    def mean_cpu_s(self) -> float:
        return statistics.mean(self.epoch_cpu_s)

    @property
    def mean_s(self) -> float:
        return statistics.mean(self.epoch_s)

    @property
    def best_s(self) -> float:
        return min(self.epoch_s)


# ------------------------------------------------------------------ the notebook's path


class NotebookRun(Run):
    name = "notebook"

    def __init__(self, arrays: MnistArrays, n_train: int, config: TrialConfig):
        super().__init__()
        import pandas as pd
        from PIL import Image
        from torch.utils.data import DataLoader, Dataset, Subset
        from torchvision import transforms

        start = time.perf_counter()
        columns = ["label"] + [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)]

        def frame(images: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
            # What pandas.read_csv gives for mnist_train.csv: int64 columns, the label first.
            return pd.DataFrame(
                np.column_stack([labels.astype(np.int64), images.reshape(len(images), -1)]), columns=columns
            )

        steps = [transforms.Resize((config.side, config.side))] if config.side else []
        transform = transforms.Compose(steps + [transforms.ToTensor(), transforms.Normalize(0, 1)])

        class MnistDataset(Dataset):
            def __init__(self, df: pd.DataFrame):
                self.df = df

            def __len__(self) -> int:
                return len(self.df)

            def __getitem__(self, i: int):
                row = self.df.iloc[i]
                label = int(row.iloc[0])
                image = Image.fromarray(row.iloc[1:].to_numpy().reshape(28, 28).astype(np.uint8))
                return transform(image), label

        train_df = frame(arrays.train_images[:n_train], arrays.train_labels[:n_train])
        self.test_df = frame(arrays.test_images, arrays.test_labels)
        self.train_loader = DataLoader(
            MnistDataset(train_df),
            batch_size=config.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(config.seed),
        )
        self.warmup_loader = DataLoader(
            Subset(MnistDataset(train_df), range(WARMUP_BATCHES * config.batch_size)),
            batch_size=config.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(config.seed + 1),
        )
        self.config = config
        self.test_loader = DataLoader(MnistDataset(self.test_df), batch_size=1000)
        self.prep_s = time.perf_counter() - start
        state = new_state(config, torch.device("cpu"))  # the same seeded model and optimizer as the project
        self.model, self.optimizer = state.model, state.optimizer

    def train_one_epoch(self) -> None:
        self._train(self.model, self.optimizer, self.train_loader)

    def warm_up(self) -> None:
        throwaway = new_state(self.config, torch.device("cpu"))
        self._train(throwaway.model, throwaway.optimizer, self.warmup_loader)

    @staticmethod
    def _train(model, optimizer, loader) -> None:
        model.train()
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def test_acc(self) -> float:
        self.model.eval()
        correct = 0
        with torch.inference_mode():
            for images, labels in self.test_loader:
                correct += int((self.model(images).argmax(1) == labels).sum())
        return correct / len(self.test_df)


# ------------------------------------------------------------------ this project's path


class ProjectRun(Run):
    name = "project"

    def __init__(self, arrays: MnistArrays, n_train: int, config: TrialConfig):
        super().__init__()
        start = time.perf_counter()
        splits = split_validation(arrays, 0)  # no validation split, as the notebook
        splits = type(splits)(
            splits.train_images[:n_train],
            splits.train_labels[:n_train],
            splits.val_images,
            splits.val_labels,
            splits.test_images,
            splits.test_labels,
        )
        self.tensors = build_tensors(splits, config)
        self.prep_s = time.perf_counter() - start
        self.state = new_state(config, torch.device("cpu"))
        self.config, self.batch_size = config, config.batch_size

    def train_one_epoch(self) -> None:
        # What tune_mnist.training.loop.train times as epoch_time_s (it adds only evaluation, outside the epoch).
        train_epoch(self.state, self.tensors.train_x, self.tensors.train_y, self.batch_size)
        self.state.epoch += 1

    def warm_up(self) -> None:
        n = WARMUP_BATCHES * self.batch_size
        train_epoch(
            new_state(self.config, torch.device("cpu")),
            self.tensors.train_x[:n],
            self.tensors.train_y[:n],
            self.batch_size,
        )

    def test_acc(self) -> float:
        return evaluate(self.state.model, self.tensors.test_x, self.tensors.test_y)[1]


# ------------------------------------------------------------------ the floor


class FloorRun(Run):
    """The plainest whole-tensor loop: same model, optimizer, batches; no metrics, no callbacks."""

    name = "floor"

    def __init__(self, tensors, config: TrialConfig):
        super().__init__()
        state = new_state(config, torch.device("cpu"))  # same seeded model and fused Adam as the project
        self.model, self.optimizer = state.model, state.optimizer
        self.x, self.y, self.tensors = tensors.train_x, tensors.train_y, tensors
        self.config, self.batch = config, config.batch_size
        self.generator = torch.Generator().manual_seed(config.seed)

    def train_one_epoch(self) -> None:
        self._train(self.model, self.optimizer, self.x, self.y, self.batch, self.generator)

    def warm_up(self) -> None:
        throwaway, n = new_state(self.config, torch.device("cpu")), WARMUP_BATCHES * self.batch
        self._train(
            throwaway.model, throwaway.optimizer, self.x[:n], self.y[:n], self.batch, torch.Generator().manual_seed(1)
        )

    @staticmethod
    def _train(model, optimizer, x, y, batch, generator) -> None:
        model.train()
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def test_acc(self) -> float:
        with torch.inference_mode():
            predictions = self.model.eval()(self.tensors.test_x).argmax(1)
        return float((predictions == self.tensors.test_y).float().mean())


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs per path (default 2, as the notebook)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"train on {QUICK_IMAGES} images per epoch instead of 60,000 (a fast check; "
        "accuracies are then not comparable with the notebook's)",
    )
    parser.add_argument("--models", default="baseline,small", help="comma-separated: baseline, small")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        parser.error(f"--models: unknown model {', '.join(unknown) or '(none)'}; use baseline and/or small")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> list[tuple[str, dict[str, Run]]]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    arrays = load_mnist()
    n_train = QUICK_IMAGES if args.quick else len(arrays.train_labels)
    print(
        f"Environment: CPU {cpu_name()} ({os.cpu_count()} cores), {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}, torch {torch.__version__}; load average before "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        f"Training on {n_train:,} images per epoch, {args.epochs} epoch(s), batch 64, Adam 1e-3 (fused); "
        f"test accuracy on {len(arrays.test_labels):,} images after the last epoch. The three paths take "
        "turns epoch by epoch (the first to go rotates; each warmed up first, untimed), so a change in machine "
        "load hits them alike.",
        flush=True,
    )
    results = []
    for name in args.models:
        config = MODELS[name]
        print(f"\n{name}: {config.architecture} ({config.input_spec})", flush=True)
        project = ProjectRun(arrays, n_train, config)
        runs = {
            "project": project,
            "floor": FloorRun(project.tensors, config),
            "notebook": NotebookRun(arrays, n_train, config),
        }
        for run in runs.values():
            run.warm_up()
        keys = list(runs)
        for epoch in range(1, args.epochs + 1):
            turn = keys[(epoch - 1) % len(keys) :] + keys[: (epoch - 1) % len(keys)]  # who goes first rotates
            times = {key: runs[key].epoch() for key in turn}
            print(
                f"  epoch {epoch}: "
                + ", ".join(f"{key} {t:.2f} s" for key, t in times.items())
                + f" (load average {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        accs = {key: run.test_acc() for key, run in runs.items()}
        print(
            "  test accuracy: "
            + ", ".join(f"{key} {acc:.2%}" for key, acc in accs.items())
            + f"; one-time preparation: project {project.prep_s:.2f} s (whole-tensor transforms), "
            f"notebook {runs['notebook'].prep_s:.2f} s (DataFrame)",
            flush=True,
        )
        results.append((name, runs, accs))

    print(
        f"\nSummary: seconds per epoch, mean of {args.epochs} (best in brackets); {torch.get_num_threads()} "
        f"threads; load average after {os.getloadavg()[0]:.2f}"
    )
    header = (
        f"{'model':<9} {'notebook s':>15} {'project s':>15} {'floor s':>15} {'notebook/project':>16} "
        f"{'project/floor':>13} {'acc notebook':>12} {'acc project':>11} {'acc floor':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, runs, accs in results:
        nb, pr, fl = runs["notebook"], runs["project"], runs["floor"]
        cell = lambda run: f"{run.mean_s:.2f} ({run.best_s:.2f})"
        print(
            f"{name:<9} {cell(nb):>15} {cell(pr):>15} {cell(fl):>15} {nb.mean_s / pr.mean_s:>15.1f}x "
            f"{pr.mean_s / fl.mean_s:>12.2f}x {accs['notebook']:>12.2%} {accs['project']:>11.2%} "
            f"{accs['floor']:>9.2%}"
        )
    print("Process CPU seconds per epoch (mean; a busy machine inflates wall time far more than this):")
    for name, runs, _ in results:
        nb, pr, fl = runs["notebook"], runs["project"], runs["floor"]
        print(
            f"  {name:<9} notebook {nb.mean_cpu_s:.2f}, project {pr.mean_cpu_s:.2f}, floor {fl.mean_cpu_s:.2f}; "
            f"notebook/project {nb.mean_cpu_s / pr.mean_cpu_s:.1f}x, project/floor "
            f"{pr.mean_cpu_s / fl.mean_cpu_s:.2f}x"
        )
    goals = {"baseline": 2.0, "small": 20.0}
    print(
        f"Goals: notebook/project >= 2x (baseline), >= 20x (small); project/floor <= 1.2x; baseline test "
        f"accuracy after 2 full epochs within 0.5 points of the notebook's {NOTEBOOK_BASELINE_TEST_ACC:.1%}."
    )
    for name, runs, accs in results:
        nb, pr, fl = runs["notebook"], runs["project"], runs["floor"]
        checks = [
            f"speed-up {nb.mean_s / pr.mean_s:.1f}x {'met' if nb.mean_s / pr.mean_s >= goals[name] else 'MISSED'}",
            f"project/floor {pr.mean_s / fl.mean_s:.2f}x {'met' if pr.mean_s / fl.mean_s <= 1.2 else 'MISSED'}",
        ]
        if name == "baseline" and not args.quick and args.epochs == 2:
            diff = 100 * (accs["project"] - NOTEBOOK_BASELINE_TEST_ACC)
            verdict = "met" if abs(diff) <= 0.5 else ("above it" if diff > 0 else "MISSED")
            checks.append(f"accuracy {diff:+.2f} points {verdict} (the notebook's path here: {accs['notebook']:.2%})")
        print(f"  {name}: " + "; ".join(checks))
    return results


if __name__ == "__main__":
    main()
