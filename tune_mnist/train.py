"""``python -m tune_mnist.train``: one config, trained and measured in this process, as the notebook did.

This module is the command (its options); the run is ``tune_mnist.training.single_run`` and the loop
``tune_mnist.training.loop``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tune_mnist.core.config import SCALINGS
from tune_mnist.core.errors import InputError
from tune_mnist.data.options import add_data_options, nonnegative_int, positive_float, positive_int
from tune_mnist.training.single_run import DEFAULTS, SingleRun, run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_mnist.train", description=__doc__)
    model = parser.add_argument_group("model and input")
    model.add_argument(
        "--crop",
        type=nonnegative_int,
        help="centre-crop the 28x28 image to CxC first (default: no crop)",
    )
    model.add_argument(
        "--side",
        type=nonnegative_int,
        help="then resize to SxS, antialiased (default: keep the size)",
    )
    model.add_argument(
        "--scaling",
        choices=SCALINGS,
        help="unit: pixels in [0, 1] (the notebook); standard: training mean/std (default %(default)s)",
    )
    model.add_argument(
        "--depth",
        type=nonnegative_int,
        help="hidden layers, 0 = linear (default %(default)s)",
    )
    model.add_argument("--width", type=positive_int, help="units per hidden layer (default %(default)s)")
    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=positive_int, help="default %(default)s")
    fit.add_argument("--batch-size", type=positive_int, help="default %(default)s")
    fit.add_argument("--lr", type=positive_float, help="Adam learning rate (default %(default)g)")
    fit.add_argument(
        "--seed",
        type=nonnegative_int,
        help="seed of the weights and batch order (default %(default)s)",
    )
    parser.set_defaults(**DEFAULTS)  # the config's defaults, shown by %(default)s
    add_data_options(parser)
    run = parser.add_argument_group("run")
    run.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda or cuda:N")
    run.add_argument("--threads", type=positive_int, help="torch threads (default: torch's own choice)")
    run.add_argument(
        "--out",
        type=Path,
        help="where to save model.pt and config.json (default models/<config label>, e.g. models/resize8_1x256_s0)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(SingleRun.of(args))  # an impossible config is refused here, in one sentence
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("\nInterrupted: no model was saved.", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
