"""Command-line options shared by the single-run and search CLIs: the data source and validation split;
and the number parsers of the counts that no record checks (the single run's ``--threads``, the
analysis's; a config's values are checked by ``TrialConfig``, the search's by ``tune_mnist.search_keywords``)."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

from tune_mnist.data.sources import DEFAULT_SPLIT_SEED, DEFAULT_VALIDATION_SIZE, MnistArrays, load_mnist


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data (default: the MNIST files shipped in data/mnist)")
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help="directory of MNIST-format IDX files (.gz or not; torchvision's MNIST/raw layout too), e.g. "
        "Fashion-MNIST (default: data/mnist, shipped with the repository)",
    )
    group.add_argument(
        "--train-csv", metavar="CSV", help="training CSV in the notebook's layout: label, then 784 pixel values"
    )
    group.add_argument("--test-csv", metavar="CSV", help="test CSV in the same layout (needed with --train-csv)")
    group.add_argument(
        "--download", metavar="DIR", help="download MNIST with torchvision into DIR and use it (needs internet)"
    )
    group.add_argument(
        "--validation-size",
        type=int,
        metavar="N",
        default=DEFAULT_VALIDATION_SIZE,
        help="training images held out for validation (default %(default)s; 0 = none, as the notebook)",
    )
    group.add_argument(
        "--split-seed",
        type=int,
        metavar="N",
        default=DEFAULT_SPLIT_SEED,
        help="seed of the validation split (default %(default)s)",
    )
    group.add_argument(
        "--subset",
        type=int,
        metavar="N",
        help="use a seeded subset of N training images (validation and test capped at N too), for quick runs "
        "(default: all, or the space's own for quick spaces such as smoke)",
    )


@dataclass(frozen=True)
class DataSource:
    """Where the images come from, as both CLIs' data options give it (all None: the shipped MNIST)."""

    data_dir: str | None = None
    train_csv: str | None = None
    test_csv: str | None = None
    download: str | None = None

    @classmethod
    def of(cls, options: object) -> DataSource:
        """The source named by a command's options (any record with these four fields)."""
        return cls(**{f.name: getattr(options, f.name) for f in dataclasses.fields(cls)})


def load_data(source: DataSource) -> MnistArrays:
    return load_mnist(source.data_dir, source.train_csv, source.test_csv, source.download)


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
