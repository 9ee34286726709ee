"""The MLP, its parameter and FLOP counts (against FlopCounterMode), and latency measurement."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tune_mnist.core.metrics import LATENCY_US
from tune_mnist.model.counts import mlp_bias_relu_ops, mlp_flops, mlp_params
from tune_mnist.model.measure import measure_latency, thread_count
from tune_mnist.model.mlp import build_mlp, layer_sizes


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def counted_flops(model: nn.Module, in_features: int) -> int:
    """FLOPs of one sample as torch's FlopCounterMode counts them: what the analytic counts must equal."""
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, in_features))
    return counter.get_total_flops()


def test_mlp_structure():
    model = build_mlp(784, 2, 1024)
    assert isinstance(model, nn.Sequential)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 1024), (1024, 1024), (1024, 10)]
    assert sum(isinstance(m, nn.ReLU) for m in model) == 2
    assert not isinstance(model[-1], nn.ReLU)  # logits out, no activation
    linear = build_mlp(64, 0, 999)
    assert [type(m) for m in linear] == [nn.Flatten, nn.Linear] and linear[1].in_features == 64
    assert layer_sizes(196, 3, 8) == [196, 8, 8, 8, 10]


def test_mlp_takes_flat_or_square_inputs():
    model = build_mlp(64, 1, 16)
    x = torch.rand(5, 8, 8)
    torch.testing.assert_close(model(x), model(x.reshape(5, 64)))
    assert model(x).shape == (5, 10)


def test_state_dict_loads_into_a_fresh_plain_sequential():
    torch.manual_seed(1)
    a = build_mlp(196, 2, 32)
    b = nn.Sequential(nn.Flatten(), nn.Linear(196, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
    b.load_state_dict(a.state_dict())
    x = torch.rand(4, 196)
    torch.testing.assert_close(a(x), b(x))


def test_baseline_params_and_flops():
    model = build_mlp(784, 2, 1024)
    assert mlp_params(784, 2, 1024) == count_params(model) == 1_863_690
    assert mlp_flops(784, 2, 1024) == counted_flops(model, 784) == 3_723_264
    # Bias adds (1024 + 1024 + 10) and ReLUs (2 x 1024) are a separate number.
    assert mlp_bias_relu_ops(784, 2, 1024) == 4106
    # The notebook's formula A*A*B + B + 2B was about 460x too many.
    assert 1_713_641_482 / mlp_flops(784, 2, 1024) == pytest.approx(460, rel=0.01)


@pytest.mark.parametrize(
    "in_features, depth, width",
    [
        *itertools.product([784, 196, 64], [0, 1, 2, 4], [1, 8, 256]),
        (1, 0, 1),
        (1, 3, 2048),
        (400, 2, 1024),
        (784, 1, 4),
    ],
)
def test_analytic_counts_match_torch(in_features, depth, width):
    model = build_mlp(in_features, depth, width)
    assert mlp_flops(in_features, depth, width) == counted_flops(model, in_features)
    assert mlp_params(in_features, depth, width) == count_params(model)


def test_counted_params_skip_frozen_weights():
    model = build_mlp(64, 1, 8)
    model[1].weight.requires_grad_(False)
    assert count_params(model) == mlp_params(64, 1, 8) - 64 * 8


@pytest.fixture(scope="module")
def latency():
    torch.manual_seed(0)
    return measure_latency(build_mlp(64, 1, 256), 64, threads=1, warmup=10, calls=100, batch=512, batch_calls=3)


def test_latency_is_positive_and_ordered(latency):
    assert all(latency[key] > 0 for key in LATENCY_US)
    assert latency["latency_p50_us"] <= latency["latency_p90_us"] <= latency["latency_p99_us"]
    assert latency["latency_batch_size"] == 512
    # Per sample at batch 512 is cheaper than a whole batch-1 call.
    assert latency["latency_batch_us"] < latency["latency_p50_us"]


def test_latency_records_where_it_was_measured(latency):
    assert latency["device"] == "cpu" and latency["device_name"] == "cpu"
    assert latency["threads"] == 1
    assert latency["torch_version"] == torch.__version__


def test_latency_restores_threads_and_training_mode():
    model = build_mlp(16, 1, 8)
    model.train()
    before = torch.get_num_threads()
    result = measure_latency(model, 16, threads=1, warmup=2, calls=10, batch=16, batch_calls=1)
    assert result["threads"] == 1
    assert torch.get_num_threads() == before and model.training
    with thread_count(1) as used:
        assert used == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_bigger_models_take_longer():
    torch.manual_seed(0)
    small = measure_latency(build_mlp(64, 0, 1), 64, threads=1, warmup=5, calls=60, batch=256, batch_calls=3)
    big = measure_latency(build_mlp(784, 2, 1024), 784, threads=1, warmup=5, calls=60, batch=256, batch_calls=3)
    # 3.7 MFLOPs against 1.3 kFLOPs: the difference is far beyond timing noise.
    assert big["latency_batch_us"] > 5 * small["latency_batch_us"]
    assert big["latency_p50_us"] > small["latency_p50_us"]
