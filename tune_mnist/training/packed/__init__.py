"""Train many configs at once on one device as one packed ensemble.

K configs become one set of stacked tensors: layer ``l`` of every member is a slice of one
``(K, in_max, out_max)`` weight and one ``(K, 1, out_max)`` bias, and a training step is a few
``torch.baddbmm`` calls over all members at once. Each member keeps what the single-model path
(``tune_mnist.training.loop``) gives it: its initial weights, its batch order, its learning rate and
its own Adam, so that it matches the same config trained alone to float32 rounding
(tests/test_packed.py). Why that holds (zero padding stays zero, Adam is element-wise) and what a
pack may mix (equal batch size, epochs and depth; any width, input spec, learning rate and seed) is
in docs/packed.md, with the planner's padding bound and the cost model.

The modules, by job: ``plan`` (which configs may share a pack; torch-free), ``cost_model`` and
``calibrate`` (when packing pays on this machine), ``state`` (``PackState``: the stacked tensors and
single-model checkpoints of members), ``inputs`` (``PackInputs``), ``trainer`` (``PackTrainer``:
batched step, Adam, CUDA graph, evaluation) and ``engine`` (``train_packed``, the entry point).
Import each from its module: importing the package must not import torch, so that the search
plans packs (``plan``, ``cost_model``) without it."""
