"""Shared fixtures. The real MNIST files are read once per session."""

from __future__ import annotations

import pytest

from tune_mnist.data import MnistArrays, load_mnist


@pytest.fixture(scope="session")
def mnist() -> MnistArrays:
    return load_mnist()
