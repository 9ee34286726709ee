"""tune_mnist: a Ray Tune search over small MLP classifiers for MNIST.

Data flows one way, and each module imports only the ones before it:

    data (MNIST files -> validated arrays, validation split)
      -> inputs, model (a config's input tensors and its MLP)
      -> measure, train (costs and latency; one epoch at a time, one row of metrics per epoch)
      -> trainable, packed (one config, or a pack of configs, as a Ray Tune trial)
      -> search (the command line: a named space through Ray Tune)
      -> ray_results/<experiment>/ on disk (params.json, result.json, checkpoints)
      -> analysis (load -> aggregate -> front -> tables, CSV, plots, report), a separate package
         that reads the files and never imports the search or Ray.

docs/architecture.md draws the same picture with every module in it.
"""

__version__ = "0.1.0"
