"""ONNX export and ONNX Runtime latency on real trained models and the real MNIST test set
(real PyTorch, real onnxruntime, no mocks); and the one-sentence message when the extra is missing."""

from __future__ import annotations

import re
import sys

import pytest
import torch

from tune_mnist.config import TrialConfig
from tune_mnist.data import split_validation, subset
from tune_mnist.errors import InputError
from tune_mnist.extras import require
from tune_mnist.inputs import build_tensors
from tune_mnist.model import build_mlp
from tune_mnist.train import new_state, train

pytest.importorskip("onnxruntime", reason='the onnx extra is not installed (pip install -e ".[onnx]")')
pytest.importorskip("onnxscript", reason='the onnx extra is not installed (pip install -e ".[onnx]")')

from analysis.onnx_export import mlp_inputs  # noqa: E402
from tune_mnist.onnx_runtime import compare, export_onnx, measure_latency_onnx, session  # noqa: E402

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
