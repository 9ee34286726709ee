"""``python -m tune_mnist.train`` end to end: a short real run, the saved model, and bad inputs."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.model.saved import CONFIG_FILE, MODEL_FILE, load_model, save_model
from tune_mnist.train import main
from tune_mnist.training.loop import evaluate, new_state, train

SMALL = [
    "--crop",
    "20",
    "--side",
    "10",
    "--depth",
    "1",
    "--width",
    "48",
    "--epochs",
    "2",
    "--subset",
    "2500",
    "--validation-size",
    "1000",
    "--split-seed",
    "3",
    "--seed",
    "5",
    "--threads",
    "1",
]
SMALL_CONFIG = TrialConfig(crop=20, side=10, depth=1, width=48, epochs=2, seed=5)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One short CLI run shared by the tests below: (output directory, stdout, stderr)."""
    out = tmp_path_factory.mktemp("cli") / "model"
    capture = pytest.MonkeyPatch()
    stdout, stderr = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", stdout)
    capture.setattr(sys, "stderr", stderr)
    threads = torch.get_num_threads()
    try:
        main(SMALL + ["--out", str(out)])
    finally:
        capture.undo()
        torch.set_num_threads(threads)
    return out, stdout.getvalue(), stderr.getvalue()


def test_cli_prints_environment_progress_epochs_and_summary(cli_run):
    out, stdout, stderr = cli_run
    assert re.search(r"Environment: device cpu, Python \d+\.\d+\.\d+, torch \S+, CPU .+, 1 thread\n", stdout)
    assert "train 2500, validation 1000, test 2500" in stdout
    assert "Model: 100-48-10 (crop20-resize10)" in stdout and "params 5,338" in stdout
    assert "FLOPs 10,560 per sample" in stdout
    assert len(re.findall(r"^epoch [12]: train loss .* \| val loss .* \| test loss .* \| [\d.]+ s$", stdout, re.M)) == 2
    assert "\r" not in stdout + stderr  # captured, not a terminal: no carriage-return progress bar
    summary = stdout[stdout.index("Summary:") :]
    for needle in (
        "params 5,338",
        "FLOPs 10,560",
        "p50",
        "p90",
        "p99",
        "at batch 1024",
        "epoch time mean",
        "variance",
        "accuracy: train",
        "validation",
        "test",
    ):
        assert needle in summary, needle
    assert f"Saved model to {out}/" in stdout


def test_cli_model_loads_back_with_weights_only(cli_run):
    out, _, _ = cli_run
    assert (out / MODEL_FILE).is_file() and (out / CONFIG_FILE).is_file()
    state = torch.load(out / MODEL_FILE, weights_only=True)
    assert set(state) == {"1.weight", "1.bias", "3.weight", "3.bias"}
    model, config, meta = load_model(out)
    assert config == SMALL_CONFIG and not model.training
    assert meta["architecture"] == "100-48-10" and meta["input_spec"] == "crop20-resize10"
    assert meta["input_mean"] == 0.0 and meta["input_std"] == 1.0
    assert meta["metrics"]["epoch"] == 2 and json.loads((out / CONFIG_FILE).read_text()) == meta


def test_cli_model_reproduces_its_accuracy_and_the_in_process_run(cli_run, mnist):
    out, _, _ = cli_run
    model, config, meta = load_model(out)
    splits = subset(split_validation(mnist, 1000, 3), 2500, 3)
    tensors = build_tensors(splits, config)
    test_loss, test_acc = evaluate(model, tensors.test_x, tensors.test_y)
    assert test_acc == meta["metrics"]["test_acc"] > 0.5  # chance is 0.1
    assert test_loss == pytest.approx(meta["metrics"]["test_loss"], rel=1e-5)
    # The same config trained here, in this process, predicts exactly what the saved model does.
    state = new_state(config, torch.device("cpu"))  # at 1 thread, as the CLI ran
    rows = list(train(config, tensors, state, latency=False))
    assert rows[-1]["test_acc"] == meta["metrics"]["test_acc"]
    with torch.inference_mode():
        torch.testing.assert_close(model(tensors.test_x), state.model(tensors.test_x), rtol=0, atol=0)


def test_standardised_model_saves_its_statistics(tmp_path, mnist, capsys):
    out = tmp_path / "std"
    main(
        [
            "--side",
            "8",
            "--depth",
            "0",
            "--epochs",
            "1",
            "--scaling",
            "standard",
            "--subset",
            "500",
            "--validation-size",
            "0",
            "--out",
            str(out),
        ]
    )
    model, config, meta = load_model(out)
    assert config.scaling == "standard" and meta["metrics"]["val_acc"] is None  # NaN is written as null
    tensors = build_tensors(subset(split_validation(mnist, 0), 500), config)
    assert meta["input_mean"] == pytest.approx(tensors.mean) and meta["input_std"] == pytest.approx(tensors.std)
    assert evaluate(model, tensors.test_x, tensors.test_y)[1] == meta["metrics"]["test_acc"]


def test_cli_reads_the_notebook_csv(tmp_path, mnist, capsys):
    def write(path, images, labels):
        rows = np.column_stack([labels.astype(np.int64), images.reshape(len(images), -1)])
        path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
        return path

    train_csv = write(tmp_path / "mnist_train.csv", mnist.train_images[:400], mnist.train_labels[:400])
    test_csv = write(tmp_path / "mnist_test.csv", mnist.test_images[:200], mnist.test_labels[:200])
    main(
        [
            "--train-csv",
            str(train_csv),
            "--test-csv",
            str(test_csv),
            "--validation-size",
            "100",
            "--side",
            "8",
            "--depth",
            "0",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    stdout = capsys.readouterr().out
    assert f"Data: {train_csv}, {test_csv}: train 300, validation 100, test 200" in stdout


def test_default_output_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["--side", "8", "--depth", "0", "--width", "3", "--epochs", "1", "--subset", "300", "--seed", "2"])
    assert (tmp_path / "models" / "resize8_linear_s2" / MODEL_FILE).is_file()  # the config's label


def test_load_model_from_a_directory_that_is_not_a_model(tmp_path):
    with pytest.raises(InputError) as error:
        load_model(tmp_path)
    assert str(tmp_path) in str(error.value) and MODEL_FILE in str(error.value)


def test_save_load_round_trip_keeps_predictions(tmp_path):
    config = TrialConfig(side=14, depth=3, width=17)
    torch.manual_seed(0)
    state = new_state(config, torch.device("cpu"))
    save_model(tmp_path, state.model, config, metrics={"test_acc": float("nan"), "epoch": 0})
    model, loaded_config, meta = load_model(tmp_path)
    x = torch.rand(9, 196)
    torch.testing.assert_close(model(x), state.model(x), rtol=0, atol=0)
    assert loaded_config == config and meta["metrics"] == {"test_acc": None, "epoch": 0}


# ---------------------------------------------------------------- bad inputs: exit 2, one sentence


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--side", "29"], "side=29"),
        (["--crop", "29"], "crop=29"),
        (["--crop", "14", "--side", "20"], "side=20"),
        (["--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
        (["--train-csv", "/tmp/whatever.csv"], "--test-csv"),
        (["--validation-size", "60000"], "Validation size 60000"),
        (["--subset", "0"], "Subset size 0"),
        (["--device", "not-a-device"], "not-a-device"),
    ],
)
def test_cli_bad_input_exits_2_with_one_sentence(argv, named, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--epochs", "1", "--depth", "0", "--out", str(tmp_path / "never")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and err[0].endswith("."), err
    assert named in err[0]
    assert not re.search(r"[.!?]\s+[A-Z]", err[0][len("error: ") : -1]), err[0]
    assert not (tmp_path / "never").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cli_asking_for_a_missing_gpu(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--device", "cuda", "--epochs", "1"])
    assert exit_info.value.code == 2
    assert "--device cpu" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["--width", "0"], ["--depth", "-1"], ["--epochs", "x"], ["--lr", "0"], ["--scaling", "minmax"]]
)
def test_cli_bad_option_values_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and argv[0].lstrip("-") in err  # the value's option or config key, named


@pytest.mark.slow
def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "tune_mnist.train", "--side", "0", "--crop", "30"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: Config crop=30 is invalid: use an integer from 1 to 28."
