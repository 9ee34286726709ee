"""Train many configs at once on one device as one packed ensemble (issue 6).

K configs become one set of stacked tensors: layer ``l`` of every member is a slice of one
``(K, in_max, out_max)`` weight and one ``(K, 1, out_max)`` bias, and a training step is a few
``torch.baddbmm`` calls over all members at once. Each member keeps everything the single-model
path (``tune_mnist.train``) gives it:

- the same initial weights (``build_mlp`` under ``torch.manual_seed(config.seed)``, copied in);
- the same batch order (its own ``torch.Generator`` seeded with ``config.seed``, one ``randperm``
  per epoch on the pack's device, exactly as ``train_epoch`` draws it);
- its own learning rate and its own Adam: Adam is element-wise, so one update over the stacked
  tensors is exactly K independent Adams. All members step together, so the step count and the
  bias corrections are the same for all. When the pack has at most ``FUSED_LR_GROUPS`` distinct
  learning rates, the update is the very kernel the single path runs (``torch._fused_adam_``, once
  per learning rate), bit for bit; with more, one fused pass at lr 1 then ``p += lr_k * u`` (one
  extra float32 rounding per update);
- the loss: the pack minimises the sum of the members' mean batch losses, whose gradient with
  respect to one member's weights is that member's own gradient.

What a pack may mix, and what it may not (``plan_packs`` groups a list of configs accordingly):

- batch size and epochs must be equal (the members step together);
- depth must be equal: padding depth is not exact in general (an extra Linear+ReLU layer is not an
  identity, and it would be trained);
- width, input spec (crop / resize / scaling, hence input features), learning rate and seed may
  differ. Narrower members are zero-padded to the widest, smaller inputs to the largest. The padded
  input columns are zero, and the padded weights, biases and Adam moments start at zero and stay
  exactly zero: a padded hidden unit's pre-activation is 0, ReLU passes no gradient at 0, the
  weights reading it get zero gradient because it outputs 0, and Adam moves a weight with zero
  gradient and zero moments by 0 / (0 + eps) = 0. Padding costs compute, so pack similar shapes.

Each distinct input spec builds its tensors once (``tune_mnist.inputs.build_tensors``); every
member gathers its own batches from the one it uses. On CUDA the whole training step (gather,
forward, backward, Adam, metric sums) is captured once as a CUDA graph and replayed; if capture
fails the pack says so once and goes on eagerly. On CPU it runs as plain batched ops.

Numerics: the batched matrix products round differently from the single model's ``addmm`` (other
blocking), so a member matches the same config trained alone to float32 rounding, not bit for bit:
tests/test_packed.py checks it on CPU."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tune_mnist.config import NUM_CLASSES, TrialConfig
from tune_mnist.data import Splits
from tune_mnist.errors import InputError
from tune_mnist.inputs import build_tensors
from tune_mnist.measure import environment_row, measure_latency, mlp_bias_relu_ops, mlp_flops, mlp_params, synchronize
from tune_mnist.metrics import PACK
from tune_mnist.model import build_mlp, layer_sizes
from tune_mnist.train import TrainingState

Progress = Callable[[int, int, int], None]  # (epoch, steps done, steps in the epoch), as tune_mnist.train

#: Keys a packed row has beyond ``tune_mnist.metrics.EPOCH_ROW``.
PACK_KEYS = PACK
#: Up to this many distinct learning rates, Adam runs as one fused call per learning rate (the
#: single path's own kernel); above it, one fused call at lr 1 and a per-member scale.
FUSED_LR_GROUPS = 8
#: Evaluation works on chunks of samples so that one layer's activations for the whole pack stay
#: under this many float32 elements.
EVAL_ELEMENTS = 1 << 25
#: Eager training steps before the CUDA graph is captured (cuBLAS and autograd set-up happen here).
GRAPH_WARMUP_STEPS = 3
BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, which tune_mnist.train uses
#: plan_packs pads a pack to its largest member only while that costs at most PAD_SLACK times the
#: members' own parameters, plus PAD_FREE_PARAMS per member (below that, a step's fixed costs
#: dominate: a 64-256-10 model has 19,210). Without this limit the 1,000-config random space packs
#: into 12x its own parameters; with it, 1.35x (and the grid 1.1x instead of 1.6x).
PAD_SLACK = 1.5
PAD_FREE_PARAMS = 20_000


# ------------------------------------------------------------------ grouping

def pack_key(config: TrialConfig) -> tuple[int, int, int]:
    """What members of one pack must share: (batch_size, epochs, depth)."""
    return (config.batch_size, config.epochs, config.depth)


def check_packable(configs: Sequence[TrialConfig]) -> None:
    """Raise InputError (one sentence) unless ``configs`` can train as one pack."""
    if len(configs) == 0:
        raise InputError("The pack has no configs: pass at least one TrialConfig to train_packed.")
    for i, config in enumerate(configs):
        if not isinstance(config, TrialConfig):
            raise InputError(f"Pack member {i} is a {type(config).__name__}, not a TrialConfig: "
                             "build configs with TrialConfig(...) or TrialConfig.from_dict(...).")
    for name, index in (("batch_size", 0), ("epochs", 1), ("depth", 2)):
        values = sorted({pack_key(c)[index] for c in configs})
        if len(values) > 1:
            raise InputError(f"Configs in one pack must share {name}, but these have {name} "
                             f"{', '.join(map(str, values))}: split them with tune_mnist.packed.plan_packs "
                             "(it groups by batch_size, epochs and depth).")


def padded_params(configs: Sequence[TrialConfig]) -> int:
    """Parameters a pack of ``configs`` really trains: K copies of its largest input and width."""
    depth = configs[0].depth
    return len(configs) * mlp_params(max(c.in_features for c in configs), depth,
                                     max(c.width for c in configs) if depth else 1)


def own_params(configs: Sequence[TrialConfig]) -> int:
    """Parameters of ``configs`` trained one by one, without padding."""
    return sum(mlp_params(c.in_features, c.depth, c.width) for c in configs)


def plan_packs(configs: Sequence[TrialConfig], max_size: int) -> list[list[int]]:
    """Indices of ``configs`` in packs of at most ``max_size``, most work first.

    Members must share (batch_size, epochs, depth). Inside such a group, configs in (width, input
    features) order join the current pack while padding them all to its largest shape costs at most
    PAD_SLACK times their own parameters (plus PAD_FREE_PARAMS per member, which small models get
    for free: their steps are dominated by fixed costs); otherwise they start the next pack. A run
    of configs that fit together is cut into even packs (10 configs at max 8: 5 + 5, not 8 + 2).
    The heaviest packs come first, so that the last trials to start are short ones."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise InputError(f"Pack size {max_size!r} is invalid: use a positive integer.")
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(pack_key(config), []).append(i)
    packs = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda i: (configs[i].width if configs[i].depth else 0,
                                                     configs[i].in_features, configs[i].lr, i))
        runs: list[list[int]] = []
        own = widest = largest = 0  # of the last run, kept as it grows
        for i in members:
            c = configs[i]
            mine = own_params([c])
            if runs:
                k, width, features = len(runs[-1]) + 1, max(widest, c.width), max(largest, c.in_features)
                if k * mlp_params(features, c.depth, width) <= PAD_SLACK * (own + mine) + k * PAD_FREE_PARAMS:
                    runs[-1].append(i)
                    own, widest, largest = own + mine, width, features
                    continue
            runs.append([i])
            own, widest, largest = mine, c.width, c.in_features
        for run in runs:
            count = math.ceil(len(run) / max_size)
            size = math.ceil(len(run) / count)
            packs.extend(run[j:j + size] for j in range(0, len(run), size))

    def work(pack: list[int]) -> int:
        return padded_params([configs[i] for i in pack]) * configs[pack[0]].epochs

    return sorted(packs, key=lambda pack: (-work(pack), pack[0]))


# ------------------------------------------------------------------ state

def _spec_key(config: TrialConfig) -> tuple:
    return (config.crop, config.side, config.scaling)


class PackState:
    """Weights, Adam moments, shuffle generators and progress of every member of a pack: what a
    checkpoint of the pack holds. Members are kept internally in learning-rate order (so members
    sharing a learning rate are contiguous); every public method speaks in config order.

    ``member_state_dict(i)`` is exactly ``tune_mnist.train.TrainingState.state_dict()`` of member
    ``i`` (a single-model checkpoint), and ``load_member_state_dict(i, ...)`` takes one, so a
    member can be checkpointed alone and resumed alone or in a pack."""

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
        self.sizes = layer_sizes(max(c.in_features for c in configs), self.depth,
                                 max(c.width for c in configs) if self.depth else 1)
        self.member_sizes = [layer_sizes(c.in_features, c.depth, c.width) for c in configs]
        # Each member's input mean and std (0 and 1 unless standardised), set by train_packed.
        self.scaling: list[tuple[float, float]] = [(0.0, 1.0)] * self.k
        self.weights: list[torch.Tensor] = []  # layer l: (K, in, out), the transpose of nn.Linear's
        self.biases: list[torch.Tensor] = []   # layer l: (K, 1, out)
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
        self.history: list[list[dict]] = [[] for _ in range(self.k)]
        # Members loaded from single-model checkpoints, until all agree on epoch and Adam step.
        self._member_epochs: dict[int, int] = {}
        self._member_steps: dict[int, float] = {}

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

    @torch.no_grad()
    def model_state_dict(self, i: int) -> dict[str, torch.Tensor]:
        """Member ``i``'s weights as a plain CPU state_dict ('1.weight', '1.bias', '3.weight', ...),
        loadable into ``build_mlp(in_features, depth, width)``, also with ``weights_only=True``."""
        return {k: v.detach().cpu().clone() for k, v in self.model(i).state_dict().items()}

    def member_training_state(self, i: int) -> TrainingState:
        """Member ``i`` as a ``tune_mnist.train.TrainingState`` (copies): model, Adam with its
        moments and step, shuffle generator, epoch, train time and history."""
        config = self.configs[i]
        model = self.model(i)
        fused = self.device.type in ("cpu", "cuda")
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=fused)
        if self.epoch > 0 or float(self.step) > 0:
            m = self._member_views(i, self.exp_avg)
            v = self._member_views(i, self.exp_avg_sq)
            for param, m_i, v_i in zip(model.parameters(), m, v):
                step = self.step.detach().clone()
                optimizer.state[param] = {"step": step if fused else step.cpu(),
                                          "exp_avg": m_i.detach().clone().contiguous(),
                                          "exp_avg_sq": v_i.detach().clone().contiguous()}
        generator = torch.Generator(device=self.device)
        generator.set_state(self.generators[i].get_state())
        return TrainingState(model, optimizer, generator, epoch=self.epoch, train_time_s=self.train_time_s[i],
                             history=list(self.history[i]))

    def member_state_dict(self, i: int) -> dict:
        """A single-model checkpoint of member ``i`` (``TrainingState.state_dict()``'s format)."""
        return self.member_training_state(i).state_dict()

    @torch.no_grad()
    def load_member_state_dict(self, i: int, state: dict) -> None:
        """Put a single-model checkpoint (``TrainingState.state_dict()``) into member ``i``. Every
        member of a pack must be at the same epoch before training goes on (``train_packed`` checks)."""
        config = self.configs[i]
        model = build_mlp(config.in_features, config.depth, config.width)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise InputError(f"Checkpoint for pack member {i} does not fit its config {config.architecture} "
                             f"({str(exc).splitlines()[0]}): resume each member from its own checkpoint.") from None
        self._put_model(i, model)
        opt_state = state["optimizer"].get("state", {})
        steps = set()
        for index, (m_view, v_view) in enumerate(zip(self._member_views(i, self.exp_avg),
                                                     self._member_views(i, self.exp_avg_sq))):
            entry = opt_state.get(index)
            if entry is None:
                m_view.zero_()
                v_view.zero_()
                steps.add(0.0)
            else:
                m_view.copy_(entry["exp_avg"])
                v_view.copy_(entry["exp_avg_sq"])
                steps.add(float(entry["step"]))
        if len(steps) > 1:
            raise InputError(f"Checkpoint for pack member {i} has parameters at different Adam steps "
                             f"{sorted(steps)}: it is not a tune_mnist checkpoint.")
        self._member_steps[i] = steps.pop() if steps else 0.0
        generator = state["generator"]
        self.generators[i].set_state(generator.cpu() if hasattr(generator, "cpu") else generator)
        self._member_epochs[i] = int(state["epoch"])
        self.train_time_s[i] = float(state["train_time_s"])
        self._settle()

    def _settle(self) -> None:
        """After loading members one by one: once all agree on epoch and step, adopt them."""
        epochs, steps = self._member_epochs, self._member_steps
        known_epochs = {epochs.get(i, self.epoch) for i in range(self.k)}
        known_steps = {steps.get(i, float(self.step)) for i in range(self.k)}
        if len(known_epochs) == 1 and len(known_steps) == 1:
            self.epoch = known_epochs.pop()
            self.step.fill_(known_steps.pop())
            self._member_epochs, self._member_steps = {}, {}

    def check_in_step(self) -> None:
        """Raise InputError unless every member is at the same epoch and Adam step."""
        if self._member_epochs or self._member_steps:
            found = sorted({self._member_epochs.get(i, self.epoch) for i in range(self.k)})
            raise InputError(f"Pack members were loaded at different epochs ({', '.join(map(str, found))}): "
                             "pack only checkpoints of the same epoch, or resume them one config per trial.")

    # -------------------------------------------------------------- whole-pack checkpoint
    def state_dict(self) -> dict:
        """The whole pack (stacked tensors, in the internal order, with that order)."""
        self.check_in_step()
        return {"configs": [c.to_dict() for c in self.configs], "order": list(self.order),
                "weights": [w.detach().clone() for w in self.weights],
                "biases": [b.detach().clone() for b in self.biases],
                "exp_avg": [t.clone() for t in self.exp_avg], "exp_avg_sq": [t.clone() for t in self.exp_avg_sq],
                "step": self.step.clone(), "generators": [g.get_state() for g in self.generators],
                "epoch": self.epoch, "train_time_s": list(self.train_time_s)}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        """Load ``state_dict()`` output of a pack of the same configs (in place: tensors keep their
        storage, so a captured CUDA graph stays valid)."""
        if [TrialConfig.from_dict(c) for c in state["configs"]] != self.configs or list(state["order"]) != self.order:
            raise InputError("The pack checkpoint was written for other configs: resume a pack with the "
                             "configs, in the order, it was started with.")
        for mine, theirs in zip(self.weights + self.biases + self.exp_avg + self.exp_avg_sq,
                                state["weights"] + state["biases"] + state["exp_avg"] + state["exp_avg_sq"]):
            mine.copy_(theirs)
        self.step.copy_(state["step"])
        for generator, saved in zip(self.generators, state["generators"]):
            generator.set_state(saved.cpu())
        self.epoch = int(state["epoch"])
        self.train_time_s = [float(t) for t in state["train_time_s"]]

    def padding_is_zero(self) -> bool:
        """True when every padded entry of weights, biases and Adam moments is exactly zero."""
        with torch.no_grad():
            for tensors in (self.params, self.exp_avg, self.exp_avg_sq):
                masked = [t.clone() for t in tensors]
                for i in range(self.k):
                    for view in self._member_views(i, masked):
                        view.zero_()
                if any(bool(t.count_nonzero()) for t in masked):
                    return False
        return True


# ------------------------------------------------------------------ data

@dataclass
class PackInputs:
    """Every distinct input spec's tensors, built once. Training inputs of all specs are padded
    with zero columns to the widest and stacked as one (specs * n, features) tensor, so one gather
    serves the whole pack; validation and test stay unpadded per spec."""

    train_x: torch.Tensor          # (specs * n, max features)
    train_y: torch.Tensor          # (n,), the same for every spec
    offsets: torch.Tensor          # (K, 1) long, in slot order: spec index * n
    val: list[tuple[torch.Tensor, torch.Tensor]]  # per spec: (x, slots using it)
    test: list[tuple[torch.Tensor, torch.Tensor]]
    val_y: torch.Tensor
    test_y: torch.Tensor
    sizes: dict[str, int] = field(default_factory=dict)
    scaling: list[tuple[float, float]] = field(default_factory=list)  # per config (given order): input mean, std


def build_pack_inputs(splits: Splits, state: PackState) -> PackInputs:
    device, configs = state.device, state.configs
    specs: dict[tuple, int] = {}
    for config in configs:
        specs.setdefault(_spec_key(config), len(specs))
    first = {key: next(c for c in configs if _spec_key(c) == key) for key in specs}
    n = len(splits.train_labels)
    width = state.sizes[0]
    train_x = torch.zeros(len(specs) * n, width, device=device)
    val, test = [], []
    train_y = val_y = test_y = None
    scaling: dict[tuple, tuple[float, float]] = {}
    for key, index in specs.items():
        tensors = build_tensors(splits, first[key], device)
        scaling[key] = (tensors.mean, tensors.std)
        features = tensors.train_x.shape[1]
        train_x[index * n:(index + 1) * n, :features] = tensors.train_x
        slots = torch.tensor(sorted(state.slot[i] for i, c in enumerate(configs) if _spec_key(c) == key),
                             device=device)
        val.append((tensors.val_x, slots))
        test.append((tensors.test_x, slots))
        train_y, val_y, test_y = tensors.train_y, tensors.val_y, tensors.test_y
        del tensors
    offsets = torch.tensor([specs[_spec_key(configs[i])] * n for i in state.order], device=device).view(-1, 1)
    return PackInputs(train_x, train_y, offsets, val, test, val_y, test_y,
                      {"train_size": n, "val_size": len(val_y), "test_size": len(test_y)},
                      [scaling[_spec_key(c)] for c in configs])


# ------------------------------------------------------------------ the trainer

class PackTrainer:
    """Runs epochs of a ``PackState`` on ``PackInputs``: the batched step, Adam, evaluation."""

    def __init__(self, state: PackState, inputs: PackInputs, use_graph: bool | None = None):
        self.state, self.inputs = state, inputs
        self.device = state.device
        self.batch = state.configs[0].batch_size
        self.n = inputs.sizes["train_size"]
        k = state.k
        # Adam: contiguous slot ranges sharing a learning rate, or the scaled fallback.
        lrs = [state.configs[i].lr for i in state.order]
        self.lr_groups: list[tuple[int, int, float]] = []
        for s, lr in enumerate(lrs):
            if self.lr_groups and self.lr_groups[-1][2] == lr:
                self.lr_groups[-1] = (self.lr_groups[-1][0], s + 1, lr)
            else:
                self.lr_groups.append((s, s + 1, lr))
        self.exact_adam = len(self.lr_groups) <= FUSED_LR_GROUPS
        if not self.exact_adam:
            self.scratch = [torch.zeros_like(p, requires_grad=False) for p in state.params]
            self.lr_scale = [state.lrs.view(-1, *[1] * (p.dim() - 1)) for p in state.params]
        # Per-epoch sums, in slot order (static tensors: the CUDA graph adds into them).
        self.loss_sum = torch.zeros(k, device=self.device)
        self.correct = torch.zeros(k, device=self.device, dtype=torch.long)
        self.use_graph = (self.device.type == "cuda") if use_graph is None else use_graph
        self.graph: Any = None
        self.graph_failed = False
        self.static_x_idx = self.static_y_idx = None
        self.eager_full_steps = 0

    # -------------------------------------------------------------- one step, all members
    def _adam(self, grads: list[torch.Tensor]) -> None:
        state = self.state
        params = [p.detach() for p in state.params]
        state.step.add_(1)  # as torch.optim.Adam's fused path: count first, then update
        common = dict(amsgrad=False, beta1=BETAS[0], beta2=BETAS[1], weight_decay=0.0, eps=EPS, maximize=False)
        if self.exact_adam:
            for a, b, lr in self.lr_groups:
                torch._fused_adam_([p[a:b] for p in params], [g[a:b] for g in grads],
                                   [m[a:b] for m in state.exp_avg], [v[a:b] for v in state.exp_avg_sq], [],
                                   [state.step] * len(params), lr=lr, **common)
        else:
            torch._foreach_zero_(self.scratch)
            torch._fused_adam_(self.scratch, grads, state.exp_avg, state.exp_avg_sq, [],
                               [state.step] * len(params), lr=1.0, **common)
            for p, u, lr in zip(params, self.scratch, self.lr_scale):
                p.addcmul_(u, lr)

    def _step(self, x_idx: torch.Tensor, y_idx: torch.Tensor) -> None:
        """One training step of every member: x_idx (K, b) rows of train_x, y_idx (K, b) labels."""
        state, inputs = self.state, self.inputs
        k, b = y_idx.shape
        h = inputs.train_x[x_idx]
        for l, (w, bias) in enumerate(zip(state.weights, state.biases)):
            h = torch.baddbmm(bias, h, w)
            if l < len(state.weights) - 1:
                h = h.relu_()  # in place: baddbmm's backward does not need its output
        target = inputs.train_y[y_idx]
        losses = F.cross_entropy(h.reshape(k * b, NUM_CLASSES), target.reshape(-1), reduction="none")
        losses = losses.view(k, b).mean(1)
        grads = torch.autograd.grad(losses.sum(), state.params)
        with torch.no_grad():
            self._adam([g if g.is_contiguous() else g.contiguous() for g in grads])
            self.loss_sum.add_(losses.detach() * b)
            self.correct.add_((h.detach().argmax(2) == target).sum(1))

    # -------------------------------------------------------------- CUDA graph
    def _graph_step(self, x_idx: torch.Tensor, y_idx: torch.Tensor) -> bool:
        """Run a full-size step through the CUDA graph (warming up and capturing it on first use).
        False when the graph is not (or no longer) in use: the caller then runs the step eagerly."""
        if not self.use_graph or self.graph_failed:
            return False
        if self.static_x_idx is None:
            self.static_x_idx = torch.empty_like(x_idx)
            self.static_y_idx = torch.empty_like(y_idx)
        self.static_x_idx.copy_(x_idx)
        self.static_y_idx.copy_(y_idx)
        if self.graph is None:
            with torch.cuda.device(self.device):  # streams and capture on the pack's GPU, not the current one
                return self._warm_up_or_capture()
        self.graph.replay()
        return True

    def _warm_up_or_capture(self) -> bool:
        """Before the graph exists: the first GRAPH_WARMUP_STEPS full steps run eagerly on a side
        stream (as capture requires; they are real training steps), then the step is captured and
        replayed. Capture only records kernels, so if it fails nothing has changed: warn once and
        return False, and the caller runs this and every later step eagerly."""
        if self.eager_full_steps < GRAPH_WARMUP_STEPS:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._step(self.static_x_idx, self.static_y_idx)
            torch.cuda.current_stream(self.device).wait_stream(side)
            self.eager_full_steps += 1
            return True
        try:
            torch.cuda.synchronize(self.device)
            graph = torch.cuda.CUDAGraph()
            # thread_local: other threads of the process (Ray's) may use CUDA meanwhile without
            # invalidating the capture.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self._step(self.static_x_idx, self.static_y_idx)
            self.graph = graph
        except Exception as exc:  # whatever failed, the training state is untouched
            self.graph_failed = True
            try:
                torch.cuda.synchronize(self.device)
            except Exception:
                pass
            warnings.warn(f"CUDA graph capture of the packed step failed ({type(exc).__name__}: {exc}); "
                          "training this pack eagerly.", RuntimeWarning, stacklevel=4)
            return False
        self.graph.replay()
        return True

    # -------------------------------------------------------------- epochs
    def train_epoch(self, progress: Progress | None = None) -> tuple[list[float], list[float]]:
        """One epoch of every member; returns (train loss, train accuracy) per member, config order."""
        state, n, batch = self.state, self.n, self.batch
        # Each member's permutation, drawn exactly as tune_mnist.train.train_epoch draws it.
        order = torch.stack([torch.randperm(n, device=self.device, generator=state.generators[i])
                             for i in state.order])
        rows = order + self.inputs.offsets
        self.loss_sum.zero_()
        self.correct.zero_()
        steps = math.ceil(n / batch)
        every = max(1, steps // 50)
        for step in range(steps):
            start, stop = step * batch, min((step + 1) * batch, n)
            x_idx, y_idx = rows[:, start:stop], order[:, start:stop]
            if stop - start != batch or not self._graph_step(x_idx, y_idx):
                self._step(x_idx, y_idx)
            if progress is not None and (step + 1) % every == 0:
                progress(state.epoch + 1, step + 1, steps)
        loss = (self.loss_sum.double() / n).tolist()
        acc = (self.correct.double() / n).tolist()
        return [loss[state.slot[i]] for i in range(state.k)], [acc[state.slot[i]] for i in range(state.k)]

    @torch.inference_mode()
    def evaluate(self, split: list[tuple[torch.Tensor, torch.Tensor]], y: torch.Tensor) -> tuple[list[float], list[float]]:
        """Mean cross-entropy and accuracy of every member on a split (NaN for an empty split)."""
        state, k = self.state, self.state.k
        n = len(y)
        if n == 0:
            return [math.nan] * k, [math.nan] * k
        loss = torch.zeros(k, device=self.device, dtype=torch.float64)
        correct = torch.zeros(k, device=self.device, dtype=torch.long)
        for x, slots in split:
            ks, features = len(slots), x.shape[1]
            # First layer: the spec's samples are shared, so one matmul against all members' weights.
            w0 = state.weights[0][slots, :features, :]
            out0 = w0.shape[2]
            w0 = w0.permute(1, 0, 2).reshape(features, ks * out0)
            b0 = state.biases[0][slots].reshape(1, ks * out0)
            rest = [(w[slots], b[slots]) for w, b in zip(state.weights[1:], state.biases[1:])]
            widest = max(state.sizes[1:])
            chunk = max(1, min(n, EVAL_ELEMENTS // (ks * widest)))
            for start in range(0, n, chunk):
                xc, yc = x[start:start + chunk], y[start:start + chunk]
                c = len(yc)
                h = torch.addmm(b0, xc, w0).view(c, ks, out0).transpose(0, 1)
                for w, b in rest:
                    h = torch.baddbmm(b, h.relu_(), w)
                losses = F.cross_entropy(h.reshape(ks * c, NUM_CLASSES), yc.repeat(ks), reduction="none")
                loss.index_add_(0, slots, losses.view(ks, c).sum(1, dtype=torch.float64))
                correct.index_add_(0, slots, (h.argmax(2) == yc).sum(1))
        loss_l, acc_l = (loss / n).tolist(), (correct.double() / n).tolist()
        return [loss_l[state.slot[i]] for i in range(k)], [acc_l[state.slot[i]] for i in range(k)]


# ------------------------------------------------------------------ entry point

def train_packed(configs: list[TrialConfig], splits: Splits, device: torch.device | str,
                 progress: Progress | None = None, latency: bool | str = True, threads: int | None = None,
                 state: PackState | None = None, use_graph: bool | None = None) -> Iterator[list[dict]]:
    """Train ``configs`` as one pack; yield, once per epoch, one metrics row per config (in the
    order given) with the keys and meanings of ``tune_mnist.train.train``'s rows, plus
    ``pack_size`` (K, the number of configs trained together).

    ``epoch_time_s`` is the pack's epoch wall time divided by K (synchronised on GPU), so that
    summing it over configs gives the device time spent; ``train_time_s`` is its running sum.
    Latency is measured for each member on its own, unpacked into a plain ``build_mlp`` model, by
    ``tune_mnist.measure.measure_latency`` (as the single path: K models, every epoch);
    ``latency="last"`` measures only after the final epoch, ``False`` never.

    ``state`` (a ``PackState`` of these configs, fresh or loaded from checkpoints) is updated in
    place, so the caller can checkpoint members after any epoch with ``state.member_state_dict(i)``
    and export weights with ``state.model_state_dict(i)``. ``use_graph`` (default: on CUDA) captures
    the training step as a CUDA graph."""
    configs = list(configs)
    check_packable(configs)
    device = torch.device(device)
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"Device {str(device)!r} cannot train a pack: use cpu or cuda.")
    if latency not in (True, False, "last"):
        raise InputError(f"latency={latency!r} is invalid: use True (every epoch), 'last' or False.")
    if state is None:
        state = PackState(configs, device)
    elif state.configs != configs or state.device != device:
        raise InputError("The PackState passed to train_packed was made for other configs or another device: "
                         "build it with PackState(configs, device).")
    state.check_in_step()
    threads = threads or torch.get_num_threads()
    inputs = build_pack_inputs(splits, state)
    state.scaling = inputs.scaling  # what a member's saved model needs to standardise its inputs
    trainer = PackTrainer(state, inputs, use_graph=use_graph)
    k, epochs = state.k, configs[0].epochs
    static = []
    for config in configs:
        f, d, w = config.in_features, config.depth, config.width
        static.append({"params": mlp_params(f, d, w), "flops": mlp_flops(f, d, w),
                       "flops_bias_relu": mlp_bias_relu_ops(f, d, w), "in_features": f,
                       "input_spec": config.input_spec, "architecture": config.architecture, **inputs.sizes})
    while state.epoch < epochs:
        synchronize(device)
        start = time.perf_counter()
        train_loss, train_acc = trainer.train_epoch(progress)
        synchronize(device)
        epoch_time = (time.perf_counter() - start) / k
        state.epoch += 1
        val_loss, val_acc = trainer.evaluate(inputs.val, inputs.val_y)
        test_loss, test_acc = trainer.evaluate(inputs.test, inputs.test_y)
        measure = latency is True or (latency == "last" and state.epoch == epochs)
        rows = []
        for i, config in enumerate(configs):
            state.train_time_s[i] += epoch_time
            row = {"epoch": state.epoch, "train_loss": train_loss[i], "train_acc": train_acc[i],
                   "val_loss": val_loss[i], "val_acc": val_acc[i], "test_loss": test_loss[i], "test_acc": test_acc[i],
                   "epoch_time_s": epoch_time, "train_time_s": state.train_time_s[i], **static[i]}
            if measure:
                row.update(measure_latency(state.model(i), config.in_features, threads=threads))
            else:
                row.update(environment_row(device, threads))
            row["pack_size"] = k
            state.history[i].append(row)
            rows.append(row)
        yield rows
