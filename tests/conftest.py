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


@pytest.fixture(scope="module")
def local_ray() -> None:
    """A local Ray that the in-process searches of a module, and of the modules after it, share: a search
    reuses a Ray it finds running and leaves it running (``tuning.ray_session.start_ray``), where starting
    and stopping its own costs about 5 s per search on two cores. Only speed depends on it: a test that
    stops Ray (``ray.shutdown()``: a bad input refused before Ray starts, a Ray with logical GPUs) leaves
    the searches after it in the module to start their own, as a search run from the command line does."""
    import os

    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
