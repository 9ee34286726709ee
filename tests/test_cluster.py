"""Multi-node runs on a real two-node Ray cluster started on this machine (``ray.cluster_utils.Cluster``).

Both nodes have 3 CPUs and 2 logical GPUs, so ``--gpus-per-trial 0.5`` packs up to 3 trials on a
node (CPU-bound) onto 4 GPU slots, and the cluster runs 6 trials at once. The cluster has token
authentication on, as every Ray 2.60 cluster should: a separate driver process (the search CLI)
connects only with ``RAY_AUTH_MODE=token`` and the cluster's token (``RAY_AUTH_TOKEN`` or a file
named by ``RAY_AUTH_TOKEN_PATH``). Both nodes share this machine's disk, so a storage path here is
really shared, but the search cannot know that: it refuses it unless ``--shared-storage`` is given.

No CUDA here: the logical GPUs are handed out by Ray (``gpu_ids`` in every row) and the trials
train on the CPU (``device``), as ``start_trial`` documents."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import ray
import torch
from ray.cluster_utils import Cluster

from analysis.load import load_experiment
from tune_mnist import search
from tune_mnist.core.metrics import PLACEMENT, row_keys
from tune_mnist.model.saved import load_model

pytestmark = pytest.mark.slow  # a two-node Ray cluster and searches on it: minutes

REPO = Path(__file__).resolve().parent.parent
NODE = {"num_cpus": 3, "num_gpus": 2}  # head and worker alike
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")
# One config per trial (a search with --pack trains several configs in one trial; not what is tested here).
ONE_PER_TRIAL = ["--pack", "1"] if "pack" in vars(search.parse_args([])) else []
DEVICE = "cuda:0" if torch.cuda.is_available() else "cpu"  # logical GPUs without CUDA stay on the CPU


@dataclass
class Running:
    cluster: Cluster
    token: str

    @property
    def address(self) -> str:
        return self.cluster.address

    @property
    def head_id(self) -> str:
        return self.cluster.head_node.node_id

    def worker(self):
        """The worker node, started again if an earlier test removed it."""
        if not self.cluster.worker_nodes:
            self.cluster.add_node(**NODE)
            self.cluster.wait_for_nodes()
        return next(iter(self.cluster.worker_nodes))


def refresh_auth_config() -> None:
    """Make this process see the RAY_AUTH_* variables as they are now. Ray reads them once per process
    (ray.init() does the same refresh when it turns token authentication on for a local Ray)."""
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Running]:
    ray.shutdown()  # other test modules may leave an in-process Ray
    saved = {name: os.environ.get(name) for name in AUTH_VARS}
    token = secrets.token_hex(32)  # what `ray get-auth-token --generate` makes
    for name in AUTH_VARS:
        os.environ.pop(name, None)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)  # inherited by both nodes' processes
    refresh_auth_config()
    started = None
    try:
        started = Cluster(initialize_head=True, head_node_args=NODE)
        # Cluster records its address for ray.init() with no address; other Ray users on this machine
        # (other test runs) would then join this cluster instead of starting their own.
        ray._common.utils.reset_ray_address()
        started.add_node(**NODE)
        started.wait_for_nodes()
        yield Running(started, token)
    finally:
        ray.shutdown()
        if started is not None:
            started.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        refresh_auth_config()


def driver_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Ray address or token, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    env.update(extra)
    return env


class SearchCLI:
    """``python -m tune_mnist.search`` as a separate driver process; its output goes to files, as a
    pipe nobody reads while the test waits could fill and stop it."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.out, self.err = (open(logs / name, "w+") for name in ("stdout", "stderr"))
        self.result: tuple[int, str, str] | None = None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tune_mnist.search", *args],
            cwd=REPO,
            env=env,
            text=True,
            stdout=self.out,
            stderr=self.err,
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Wait for the driver (kill it after ``timeout``) and read its output; a second call (a test's
        ``finally`` after an earlier failure) returns the same."""
        if self.result is not None:
            return self.result
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        texts = []
        for file in (self.out, self.err):
            file.seek(0)
            texts.append(file.read())
            file.close()
        out, err = texts
        self.result = self.process.returncode, out, err
        if self.process.returncode in (-9, 137):
            pytest.fail(f"the search did not finish in {timeout:g} s:\n{out[-3000:]}\n{err[-3000:]}")
        return self.result


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if (p / "params.json").is_file())


def read_rows(trial: Path) -> list[dict]:
    """The complete rows of a trial's result.json (a row being written is not complete yet)."""
    path = trial / "result.json"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def check_complete(trial: Path, epochs: int, rows: list[dict] | None = None) -> list[dict]:
    """Every epoch's row with every metric, and the final checkpoint as a loadable model."""
    rows = read_rows(trial) if rows is None else rows
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1)), trial.name
    for row in rows:
        for column in (*row_keys(), *PLACEMENT, "accuracy_shortfall"):
            assert row.get(column) is not None, (trial.name, column)
    (checkpoint,) = sorted(trial.glob("checkpoint_*"))
    model, config, meta = load_model(checkpoint)
    assert (
        meta["metrics"]["epoch"] == epochs
        and config.to_dict().items() <= json.loads((trial / "params.json").read_text()).items()
    )
    return rows


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here: run benchmarks/gpu_check.py itself")
def test_gpu_check_says_why_it_cannot_run_without_cuda(capsys):
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    ray.shutdown()
    assert gpu_check.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "NVIDIA GPU" in err and err.count("\n") == 1
    assert not ray.is_initialized()  # refused before any Ray starts


def test_node_local_storage_is_refused_on_two_nodes_before_anything_starts(cluster, tmp_path, capsys):
    cluster.worker()
    storage = tmp_path / "results"
    ray.init(address=cluster.address)
    try:
        assert (
            search.main(
                [
                    "--space",
                    "smoke",
                    *ONE_PER_TRIAL,
                    "--gpus-per-trial",
                    "0.5",
                    "--storage-path",
                    str(storage),
                    "--name",
                    "refused",
                ]
            )
            == 2
        )
        assert ray.available_resources().get("GPU") == 4  # no trial holds anything
    finally:
        ray.shutdown()
    err = capsys.readouterr().err
    assert f"Storage path {storage} is on this node's own disk" in err and "2 nodes" in err
    assert "--shared-storage" in err and err.count("\n") == 1
    assert list(storage.iterdir()) == []  # no experiment, no options file


def test_a_driver_without_the_clusters_token_is_refused(cluster, tmp_path):
    storage = tmp_path / "shared"
    args = ["--space", "smoke", "--storage-path", str(storage), "--shared-storage"]
    quick = {"RAY_gcs_server_port_wait_time_s": "2"}  # give up after 2 tries instead of about 20
    no_token = SearchCLI(
        [*args, "--address", cluster.address, "--name", "no-token"], driver_env(**quick), tmp_path / "no-token"
    )
    # RAY_ADDRESS instead of --address: refused by the cluster, where a local Ray would have run the search
    wrong = SearchCLI(
        [*args, "--name", "wrong-token"],
        driver_env(RAY_ADDRESS=cluster.address, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), **quick),
        tmp_path / "wrong-token",
    )
    for driver in (no_token, wrong):
        rc, out, err = driver.finish(180)
        assert rc != 0 and "Authentication token is missing or incorrect" in err, err[-3000:]
    assert list(storage.iterdir()) == []


def test_search_through_address_runs_in_distinct_gpu_slots_and_retries_a_lost_nodes_trials_on_the_head(
    cluster, tmp_path
):
    """One search on both nodes through ``--address``, a driver with the cluster's token in a file: the
    worker node is removed while one of its trials is mid-run. Before the loss the trials ran on both
    nodes, each in one slot of a logical GPU that at most 1 / 0.5 trials held at once; after it, the
    lost node's trials are retried on the head from their last checkpoints and the search finishes."""
    worker = cluster.worker()
    worker_id, epochs = worker.node_id, 3
    token_file = tmp_path / "token"
    token_file.write_text(cluster.token)
    storage = tmp_path / "shared"
    # Ray writes result.json to the shared storage at its periodic experiment sync (ten seconds or more
    # apart since checkpoints no longer force one): every second here, so trials are seen mid-run.
    env = driver_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file), TUNE_GLOBAL_CHECKPOINT_S="1")
    driver = SearchCLI(
        [
            "--space",
            "smoke",
            *ONE_PER_TRIAL,
            "--seeds",
            "2",
            "--epochs",
            str(epochs),
            "--subset",
            "6000",
            "--batch-size",
            "8",
            "--gpus-per-trial",
            "0.5",
            "--address",
            cluster.address,
            "--storage-path",
            str(storage),
            "--shared-storage",
            "--name",
            "node-loss",
            "--confirm",
            "1",  # this is about placement and retrying a lost node's trials: the 6 screening trials only
        ],
        env,
        tmp_path / "logs",
    )
    experiment = storage / "node-loss"
    try:
        deadline = time.time() + 300
        while True:
            # Wait for a trial on the worker that has reported an epoch but not all; the longer it runs
            # (up to its next-to-last epoch), the likelier another trial has finished by then.
            if not driver.running() or time.time() > deadline:
                rc, out, err = driver.finish(60)
                pytest.fail("no trial on the worker node was caught mid-run:\n" + out[-3000:] + err[-3000:])
            time.sleep(0.2)
            snapshot = {t.name: read_rows(t) for t in (trial_dirs(experiment) if experiment.is_dir() else [])}
            interrupted = [
                name for name, rows in snapshot.items() if 1 <= len(rows) < epochs and rows[-1]["node_id"] == worker_id
            ]
            finished_before = {name for name, rows in snapshot.items() if len(rows) == epochs}
            if interrupted and (finished_before or any(len(snapshot[n]) == epochs - 1 for n in interrupted)):
                break
        before = {name: rows for name, rows in snapshot.items() if rows}
        checkpoints_before = {
            name: sorted(p.name for p in (experiment / name).glob("checkpoint_*")) for name in finished_before
        }
        cluster.cluster.remove_node(worker)
    finally:
        rc, out, err = driver.finish(400)
    assert rc == 0, out[-3000:] + err[-3000:]
    assert "Ray: 2 node(s), 6 CPUs, 4 GPUs" in out  # --address led it to the cluster
    assert "6 trials finished, 0 failed, 0 not finished" in out

    trials = trial_dirs(experiment)
    assert len(trials) == 6
    after = {t.name: read_rows(t) for t in trials}
    history = {t.name: list(t.history["epoch"]) for t in load_experiment(experiment).trials}
    spans = []  # (node, gpu id, start, end) of every stretch of training whose end is known
    for trial in trials:
        rows, nodes = after[trial.name], [r["node_id"] for r in after[trial.name]]
        on_worker = nodes.count(worker_id)  # it may have reported once more while the node went down
        assert nodes == [worker_id] * on_worker + [cluster.head_id] * (len(rows) - on_worker), trial.name
        assert {r["device"] for r in rows} == {DEVICE}
        for node in set(nodes):
            (gpu,) = {str(r["gpu_ids"]) for r in rows if r["node_id"] == node}
            assert gpu in {"0", "1"}  # a fraction of one GPU: exactly one GPU id on each node it ran on
        # Resumed on the head from its last checkpoint. Tune writes a row before it registers the row's
        # checkpoint, so an epoch reported just as its node went down may be trained and reported again;
        # the analysis keeps the later row.
        again = on_worker - (rows[on_worker]["epoch"] - 1) if 0 < on_worker < len(rows) else 0
        assert again in (0, 1), (trial.name, [r["epoch"] for r in rows])
        check_complete(trial, epochs, rows[: on_worker - again] + rows[on_worker:])
        assert history[trial.name] == list(range(1, epochs + 1)), trial.name
        # The last checkpoint is written just before the last report: its time ends the stretch on the node
        # that finished the trial, which began time_since_restore before (a retried trial: on the head). A
        # stretch the loss cut short has no known end and is left out.
        end = max(p.stat().st_mtime for p in trial.glob("checkpoint_*"))
        spans.append((nodes[-1], str(rows[-1]["gpu_ids"]), end - rows[-1]["time_since_restore"], end))
    assert {r["node_id"] for rows in after.values() for r in rows} == {cluster.head_id, worker_id}
    # Three trials at once on a node of two logical GPUs: both were handed out (and without CUDA the trials
    # holding them trained on the CPU, as every row's device says).
    assert {str(r["gpu_ids"]) for rows in after.values() for r in rows} == {"0", "1"}
    most = 0
    for node, gpu, start, _ in spans:  # at any stretch's start, at most 1 / 0.5 trials hold its GPU
        holding = [s for s in spans if s[:2] == (node, gpu) and s[2] <= start < s[3]]
        assert len(holding) <= 2, (node, gpu, holding)
        most = max(most, sum(s[0] == node and s[2] <= start < s[3] for s in spans))
    assert most >= 2  # trials did share a node at the same time (else the check above proves nothing)
    for name, rows in before.items():  # nothing reported before the loss is lost
        assert after[name][: len(rows)] == rows, name
    for name in finished_before:  # a finished trial keeps its last checkpoint, its model only
        assert sorted(p.name for p in (experiment / name).glob("checkpoint_*")) == checkpoints_before[name][-1:]
        assert not list((experiment / name).glob("checkpoint_*/training_state.pt")), name
    # The lost node is one line per retried trial; Ray's tracebacks are in its log file, not on the console.
    assert "Traceback" not in out + err and "restarting it from its last checkpoint" in out
    retried = 0
    for name in interrupted:  # resumed from its checkpoint on the head, the only node left
        on_worker = [r["node_id"] for r in after[name]].count(worker_id)
        assert on_worker >= len(before[name]), name
        retried += on_worker < len(after[name])
    assert retried >= 1
