"""The front's labels on the static plots, each readable (docs/analysis.md shows the rule): front
configs often sit within a factor of 2 in FLOPs and 0.01 in accuracy, where labels set beside their
points print on top of one another, so adjustText (the ``plot`` extra) pushes them apart; where it
cannot, only the configs a reader looks for are labelled (``essential``)."""

from __future__ import annotations

import copy
import math

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from analysis.front import Front

try:  # the plot extra
    from adjustText import adjust_text
except ImportError:
    adjust_text = None

#: More front labels than this crowd a 9x6 inch plot even when placed apart.
MAX_LABELS = 10
FONT_SIZE = 7
REST_TEXT = "{n} front configs unlabelled: see front.csv, report.html"
#: adjustText stops after this many steps, not after a time, so every machine draws the same plot.
ITERATIONS = 500
#: adjustText's settings, tried in turn until one leaves no label covered. Front configs often sit in a
#: band of near-equal accuracy, where markers pushing labels only up or down frees them soonest.
ATTEMPTS: tuple[dict, ...] = (
    {"only_move": {"text": "xy", "static": "y", "explode": "xy", "pull": "xy"}, "force_static": (0.3, 0.6)},
    {"force_static": (0.5, 1.0)},
    {"expand": (1.1, 1.5)},
    {},
)
#: A thin grey line from a moved label to its point, drawn over the markers so that it shows in a cluster.
LEADER = {"arrowstyle": "-", "color": "0.25", "linewidth": 0.7, "shrinkB": 2, "zorder": 6}


def essential(front: Front, x: str, drawn: pd.DataFrame) -> pd.Index:
    """The best front config on each objective (ties to the more accurate), and the front's ends on x."""
    accuracy = next((o.name for o in front.objectives if o.maximise and o.name in drawn), None)
    keep: list = []
    for objective in front.objectives:
        have = drawn[drawn[objective.name].notna()] if objective.name in drawn else drawn.iloc[0:0]
        if have.empty:
            continue
        order = [objective.name] + ([accuracy] if accuracy and accuracy != objective.name else [])
        ascending = [not objective.maximise] + [False] * (len(order) - 1)
        keep.append(have.sort_values(order, ascending=ascending).index[0])
    if len(drawn):
        keep += [drawn[x].idxmin(), drawn[x].idxmax()]
    return pd.Index(dict.fromkeys(keep))


def chosen(front: Front, x: str, y: str, placed_apart: bool) -> tuple[pd.DataFrame, int]:
    """The front configs to label on this plot, and how many front configs go unlabelled."""
    drawn = front.table[front.table["on_front"]].dropna(subset=[x, y])
    if placed_apart and len(drawn) <= MAX_LABELS:
        return drawn, 0
    keep = drawn.loc[essential(front, x, drawn)]
    return keep, len(drawn) - len(keep)


def rest_handle(unlabelled: int) -> list[Line2D]:
    """The legend line that says where the unlabelled front configs are named; none when all are labelled."""
    return [Line2D([], [], linestyle="", label=REST_TEXT.format(n=unlabelled))] if unlabelled else []


def marker_boxes(ax: Axes) -> list[tuple[tuple[float, float], Bbox]]:
    """Every scatter marker on the axes: its centre and its box, edge line included, in pixels."""
    points_to_pixels = ax.figure.dpi / 72
    boxes = []
    for collection in ax.collections:
        if not isinstance(collection, PathCollection):
            continue
        sizes, widths = collection.get_sizes(), collection.get_linewidths()
        for i, (cx, cy) in enumerate(ax.transData.transform(collection.get_offsets())):
            if math.isfinite(cx) and math.isfinite(cy):
                half = (math.sqrt(sizes[i % len(sizes)]) + widths[i % len(widths)]) / 2 * points_to_pixels
                boxes.append(((cx, cy), Bbox.from_extents(cx - half, cy - half, cx + half, cy + half)))
    return boxes


def collide(ax: Axes, texts: list[Text], points: list[tuple[float, float]]) -> bool:
    """Whether a label overlaps another label, or the marker of a point other than its own (in pixels)."""
    renderer = ax.figure.canvas.get_renderer()
    boxes = [text.get_window_extent(renderer) for text in texts]
    if any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]):
        return True
    markers = marker_boxes(ax)
    own = [ax.transData.transform(point) for point in points]
    return any(
        box.overlaps(marker) and math.dist(centre, mine) > 0.5
        for box, mine in zip(boxes, own)
        for centre, marker in markers
    )


def toward_room(ax: Axes, x: float, y: float) -> dict[str, str]:
    """Start a label on the side of its point facing the middle of the axes, where there is room to move it:
    a front at the top edge (accuracy near 1) is labelled below, one at the right edge to the left."""
    across, up = ax.transAxes.inverted().transform(ax.transData.transform((x, y)))
    return {"ha": "left" if across < 0.5 else "right", "va": "bottom" if up < 0.5 else "top"}


def place_labels(ax: Axes, rows: pd.DataFrame, x: str, y: str) -> bool:
    """Draw ``rows``' labels and move them apart (call it last: adjustText works in pixels); whether every
    label ended up clear. Each of ``ATTEMPTS`` is tried until one leaves nothing covered, the last kept
    either way. Without adjustText the labels sit up and right of their points."""
    points = list(zip(rows[x], rows[y]))
    if adjust_text is None:
        for (px, py), label in zip(points, rows["label"]):
            ax.annotate(str(label), (px, py), xytext=(6, 6), textcoords="offset points", fontsize=FONT_SIZE)
        return True
    ax.figure.draw_without_rendering()  # lay the figure out first: the markers' sizes in data units depend on it
    to_data = ax.transData.inverted()
    for settings in ATTEMPTS:
        texts = [
            ax.text(px, py, str(label), fontsize=FONT_SIZE, zorder=7, **toward_room(ax, px, py))
            for (px, py), label in zip(points, rows["label"])
        ]
        if not texts:
            return True
        obstacles = [Bbox(to_data.transform(box.get_points())) for _, box in marker_boxes(ax)]
        _, leaders = adjust_text(
            texts,
            objects=obstacles,
            target_x=rows[x].tolist(),
            target_y=rows[y].tolist(),
            ax=ax,
            iter_lim=ITERATIONS,
            arrowprops=LEADER,
            **copy.deepcopy(settings),  # adjustText fills in only_move's missing keys in place
        )
        if not collide(ax, texts, points):
            return True
        if settings is not ATTEMPTS[-1]:
            for artist in texts + leaders:
                artist.remove()
    return False
