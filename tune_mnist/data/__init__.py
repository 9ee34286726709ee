"""MNIST in: reading the files (IDX, CSV, download) into validated arrays, the validation split and
subsets, a config's input tensors, and the data options shared by the two CLIs.

May import: core.
"""

from tune_mnist._legacy import hand_on


def __getattr__(name: str) -> object:
    """The names of the old ``tune_mnist.data`` module (now ``sources``), for pickles written before."""
    return hand_on(__name__, name)
