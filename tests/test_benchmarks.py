"""Every benchmark script still runs: each in a child process in its quick form, exit status 0 and
its table printed. The numbers themselves are not checked (timings belong to the benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

#: Each Python script's test-sized form (smaller than its quick form in docs/benchmarks.md: only that it
#: runs end to end is checked here) and a line of the table it ends with.
QUICK = {
    "epoch_speed.py": (
        ["--quick", "--models", "small", "--epochs", "1", "--threads", "1"],
        "Summary: seconds per epoch",
    ),
    "packed_throughput.py": (
        ["--quick", "--device", "cpu", "--shapes", "small", "--sizes", "1,16", "--threads", "1"],
        "model-ep/s",
    ),
    "search_overhead.py": (
        ["--space", "smoke", "--subset", "500", "--epochs", "1"],
        "orchestration share of wall time",
    ),
    "gpu_check.py": (["--space", "smoke", "--subset", "2000", "--epochs", "2"], "Epoch times in seconds"),
    "onnx_trial_cost.py": (["--calls", "5"], "p50 ort"),  # no quick flag: fewer timed calls
    "onnx_latency.py": (["--calls", "5", "--rounds", "1"], "ours/bare"),
    # smaller: one epoch on 500 images, no pick above the bar, so no confirmation
    "confirm_cost.py": (["--quick", "--", "--subset", "500", "--epochs", "1"], "goal: the default run's total"),
    # cheap at a 30-second budget on 1,000 images, both peers at 5 s: cheap screens its cheapest shapes first, in
    # packs of up to 64 members, so its first pack starts as soon as Ray has (at 30 s, before that change, it
    # started 0-32 configs, its first proposals anywhere in the space, and the script once failed in CI)
    "search_efficiency.py": (
        [
            *["--budget-minutes", "0.5", "--peer-seconds", "5", "--seeds", "1", "--subset", "1000", "--confirm", "2"],
            *["--plot", str(Path(tempfile.gettempdir()) / "search_efficiency_test.png")],
        ],
        "Search efficiency at a",
    ),
    "sampler_cost.py": (["--trials", "30", "--proposals", "1"], "s/proposal"),  # random proposals, no journal
    "optuna_peer.py": (["--budget-seconds", "5", "--subset", "500", "--min-accuracy", "0.5"], "optuna peer:"),
    "sweep_peer.py": (["--budget-seconds", "5", "--subset", "500", "--min-accuracy", "0.5"], "sweep peer:"),
}
PRESENT = sorted(p.name for p in BENCHMARKS.glob("*.py"))


def run(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_every_python_benchmark_has_a_quick_form():
    assert set(PRESENT) <= set(QUICK), "add the new script's quick form to QUICK"


@pytest.mark.slow
@pytest.mark.parametrize("script", [s for s in PRESENT if s in QUICK and s != "gpu_check.py"])
def test_benchmark_runs_quick(script):
    if script in ("onnx_trial_cost.py", "onnx_latency.py"):
        pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    options, table = QUICK[script]
    done = run([sys.executable, str(BENCHMARKS / script), *options], timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert table in done.stdout, done.stdout[-3000:]


@pytest.mark.slow  # imports torch, Ray and the search in a child process: several seconds
@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here: test_gpu_check_on_a_gpu runs it")
def test_gpu_check_without_a_gpu_says_so():
    done = run([sys.executable, str(BENCHMARKS / "gpu_check.py"), *QUICK["gpu_check.py"][0]])
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.startswith("error: ") and "GPU" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_check_on_a_gpu():
    options, table = QUICK["gpu_check.py"]
    done = run([sys.executable, str(BENCHMARKS / "gpu_check.py"), *options])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert table in done.stdout


def test_gpu_session_script_parses():
    syntax = run(["bash", "-n", str(BENCHMARKS / "gpu_session.sh")])
    assert syntax.returncode == 0, syntax.stderr


@pytest.mark.slow  # imports torch and Ray in a child process: several seconds
def test_gpu_session_script_refuses_an_unknown_mode(tmp_path):
    # It has no dry-run mode; an unknown mode prints the machine's versions, then its usage, and exits 2.
    done = run(["env", f"OUT={tmp_path}", "bash", str(BENCHMARKS / "gpu_session.sh"), "no-such-mode"], timeout=120)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "usage: bash benchmarks/gpu_session.sh engine|search" in done.stderr
