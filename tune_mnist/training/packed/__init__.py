"""Train many configs at once on one device as one packed ensemble.

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

What a pack may mix, and what it may not (``plan.plan_packs`` groups a list of configs accordingly):

- batch size and epochs must be equal (the members step together);
- depth must be equal: padding depth is not exact in general (an extra Linear+ReLU layer is not an
  identity, and it would be trained);
- width, input spec (crop / resize / scaling, hence input features), learning rate and seed may
  differ. Narrower members are zero-padded to the widest, smaller inputs to the largest. The padded
  input columns are zero, and the padded weights, biases and Adam moments start at zero and stay
  exactly zero: a padded hidden unit's pre-activation is 0, ReLU passes no gradient at 0, the
  weights reading it get zero gradient because it outputs 0, and Adam moves a weight with zero
  gradient and zero moments by 0 / (0 + eps) = 0. Padding costs compute, so pack similar shapes.

Each distinct input spec builds its tensors once (``tune_mnist.data.inputs.build_tensors``); every
member gathers its own batches from the one it uses. On CUDA the whole training step (gather,
forward, backward, Adam, metric sums) is captured once as a CUDA graph and replayed; if capture
fails the pack says so once and goes on eagerly. On CPU it runs as plain batched ops.

Numerics: the batched matrix products round differently from the single model's ``addmm`` (other
blocking), so a member matches the same config trained alone to float32 rounding, not bit for bit:
tests/test_packed.py checks it on CPU.

The modules, by job: ``plan`` (which configs may share a pack; torch-free), ``state`` (``PackState``:
the stacked tensors and single-model checkpoints of members), ``inputs`` (``PackInputs``),
``trainer`` (``PackTrainer``: batched step, Adam, CUDA graph, evaluation) and ``engine``
(``train_packed``, the entry point). Import each from its module: importing the package must not
import torch, so that the search plans packs (``plan``, ``cost_model``) without it."""
