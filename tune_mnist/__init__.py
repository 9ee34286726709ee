"""tune_mnist: a Ray Tune search over small MLP classifiers for MNIST.

The modules follow DESIGN.md's one-way data flow: data -> model -> measure/train -> trainable -> search.
"""

__version__ = "0.1.0"
