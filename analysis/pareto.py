"""python -m analysis.pareto [EXPERIMENT]: the cheapest models that are good enough.

Reads a finished Ray Tune experiment from disk (no Ray session needed), groups seeds, keeps the
configs above the accuracy bar, finds their Pareto front over the objectives, prints it sorted by
FLOPs with its hypervolume and two plain-language picks, and writes tables, plots and a report.
EXPERIMENT is an experiment directory, a URI, or a name under --storage-path; default: the most
recent experiment under --storage-path."""

from __future__ import annotations

import argparse
import sys

from analysis.aggregate import BAR_ON
from analysis.console import print_summary
from analysis.export import export_front
from analysis.outputs import output_dir, write_outputs
from analysis.result import compute, load_finished
from analysis.runtimes import FORMATS, RUNTIMES, check_runtime
from tune_mnist.core.errors import InputError, exit_status
from tune_mnist.core.layout import RUN_FILE
from tune_mnist.core.objectives import DEFAULT_MIN_ACCURACY, objectives_text
from tune_mnist.data.options import nonnegative_int, positive_int
from tune_mnist.extras.mlflow_store import BESIDE, check_uri
from tune_mnist.extras.optional import require

#: Exit status when no config clears the accuracy bar: every file is still written (2 is a bad input).
NOTHING_CLEARS_STATUS = 3
EXIT_STATUS = f"""exit status:
  0  done
  2  a bad input: one sentence on stderr, nothing written
  {NOTHING_CLEARS_STATUS}  no config clears the accuracy bar: every table, plot and report is still written (the bar
     drawn, no front ringed), and the config that came closest is named with how far below it is"""


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1 (e.g. {DEFAULT_MIN_ACCURACY:.2f})")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.pareto",
        description=__doc__,
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "experiment",
        nargs="?",
        help="the experiment to analyse: its directory, a URI (s3://, gs://, file://), or its name "
        "under --storage-path (default: the most recently changed experiment there)",
    )
    parser.add_argument(
        "--storage-path",
        default="ray_results",
        metavar="PATH",
        help="where to look for an experiment given by name, or for the most recent one when none "
        "is given (default ./ray_results, as for the search)",
    )
    sel = parser.add_argument_group("selection")
    sel.add_argument(
        "--epoch",
        type=positive_int,
        metavar="N",
        help="compare the configs at epoch N of their trials; trials that did not report epoch N are "
        "left out and listed (default: each trial's last epoch)",
    )
    sel.add_argument(
        "--min-accuracy",
        type=_fraction,
        metavar="A",
        help="the accuracy bar, a fraction between 0 and 1: only configs above it can be on the front "
        f"(default: the --min-accuracy the search ran with, from its {RUN_FILE}, else "
        f"{DEFAULT_MIN_ACCURACY:.2f})",
    )
    sel.add_argument(
        "--accuracy-metric",
        choices=("val_acc", "test_acc"),
        default="val_acc",
        help="the accuracy the bar and the default objectives use: val_acc, on the validation split "
        "held out from the training images (default), or test_acc, which selects on the test set "
        "as the notebook did",
    )
    sel.add_argument(
        "--bar-on",
        choices=BAR_ON,
        default="mean",
        help="apply the bar to a config's mean accuracy over its seeds (mean, the default), to its worst seed (min), "
        "or to a one-sided 95%% lower confidence bound (lcb): mean - 1.645 * sigma / sqrt(n), with sigma the "
        "experiment's pooled within-config seed standard deviation (so one seed has a bound too; needs a config "
        "with two or more seeds). Configs with fewer seeds than the search's --confirm K (3 where it ran "
        "without confirmation) are marked unconfirmed",
    )
    sel.add_argument(
        "--objectives",
        metavar="LIST",
        help="the front's objectives: comma-separated NAME:max or NAME:min over any numeric metric the "
        f"trials reported (default {objectives_text('ACC')}, where ACC is --accuracy-metric)",
    )
    sel.add_argument(
        "--reference",
        metavar="LIST",
        help="the hypervolume's reference point, as comma-separated NAME=VALUE for any objective, e.g. "
        "flops=1e6,latency_p50_us=200 (default: the bar for accuracies, the 784-1024-1024-10 "
        "baseline's count for flops and params, 1000 us for latencies, else this experiment's "
        "worst value plus 10%% of its range)",
    )
    out = parser.add_argument_group("outputs")
    out.add_argument(
        "--out",
        metavar="DIR",
        help="directory for the tables, plots and report.md; the files an earlier analysis wrote there "
        "are replaced (default: <experiment>/analysis, or ./<name>-analysis for an experiment "
        "behind a URI)",
    )
    out.add_argument(
        "--export",
        metavar="DIR",
        help="also write every seed of each front config (of the re-measured front with --remeasure) "
        "to DIR as <rank>_<config>_s<seed>/model.pt + config.json, with index.csv listing them; "
        "load one with tune_mnist.model.saved.load_model",
    )
    out.add_argument(
        "--format",
        choices=FORMATS,
        default="state_dict",
        help="what --export writes: state_dict (model.pt + config.json, the default) or onnx (model.onnx + "
        "config.json: the MLP alone, on transformed features [N, in_features], each checked against PyTorch "
        "on the whole test set, max logit difference and equal predictions in index.csv; needs "
        'pip install -e ".[onnx]", see docs/deploy-runtime.md)',
    )
    out.add_argument(
        "--mlflow",
        nargs="?",
        const=BESIDE,
        metavar="TRACKING_URI",
        help="also log this analysis as an MLflow run named analysis, in the search's MLflow experiment "
        "(the experiment's name): settings as params, front size and hypervolume as metrics, tables, plots, "
        "report.md and report.html as artifacts; into TRACKING_URI, or without it the SQLite store beside "
        'the experiment (<experiment>/mlflow/). Needs pip install -e ".[mlflow]" (docs/tracking.md)',
    )
    re = parser.add_argument_group("latency re-measurement")
    re.add_argument(
        "--remeasure",
        action="store_true",
        help="time the front's models (and the layers behind it, see --layers) again here, loaded from "
        "their checkpoints and timed alone in interleaved rounds, then recompute the front with "
        "those latencies (the trials timed their models while other trials ran)",
    )
    re.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        metavar="T",
        help="torch threads while re-measuring (default 1); with --remeasure only",
    )
    re.add_argument(
        "--rounds",
        type=positive_int,
        default=5,
        metavar="R",
        help="interleaved timing rounds per model: the median counts, the min and max show the spread "
        "(default 5); with --remeasure only",
    )
    re.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="where to re-measure: auto (the trials' device kind, CUDA or CPU, where this machine has "
        "it; the default), cpu, cuda or cuda:N; with --remeasure only",
    )
    re.add_argument(
        "--layers",
        type=nonnegative_int,
        default=2,
        metavar="K",
        help="re-measure the configs in the first K Pareto layers above the bar (default 2: the front "
        "and the layer behind it; 0: every config above the bar); with --remeasure only",
    )
    re.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="eager",
        help="eager: time the models in PyTorch (the default); onnxruntime: also time them in ONNX Runtime "
        "(--threads intra-op threads, inter-op 1, sequential) in the same rounds, beside eager, and report "
        'the front each runtime gives; CPU only; needs pip install -e ".[onnx]"; with --remeasure only',
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """Compute, write, print."""
    check_extras(args)  # a missing optional extra or a bad --mlflow fails before any work
    if args.remeasure:
        from analysis.remeasure import remeasure_device

        check_runtime(args.runtime, remeasure_device(args.device, [])[0])  # a bad --device fails before any work
    experiment = load_finished(args.experiment, args.storage_path)
    analysis = compute(
        experiment,
        epoch=args.epoch,
        accuracy_metric=args.accuracy_metric,
        bar_on=args.bar_on,
        min_accuracy=args.min_accuracy,
        objectives=args.objectives,
        reference=args.reference,
    )
    out = output_dir(args.out, experiment)  # before re-measuring, so that a bad --out fails fast
    if args.remeasure and not analysis.front.cleared:
        print("note: --remeasure skipped: no config is above the bar, so there is no front to time.", file=sys.stderr)
    elif args.remeasure:
        from analysis.remeasure import remeasure

        analysis.remeasured = remeasure(
            experiment,
            analysis.front,
            args.layers,
            args.rounds,
            args.threads,
            progress=sys.stderr,
            device=args.device,
            runtime=args.runtime,
        )
    files = write_outputs(analysis, out)
    exported = None
    if args.export and not analysis.front.cleared:
        print("note: --export skipped: no config is above the bar, so the front is empty.", file=sys.stderr)
    elif args.export:
        exported = export_front(
            experiment, analysis.final.front, args.export, analysis.epoch, args.format, args.threads
        )
    print_summary(analysis, files, out, exported)
    if args.mlflow:
        from analysis.mlflow_log import log_analysis

        print(log_analysis(args.mlflow, analysis, files))
    return 0 if analysis.front.cleared else NOTHING_CLEARS_STATUS


def check_extras(args: argparse.Namespace) -> None:
    """The optional extras the options need, and option pairs that mean nothing alone."""
    if args.runtime != "eager" and not args.remeasure:
        raise InputError(f"--runtime {args.runtime} chooses where --remeasure times the models: add --remeasure.")
    if args.format != "state_dict" and not args.export:
        raise InputError(f"--format {args.format} is the format of --export: add --export DIR.")
    if args.format == "onnx":
        require("onnx", "--format onnx")
    if args.mlflow:
        check_uri(args.mlflow)
        require("mlflow", "--mlflow")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
