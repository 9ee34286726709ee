"""Seconds per training epoch, side by side in one process, for three data paths:

- notebook: the course notebook's path. A pandas DataFrame of the training set (label, then 784
  pixel columns, as ``mnist_train.csv`` read with pandas), a torch Dataset that turns ``df.iloc[i]``
  into a PIL image and applies torchvision transforms (Resize where the input is smaller, ToTensor,
  Normalize(0, 1)) per sample, in a DataLoader with batch 64 and shuffle.
- project: this project's path, ``tune_mnist.inputs.build_tensors`` (transforms applied once to the
  whole tensor) then ``tune_mnist.train.train`` (``train_epoch`` per epoch, without latency).
- floor: a plain whole-tensor loop written inline here: randperm, index, forward, backward, step,
  nothing else. The best a Python training loop can do with this model and optimizer.

All three train the same model (``tune_mnist.model.build_mlp``, same seed) with the same optimizer
construction as ``tune_mnist.train.new_state`` (Adam lr 1e-3, fused on CPU), batch 64,
cross-entropy, on all 60,000 training images (no validation split, as the notebook), and report
test accuracy on the 10,000 test images after the last epoch.

    python benchmarks/epoch_speed.py                   # both models, 2 epochs (several minutes)
    python benchmarks/epoch_speed.py --quick           # a fast check on a subset
    python benchmarks/epoch_speed.py --models small --epochs 1 --threads 2

Goals (issue 2): project >= 2x faster than the notebook on the baseline and >= 20x on the small
model, within 1.2x of the floor on both, baseline test accuracy within 0.5 points of 97.1%.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tune_mnist.config import TrialConfig
from tune_mnist.data import MnistArrays, load_mnist, split_validation
from tune_mnist.inputs import build_tensors
from tune_mnist.single_run import cpu_name
from tune_mnist.train import evaluate, new_state, train

MODELS = {
    "baseline": TrialConfig(side=None, depth=2, width=1024),
    "small": TrialConfig(side=8, depth=1, width=256),
}
NOTEBOOK_BASELINE_TEST_ACC = 0.971
QUICK_IMAGES = 64 * 150  # --quick: 150 batches of 64 per epoch


@dataclass
class Result:
    path: str
    epoch_s: list[float]
    test_acc: float
    prep_s: float = 0.0  # one-time work outside the epochs (DataFrame / whole-tensor transforms)

    @property
    def mean_s(self) -> float:
        return statistics.mean(self.epoch_s)


# ------------------------------------------------------------------ the notebook's path

def notebook_path(arrays: MnistArrays, n_train: int, config: TrialConfig, epochs: int) -> Result:
    import pandas as pd
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    start = time.perf_counter()
    columns = ["label"] + [f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)]

    def frame(images: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(np.column_stack([labels.astype(np.int64), images.reshape(len(images), -1)]),
                            columns=columns)

    train_df = frame(arrays.train_images[:n_train], arrays.train_labels[:n_train])
    test_df = frame(arrays.test_images, arrays.test_labels)
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

    train_loader = DataLoader(MnistDataset(train_df), batch_size=config.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(config.seed))
    test_loader = DataLoader(MnistDataset(test_df), batch_size=1000)
    prep = time.perf_counter() - start

    state = new_state(config, torch.device("cpu"))
    model, optimizer = state.model, state.optimizer
    times = []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for images, labels in train_loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    model.eval()
    correct = 0
    with torch.inference_mode():
        for images, labels in test_loader:
            correct += int((model(images).argmax(1) == labels).sum())
    return Result("notebook", times, correct / len(test_df), prep)


# ------------------------------------------------------------------ this project's path

def project_path(arrays: MnistArrays, n_train: int, config: TrialConfig, epochs: int) -> tuple[Result, object]:
    start = time.perf_counter()
    splits = split_validation(arrays, 0)
    splits = type(splits)(splits.train_images[:n_train], splits.train_labels[:n_train], splits.val_images,
                          splits.val_labels, splits.test_images, splits.test_labels)
    tensors = build_tensors(splits, config)
    prep = time.perf_counter() - start
    config = TrialConfig(**{**config.to_dict(), "epochs": epochs})
    rows = list(train(config, tensors, latency=False))
    return Result("project", [r["epoch_time_s"] for r in rows], rows[-1]["test_acc"], prep), tensors


# ------------------------------------------------------------------ the floor

def floor_path(tensors, config: TrialConfig, epochs: int) -> Result:
    """The plainest whole-tensor loop: same model, optimizer, batches; no metrics, no callbacks."""
    state = new_state(config, torch.device("cpu"))  # same seeded model and fused Adam as the project
    model, optimizer = state.model, state.optimizer
    x, y = tensors.train_x, tensors.train_y
    n, batch = len(y), config.batch_size
    generator = torch.Generator().manual_seed(config.seed)
    times = []
    model.train()
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    _, test_acc = evaluate(model, tensors.test_x, tensors.test_y)
    return Result("floor", times, test_acc)


# ------------------------------------------------------------------ main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per path (default 2, as the notebook)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true",
                        help=f"train on {QUICK_IMAGES} images per epoch instead of 60,000 (a fast check; "
                             "accuracies are then not comparable with the notebook's)")
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


def main(argv: list[str] | None = None) -> list[tuple[str, list[Result]]]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    arrays = load_mnist()
    n_train = QUICK_IMAGES if args.quick else len(arrays.train_labels)
    print(f"Environment: CPU {cpu_name()} ({os.cpu_count()} cores), {torch.get_num_threads()} torch threads, "
          f"Python {platform.python_version()}, torch {torch.__version__}; load average before "
          f"{os.getloadavg()[0]:.2f}")
    print(f"Training on {n_train:,} images per epoch, {args.epochs} epoch(s), batch 64, Adam 1e-3 (fused); "
          f"test accuracy on {len(arrays.test_labels):,} images after the last epoch.", flush=True)
    results = []
    for name in args.models:
        config = MODELS[name]
        print(f"\n{name}: {config.architecture} ({config.input_spec})", flush=True)
        runs = []
        project, tensors = project_path(arrays, n_train, config, args.epochs)
        runs.append(project)
        _report(project)
        runs.append(floor_path(tensors, config, args.epochs))
        _report(runs[-1])
        runs.append(notebook_path(arrays, n_train, config, args.epochs))
        _report(runs[-1])
        results.append((name, runs))
    print(f"\nSummary (seconds per epoch, mean of {args.epochs}; load average after {os.getloadavg()[0]:.2f})")
    header = (f"{'model':<9} {'notebook s':>10} {'project s':>9} {'floor s':>8} {'notebook/project':>16} "
              f"{'project/floor':>13} {'acc notebook':>12} {'acc project':>11} {'acc floor':>9}")
    print(header)
    print("-" * len(header))
    for name, (project, floor, notebook) in results:
        print(f"{name:<9} {notebook.mean_s:>10.2f} {project.mean_s:>9.2f} {floor.mean_s:>8.2f} "
              f"{notebook.mean_s / project.mean_s:>15.1f}x {project.mean_s / floor.mean_s:>12.2f}x "
              f"{notebook.test_acc:>12.2%} {project.test_acc:>11.2%} {floor.test_acc:>9.2%}")
    goals = {"baseline": 2.0, "small": 20.0}
    print("Goals: notebook/project >= 2x (baseline), >= 20x (small); project/floor <= 1.2x; "
          f"baseline test accuracy within 0.5 points of {NOTEBOOK_BASELINE_TEST_ACC:.1%} after 2 full epochs.")
    for name, (project, floor, notebook) in results:
        checks = [f"speed-up {'met' if notebook.mean_s / project.mean_s >= goals[name] else 'MISSED'}",
                  f"floor {'met' if project.mean_s / floor.mean_s <= 1.2 else 'MISSED'}"]
        if name == "baseline" and not args.quick and args.epochs == 2:
            ok = abs(project.test_acc - NOTEBOOK_BASELINE_TEST_ACC) <= 0.005
            checks.append(f"accuracy {'met' if ok else 'MISSED'}")
        print(f"  {name}: " + ", ".join(checks))
    return results


def _report(result: Result) -> None:
    epochs = ", ".join(f"{t:.2f}" for t in result.epoch_s)
    prep = f"; one-time preparation {result.prep_s:.2f} s" if result.prep_s else ""
    print(f"  {result.path:<8} epochs {epochs} s (mean {result.mean_s:.2f} s); test accuracy "
          f"{result.test_acc:.2%}{prep}", file=sys.stdout, flush=True)


if __name__ == "__main__":
    main()
