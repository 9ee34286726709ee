"""The front as interactive plotly figures for ``report.html`` and notebooks (docs/analysis.md): where
the PNGs' points overlap, each point's hover names its config. plotly is an optional extra: without it
the report keeps its PNGs and says how to get these (``MISSING_TEXT``)."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from analysis.confirmation import seeds_cell
from analysis.front import Front
from analysis.plots import axis_label, counts_line, plane_front
from analysis.result import Analysis
from tune_mnist.core.errors import InputError
from tune_mnist.core.metrics import log_axis, metric

INSTALL = 'pip install -e ".[plot]"'
MISSING_TEXT = (
    f"The interactive plots need plotly, which is not installed: {INSTALL} (or pip install plotly) adds it; "
    "run the analysis again to get them."
)
#: ``meta`` of each kind of trace, so that a test (or a script) finds the configs and the front in the page.
CONFIGS, FRONT, PLANE = "configs", "front", "plane-front"
ABOVE, BELOW = "#1f77b4", "#9a9a9a"


def require_plotly() -> Any:
    """``plotly.graph_objects``, or ``InputError`` with the sentence that installs it."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise InputError(MISSING_TEXT) from None
    return go


def hover_rows(table: pd.DataFrame, accuracy: str, latency: str) -> list[list[str]]:
    """One hover per config: label, architecture, accuracy (mean ± std, worst seed), FLOPs, latency, seeds."""
    rows = []
    for _, row in table.iterrows():
        std, worst = row.get(f"{accuracy}_std"), row.get(f"{accuracy}_min")
        spread = f" ± {std:.4f} (worst seed {worst:.4f})" if pd.notna(std) else " (one seed)"
        rows.append(
            [
                str(row["label"]),
                str(row.get("architecture", "?")),
                f"{row[accuracy]:.4f}{spread}",
                f"{row['flops']:,.0f}" if pd.notna(row.get("flops")) else "-",
                f"{row[latency]:.1f} us" if pd.notna(row.get(latency)) else "-",
                seeds_cell(row),  # as the front table's seeds column
            ]
        )
    return rows


def hover_template(accuracy: str, latency: str) -> str:
    names = ["architecture", accuracy, metric("flops").heading, latency, "seeds"]
    lines = [f"{name}: %{{customdata[{i + 1}]}}" for i, name in enumerate(names)]
    return "<b>%{customdata[0]}</b><br>" + "<br>".join(lines) + "<extra></extra>"


def log_ticks(values: pd.Series) -> list[float]:
    """1, 2 and 5 times each power of ten across ``values`` (as the PNGs label a log axis): plotly's own
    labels every digit between powers, which runs together over a few decades."""
    values = values[values > 0].dropna()
    if values.empty:
        return []
    low, high = math.floor(math.log10(values.min())), math.ceil(math.log10(values.max()))
    ticks = [m * 10.0**e for e in range(low, high + 1) for m in (1, 2, 5)]
    return [t for t in ticks if values.min() / 2 <= t <= values.max() * 2]


def front_figure(
    front: Front, x: str, accuracy: str, latency: str, confirm_k: int, title: str, bar_label: str = ""
) -> Any:
    """Accuracy (y) against ``x``: each config one point in one of the four status traces, the front's
    configs ringed again in a trace of their own, the front of these two metrics dashed, the bar dotted."""
    go = require_plotly()
    table = front.table
    template = hover_template(accuracy, latency)
    fig = go.Figure()
    statuses = (
        (True, True, f"above the bar, confirmed ({confirm_k}+ seeds)"),
        (True, False, f"above the bar, unconfirmed (fewer than {confirm_k} seeds)"),
        (False, True, "below the bar, confirmed"),
        (False, False, "below the bar, unconfirmed"),
    )
    for feasible, confirmed, name in statuses:
        group = table[(table["feasible"] == feasible) & (table["confirmed"] == confirmed)]
        if group.empty:
            continue
        colour = ABOVE if feasible else BELOW
        std = group.get(f"{accuracy}_std", pd.Series(float("nan"), index=group.index))
        spread = [None if pd.isna(v) else float(v) for v in std]  # one seed: no bar rather than a flat one
        fig.add_trace(
            go.Scatter(
                x=group[x],
                y=group[accuracy],
                mode="markers",
                name=name,
                meta=CONFIGS,
                customdata=hover_rows(group, accuracy, latency),
                hovertemplate=template,
                error_y={
                    "type": "data",
                    "array": spread,
                    "visible": True,
                    "thickness": 1.2,
                    "width": 0,
                    "color": colour,
                },
                marker={
                    "size": 9,
                    "symbol": "circle" if confirmed else "circle-open",
                    "color": colour,
                    "line": {"width": 2 if not confirmed else 0.5, "color": colour},
                },
            )
        )
    ringed = table[table["on_front"]]
    objectives = ", ".join(str(o) for o in front.objectives)
    fig.add_trace(
        go.Scatter(
            x=ringed[x],
            y=ringed[accuracy],
            mode="markers",
            name=f"on the Pareto front ({objectives})",
            meta=FRONT,
            customdata=hover_rows(ringed, accuracy, latency),
            hovertemplate=template,
            marker={"size": 18, "symbol": "circle-open", "color": "black", "line": {"width": 2}},
        )
    )
    plane = plane_front(front.feasible, x, accuracy, False, True)
    if len(plane) > 1:
        fig.add_trace(
            go.Scatter(
                x=plane[x],
                y=plane[accuracy],
                mode="lines",
                line={"shape": "hv", "dash": "dash", "color": "#555", "width": 1},
                name="front of these two metrics alone",
                meta=PLANE,
                hoverinfo="skip",
            )
        )
    bar = front.min_accuracy
    fig.add_hline(
        y=bar,
        line={"color": "crimson", "dash": "dot", "width": 1.5},
        annotation_text=f"accuracy bar: {bar_label or accuracy} > {bar:g}",
        annotation_position="bottom left",
        annotation_font={"color": "crimson", "size": 11},
    )
    lowest = float(min(table[accuracy].min(), bar)) - 0.01
    fig.add_hrect(y0=lowest, y1=bar, fillcolor="crimson", opacity=0.06, line_width=0, layer="below")
    log = log_axis(x, table[x].dropna())  # as the PNGs: the metric table's axis
    fig.update_xaxes(title_text=axis_label(x) + (" (log scale)" if log else ""), type="log" if log else "linear")
    if log:
        fig.update_xaxes(tickvals=log_ticks(table[x]), tickformat="~s")
    fig.update_yaxes(title_text=axis_label(accuracy))
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        template="plotly_white",
        height=520,
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        margin={"l": 70, "r": 30, "t": 60, "b": 40},
    )
    return fig


def figures(
    front: Front, accuracy: str, latency: str, confirm_k: int, experiment_name: str, bar_label: str = ""
) -> dict[str, Any]:
    """``accuracy_vs_flops`` and ``accuracy_vs_latency`` as plotly figures (name -> Figure)."""
    what = counts_line(front, experiment_name)
    return {
        f"accuracy_vs_{name}": front_figure(
            front,
            x,
            accuracy,
            latency,
            confirm_k,
            f"{metric(accuracy).words} vs {metric(x).words}<br><sup>{html.escape(what)}</sup>",
            bar_label,
        )
        for name, x in (("flops", "flops"), ("latency", latency))
    }


def report_section(figures_by_name: dict[str, Any] | None) -> str:
    """The HTML section ``report.html`` shows above its PNGs: the figures with plotly's script embedded
    once (the page opens offline), or, where plotly is missing (None), the sentence that installs it."""
    heading = "<h2>Interactive front</h2>\n"
    if figures_by_name is None:
        return heading + f"<p>{html.escape(MISSING_TEXT)}</p>\n"
    parts = [
        heading,
        "<p>Hover a point for its config; drag to zoom, double-click to zoom out; click a legend entry to hide "
        "its points. Filled points are confirmed (enough seeds), open ones unconfirmed; the bars are the "
        "accuracy's standard deviation over seeds.</p>\n",
    ]
    for i, (name, fig) in enumerate(figures_by_name.items()):
        parts.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=i == 0,
                div_id=name,
                config={"displaylogo": False, "responsive": True},
            )
        )
    return "".join(parts)


def analysis_figures(analysis: Analysis) -> dict[str, Any]:
    """The figures of an ``analysis.result.Analysis`` (its front before re-measurement: every config)."""
    return figures(
        analysis.front,
        analysis.accuracy_metric,
        analysis.latency_metric,
        analysis.confirm_k,
        analysis.experiment.name,
        analysis.bar_label,
    )


def analysis_section(analysis: Analysis) -> str:
    """``report_section`` of an analysis: the figures where plotly is installed, else the sentence."""
    try:
        return report_section(analysis_figures(analysis))
    except InputError:  # no plotly
        return report_section(None)
