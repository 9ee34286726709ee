"""Shared fixtures. The real MNIST files are read once per session."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
from pathlib import Path

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
    stops Ray (``ray.shutdown()``: a bad input refused before Ray starts, a cluster) leaves
    the searches after it in the module to start their own, as a search run from the command line does."""
    start_local_ray()


def start_local_ray() -> None:
    """One local Ray (num_cpus = cpu count, no dashboard) if none runs; left running for what follows."""
    import os

    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)


@dataclasses.dataclass(frozen=True)
class SmokeSearch:
    """A finished ``--space smoke --min-accuracy 0.5`` search and what it printed (stdout and stderr)."""

    experiment: Path
    console: str


@pytest.fixture(scope="session")
def smoke_search(tmp_path_factory) -> SmokeSearch:
    """One real smoke search (3 configs, seeds confirmed near a bar of 0.5: the smoke models reach
    75-87%), run once for the modules that only analyse a finished experiment. Read it, never write
    into it: a test that writes (the analysis writes EXPERIMENT/analysis) uses ``smoke_experiment``."""
    from tune_mnist import search

    start_local_ray()
    storage = tmp_path_factory.mktemp("smoke_search") / "ray_results"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = search.main(
            ["--space", "smoke", "--storage-path", str(storage), "--name", "smoke", "--min-accuracy", "0.5"]
        )
    assert code == 0, out.getvalue()[-3000:]
    return SmokeSearch(storage / "smoke", out.getvalue())


@pytest.fixture(scope="session")
def packed_adaptive_search(tmp_path_factory) -> Path:
    """One real packed adaptive search (4 proposals, each over 2 seeds, in packs of 2; bar 0.5, --confirm 2),
    run once for the modules that read it: its Optuna study (test_study_journal) and its members' trial
    directories (test_packed_screening). Read it, never write into it."""
    from tune_mnist import search

    start_local_ray()
    storage = tmp_path_factory.mktemp("packed_adaptive")
    argv = ["--space", "adaptive", "--epochs", "2", "--subset", "1000", "--validation-size", "1000"]
    argv += ["--min-accuracy", "0.5", "--num-samples", "4", "--pack", "2", "--confirm", "2"]
    assert search.main([*argv, "--storage-path", str(storage), "--name", "packed"]) == 0
    return storage / "packed"


@pytest.fixture(scope="module")
def smoke_experiment(smoke_search, tmp_path_factory) -> Path:
    """This module's own copy of the shared smoke experiment, at <tmp>/ray_results/smoke, to analyse and write into."""
    copy = tmp_path_factory.mktemp("smoke_copy") / "ray_results" / "smoke"
    shutil.copytree(smoke_search.experiment, copy)
    return copy


def without_import(name: str) -> str:
    """Python source for the start of a fresh interpreter (``python -c``) in which ``import NAME`` and its
    submodules raise ImportError as where that extra is not installed: an import hook on sys.meta_path,
    set before anything else is imported, so the code that follows it meets the missing package."""
    return f"""
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r} or name.startswith({name + "."!r}):
            raise ImportError(f"No module named {{name!r}} (blocked by the test)")
        return None
sys.meta_path.insert(0, Blocked())
"""
