"""What Ray Tune runs: one config (``trainable``) or a pack of configs (``pack_trainable``) as a
trial, its checkpoints, and the callback that unpacks a pack's rows into per-config results.

May import: core, data, model, training.
"""
