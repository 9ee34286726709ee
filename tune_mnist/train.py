"""``python -m tune_mnist.train``: one config trained and measured in this process (the single-run CLI).

The command lives here so that ``-m tune_mnist.train`` keeps working; the run itself is
``tune_mnist.training.single_run`` and the loop ``tune_mnist.training.loop``."""

from __future__ import annotations

from tune_mnist.training.single_run import main

if __name__ == "__main__":
    main()
