"""A config's MLP, its parameter and FLOP counts, latency measurement, and saved models on disk.

May import: core, data.
"""
