"""The interactive front (plotly): every config one point with its hover, the front ringed, the bar
drawn, confirmed and unconfirmed told apart; and one sentence where plotly is not installed.

The front here is computed by the analysis's own ``compute_front`` on a table of five configs, so the
figures are checked against the same front the tables and PNGs show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.front import compute_front, parse_objectives
from analysis.interactive import CONFIGS, FRONT, INSTALL, MISSING_TEXT, figures, report_section

REPO = Path(__file__).resolve().parents[1]
plotly = pytest.importorskip("plotly", reason='plotly is not installed: pip install -e ".[plot]"')

#: Run Python with ``import plotly`` failing as it does where plotly is not installed (an import hook
#: on sys.meta_path, set before anything else is imported), then run the code that follows.
WITHOUT_PLOTLY = """
import sys
class NoPlotly:
    def find_spec(self, name, path=None, target=None):
        if name == "plotly" or name.startswith("plotly."):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, NoPlotly())
"""


def without_plotly(code: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter where ``import plotly`` raises ImportError."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_PLOTLY + code, *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def five_configs() -> pd.DataFrame:
    rows = [
        # label, architecture, val_acc, std, seeds, flops, latency
        ("a", "64-10", 0.91, 0.004, 3, 1_280, 8.0),
        ("b", "64-32-10", 0.95, 0.002, 3, 4_736, 12.0),
        ("c", "196-64-10", 0.97, None, 1, 26_368, 18.0),  # on the front, one seed: unconfirmed
        ("d", "196-8-10", 0.93, 0.01, 3, 30_000, 30.0),  # dominated by b
        ("e", "64-4-10", 0.80, 0.02, 3, 600, 7.0),  # below the bar
    ]
    table = pd.DataFrame(rows, columns=["label", "architecture", "val_acc", "val_acc_std", "n_seeds", "flops", "lat"])
    table = table.rename(columns={"lat": "latency_p50_us"})
    table["val_acc_min"] = table["val_acc"] - table["val_acc_std"].fillna(0)
    table["bar_value"] = table["val_acc"]
    table["confirmed"] = table["n_seeds"] >= 3
    table["input_spec"] = "resize8"
    return table


def front_of(table: pd.DataFrame):
    return compute_front(table, parse_objectives("val_acc:max,flops:min,latency_p50_us:min", table), 0.9)


def traces(fig, meta: str) -> list:
    return [t for t in fig.data if t.meta == meta]


def test_every_config_is_one_point_and_the_front_is_ringed():
    front = front_of(five_configs())
    drawn = figures(front, "val_acc", "latency_p50_us", 3, "exp", "val_acc (mean over seeds)")
    assert sorted(drawn) == ["accuracy_vs_flops", "accuracy_vs_latency"]
    for fig in drawn.values():
        labels = [row[0] for t in traces(fig, CONFIGS) for row in t.customdata]
        assert sorted(labels) == ["a", "b", "c", "d", "e"]
        (ringed,) = traces(fig, FRONT)
        assert sorted(row[0] for row in ringed.customdata) == sorted(front.front["label"]) == ["a", "b", "c"]
        (bar,) = [s for s in fig.layout.shapes if s.type == "line"]
        assert bar.y0 == bar.y1 == 0.9
    fig = drawn["accuracy_vs_flops"]
    assert fig.layout.xaxis.type == "log"
    by_name = {t.name: t for t in traces(fig, CONFIGS)}
    unconfirmed = by_name["above the bar, unconfirmed (fewer than 3 seeds)"]
    assert [row[0] for row in unconfirmed.customdata] == ["c"] and unconfirmed.marker.symbol == "circle-open"
    assert by_name["above the bar, confirmed (3+ seeds)"].marker.symbol == "circle"
    assert [row[0] for row in by_name["below the bar, confirmed"].customdata] == ["e"]


def test_the_hover_names_the_config_its_spread_and_its_costs():
    fig = figures(front_of(five_configs()), "val_acc", "latency_p50_us", 3, "exp")["accuracy_vs_flops"]
    hovers = {row[0]: row for t in traces(fig, CONFIGS) for row in t.customdata}
    assert hovers["b"] == ["b", "64-32-10", "0.9500 ± 0.0020 (worst seed 0.9480)", "4,736", "12.0 us", "3"]
    assert hovers["c"][2] == "0.9700 (one seed)" and hovers["c"][5] == "1, unconfirmed"
    template = traces(fig, CONFIGS)[0].hovertemplate
    for name in ("architecture", "val_acc", "FLOPs", "latency_p50_us", "seeds"):
        assert f"{name}: %{{customdata[" in template


def test_the_report_section_embeds_plotly_once_and_opens_offline():
    drawn = figures(front_of(five_configs()), "val_acc", "latency_p50_us", 3, "exp")
    section = report_section(drawn)
    assert re.findall(r"<script\b[^>]*\bsrc\s*=", section) == []  # nothing fetched
    assert section.count("plotly.js v") == 1  # plotly.js inline once (over a megabyte), for both figures
    assert len(section) > 1_000_000 and section.count("Plotly.newPlot") == 2
    assert 'id="accuracy_vs_flops"' in section and 'id="accuracy_vs_latency"' in section


def test_without_plotly_the_section_is_the_install_sentence():
    section = report_section(None)
    assert MISSING_TEXT in section.replace("&quot;", '"') and "<script" not in section
    assert INSTALL in MISSING_TEXT


def test_without_plotly_plotly_figures_raises_the_install_sentence():
    """In a fresh interpreter where ``import plotly`` fails: InputError with the sentence, not an ImportError."""
    code = """
from analysis.interactive import require_plotly
from tune_mnist.core.errors import InputError
try:
    require_plotly()
except InputError as error:
    print("InputError:", error)
"""
    proc = without_plotly(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"InputError: {MISSING_TEXT}"
