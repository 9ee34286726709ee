"""Shared fixtures. The real MNIST files are read once per session."""

from __future__ import annotations

import pytest
import torch

from tune_mnist.data.sources import MnistArrays, load_mnist


@pytest.fixture(scope="session")
def mnist() -> MnistArrays:
    return load_mnist()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models at 2 threads on a shared 2-core machine wait on each other at every op (10-25x
    slower when the other core is busy); one thread keeps these tests fast and their results exact."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
