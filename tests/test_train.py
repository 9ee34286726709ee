"""The training loop on real MNIST: it learns, it is deterministic, it resumes exactly, it reports
every metric under its one name."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from tune_mnist.core import metrics
from tune_mnist.core.config import TrialConfig
from tune_mnist.data.inputs import build_tensors
from tune_mnist.data.splits import split_validation, subset
from tune_mnist.model.counts import mlp_flops, mlp_params
from tune_mnist.training.loop import TrainingState, evaluate, new_state, train, train_epoch

CPU = torch.device("cpu")
CONFIG = TrialConfig(side=14, depth=1, width=64, epochs=2, seed=0)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tensors(mnist):
    return build_tensors(subset(split_validation(mnist, 1000), 4000), CONFIG)


@pytest.fixture(scope="module")
def two_epochs(tensors):
    state = new_state(CONFIG, CPU)
    rows = list(train(CONFIG, tensors, state, latency=False))
    return state, rows


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_a_few_thousand_images_really_learn(two_epochs):
    _, rows = two_epochs
    assert [r["epoch"] for r in rows] == [1, 2]
    first, last = rows
    assert first["train_loss"] < math.log(10)  # below the loss of a uniform guess
    assert last["train_loss"] < first["train_loss"] and last["val_loss"] < first["val_loss"]
    assert last["test_acc"] > 0.75 and last["val_acc"] > 0.75  # chance is 0.10
    assert last["train_acc"] > first["train_acc"]
    assert 0 < last["test_loss"] < first["test_loss"] < math.log(10)


def test_rows_carry_every_metric_under_its_name(tensors, two_epochs):
    _, rows = two_epochs
    row = rows[-1]
    assert row["params"] == mlp_params(196, 1, 64) and row["flops"] == mlp_flops(196, 1, 64)
    assert row["input_spec"] == "resize14" and row["architecture"] == "196-64-10" and row["in_features"] == 196
    assert (row["train_size"], row["val_size"], row["test_size"]) == (4000, 1000, 4000)
    assert row["epoch_time_s"] > 0 and row["train_time_s"] == pytest.approx(sum(r["epoch_time_s"] for r in rows))
    assert row["device"] == "cpu" and row["torch_version"] == torch.__version__
    with_latency = next(train(TrialConfig(side=14, depth=1, width=64, epochs=1), tensors, latency=True))
    assert set(with_latency) == set(metrics.row_keys())
    assert with_latency["latency_p50_us"] <= with_latency["latency_p99_us"]


def test_reported_metrics_agree_with_the_model(tensors, two_epochs):
    state, rows = two_epochs
    with torch.inference_mode():
        logits = state.model(tensors.test_x)  # no dropout or batch norm: the mode does not matter
    # Mean per-sample loss over the whole split (the notebook divided by the batch size twice).
    assert rows[-1]["test_loss"] == pytest.approx(float(F.cross_entropy(logits, tensors.test_y)), rel=1e-4)
    assert rows[-1]["test_acc"] == int((logits.argmax(1) == tensors.test_y).sum()) / len(tensors.test_y)


def test_evaluate_in_chunks_and_empty(tensors, two_epochs, monkeypatch):
    state, _ = two_epochs
    state.model.train()
    whole = evaluate(state.model, tensors.val_x, tensors.val_y)
    import tune_mnist.training.loop as train_module

    monkeypatch.setattr(train_module, "EVAL_BATCH", 7)  # many small chunks, a ragged last one
    chunked = evaluate(state.model, tensors.val_x, tensors.val_y)
    assert chunked[1] == whole[1] and chunked[0] == pytest.approx(whole[0], rel=1e-5)
    loss, acc = evaluate(state.model, tensors.val_x[:0], tensors.val_y[:0])
    assert math.isnan(loss) and math.isnan(acc)
    assert state.model.training  # evaluate leaves the mode as it found it


def test_train_epoch_reports_what_it_trained_on(tensors):
    state = new_state(CONFIG, CPU)
    seen = []
    x, y = tensors.train_x[:1000], tensors.train_y[:1000]
    loss, acc = train_epoch(state, x, y, 64, progress=lambda *a: seen.append(a))
    assert seen[-1] == (1, 16, 16) and len(seen) == 16
    assert 0 < acc < 1 and 0 < loss < math.log(10) * 1.2
    # Loss and accuracy are the per-sample means seen during the epoch: replay the same batches.
    replay = new_state(CONFIG, CPU)
    order = torch.randperm(1000, generator=replay.generator)
    total, correct = 0.0, 0
    for start in range(0, 1000, 64):
        idx = order[start : start + 64]
        logits = replay.model(x[idx])
        batch_loss = F.cross_entropy(logits, y[idx])
        replay.optimizer.zero_grad()
        batch_loss.backward()
        replay.optimizer.step()
        total += float(batch_loss.detach()) * len(idx)
        correct += int((logits.argmax(1) == y[idx]).sum())
    assert loss == pytest.approx(total / 1000, rel=1e-5) and acc == correct / 1000
    for a, b in zip(state.model.parameters(), replay.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_same_seed_same_run_other_seed_other_run(tensors, two_epochs):
    state, rows = two_epochs
    again_state = new_state(CONFIG, CPU)
    again = list(train(CONFIG, tensors, again_state, latency=False))
    keys = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
    assert [[r[k] for k in keys] for r in again] == [[r[k] for k in keys] for r in rows]
    for a, b in zip(weights(state.model), weights(again_state.model)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    other = TrialConfig(**{**CONFIG.to_dict(), "seed": 1, "epochs": 1})
    other_state = new_state(other, CPU)
    next(train(other, tensors, other_state, latency=False))
    assert not torch.equal(weights(other_state.model)[0], weights(state.model)[0])


def test_resumed_state_continues_like_an_uninterrupted_run(tensors, two_epochs):
    state, rows = two_epochs
    one = TrialConfig(**{**CONFIG.to_dict(), "epochs": 1})
    first = new_state(one, CPU)
    next(train(one, tensors, first, latency=False))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)  # a checkpoint, as a trial writes it
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)

    torch.manual_seed(12345)  # global RNG disturbed in between: resuming must not depend on it
    resumed = new_state(CONFIG, CPU)
    resumed.load_state_dict(checkpoint)
    assert resumed.epoch == 1 and resumed.train_time_s == first.train_time_s
    later = list(train(CONFIG, tensors, resumed, latency=False))
    assert [r["epoch"] for r in later] == [2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"):
        assert later[0][key] == rows[1][key], key
    for a, b in zip(weights(resumed.model), weights(state.model)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert later[0]["train_time_s"] == pytest.approx(first.train_time_s + later[0]["epoch_time_s"])


def test_finished_state_trains_no_more(tensors, two_epochs):
    state, _ = two_epochs
    assert isinstance(state, TrainingState) and state.epoch == 2
    before = weights(state.model)
    assert list(train(CONFIG, tensors, state, latency=False)) == []
    assert all(torch.equal(a, b) for a, b in zip(before, weights(state.model)))


def test_no_validation_split_gives_nan_validation(mnist):
    config = TrialConfig(side=8, depth=0, epochs=1)
    tensors = build_tensors(subset(split_validation(mnist, 0), 1000), config)
    row = next(train(config, tensors, latency=False))
    assert math.isnan(row["val_loss"]) and math.isnan(row["val_acc"]) and row["val_size"] == 0
    assert 0 <= row["test_acc"] <= 1 and row["test_loss"] > 0
