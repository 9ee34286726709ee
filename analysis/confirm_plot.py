"""The lucky-seed plot (in ``analysis.plots``' style): every config with two or more seeds, its first
seed's accuracy (what the search screened on) against its seed mean (error bars: the seeds' standard
deviation), the y = x line and the accuracy bar on both axes, so a reader sees how large the
winner's curse was and which configs it carried across the bar."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from analysis.plots import axis_label, plt


def lucky_seed_figure(lucky: pd.DataFrame, metric: str, bar: float) -> Figure:
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
