"""Command-line options shared by the single-run and search CLIs: the data source and validation split,
and the number parsers their options use."""

from __future__ import annotations

import argparse

from tune_mnist.data import DEFAULT_SPLIT_SEED, DEFAULT_VALIDATION_SIZE, MnistArrays, load_mnist


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data (default: the MNIST files shipped in data/mnist)")
    group.add_argument("--data-dir", help="directory of MNIST IDX files (.gz or not; torchvision's MNIST/raw too)")
    group.add_argument("--train-csv", help="training CSV in the notebook's layout (label, then 784 pixels)")
    group.add_argument("--test-csv", help="test CSV in the same layout")
    group.add_argument("--download", metavar="DIR", help="download MNIST with torchvision into DIR and use it")
    group.add_argument(
        "--validation-size",
        type=int,
        default=DEFAULT_VALIDATION_SIZE,
        help="training images held out for validation (default %(default)s; 0 = none, as the notebook)",
    )
    group.add_argument(
        "--split-seed", type=int, default=DEFAULT_SPLIT_SEED, help="seed of the validation split (default %(default)s)"
    )
    group.add_argument("--subset", type=int, help="train on a seeded subset of N images (quick runs)")


def load_data(args: argparse.Namespace) -> MnistArrays:
    return load_mnist(args.data_dir, args.train_csv, args.test_csv, args.download)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value
