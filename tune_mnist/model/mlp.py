"""The MLP: a plain nn.Sequential, so a saved state_dict loads into it anywhere."""

from __future__ import annotations

from torch import nn

from tune_mnist.model.counts import layer_sizes


def build_mlp(in_features: int, depth: int, width: int) -> nn.Sequential:
    """Flatten, then Linear/ReLU pairs, then the output Linear (no softmax: cross-entropy takes logits)."""
    sizes = layer_sizes(in_features, depth, width)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
