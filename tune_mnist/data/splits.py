"""The three splits a trial uses: a seeded validation split held out of the training images, and the
seeded subsets of quick runs. Still uint8 numpy, as ``sources`` read it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tune_mnist.core.errors import InputError
from tune_mnist.data.sources import DEFAULT_SPLIT_SEED, DEFAULT_VALIDATION_SIZE, MnistArrays


@dataclass(frozen=True)
class Splits:
    """The three splits a trial uses, still uint8."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def split_validation(
    arrays: MnistArrays, validation_size: int = DEFAULT_VALIDATION_SIZE, seed: int = DEFAULT_SPLIT_SEED
) -> Splits:
    """Hold out a seeded random validation set from the training images (0: none, as the notebook)."""
    n = len(arrays.train_labels)
    if (
        isinstance(validation_size, bool)
        or not isinstance(validation_size, (int, np.integer))
        or not 0 <= validation_size < n
    ):
        raise InputError(
            f"Validation size {validation_size!r} is invalid: use an integer from 0 to {n - 1} "
            f"(the training set has {n} images)."
        )
    order = np.random.default_rng(seed).permutation(n)
    val, train = np.sort(order[:validation_size]), np.sort(order[validation_size:])
    return Splits(
        arrays.train_images[train],
        arrays.train_labels[train],
        arrays.train_images[val],
        arrays.train_labels[val],
        arrays.test_images,
        arrays.test_labels,
    )


def subset(splits: Splits, n: int | None, seed: int = 0) -> Splits:
    """A seeded subset of n training images (validation and test capped at n too), for quick runs."""
    if n is None:
        return splits
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"Subset size {n!r} is invalid: use a positive number of training images.")
    rng = np.random.default_rng(seed + 1)

    def take(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(labels) <= n:
            return images, labels
        keep = np.sort(rng.permutation(len(labels))[:n])
        return images[keep], labels[keep]

    return Splits(
        *take(splits.train_images, splits.train_labels),
        *take(splits.val_images, splits.val_labels),
        *take(splits.test_images, splits.test_labels),
    )
