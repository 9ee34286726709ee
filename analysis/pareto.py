"""python -m analysis.pareto [EXPERIMENT]: the cheapest models that are good enough.

Reads a finished Ray Tune experiment from disk (no Ray session needed), groups seeds, keeps the
configs above the accuracy bar, finds their Pareto front over the objectives, prints it sorted by
FLOPs with its hypervolume and two plain-language picks, and writes tables, plots and a report.
EXPERIMENT is an experiment directory, a URI, or a name under --storage-path; default: the most
recent experiment under --storage-path."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis import report
from analysis.aggregate import BAR_ON, aggregate, trial_table
from analysis.front import compute_front, default_objectives, parse_objectives, parse_reference
from analysis.load import ANALYSIS_DIR, RUN_FILE, load_experiment, resolve_experiment
from tune_mnist.errors import InputError, exit_status

DEFAULT_MIN_ACCURACY = 0.90


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _nonnegative_int(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1 (e.g. 0.90)")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m analysis.pareto", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", nargs="?",
                        help="experiment directory or URI (s3://, gs://, file://), or its name under --storage-path "
                             "(default: the most recent there)")
    parser.add_argument("--storage-path", default="ray_results", metavar="PATH",
                        help="where to look for experiments by name or for the most recent (default ./ray_results)")
    sel = parser.add_argument_group("selection")
    sel.add_argument("--epoch", type=_positive_int, metavar="N",
                     help="use every trial's metrics at epoch N (default: each trial's last epoch)")
    sel.add_argument("--min-accuracy", type=_fraction, metavar="A",
                     help="the accuracy bar: a config must be above it (default: the experiment's own "
                          f"--min-accuracy from {RUN_FILE}, else {DEFAULT_MIN_ACCURACY})")
    sel.add_argument("--accuracy-metric", choices=("val_acc", "test_acc"), default="val_acc",
                     help="accuracy the bar and the front use (default val_acc; test_acc selects on the test set, "
                          "as the notebook did)")
    sel.add_argument("--bar-on", choices=BAR_ON, default="mean",
                     help="apply the bar to the mean over seeds (default) or to the worst seed (min)")
    sel.add_argument("--objectives", metavar="LIST",
                     help="comma-separated name:max|min over any reported numeric metric "
                          "(default ACC:max,flops:min,latency_p50_us:min, ACC = --accuracy-metric)")
    sel.add_argument("--reference", metavar="LIST",
                     help="override the hypervolume reference point, e.g. flops=1e6,latency_p50_us=200 (default: "
                          "the bar for accuracies, the 784-1024-1024-10 baseline for flops/params, 1000 us for "
                          "latencies)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--out", metavar="DIR", help="directory for tables, plots and report.md (default <experiment>/analysis; "
                                   "./<name>-analysis for a remote URI)")
    out.add_argument("--export", metavar="DIR",
                     help="write each front model (every seed; the re-measured front with --remeasure) as model.pt + "
                          "config.json, plus index.csv, to DIR")
    re = parser.add_argument_group("latency re-measurement")
    re.add_argument("--remeasure", action="store_true",
                    help="load the front's models (and the layer behind it) from their checkpoints and time them "
                         "again here, alone, in interleaved rounds; recompute the front from those numbers")
    re.add_argument("--threads", type=_positive_int, default=1, metavar="T", help="torch threads while re-measuring (default 1)")
    re.add_argument("--rounds", type=_positive_int, default=5, metavar="R", help="interleaved rounds (default 5)")
    re.add_argument("--device", default="auto", metavar="DEVICE",
                    help="where to time the models: auto (the trials' device kind, CUDA or CPU, if this machine has "
                         "it; default), cpu, cuda, cuda:N")
    re.add_argument("--layers", type=_nonnegative_int, default=2, metavar="K",
                    help="re-measure the first K Pareto layers of the configs above the bar (default 2: the front "
                         "and the layer behind it; 0: all of them)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if args.remeasure:
        from analysis.remeasure import remeasure_device

        remeasure_device(args.device, [])  # a bad --device fails before any work
    path = resolve_experiment(args.experiment, args.storage_path)
    experiment = load_experiment(path)
    for warning in experiment.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not experiment.usable():
        for line in report.excluded_lines(experiment, []):
            print(f"  {line}", file=sys.stderr)
        counts = ", ".join(f"{n} {status}" for status, n in experiment.counts().items())
        raise InputError(f"None of the {len(experiment.trials)} trials in {experiment.path} finished ({counts}): "
                         "fix the cause listed above and continue the search with python -m tune_mnist.search "
                         f"--resume --name {experiment.name}.")
    trials, skipped = trial_table(experiment, args.epoch)
    table = aggregate(trials, args.accuracy_metric, args.bar_on)

    min_accuracy, bar_source = args.min_accuracy, "--min-accuracy"
    if min_accuracy is None:
        recorded = experiment.run_options.get("min_accuracy")
        min_accuracy, bar_source = ((float(recorded), f"the experiment's --min-accuracy ({RUN_FILE})")
                                    if isinstance(recorded, (int, float)) and 0 < recorded < 1
                                    else (DEFAULT_MIN_ACCURACY, "the default"))
    objectives = parse_objectives(args.objectives or default_objectives(args.accuracy_metric), table)
    reference = parse_reference(args.reference, objectives)
    latency_metric = next((o.name for o in objectives if o.name.startswith("latency_")), "latency_p50_us")
    bar_label = f"{args.accuracy_metric} ({'mean over seeds' if args.bar_on == 'mean' else 'worst seed'})"
    front = compute_front(table, objectives, min_accuracy, reference, bar_label)

    out = Path(args.out) if args.out else (Path(experiment.location.root) / ANALYSIS_DIR if experiment.location.local
                                           else Path(f"{experiment.name}-{ANALYSIS_DIR}"))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Output directory {out} cannot be created ({exc.strerror}): pass --out with a directory "
                         "you can write to.") from None

    for stale in report.FILE_MEANING:  # files of an earlier run here that this run may not rewrite
        (out / stale).unlink(missing_ok=True)
    remeasured, remeasure_lines, remeasure_md = None, None, None
    if args.remeasure:
        from analysis.remeasure import remeasure

        remeasured = remeasure(experiment, front, args.layers, args.rounds, args.threads, progress=sys.stderr,
                               device=args.device)
        remeasure_lines = report.remeasure_text(front, remeasured, args.accuracy_metric, latency_metric)
        remeasure_md = report.remeasure_text(front, remeasured, args.accuracy_metric, latency_metric, markdown=True)

    settings = [
        f"epoch: {args.epoch or 'the last of each trial'}",
        f"accuracy bar: {bar_label} > {min_accuracy:g} (from {bar_source})",
        f"objectives: {', '.join(str(o) for o in objectives)}",
    ]
    counts = report.counts_text(experiment, skipped)
    excluded = report.excluded_lines(experiment, skipped)
    header, rows = report.table_rows(front.front, args.accuracy_metric, latency_metric, _extra_columns(objectives))
    final = remeasured.front if remeasured is not None else front
    picks = report.picks(final, args.accuracy_metric, latency_metric, remeasured is not None)
    notebook = report.notebook_text(front, args.accuracy_metric, args.bar_on,
                                    remeasured.front if remeasured is not None else None)

    from analysis import plots  # matplotlib only when there is something to draw

    notebook_rows = report.notebook_matches(front.table)
    drawn = plots.scatter_plots(front, out, args.accuracy_metric, latency_metric, experiment.name, notebook_rows,
                                args.bar_on)
    drawn.append(plots.learning_curves(experiment, front.table, out, args.accuracy_metric, min_accuracy))
    if remeasured is not None:
        drawn.append(plots.remeasure_plot(remeasured.table, out, latency_metric))
    files = report.write_tables(out, experiment, front, remeasured)
    files += drawn
    files.append(out / "report.md")
    report.write_markdown(out, experiment=experiment, front=front, settings=settings, counts=counts,
                          excluded=excluded, warnings=experiment.warnings,
                          front_table=report.format_table(header, rows, markdown=True), picks_text=picks,
                          notebook=notebook, plots=drawn, remeasured=remeasure_md, files=files)

    export_lines = []
    if args.export:
        from analysis.export import export_front

        chosen = remeasured.front.front if remeasured is not None else front.front
        index, export_warnings = export_front(experiment, chosen, args.export, args.epoch)
        for warning in export_warnings:
            print(f"warning: {warning}", file=sys.stderr)
        export_lines.append(f"Exported {len(chosen)} front config(s) to {Path(args.export).resolve()} "
                            f"(index: {index.name}); load one with tune_mnist.saved.load_model(DIR).")

    print(f"Experiment: {experiment.path}")
    print(f"Trials: {counts}.")
    for line in excluded:
        print(f"  not used: {line}")
    for line in report.notes(experiment):
        print(f"  note: {line}")
    print("; ".join(settings) + ".")
    print(f"\nPareto front: {len(front.front)} of {int(front.table['feasible'].sum())} configs above the bar "
          f"({len(front.table)} configs in all), sorted by FLOPs:")
    print(report.format_table(header, rows))
    print()
    print(report.hypervolume_text(front))
    if front.unranked:
        print(f"Above the bar but missing an objective value (not ranked): {', '.join(front.unranked)}.")
    if remeasure_lines:
        print()
        print("\n".join(remeasure_lines))
    print()
    for line in picks + notebook:
        print(line)
    print()
    for line in export_lines:
        print(line)
    print(f"Wrote {', '.join(f.name for f in files)} to {out.resolve()}")
    return 0


def _extra_columns(objectives: list) -> list[str]:
    shown = {"val_acc", "test_acc", "flops", "params"}
    return [o.name for o in objectives if o.name not in shown and not o.name.startswith("latency_")]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
