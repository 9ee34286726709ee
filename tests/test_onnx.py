"""ONNX export and ONNX Runtime latency on real trained models and the real MNIST test set
(real PyTorch, real onnxruntime, no mocks); and the one-sentence message when the extra is missing."""

from __future__ import annotations

import re
import sys

import pytest
import torch

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.extras.optional import require
from tune_mnist.model.mlp import build_mlp
from tune_mnist.training.loop import new_state, train

pytest.importorskip("onnxruntime", reason='the onnx extra is not installed (pip install -e ".[onnx]")')
pytest.importorskip("onnxscript", reason='the onnx extra is not installed (pip install -e ".[onnx]")')

from analysis.onnx_export import mlp_inputs  # noqa: E402
from tune_mnist.extras.onnx_runtime import TIMING, compare, export_onnx, measure_latency_onnx, session  # noqa: E402

CONFIG = TrialConfig(side=14, scaling="standard", depth=1, width=64, epochs=1, seed=0)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(mnist):
    """One epoch on 4,000 images: a real classifier (over 80% on the test set), standardised inputs."""
    tensors = build_tensors(subset(split_validation(mnist, 1000), 4000), CONFIG)
    state = new_state(CONFIG, torch.device("cpu"))
    list(train(CONFIG, tensors, state, latency=False))
    return state.model.eval(), tensors


@pytest.mark.slow
def test_export_round_trips_on_the_whole_test_set(trained, mnist, tmp_path):
    model, tensors = trained
    path = tmp_path / "model.onnx"
    export_onnx(model, CONFIG.in_features, path)
    x = mlp_inputs(CONFIG, tensors.mean, tensors.std, mnist.test_images)
    assert x.shape == (len(mnist.test_images), CONFIG.in_features) == (10_000, 196)
    assert abs(float(x.mean())) < 0.2  # standardised with the training split's statistics
    labels = torch.from_numpy(mnist.test_labels.copy()).long()
    check = compare(model, session(path, threads=1), x, labels)
    assert check["samples"] == 10_000
    assert check["max_abs_diff"] < 1e-4
    assert check["argmax_agreement"] >= 0.9999  # float32 rounding may flip at most an exact tie
    with torch.inference_mode():
        ours = float((model(x).argmax(1) == labels).float().mean())
    assert ours > 0.8 and check["accuracy"] == pytest.approx(ours, abs=2e-4)


def test_batch_one_and_other_batch_sizes_run(trained):
    """The batch dimension is dynamic: one image and an odd batch both run."""
    model, _ = trained
    sess = session(export_onnx(model, CONFIG.in_features), threads=1)
    for n in (1, 3, 1000):
        x = torch.rand(n, CONFIG.in_features)
        (out,) = sess.run(None, {"features": x.numpy()})
        assert out.shape == (n, 10)
        assert torch.allclose(torch.from_numpy(out), model(x).detach(), atol=1e-4)


@pytest.mark.slow
def test_onnxruntime_latency_is_positive_ordered_and_batching_pays():
    model = build_mlp(196, 2, 256).eval()  # a mid-size model: batching amortises the per-call overhead
    sess = session(export_onnx(model, 196), threads=1)
    result = measure_latency_onnx(sess, 196, threads=1, calls=100)
    p50, p90, p99 = result["latency_p50_us"], result["latency_p90_us"], result["latency_p99_us"]
    assert 0 < p50 <= p90 <= p99
    assert 0 < result["latency_batch_us"] < p50
    assert result["runtime"] == "onnxruntime" and result["threads"] == 1 and result["latency_batch_size"] == 1024


class RecordingSession:
    """The real session, recording what each ``run`` is given (our code's input, checked; ORT still runs)."""

    def __init__(self, real):
        self.real, self.given = real, []

    def run(self, output_names, input_feed, *rest):
        self.given.append(input_feed)
        return self.real.run(output_names, input_feed, *rest)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_timed_onnxruntime_calls_get_one_float32_array_made_before_the_loop():
    """Each timed call is ``session.run`` on a contiguous float32 NumPy array, the same object in every
    call of a batch size: made once before timing, never converted from a tensor inside the loop."""
    import numpy as np

    recorder = RecordingSession(session(export_onnx(build_mlp(196, 1, 64).eval(), 196), threads=1))
    result = measure_latency_onnx(recorder, 196, threads=1, warmup=10, calls=30, batch=64, batch_calls=3)
    assert len(recorder.given) == 10 + 1 + 30 + 3
    arrays = [feed["features"] for feed in recorder.given]
    assert all(set(feed) == {"features"} for feed in recorder.given)
    for x in arrays:
        assert type(x) is np.ndarray and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    distinct = {id(x): x for x in arrays}  # the recorder holds every array, so ids are not reused
    assert sorted(x.shape for x in distinct.values()) == [(1, 196), (64, 196)]
    assert len({id(feed) for feed in recorder.given}) == 2  # the feeds dict too is built once per batch size
    assert "NumPy array made before the timed loop" in result["timing"]


def one_sentence(message: str) -> bool:
    return len(re.findall(r"[.!?](?:\s|$)", message)) == 1 and message.endswith(".")


@pytest.mark.parametrize("module", ["onnxruntime", "onnxscript", "onnx"])
def test_missing_onnx_extra_is_one_sentence_naming_it(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError, as without the extra
    with pytest.raises(InputError) as caught:
        require("onnx", "--format onnx")
    message = str(caught.value)
    assert 'pip install -e ".[onnx]"' in message and "--format onnx" in message
    assert one_sentence(message), message


def test_missing_mlflow_extra_is_one_sentence_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(InputError) as caught:
        require("mlflow", "--mlflow")
    message = str(caught.value)
    assert 'pip install -e ".[mlflow]"' in message and one_sentence(message), message


# ---------------------------------------------------------------- through the analysis CLI


@pytest.fixture(scope="module")
def analysed_onnx(smoke_experiment, tmp_path_factory):
    """A real smoke search (shared: see conftest), then
    ``--remeasure --runtime onnxruntime --export DIR --format onnx``."""
    import contextlib
    import io

    from analysis import pareto

    export = tmp_path_factory.mktemp("export")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = pareto.main(
            [
                str(smoke_experiment),
                "--remeasure",
                "--rounds",
                "2",
                "--runtime",
                "onnxruntime",
                "--export",
                str(export),
                "--format",
                "onnx",
            ]
        )
    assert code == 0, err.getvalue()
    return {"out": out.getvalue(), "dir": smoke_experiment / "analysis", "export": export}


@pytest.mark.slow
def test_cli_exports_verified_onnx_models(analysed_onnx, mnist):
    import json

    import pandas as pd

    export = analysed_onnx["export"]
    index = pd.read_csv(export / "index.csv")
    front = pd.read_csv(analysed_onnx["dir"] / "front_remeasured.csv")
    assert set(index["label"]) == set(front["label"])  # every front config, and nothing else
    for _, config in front.iterrows():  # each with every seed (the confirmation stage trained several)
        exported = index[index["label"] == config["label"]]
        assert sorted(exported["seed"].astype(int)) == sorted(int(s) for s in str(config["seeds"]).split(";"))
        assert sorted(exported["trial_id"]) == sorted(str(config["trial_ids"]).split(";"))
    assert (index.groupby("label").size() > 1).any()  # confirmed seeds were exported, not just one per config
    assert (index["format"] == "onnx").all() and (index["verified_on"] == len(mnist.test_labels)).all()
    assert (index["onnx_max_abs_diff"] < 1e-4).all() and (index["onnx_argmax_agreement"] >= 0.9999).all()
    for _, entry in index.iterrows():
        directory = export / entry["directory"]
        assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.onnx"]
        meta = json.loads((directory / "config.json").read_text())
        assert entry["input_shape"] == f"[N, {meta['in_features']}]" == f"[N, {meta['onnx']['input_shape'][1]}]"
        (out,) = session(directory / "model.onnx").run(None, {"features": torch.rand(3, meta["in_features"]).numpy()})
        assert out.shape == (3, 10)
    assert "ONNX vs PyTorch on 10,000 test images" in analysed_onnx["out"]
    assert "same prediction for 100.00%" in analysed_onnx["out"] or "same prediction for 99.99%" in analysed_onnx["out"]


@pytest.mark.slow
def test_cli_remeasures_in_onnxruntime_beside_eager(analysed_onnx):
    import pandas as pd

    ort = pd.read_csv(analysed_onnx["dir"] / "remeasure_onnxruntime.csv")
    eager = pd.read_csv(analysed_onnx["dir"] / "remeasure.csv")
    assert sorted(ort["label"]) == sorted(eager["label"])
    assert (ort["threads"] == 1).all() and (ort["runtime"] == "onnxruntime").all() and (ort["rounds"] == 2).all()
    for key in ("latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_batch_us"):
        assert (ort[key] > 0).all() and (ort[f"eager_{key}"] > 0).all()
    assert (ort["latency_p50_us"] <= ort["latency_p90_us"]).all() and (
        ort["latency_p90_us"] <= ort["latency_p99_us"]
    ).all()
    assert len(pd.read_csv(analysed_onnx["dir"] / "front_remeasured_onnxruntime.csv")) >= 1
    out = analysed_onnx["out"]
    assert "Eager PyTorch and onnxruntime" in out and "Front with the onnxruntime latency" in out
    assert "Hypervolume (onnxruntime)" in out
    changed = r"(The front is the same|Joined the front|Left the front) with onnxruntime's latency_p50_us, not eager's"
    assert re.search(changed, out)
    assert (ort["timing"] == TIMING).all() and f"onnxruntime, {TIMING}." in out  # the method, stated
    report = (analysed_onnx["dir"] / "report.md").read_text()
    assert "Front with the onnxruntime latency" in report and "remeasure_onnxruntime.csv" in report
    assert TIMING in report


def test_cli_without_the_onnx_extra_is_one_sentence(monkeypatch, tmp_path, capsys):
    from analysis import pareto

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert pareto.main([str(tmp_path), "--export", str(tmp_path / "x"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[onnx]"' in err and "--format onnx" in err
    assert pareto.main([str(tmp_path), "--remeasure", "--runtime", "onnxruntime"]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[onnx]"' in err and "--runtime onnxruntime" in err
    assert not (tmp_path / "x").exists()
