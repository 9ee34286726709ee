"""A config's MLP, its parameter and FLOP counts, latency measurement, and saved models on disk.

May import: core, data.
"""

from tune_mnist._legacy import hand_on


def __getattr__(name: str) -> object:
    """The names of the old ``tune_mnist.model`` module (now ``mlp``), for pickles written before."""
    return hand_on(__name__, name)
