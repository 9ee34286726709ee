"""The state of a pack (stacked weights, Adam moments, shuffle generators, progress) and its
conversion to and from single-model checkpoints, so each member can be saved and resumed alone."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tune_mnist.core.config import TrialConfig
from tune_mnist.model.mlp import build_mlp, layer_sizes
from tune_mnist.training.loop import TrainingState
from tune_mnist.training.packed.plan import check_packable


class PackState:
    """Weights, Adam moments, shuffle generators and progress of every member of a pack. Members are
    kept internally in learning-rate order (so members sharing a learning rate are contiguous); every
    public method speaks in config order.

    A pack is checkpointed member by member: ``member_training_state(i).state_dict()`` is exactly
    ``tune_mnist.training.loop.TrainingState.state_dict()`` of member ``i`` (a single-model checkpoint),
    and ``load_member_state_dict(i, ...)`` takes one, so a member can be resumed alone or in a pack."""

    def __init__(self, configs: Sequence[TrialConfig], device: torch.device | str = "cpu"):
        configs = list(configs)
        check_packable(configs)
        self.configs = configs
        self.device = torch.device(device)
        self.k = len(configs)
        self.depth = configs[0].depth
        # Slot s holds member order[s]; members with equal lr sit together.
        self.order = sorted(range(self.k), key=lambda i: (configs[i].lr, i))
        self.slot = [0] * self.k
        for s, i in enumerate(self.order):
            self.slot[i] = s
        self.sizes = layer_sizes(
            max(c.in_features for c in configs), self.depth, max(c.width for c in configs) if self.depth else 1
        )
        self.member_sizes = [layer_sizes(c.in_features, c.depth, c.width) for c in configs]
        # Each member's input mean and std (0 and 1 unless standardised), set by train_packed.
        self.scaling: list[tuple[float, float]] = [(0.0, 1.0)] * self.k
        self.weights: list[torch.Tensor] = []  # layer l: (K, in, out), the transpose of nn.Linear's
        self.biases: list[torch.Tensor] = []  # layer l: (K, 1, out)
        with torch.no_grad():
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
                self.weights.append(torch.zeros(self.k, n_in, n_out, device=self.device))
                self.biases.append(torch.zeros(self.k, 1, n_out, device=self.device))
            # The single path's initial weights: build_mlp on the CPU right after manual_seed(seed).
            # Only the CPU generator is used, so fork just that one (leave the caller's RNG alone).
            with torch.random.fork_rng(devices=[]):
                for i, config in enumerate(configs):
                    torch.default_generator.manual_seed(config.seed)
                    model = build_mlp(config.in_features, config.depth, config.width)
                    self._put_model(i, model)
        for p in self.params:
            p.requires_grad_(True)
        self.exp_avg = [torch.zeros_like(p, requires_grad=False) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, requires_grad=False) for p in self.params]
        self.step = torch.zeros((), dtype=torch.float32, device=self.device)  # Adam steps taken (all members)
        self.lrs = torch.tensor([configs[i].lr for i in self.order], dtype=torch.float32, device=self.device)
        self.generators = []
        for config in configs:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(config.seed)
            self.generators.append(generator)
        self.epoch = 0
        self.train_time_s = [0.0] * self.k

    # -------------------------------------------------------------- layout
    @property
    def params(self) -> list[torch.Tensor]:
        """Stacked tensors in nn.Sequential's parameter order: layer 1 weight, layer 1 bias, ..."""
        return [t for pair in zip(self.weights, self.biases) for t in pair]

    def _member_views(self, i: int, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Member ``i``'s unpadded slices of stacked (weight, bias, ...) tensors, shaped as
        nn.Linear's (out, in) weight and (out,) bias."""
        s, sizes = self.slot[i], self.member_sizes[i]
        out = []
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            out.append(tensors[2 * l][s, :n_in, :n_out].t())
            out.append(tensors[2 * l + 1][s, 0, :n_out])
        return out

    @torch.no_grad()
    def _put_model(self, i: int, model: nn.Sequential) -> None:
        for view, value in zip(self._member_views(i, self.params), model.parameters()):
            view.copy_(value.detach())

    # -------------------------------------------------------------- export
    @torch.no_grad()
    def model(self, i: int, device: torch.device | str | None = None) -> nn.Sequential:
        """Member ``i`` as a plain ``build_mlp`` model (a copy) on ``device`` (default the pack's)."""
        config = self.configs[i]
        model = build_mlp(config.in_features, config.depth, config.width).to(device or self.device)
        for param, view in zip(model.parameters(), self._member_views(i, self.params)):
            param.copy_(view)
        return model

    def member_training_state(self, i: int) -> TrainingState:
        """Member ``i`` as a ``tune_mnist.training.loop.TrainingState`` (copies): model, Adam with its
        moments and step, shuffle generator, epoch and train time."""
        config = self.configs[i]
        model = self.model(i)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)  # as new_state's on cpu or cuda
        if self.epoch > 0 or float(self.step) > 0:
            m = self._member_views(i, self.exp_avg)
            v = self._member_views(i, self.exp_avg_sq)
            for param, m_i, v_i in zip(model.parameters(), m, v):
                optimizer.state[param] = {
                    "step": self.step.detach().clone(),
                    "exp_avg": m_i.detach().clone().contiguous(),
                    "exp_avg_sq": v_i.detach().clone().contiguous(),
                }
        generator = torch.Generator(device=self.device)
        generator.set_state(self.generators[i].get_state())
        return TrainingState(model, optimizer, generator, epoch=self.epoch, train_time_s=self.train_time_s[i])

    @torch.no_grad()
    def load_member_state_dict(self, i: int, state: dict) -> None:
        """Put a single-model checkpoint (``TrainingState.state_dict()``) into member ``i``. The pack
        takes its epoch and Adam step, which all members share: load every member from checkpoints of
        one epoch (a pack trial's own checkpoint, or its members' states when it is rebuilt)."""
        config = self.configs[i]
        model = build_mlp(config.in_features, config.depth, config.width)
        model.load_state_dict(state["model"])
        self._put_model(i, model)
        moments = state["optimizer"]["state"]  # by parameter index; empty before the first step
        for index, (m_view, v_view) in enumerate(
            zip(self._member_views(i, self.exp_avg), self._member_views(i, self.exp_avg_sq))
        ):
            if index in moments:
                m_view.copy_(moments[index]["exp_avg"])
                v_view.copy_(moments[index]["exp_avg_sq"])
            else:
                m_view.zero_()
                v_view.zero_()
        self.generators[i].set_state(state["generator"].cpu())
        self.train_time_s[i] = float(state["train_time_s"])
        self.epoch = int(state["epoch"])
        self.step.fill_(float(moments[0]["step"]) if moments else 0.0)
