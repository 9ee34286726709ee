"""Optional extras (ONNX, MLflow), imported only when an option asks for them: ``optional.require``
names the missing extra in one sentence.

May import: core, model, experiment.
"""

from tune_mnist._legacy import hand_on


def __getattr__(name: str) -> object:
    """The names of the old ``tune_mnist.extras`` module (now ``optional``), for pickles written before."""
    return hand_on(__name__, name)
