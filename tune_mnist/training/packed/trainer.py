"""The pack's training loop: one batched step of every member (``torch.baddbmm`` over stacked
weights), Adam over the stacked tensors, the step as a CUDA graph on GPU, and evaluation."""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F

from tune_mnist.core.config import NUM_CLASSES
from tune_mnist.training.packed.inputs import PackInputs
from tune_mnist.training.packed.state import PackState

#: Up to this many distinct learning rates, Adam runs as one fused call per learning rate (the
#: single path's own kernel); above it, one fused call at lr 1 and a per-member scale.
FUSED_LR_GROUPS = 8
#: Evaluation works on chunks of samples so that one layer's activations for the whole pack stay
#: under this many float32 elements.
EVAL_ELEMENTS = 1 << 25
#: Eager training steps before the CUDA graph is captured (cuBLAS and autograd set-up happen here).
GRAPH_WARMUP_STEPS = 3
BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, which tune_mnist.train uses


class PackTrainer:
    """Runs epochs of a ``PackState`` on ``PackInputs``: the batched step, Adam, evaluation."""

    def __init__(self, state: PackState, inputs: PackInputs, use_graph: bool | None = None):
        self.state, self.inputs = state, inputs
        self.device = state.device
        self.batch = state.configs[0].batch_size
        self.n = len(inputs.train_y)
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
                torch._fused_adam_(
                    [p[a:b] for p in params],
                    [g[a:b] for g in grads],
                    [m[a:b] for m in state.exp_avg],
                    [v[a:b] for v in state.exp_avg_sq],
                    [],
                    [state.step] * len(params),
                    lr=lr,
                    **common,
                )
        else:
            torch._foreach_zero_(self.scratch)
            torch._fused_adam_(
                self.scratch, grads, state.exp_avg, state.exp_avg_sq, [], [state.step] * len(params), lr=1.0, **common
            )
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
        if not self.use_graph:
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
            self.use_graph = False
            try:
                torch.cuda.synchronize(self.device)
            except Exception:
                pass
            warnings.warn(
                f"CUDA graph capture of the packed step failed ({type(exc).__name__}: {exc}); "
                "training this pack eagerly.",
                RuntimeWarning,
                stacklevel=4,
            )
            return False
        self.graph.replay()
        return True

    # -------------------------------------------------------------- epochs
    def train_epoch(self) -> tuple[list[float], list[float]]:
        """One epoch of every member; returns (train loss, train accuracy) per member, config order."""
        state, n, batch = self.state, self.n, self.batch
        # Each member's permutation, drawn exactly as tune_mnist.training.loop.train_epoch draws it.
        order = torch.stack([torch.randperm(n, device=self.device, generator=state.generators[i]) for i in state.order])
        rows = order + self.inputs.offsets
        self.loss_sum.zero_()
        self.correct.zero_()
        for step in range(math.ceil(n / batch)):
            start, stop = step * batch, min((step + 1) * batch, n)
            x_idx, y_idx = rows[:, start:stop], order[:, start:stop]
            if stop - start != batch or not self._graph_step(x_idx, y_idx):
                self._step(x_idx, y_idx)
        loss = (self.loss_sum.double() / n).tolist()
        acc = (self.correct.double() / n).tolist()
        return [loss[state.slot[i]] for i in range(state.k)], [acc[state.slot[i]] for i in range(state.k)]

    @torch.inference_mode()
    def evaluate(
        self, split: list[tuple[torch.Tensor, torch.Tensor]], y: torch.Tensor
    ) -> tuple[list[float], list[float]]:
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
                xc, yc = x[start : start + chunk], y[start : start + chunk]
                c = len(yc)
                h = torch.addmm(b0, xc, w0).view(c, ks, out0).transpose(0, 1)
                for w, b in rest:
                    h = torch.baddbmm(b, h.relu_(), w)
                losses = F.cross_entropy(h.reshape(ks * c, NUM_CLASSES), yc.repeat(ks), reduction="none")
                loss.index_add_(0, slots, losses.view(ks, c).sum(1, dtype=torch.float64))
                correct.index_add_(0, slots, (h.argmax(2) == yc).sum(1))
        loss_l, acc_l = (loss / n).tolist(), (correct.double() / n).tolist()
        return [loss_l[state.slot[i]] for i in range(k)], [acc_l[state.slot[i]] for i in range(k)]
