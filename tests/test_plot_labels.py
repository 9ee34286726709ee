"""The front's labels on the static plots never collide: drawn from a front built by hand (no Ray, no
training) and checked on the rendered figure's pixels, from each text's and each marker's window extent.

``grid_table`` is the notebook grid's 23 configs (``search_spaces/grid.py``) with their real FLOPs and
hand-set accuracies and latencies shaped like a real grid run's: its front has four configs within a
factor of 2.3 in FLOPs and 0.0015 in accuracy at the top right, where the labels used to print on top of
one another. docs/img/labels-before.png and labels-after.png are its accuracy_vs_flops.png."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import without_import
from matplotlib.collections import PathCollection
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from analysis import plot_labels
from analysis.front import compute_front, parse_objectives
from analysis.plots import remeasure_figure, scatter_figure
from analysis.report import notebook_matches
from search_spaces.grid import notebook_configs
from tune_mnist.model.counts import mlp_flops

pytest.importorskip("adjustText", reason='adjustText is not installed: pip install -e ".[plot]"')

REPO = Path(__file__).resolve().parents[1]
OBJECTIVES = "val_acc:max,flops:min,latency_p50_us:min"
#: Validation accuracy and batch-1 latency (us) of each grid config, shaped like a 2-epoch grid run.
GRID = {
    "full28 2x1024": (0.9745, 167.0),
    "full28 1x1024": (0.9730, 77.6),
    "full28 3x1024": (0.9740, 215.0),
    "full28 4x1024": (0.9725, 262.0),
    "full28 2x1": (0.3210, 14.1),
    "full28 2x8": (0.9008, 23.7),
    "full28 2x2048": (0.9741, 480.0),
    "resize14 1x1024": (0.9705, 37.5),
    "resize14 2x1024": (0.9738, 127.0),
    "resize14 3x1024": (0.9730, 170.0),
    "resize14 4x1024": (0.9712, 214.0),
    "crop14 1x1024": (0.9712, 37.4),
    "crop14 2x1024": (0.9736, 120.0),
    "crop14 3x1024": (0.9728, 168.0),
    "crop14 4x1024": (0.9715, 211.0),
    "resize14 1x4": (0.7810, 14.9),
    "resize14 1x8": (0.8890, 15.2),
    "resize14 1x64": (0.9550, 16.8),
    "resize14 1x256": (0.9660, 19.8),
    "resize8 1x4": (0.7520, 14.6),
    "resize8 1x8": (0.8600, 14.8),
    "resize8 1x64": (0.8950, 15.9),
    "resize8 1x256": (0.9500, 18.0),
}
#: A tighter cluster still: eight front configs within a factor of 2 in FLOPs and 0.01 in accuracy.
CLUSTER = [(f"crop{13 + i} 2x{900 + 40 * i}", 1.0e6 * 2 ** (i / 7), 0.965 + 0.00125 * i, 90.0 - i) for i in range(8)]
PLOTS = (("flops", "val_acc"), ("flops", "latency_p50_us"), ("latency_p50_us", "val_acc"))
#: Boxes are shrunk by this many pixels before they are compared: glyph extents differ by a pixel or so
#: between FreeType builds and fonts, while text that covers text or a marker overlaps by several.
MARGIN_PX = 1.0


def table_of(rows: list[tuple[str, str, int, int, int, float, float]]) -> pd.DataFrame:
    """The per-config table the analysis builds (one seed each), from (label, spec, in, depth, width, acc, latency)."""
    table = pd.DataFrame(
        rows, columns=["label", "input_spec", "in_features", "depth", "width", "val_acc", "latency_p50_us"]
    )
    table["flops"] = [mlp_flops(r.in_features, r.depth, r.width) for r in table.itertuples()]
    table["architecture"] = table["label"]
    table["bar_value"] = table["val_acc"]
    table["n_seeds"] = 1
    return table


def grid_table() -> pd.DataFrame:
    configs = list({c.label(seed=False): c for c in notebook_configs()}.values())  # as the space dedupes them
    assert len(configs) == len(GRID) == 23
    rows = [
        (c.label(seed=False), c.input_spec, c.in_features, c.depth, c.width, *GRID[c.label(seed=False)])
        for c in configs
    ]
    return table_of(rows)


def cluster_table() -> pd.DataFrame:
    """``CLUSTER`` on the front, a few configs behind it between them, and cheap ones below the bar."""
    table = grid_table()
    table = table[table["flops"] < 1e6]
    front = pd.DataFrame(CLUSTER, columns=["label", "flops", "val_acc", "latency_p50_us"])
    behind = front.assign(label=[f"behind {i}" for i in range(8)], val_acc=front["val_acc"] - 0.002)
    extra = pd.concat([front, behind]).assign(input_spec="crop14", in_features=196, depth=2, width=1000)
    extra = extra.assign(architecture=extra["label"], bar_value=extra["val_acc"], n_seeds=1)
    return pd.concat([table, extra], ignore_index=True)


def front_of(table: pd.DataFrame):
    return compute_front(table, parse_objectives(OBJECTIVES, table), 0.9)


def draw(table: pd.DataFrame, x: str, y: str):
    front = front_of(table)
    fig = scatter_figure(front, x, y, "labels", notebook_matches(front.table), "val_acc")
    return fig, front


def shrunk(box: Bbox) -> Bbox:
    return Bbox.from_extents(box.x0 + MARGIN_PX, box.y0 + MARGIN_PX, box.x1 - MARGIN_PX, box.y1 - MARGIN_PX)


def label_boxes(fig) -> dict[str, Bbox]:
    """Each front label's box in the rendered figure's pixels (the axes' texts; tick labels are not texts)."""
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    texts = [t for t in ax.texts if isinstance(t, Text) and t.get_text()]
    return {t.get_text(): shrunk(t.get_window_extent(renderer)) for t in texts}


def marker_boxes(fig, table: pd.DataFrame, x: str, y: str) -> list[tuple[set[str], Bbox]]:
    """(configs at that point, box) of every marker drawn, from each scatter's offsets, sizes and edge
    widths (a ring, a star and a dot at one point all belong to the configs there)."""
    ax = fig.axes[0]
    scale = fig.dpi / 72
    boxes = []
    for collection in ax.collections:
        if not isinstance(collection, PathCollection):
            continue
        sizes, widths = collection.get_sizes(), collection.get_linewidths()
        for i, (ox, oy) in enumerate(collection.get_offsets()):
            at = np.isclose(table[x], ox, rtol=1e-9) & np.isclose(table[y], oy, rtol=1e-9)
            px, py = ax.transData.transform((ox, oy))
            half = (sizes[i % len(sizes)] ** 0.5 + widths[i % len(widths)]) / 2 * scale
            boxes.append(
                (set(table.loc[at, "label"]), shrunk(Bbox.from_extents(px - half, py - half, px + half, py + half)))
            )
    return boxes


def collisions(fig, table: pd.DataFrame, x: str, y: str) -> list[str]:
    """Every pair of labels that overlap, and every label over a marker of another config."""
    fig.canvas.draw()
    labels = label_boxes(fig)
    found = []
    names = sorted(labels)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if labels[a].overlaps(labels[b]):
                found.append(f"{a!r} overlaps {b!r}")
    for owners, box in marker_boxes(fig, table, x, y):
        for name, label in labels.items():
            if name not in owners and label.overlaps(box):
                found.append(f"{name!r} covers the marker of {sorted(owners)}")
    return found


CASES = [("grid", grid_table, x, y) for x, y in PLOTS] + [("cluster", cluster_table, "flops", "val_acc")]
#: The grid's plots against FLOPs place 20-odd labels (over 2 s each on 2 cores): slow, the others are not.
SLOW_CASES = ("grid-val_acc_vs_flops", "grid-latency_p50_us_vs_flops")


def case(name: str, make: Callable[[], pd.DataFrame], x: str, y: str) -> Any:  # a pytest.param
    case_id = f"{name}-{y}_vs_{x}"
    return pytest.param(name, make, x, y, id=case_id, marks=pytest.mark.slow if case_id in SLOW_CASES else ())


@pytest.mark.parametrize("name, make, x, y", [case(*c) for c in CASES])
def test_no_label_overlaps_another_label_or_another_configs_marker(name, make, x, y):
    table = make()
    fig, front = draw(table, x, y)
    try:
        drawn = front.table[front.table["on_front"]].dropna(subset=[x, y])
        assert sorted(label_boxes(fig)) == sorted(drawn["label"])  # every front config labelled
        assert collisions(fig, front.table, x, y) == []
    finally:
        plt.close(fig)


@pytest.mark.slow  # the grid's 20-odd labels placed: over 2 s
def test_a_label_moved_away_from_its_point_has_a_leader_line():
    table = grid_table()
    fig, front = draw(table, "flops", "val_acc")
    try:
        ax = fig.axes[0]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        points = front.table.set_index("label")[["flops", "val_acc"]]
        leaders = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
        far = 0
        for text in ax.texts:
            box = text.get_window_extent(renderer)
            px, py = ax.transData.transform(points.loc[text.get_text()].to_numpy(dtype=float))
            gap = max(box.x0 - px, px - box.x1, box.y0 - py, py - box.y1, 0)
            far += gap > 10  # adjustText draws a leader from 5 pixels on; 10 leaves room for rounding
        assert far and len(leaders) >= far
    finally:
        plt.close(fig)


def test_too_many_front_configs_label_the_picks_and_the_ends_and_the_legend_says_where_the_rest_are(monkeypatch):
    monkeypatch.setattr(plot_labels, "MAX_LABELS", 3)
    table = grid_table()
    fig, front = draw(table, "flops", "val_acc")
    try:
        on_front = int(front.table["on_front"].sum())
        # fewest FLOPs (full28 2x8, the front's left end), lowest latency (resize14 1x64),
        # most accurate (full28 2x1024, its right end)
        assert sorted(label_boxes(fig)) == ["full28 2x1024", "full28 2x8", "resize14 1x64"]
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert plot_labels.REST_TEXT.format(n=on_front - 3) in legend
        assert collisions(fig, front.table, "flops", "val_acc") == []
    finally:
        plt.close(fig)


#: ``import adjustText`` failing as it does where the plot extra is not installed, then the grid's
#: accuracy_vs_flops.png drawn from the table pickled at argv[1] into the folder argv[2].
WITHOUT_ADJUSTTEXT = (
    without_import("adjustText")
    + """
from pathlib import Path
import pandas as pd
from analysis.front import compute_front, parse_objectives
from analysis.plots import save, scatter_figure
table = pd.read_pickle(sys.argv[1])
front = compute_front(table, parse_objectives("val_acc:max,flops:min,latency_p50_us:min", table), 0.9)
drawn = {"accuracy_vs_flops.png": scatter_figure(front, "flops", "val_acc", "no adjustText")}
print(save(drawn, Path(sys.argv[2]))[0].stat().st_size)
ax = scatter_figure(front, "flops", "val_acc", "no adjustText").axes[0]
print(sorted(t.get_text() for t in ax.texts))
print([t.get_text() for t in ax.get_legend().get_texts()][-1])
"""
)


@pytest.mark.slow  # a child Python importing pandas, matplotlib and the analysis: over 2 s
def test_without_adjusttext_the_plot_is_drawn_with_the_picks_and_the_ends_labelled(tmp_path):
    table, front = grid_table(), front_of(grid_table())
    table.to_pickle(tmp_path / "grid.pkl")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_ADJUSTTEXT, str(tmp_path / "grid.pkl"), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    size, labels, last_legend_line = run.stdout.splitlines()
    assert int(size) > 0
    assert labels == "['full28 2x1024', 'full28 2x8', 'resize14 1x64']"
    assert last_legend_line == plot_labels.REST_TEXT.format(n=int(front.table["on_front"].sum()) - 3)


@pytest.mark.slow  # two layers of the front labelled: over 3 s
def test_the_remeasure_plots_labels_do_not_overlap():
    """remeasure.png labels the front and the layer behind it, latency during the search against alone, on
    linear axes: there the four fastest configs' markers overlap one another, so a label may touch a
    neighbour's marker, but no label covers another label."""
    front = front_of(grid_table()).table
    table = front[front["pareto_rank"] <= 2].copy()
    table["trial_latency_p50_us"] = table["latency_p50_us"] * [1.1 + 0.05 * (i % 4) for i in range(len(table))]
    table["latency_p50_us_min"], table["latency_p50_us_max"] = (
        table["latency_p50_us"] * 0.97,
        table["latency_p50_us"] * 1.04,
    )
    fig = remeasure_figure(table)
    assert sorted(label_boxes(fig)) == sorted(table["label"])
    assert [c for c in collisions(fig, table, "trial_latency_p50_us", "latency_p50_us") if " overlaps " in c] == []
    plt.close(fig)


def test_where_the_labels_cannot_all_be_placed_clear_the_plot_is_drawn_again_with_the_picks_and_the_ends(
    monkeypatch,
):
    monkeypatch.setattr(plot_labels, "ITERATIONS", 1)  # one push each: the top-right four stay on top of each other
    fig, front = draw(grid_table(), "flops", "val_acc")
    try:
        assert sorted(label_boxes(fig)) == ["full28 2x1024", "full28 2x8", "resize14 1x64"]
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert legend[-1] == plot_labels.REST_TEXT.format(n=int(front.table["on_front"].sum()) - 3)
    finally:
        plt.close(fig)
