"""One driver per experiment, --resume continues from the trial directories whatever Ray's own state
files say (real Ray, real MNIST subsets, drivers in subprocesses where a second driver or SIGKILL is
needed, resumes in this process), a full disk loses nothing.

"No finished trial trained twice" means: every config of the space has exactly one trial directory
whose result.json holds epochs 1..E (E = the config's epochs), and the result.json of every config
that had finished before the interruption is the same, byte for byte, afterwards."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tune_mnist import search as search_command
from tune_mnist.core.config import config_key
from tune_mnist.experiment.driver_lock import LOCK_FILE, MACHINE_LOCKS, DriverLock, ExperimentBusy, Holder
from tune_mnist.experiment.rebuild import finished_configs
from tune_mnist.experiment.storage_guard import storage_errno

REPO = Path(__file__).resolve().parent.parent
SEARCH = [sys.executable, "-m", "tune_mnist.search"]
# Slow enough trials that a test can act between two of them (one at a time, batches of 16 on 6,000 images).
SMOKE = [
    *("--space", "smoke", "--subset", "6000", "--batch-size", "16", "--max-concurrent", "1"),
    *("--epochs", "4", "--confirm", "1"),  # no confirmation stage: these tests are about the search's own trials
]
EPOCHS = 4


# ---------------------------------------------------------------- helpers


def resume_here(name: str, storage: Path) -> subprocess.CompletedProcess:
    """``--resume`` through the command's ``main`` in this process, on the module's Ray (``local_ray``): a
    resume needs no separate process, and a child would start its own Ray (about 8 s with its imports)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = search_command.main(["--resume", "--name", name, "--storage-path", str(storage)])
    return subprocess.CompletedProcess(["--resume", name], status, out.getvalue(), err.getvalue())


def start_search(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*SEARCH, *args],
        env={**os.environ, **(env or {})},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def kill_group(driver: subprocess.Popen) -> None:
    """End what a test's driver left behind (its own local Ray), by its process group."""
    try:
        os.killpg(driver.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    driver.wait(timeout=30)


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p for p in experiment.iterdir() if (p / "params.json").is_file())


def epochs_of(trial: Path) -> list[int]:
    path = trial / "result.json"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(int(json.loads(line)["epoch"]))
        except (ValueError, KeyError):
            continue
    return out


def finished_texts(experiment: Path) -> dict[str, str]:
    """result.json of each finished trial directory, by directory name."""
    return {t.name: (t / "result.json").read_text() for t in trial_dirs(experiment) if EPOCHS in epochs_of(t)}


def wait_for(condition, timeout: float, driver: subprocess.Popen | None = None, step: float = 0.1) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        if driver is not None and driver.poll() is not None:
            return condition()
        time.sleep(step)
    return False


def assert_each_config_once(experiment: Path, before: dict[str, str]) -> None:
    """Every config finished exactly once, and what had finished before is untouched."""
    by_config: dict[str, list[Path]] = {}
    for trial in trial_dirs(experiment):
        try:
            params = json.loads((trial / "params.json").read_text())
        except json.JSONDecodeError:  # the full disk cut this trial's files to nothing: it finished nothing
            assert EPOCHS not in epochs_of(trial), trial.name
            continue
        by_config.setdefault(config_key(params, seed=True), []).append(trial)
    assert len(by_config) == 3, by_config
    for key, trials in by_config.items():
        complete = [t for t in trials if sorted(set(epochs_of(t))) == list(range(1, EPOCHS + 1))]
        assert len(complete) == 1, (key, [(t.name, epochs_of(t)) for t in trials])
        assert len(epochs_of(complete[0])) in (EPOCHS, EPOCHS + 1)  # a resumed trial may repeat one epoch
    for name, text in before.items():
        assert (experiment / name / "result.json").read_text() == text, name
        assert sorted(set(epochs_of(experiment / name))) == list(range(1, EPOCHS + 1))


def one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert lines, "no error output"
    assert lines[-1].startswith("error: "), lines[-5:]
    return lines[-1]


# ---------------------------------------------------------------- the lock (unit)


def test_lock_refuses_a_second_holder_in_one_sentence_naming_it(tmp_path):
    experiment = str(tmp_path / "exp")
    with DriverLock(experiment):
        assert Holder.parse((tmp_path / "exp" / LOCK_FILE).read_text()).pid == os.getpid()
        for refused in (DriverLock(experiment).acquire, DriverLock(experiment).check_free):
            with pytest.raises(ExperimentBusy) as exc:
                refused()
            message = str(exc.value)
            assert f"host {socket.gethostname()}, process {os.getpid()}, since " in message
            assert "--resume --name exp" in message and "\n" not in message and message.count(". ") == 0
    assert not (tmp_path / "exp").exists()  # released: a new experiment the lock alone made leaves no trace


def test_a_dead_holder_does_not_block(tmp_path):
    experiment = tmp_path / "exp"
    code = (
        "import time; from tune_mnist.experiment.driver_lock import DriverLock; "
        f"DriverLock({str(experiment)!r}).acquire(); "
        "print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ExperimentBusy, match=f"process {holder.pid}"):
            DriverLock(str(experiment)).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock = DriverLock(str(experiment))
    assert lock.holder().pid == holder.pid  # the killed driver's file is still there...
    lock.check_free()
    lock.acquire()  # ...and blocks nobody: the kernel dropped its lock with the process
    assert lock.holder().pid == os.getpid()
    lock.release()
    assert not (experiment / LOCK_FILE).exists()


def test_a_lock_file_that_no_process_holds_does_not_block_whoever_it_names(tmp_path):
    """Only the OS lock counts, never what the file says: a pid reused by a live process, another host."""
    experiment = tmp_path / "exp"
    experiment.mkdir()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for named in (Holder(socket.gethostname(), alive.pid, time.time()), Holder("elsewhere", 1, time.time())):
            (experiment / LOCK_FILE).write_bytes(named.dumps())
            with DriverLock(str(experiment)) as lock:
                assert lock.holder().pid == os.getpid()
    finally:
        alive.kill()
        alive.wait()


def test_a_uri_experiment_is_held_on_this_machine(tmp_path):
    """s3:// has no file to lock: the lock is a file on this machine, and the storage is never reached."""
    experiment = f"s3://tune-mnist-no-such-bucket-{uuid.uuid4().hex}/results/exp"
    with DriverLock(experiment) as lock:
        assert lock.path.parent == MACHINE_LOCKS and lock.holder().pid == os.getpid()
        with pytest.raises(ExperimentBusy, match=f"Experiment {experiment} is being driven by another search"):
            DriverLock(experiment).check_free()
    assert not lock.path.exists()


def test_storage_errors_are_recognised():
    assert storage_errno(OSError(errno.ENOSPC, "No space left on device")) == errno.ENOSPC
    assert storage_errno("OSError: [Errno 28] Error writing bytes to file.") == errno.ENOSPC
    assert storage_errno("Read-only file system") == errno.EROFS
    try:
        try:
            raise OSError(errno.EDQUOT, "quota")
        except OSError as inner:
            raise EOFError("Ran out of input") from inner
    except EOFError as outer:
        assert storage_errno(outer) == errno.EDQUOT
    assert storage_errno(ValueError("depth -1")) is None


# ---------------------------------------------------------------- drivers (real searches)


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory, local_ray):
    """A first run, refused drivers beside it, the first driver killed with SIGKILL, then --resume."""
    storage = tmp_path_factory.mktemp("guard")
    name = "guarded"
    experiment = storage / name
    driver = start_search(*SMOKE, "--storage-path", str(storage), "--name", name)
    try:
        assert wait_for(lambda: (experiment / LOCK_FILE).is_file(), 60, driver), driver.communicate()
        second = [
            start_search("--resume", "--name", name, "--storage-path", str(storage)),
            start_search(*SMOKE, "--storage-path", str(storage), "--name", name),
        ]
        beside, again = (subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in second)
        assert wait_for(lambda: experiment.is_dir() and len(finished_texts(experiment)) >= 1, 180, driver)
        assert driver.poll() is None, "the first driver ended before the test could kill it"
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone, as kill -9 would
        driver.wait(timeout=30)
        before = finished_texts(experiment)
    finally:
        kill_group(driver)  # its local Ray
    resumed = resume_here(name, storage)
    return {
        "experiment": experiment,
        "pid": driver.pid,
        "beside": beside,
        "again": again,
        "before": before,
        "resumed": resumed,
    }


@pytest.mark.slow
def test_second_driver_is_refused_naming_the_live_one(killed_and_resumed):
    pid = killed_and_resumed["pid"]
    for refused in (killed_and_resumed["beside"], killed_and_resumed["again"]):
        assert refused.returncode == 2, refused.stderr[-2000:]
        sentence = one_sentence(refused.stderr)
        assert "is being driven by another search" in sentence
        assert f"host {socket.gethostname()}, process {pid}, since " in sentence
        assert "Traceback" not in refused.stderr and "Ray:" not in refused.stdout  # refused before Ray started


@pytest.mark.slow
def test_resume_after_sigkill_finishes_without_training_a_finished_trial_again(killed_and_resumed):
    resumed, experiment = killed_and_resumed["resumed"], killed_and_resumed["experiment"]
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert_each_config_once(experiment, killed_and_resumed["before"])
    assert not (experiment / LOCK_FILE).exists()


@pytest.mark.slow
def test_damaged_ray_state_is_never_read_and_the_analysis_counts_each_config_once(killed_and_resumed, tmp_path):
    """Ray's state files cut short and emptied, one config's last epoch lost: --resume trains that config
    again (from scratch, in a new directory), keeps every finished one byte for byte with its model, and
    Ray's ExperimentAnalysis reads the experiment afterwards (its newest session: the retrained trial)."""
    from ray import tune

    from analysis.load import USABLE, load_experiment

    assert killed_and_resumed["resumed"].returncode == 0
    experiment = tmp_path / "damaged"
    shutil.copytree(killed_and_resumed["experiment"], experiment)
    trials = [t for t in trial_dirs(experiment) if EPOCHS in epochs_of(t)]
    # One config loses its last epoch (as if interrupted), and Ray's state files are cut short and emptied.
    unfinished = trials[0]
    lines = (unfinished / "result.json").read_text().splitlines(keepends=True)
    (unfinished / "result.json").write_text("".join(line for line in lines if json.loads(line)["epoch"] < EPOCHS))
    before = {t.name: (t / "result.json").read_text() for t in trials[1:]}
    ray_files = {}
    for state in experiment.glob("experiment_state-*.json"):
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
        ray_files[state.name] = state.read_bytes()
    for state in experiment.glob("basic-variant-state-*.json"):
        state.write_bytes(b"")
        ray_files[state.name] = b""
    analysed = load_experiment(str(experiment))  # the analysis reads it, damaged state and all
    assert sum(t.status == USABLE for t in analysed.trials) == 2
    assert any("could not be read as JSON" in w for w in analysed.warnings)

    resumed = resume_here("damaged", tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Resume: 2 of 3 configs had finished and are kept; 1 to train." in resumed.stdout
    assert not unfinished.exists()  # the unfinished directory went: its config started over
    for name, data in ray_files.items():  # Ray's old state files are neither read nor edited
        assert (experiment / name).read_bytes() == data, name
    assert_each_config_once(experiment, before)
    for name in before:  # a finished trial keeps its model of the last epoch
        (checkpoint,) = (experiment / name).glob("checkpoint_*")
        assert json.loads((checkpoint / "config.json").read_text())["metrics"]["epoch"] == EPOCHS
    assert len(finished_configs(str(experiment))) == 3
    analysed = load_experiment(str(experiment))
    usable = [t for t in analysed.trials if t.status == USABLE]
    assert len(usable) == 3 and len({t.label for t in usable}) == 3
    failures = [t for t in analysed.trials if t.status not in (USABLE, "superseded")]
    assert not failures, [(t.name, t.status, t.reason) for t in failures]
    ray_view = tune.ExperimentAnalysis(str(experiment))  # Ray's newest session: the one retrained trial
    (retrained,) = ray_view.trials
    assert Path(retrained.path).parent == experiment and EPOCHS in epochs_of(Path(retrained.path))
    assert ray_view.dataframe()["epoch"].tolist() == [EPOCHS]


# ---------------------------------------------------------------- a storage that fills up


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 4 MB tmpfs, unmounted at teardown even when the test fails."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(point)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(directory: Path) -> None:
    """Write until the file system is full."""
    with open(directory / "filler", "wb", buffering=0) as f:  # unbuffered: close() has nothing left to write
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    for n in range(10000):  # the last blocks
        try:
            (directory / f"filler-{n}").write_bytes(b"\0" * 512)
        except OSError:
            break


def no_traceback(stdout: str, stderr: str) -> None:
    console = stdout + stderr
    assert "Traceback" not in console and "Unhandled error" not in console, console[-4000:]
    assert "Experiment state snapshotting has been triggered" not in console


@pytest.mark.slow
def test_full_storage_is_one_sentence_and_resume_after_enlarging_loses_nothing(small_tmpfs, local_ray):
    """The fault drill: the storage fills, the search stops in one sentence (Ray's own messages in a log
    file), keeps every finished trial; enlarged, --resume runs it to the end, each config once, with one
    checkpoint per trial holding its model only. (The footprint of a finished grid against its dry run's
    prediction: test_faults.)"""
    storage, name = small_tmpfs / "results", "full"
    experiment = storage / name
    # Batches of 4 (trials of seconds) and Ray's experiment sync every second instead of every ten or more:
    # the disk fills once the first trial's result.json is on the storage, and before the last trial ends.
    driver = start_search(
        *SMOKE,
        "--batch-size",
        "4",
        "--storage-path",
        str(storage),
        "--name",
        name,
        env={"TUNE_GLOBAL_CHECKPOINT_S": "1"},
    )
    try:
        assert wait_for(lambda: experiment.is_dir() and len(finished_texts(experiment)) >= 1, 180, driver), (
            driver.communicate()
        )
        fill(small_tmpfs)
        out, err = driver.communicate(timeout=240)
    finally:
        kill_group(driver)
    # What had finished when the driver stopped, read after it exited: a trial whose last rows still fit on
    # the full disk finishes after the fill, and the resume keeps it.
    before = finished_texts(experiment)
    assert driver.returncode == 2, out[-2000:] + err[-3000:]
    no_traceback(out, err)
    sentence = one_sentence(err)
    assert sentence.startswith(f"error: The storage {storage} failed a write (no space left"), sentence
    assert f"--resume --name {name} --storage-path {storage}" in sentence and "(Ray's messages: " in sentence
    log = Path(re.search(r"\(Ray's messages: (\S+)\)", sentence).group(1))
    assert log.is_file() and "No space left on device" in log.read_text()
    assert before and len(before) < 3, "every trial finished before the disk filled: nothing was tested"
    DriverLock(str(experiment)).check_free()  # the stopped driver holds nothing
    # Ray rewrites every trial's files at each snapshot, so the full disk may have cut a finished one's
    # result.json: made certain here. That config no longer reads as finished, so --resume trains it
    # again from scratch; every other finished trial is kept byte for byte.
    cut = experiment / sorted(before)[0] / "result.json"
    cut.write_text(before[cut.parent.name][: len(before[cut.parent.name]) // 2])
    del before[cut.parent.name]

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    resumed = resume_here(name, storage)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    no_traceback(resumed.stdout, resumed.stderr)
    assert f"Resume: {len(before)} of 3 configs had finished and are kept" in resumed.stdout
    assert not cut.parent.exists()  # its cut directory went with the other unfinished ones
    assert_each_config_once(experiment, before)
    assert len(finished_configs(str(experiment))) == 3
    for trial in trial_dirs(experiment):  # one checkpoint per trial, its model only (no optimizer state)
        checkpoints = sorted(trial.glob("checkpoint_*"))
        assert len(checkpoints) == 1, trial.name
        assert sorted(p.name for p in checkpoints[0].iterdir()) == ["config.json", "model.pt"], trial.name


# ---------------------------------------------------------------- rebuild planning (synthetic experiment)


def write_trial(experiment: Path, name: str, params: dict, epochs: list[int]) -> None:
    trial = experiment / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps(params))
    (trial / "result.json").write_text("".join(json.dumps({"epoch": e}) + "\n" for e in epochs))


def test_resume_plan_from_trial_directories(tmp_path):
    """What --resume trains comes from the trial directories alone: Ray's state files, whole or damaged,
    are neither read nor changed; an unfinished config's directory goes and the config starts over."""
    from search_spaces.random import DEFAULT_SAMPLES
    from tune_mnist.core.config import TrialConfig
    from tune_mnist.core.layout import RUN_FILE
    from tune_mnist.experiment.rebuild import prepare_resume
    from tune_mnist.search_keywords import options_from

    experiment = tmp_path / "exp"
    configs = [TrialConfig(side=8, depth=1, width=w, epochs=2) for w in (4, 8, 16)]
    write_trial(experiment, "aaaaa_00000_resize8_1x4_s0", {**configs[0].to_dict(), "subset": 100}, [1, 2])
    write_trial(experiment, "aaaaa_00001_resize8_1x8_s0", configs[1].to_dict(), [1])  # unfinished
    write_trial(experiment, "aaaaa_00002_pack2", {"members": [c.to_dict() for c in configs]}, [1, 2])  # a pack
    (experiment / RUN_FILE).write_text("{}")
    ray_files = {
        "experiment_state-2026-01-01_00-00-00.json": b'{"trial_data": [',  # cut short
        "basic-variant-state-2026-01-01_00-00-00.json": b"",
        "tuner.pkl": b"\x80\x04N.",
    }
    for name, data in ray_files.items():
        (experiment / name).write_bytes(data)

    options = options_from(resume=True, name="exp", confirm=1)
    options, left, nothing_left = prepare_resume(options, str(experiment), configs, default_samples=DEFAULT_SAMPLES)
    assert left == configs[1:] and not nothing_left and options.resume  # the finished config is not trained again
    assert sorted(p.name for p in experiment.iterdir() if p.is_dir()) == ["aaaaa_00000_resize8_1x4_s0"]
    assert {p.name: p.read_bytes() for p in experiment.iterdir() if p.name in ray_files} == ray_files
    # Every config finished: nothing to train, unless the confirmation stage has not finished.
    _, left, nothing_left = prepare_resume(options, str(experiment), configs[:1], default_samples=DEFAULT_SAMPLES)
    assert (left, nothing_left) == ([], True)
    confirming = options_from(resume=True, name="exp", confirm=3)
    assert not prepare_resume(confirming, str(experiment), configs[:1], default_samples=DEFAULT_SAMPLES)[2]
    (experiment / "confirmation.json").write_text(json.dumps({"finished_at": 1.0, "rounds": []}))
    assert prepare_resume(confirming, str(experiment), configs[:1], default_samples=DEFAULT_SAMPLES)[2]
    # Adaptive: finished proposals count toward --num-samples, a config's seeds once (here configs[0], alone
    # and as a pack member); confirmation trials are not proposals.
    write_trial(experiment, "0123abcd_m0000_resize8_1x4_s0", configs[0].to_dict(), [1, 2])
    write_trial(experiment, "0123abce_resize8_1x4_s1", {**configs[0].to_dict(), "seed": 1, "confirm_round": 1}, [1, 2])
    options = options_from(resume=True, name="exp", num_samples=5, confirm=1)
    options, configs_left, nothing_left = prepare_resume(
        options, str(experiment), None, default_samples=DEFAULT_SAMPLES
    )
    assert (configs_left, nothing_left) == (None, False)
    assert options.num_samples == 4 and options.resume
    # Under a --time-budget without --num-samples the proposals stay unlimited: the budget ends them.
    budgeted = options_from(resume=True, name="exp", time_budget=5.0, confirm=1)
    assert prepare_resume(budgeted, str(experiment), None, default_samples=DEFAULT_SAMPLES)[0].num_samples is None
