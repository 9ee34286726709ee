"""The notebook's three scatter plots (docs/analysis.md), the learning curves, the re-measurement's
plot and the lucky-seed plot. Each is a matplotlib figure (``load_analysis(...).figures()``) until
``save`` writes it as a PNG at the dpi it was drawn with, the one its labels were placed in."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from analysis import plot_labels  # noqa: E402
from analysis.front import Front, nondominated  # noqa: E402
from analysis.load import Experiment  # noqa: E402
from analysis.report import notebook_matches  # noqa: E402
from analysis.result import Analysis  # noqa: E402
from tune_mnist.core import metrics  # noqa: E402

#: Units an axis label leaves out: its words already say them.
UNITS_IN_WORDS = ("fraction", "FLOPs/sample", "parameters")


def axis_label(name: str) -> str:
    """``words [name] (unit)`` from the metric table (``tune_mnist.core.metrics``)."""
    m = metrics.metric(name)
    text = f"{m.words} [{name}]" if m.words != name else name
    return f"{text} ({m.unit})" if m.unit and m.unit not in UNITS_IN_WORDS else text


def spec_colours(table: pd.DataFrame) -> dict[str, tuple]:
    specs = (
        table.sort_values(["in_features", "input_spec"], ascending=[False, True])["input_spec"]
        .astype(str)
        .drop_duplicates()
        .tolist()
    )
    cmap = plt.get_cmap("tab10" if len(specs) <= 10 else "tab20")
    return {spec: cmap(i % cmap.N) for i, spec in enumerate(specs)}


def _short_number(value: float, _position: int | None = None) -> str:
    """1, 10, 100, 1k, 10k, 1M: log-axis labels a reader takes in at a glance."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


def _minor_label(value: float, _position: int | None = None) -> str:
    """Label 2x and 5x between the powers of ten, so a narrow log axis still has numbers."""
    if value <= 0:
        return ""
    leading = value / 10 ** np.floor(np.log10(value) + 1e-9)
    return _short_number(value) if round(leading, 6) in (2.0, 5.0) else ""


def plane_front(points: pd.DataFrame, x: str, y: str, x_max: bool, y_max: bool) -> pd.DataFrame:
    """The configs no other beats on these two metrics alone, sorted by x (the front in this plane)."""
    values = points[[x, y]].dropna()
    if values.empty:
        return values
    mask = nondominated(values.to_numpy(dtype=float), [x_max, y_max])
    return values[mask].sort_values([x, y])


def scatter_figure(
    front: Front,
    x: str,
    y: str,
    title: str,
    notebook: pd.DataFrame | None = None,
    accuracy_metric: str = "val_acc",
    bar_on: str = "mean",
    every_label: bool = True,
) -> Figure:
    """One scatter plot, its labels placed in the pixels it is saved with (its own dpi); drawn again with
    fewer labels where the front's labels cannot all be placed clear of each other and of the markers."""
    table = front.table
    senses = {o.name: o.maximise for o in front.objectives}
    x_max = senses.get(x, metrics.metric(x).direction == "max")
    y_max = senses.get(y, metrics.metric(y).direction == "max")
    colours = spec_colours(table)
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120, constrained_layout=True)
    for spec, group in table.groupby(table["input_spec"].astype(str), sort=False):
        ok, low = group[group["feasible"]], group[~group["feasible"]]
        ax.scatter(ok[x], ok[y], s=40, color=colours[spec], alpha=0.9, zorder=3)
        ax.scatter(low[x], low[y], s=40, facecolors="none", edgecolors=colours[spec], alpha=0.9, zorder=3)
        std = f"{y}_std"
        if std in group and group[std].notna().any():
            ax.errorbar(
                group[x], group[y], yerr=group[std].fillna(0), fmt="none", ecolor=colours[spec], alpha=0.6, zorder=2
            )
    on_front = table[table["on_front"]]
    ax.scatter(on_front[x], on_front[y], s=170, facecolors="none", edgecolors="black", linewidths=1.6, zorder=4)
    plane = plane_front(table[table["feasible"]], x, y, x_max, y_max)
    if len(plane) > 1:
        ax.step(plane[x], plane[y], where="post", color="0.35", linestyle="--", linewidth=1, zorder=1)
    labelled, unlabelled = plot_labels.chosen(front, x, y, every_label and plot_labels.adjust_text is not None)
    if notebook is not None and not notebook.empty:
        ax.scatter(notebook[x], notebook[y], marker="*", s=260, color="gold", edgecolors="black", zorder=6)
    bar_text = f"accuracy bar: {accuracy_metric} ({bar_on} over seeds) > {front.min_accuracy:g}"
    if y == accuracy_metric:  # accuracy is on y or on neither axis: the plots put costs on x
        ax.axhline(front.min_accuracy, color="crimson", linestyle=":", linewidth=1.5, zorder=1)
        bottom, top = ax.get_ylim()
        bottom = min(bottom, front.min_accuracy - 0.01)
        ax.axhspan(bottom, front.min_accuracy, color="crimson", alpha=0.06, zorder=0)
        ax.set_ylim(bottom, top)
    for axis, metric in (("x", x), ("y", y)):
        if metrics.log_axis(metric, table[metric].dropna()):
            (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
            scale_axis = ax.xaxis if axis == "x" else ax.yaxis
            scale_axis.set_major_formatter(FuncFormatter(_short_number))
            scale_axis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.set_xlabel(axis_label(x) + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel(axis_label(y) + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=s) for s, c in colours.items()]
    handles += [
        Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="0.3", label="below the bar"),
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=12,
            markerfacecolor="none",
            markeredgecolor="black",
            label=f"on the Pareto front ({', '.join(str(o) for o in front.objectives)})",
        ),
        Line2D([], [], color="0.35", linestyle="--", label="front of these two metrics alone"),
    ]
    if y == accuracy_metric:
        handles.append(Line2D([], [], color="crimson", linestyle=":", label=bar_text))
    if notebook is not None and not notebook.empty:
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                linestyle="",
                markersize=14,
                color="gold",
                markeredgecolor="black",
                label="the notebook's pick (resize8 1x256)",
            )
        )
    handles += plot_labels.rest_handle(unlabelled)
    ax.legend(
        handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), title="input spec", title_fontsize=8
    )
    if not plot_labels.place_labels(ax, labelled, x, y) and every_label and not unlabelled:
        plt.close(fig)
        return scatter_figure(front, x, y, title, notebook, accuracy_metric, bar_on, every_label=False)
    return fig


def counts_line(front: Front, experiment_name: str) -> str:
    """The plots' second title line (static and interactive alike)."""
    table = front.table
    feasible, on_front = int(table["feasible"].sum()), int(table["on_front"].sum())
    return f"{experiment_name}: {len(table)} configs, {feasible} above the bar, {on_front} on the front"


def figures(analysis: Analysis) -> dict[str, Figure]:
    """The three scatter plots and the learning curves (file name -> figure), as the command draws them."""
    front, accuracy, latency = analysis.front, analysis.accuracy_metric, analysis.latency_metric
    what = counts_line(front, analysis.experiment.name)
    plots = (
        ("accuracy_vs_flops.png", "flops", accuracy),
        ("latency_vs_flops.png", "flops", latency),
        ("accuracy_vs_latency.png", latency, accuracy),
    )
    drawn = {
        name: scatter_figure(
            front,
            x,
            y,
            f"{metrics.metric(y).words} vs {metrics.metric(x).words}\n{what}",
            notebook_matches(front.table),
            accuracy,
            analysis.bar_on,
        )
        for name, x, y in plots
    }
    drawn["learning_curves.png"] = learning_curves(analysis.experiment, front.table, accuracy, analysis.min_accuracy)
    return drawn


def save(drawn: dict[str, Figure], out: Path) -> list[Path]:
    """Each figure as ``out/<name>``, then closed; the paths."""
    paths = []
    for name, fig in drawn.items():
        fig.savefig(out / name)
        plt.close(fig)
        paths.append(out / name)
    return paths


def learning_curves(experiment: Experiment, table: pd.DataFrame, accuracy_metric: str, min_accuracy: float) -> Figure:
    """Per-epoch accuracy and training loss of every used trial, front configs drawn thicker."""
    colours = spec_colours(table)
    on_front = set(";".join(table.loc[table["on_front"], "trial_ids"].astype(str)).split(";"))
    used = set(";".join(table["trial_ids"].astype(str)).split(";"))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), dpi=110, constrained_layout=True)
    for trial in experiment.usable():
        if trial.trial_id not in used or trial.history.empty:
            continue
        h = trial.history
        spec = str(h["input_spec"].iloc[-1]) if "input_spec" in h else "?"
        style = {
            "color": colours.get(spec, "0.5"),
            "marker": "o",
            "markersize": 3,
            "linewidth": 2.2 if trial.trial_id in on_front else 0.9,
            "alpha": 0.95 if trial.trial_id in on_front else 0.55,
        }
        if accuracy_metric in h:
            left.plot(h["epoch"], h[accuracy_metric], **style)
        if "train_loss" in h:
            right.plot(h["epoch"], h["train_loss"], **style)
    left.axhline(min_accuracy, color="crimson", linestyle=":", linewidth=1.5)
    left.set_xlabel("epoch")
    left.set_ylabel(axis_label(accuracy_metric))
    left.set_title(f"{metrics.metric(accuracy_metric).words} per epoch (bar {min_accuracy:g} dotted)", fontsize=10)
    right.set_xlabel("epoch")
    right.set_ylabel("mean training loss over the epoch [train_loss]")
    right.set_title("training loss per epoch", fontsize=10)
    for ax in (left, right):
        ax.grid(True, alpha=0.25)
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles = [Line2D([], [], color=c, label=s) for s, c in colours.items()]
    handles += [
        Line2D([], [], color="0.3", linewidth=2.2, label="config on the front"),
        Line2D([], [], color="0.3", linewidth=0.9, alpha=0.55, label="other configs"),
    ]
    right.legend(
        handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), title="input spec", title_fontsize=8
    )
    fig.suptitle(f"{experiment.name}: learning curves of {len(used)} trials", fontsize=11)
    return fig


def remeasure_figure(table: pd.DataFrame, metric: str = "latency_p50_us") -> Figure:
    """Trial-time latency against the re-measured one (median and range over rounds), y = x dotted."""
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110, constrained_layout=True)
    x, y = table[f"trial_{metric}"], table[metric]
    yerr = np.vstack([y - table[f"{metric}_min"], table[f"{metric}_max"] - y])
    ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor="0.5", capsize=3)
    ax.scatter(x, y, color="tab:blue", zorder=3)  # a marker the labels keep clear of
    both = pd.concat([x, y, table[f"{metric}_max"]]).dropna()
    if len(both):
        lo, hi = float(both.min()) * 0.9, float(both.max()) * 1.1
        ax.plot([lo, hi], [lo, hi], color="0.4", linestyle=":", label="same as during the search")
    ax.set_xlabel(f"during the search (other trials running) [{metric}] (us)")
    ax.set_ylabel(f"re-measured alone, median of rounds, bars = range [{metric}] (us)")
    ax.set_title("latency: during the search vs re-measured alone", fontsize=10)
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=8)
    plot_labels.place_labels(ax, table.dropna(subset=[f"trial_{metric}", metric]), f"trial_{metric}", metric)
    return fig


def lucky_seed_figure(lucky: pd.DataFrame, metric: str, bar: float) -> Figure:
    """First-seed (screening) accuracy against the seed mean: how large the winner's curse was, whom it carried."""
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110, constrained_layout=True)
    colours = ["tab:green" if ok else "tab:red" for ok in lucky["feasible"]]
    ax.errorbar(lucky["screening"], lucky["mean"], yerr=lucky["std"], fmt="none", ecolor="0.6", capsize=3)
    ax.scatter(lucky["screening"], lucky["mean"], c=colours, zorder=3)
    for _, row in lucky.iterrows():
        ax.annotate(
            f"{row['label']} ({int(row['n_seeds'])})",
            (row["screening"], row["mean"]),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=7,
        )
    values = pd.concat([lucky["screening"], lucky["mean"], pd.Series([bar])])
    span = float(values.max() - values.min()) or 0.01
    lo, hi = float(values.min()) - 0.05 * span, float(values.max()) + 0.05 * span
    ax.plot([lo, hi], [lo, hi], color="0.4", linestyle=":", label="y = x (no lucky-seed effect)")
    ax.axhline(bar, color="tab:red", linestyle="--", linewidth=1, label=f"accuracy bar {bar:g}")
    ax.axvline(bar, color="tab:red", linestyle="--", linewidth=1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"first seed alone (screening): {axis_label(metric)}")
    ax.set_ylabel(f"mean over seeds (confirmed), bars = std: {axis_label(metric)}")
    ax.set_title("screening accuracy vs confirmed mean (green: above the bar on the mean)", fontsize=10)
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=8, loc="upper left")
    return fig
