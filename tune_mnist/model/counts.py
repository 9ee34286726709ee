"""What an MLP costs, counted from its shape alone: layer sizes, parameters and FLOPs.

Pure arithmetic, without torch, so that pack planning (``tune_mnist.training.packed.plan``) and the search's
``--dry-run`` can size configs without importing it. FLOPs are 2 * sum(in * out) over the Linear
layers (a multiply-add counted as 2), what torch's FlopCounterMode reports; bias adds and ReLUs are a
separate number."""

from __future__ import annotations

from tune_mnist.core.config import NUM_CLASSES


def layer_sizes(in_features: int, depth: int, width: int) -> list[int]:
    """[in, width x depth, classes]: depth 0 is a linear classifier."""
    return [in_features] + [width] * depth + [NUM_CLASSES]


def mlp_params(in_features: int, depth: int, width: int) -> int:
    """Trainable parameters: weights and biases of every Linear layer."""
    sizes = layer_sizes(in_features, depth, width)
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def mlp_flops(in_features: int, depth: int, width: int) -> int:
    """Per-sample matmul FLOPs, 2 * sum(in * out): what torch's FlopCounterMode reports."""
    sizes = layer_sizes(in_features, depth, width)
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def mlp_bias_relu_ops(in_features: int, depth: int, width: int) -> int:
    """Per-sample bias additions plus ReLUs, reported apart from ``mlp_flops``."""
    sizes = layer_sizes(in_features, depth, width)
    return sum(sizes[1:]) + depth * width


def widest(in_features: int, depth: int, max_flops: float, cap: int) -> int:
    """The widest hidden layer, at most ``cap``, of an MLP of ``depth`` hidden layers that costs at
    most ``max_flops`` (1 for a linear model that fits); 0 when even width 1 costs more."""
    if mlp_flops(in_features, depth, 1) > max_flops:
        return 0
    if depth == 0:
        return 1
    low, high = 1, cap  # FLOPs grow with width: the largest fitting width by bisection
    while low < high:
        mid = (low + high + 1) // 2
        if mlp_flops(in_features, depth, mid) <= max_flops:
            low = mid
        else:
            high = mid - 1
    return low
