"""The interactive front (plotly): every config one point with its hover, the front ringed, the bar
drawn, confirmed and unconfirmed told apart; and one sentence where plotly is not installed.

The front here is computed by the analysis's own ``compute_front`` on a table of five configs, so the
figures are checked against the same front the tables and PNGs show."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import without_import

from analysis.front import compute_front, parse_objectives
from analysis.interactive import CONFIGS, FRONT, INSTALL, MISSING_TEXT, figures, report_section

REPO = Path(__file__).resolve().parents[1]
plotly = pytest.importorskip("plotly", reason='plotly is not installed: pip install -e ".[plot]"')

#: Run Python with ``import plotly`` failing as it does where plotly is not installed (an import hook
#: on sys.meta_path, set before anything else is imported), then run the code that follows.
WITHOUT_PLOTLY = without_import("plotly")


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
    assert fig.layout.xaxis.type == "log"  # FLOPs 600 to 30,000: labelled at 1, 2 and 5 per power of ten
    assert list(fig.layout.xaxis.tickvals) == [500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000]
    by_name = {t.name: t for t in traces(fig, CONFIGS)}
    unconfirmed = by_name["above the bar, unconfirmed (fewer than 3 seeds)"]
    assert [row[0] for row in unconfirmed.customdata] == ["c"] and unconfirmed.marker.symbol == "circle-open"
    assert by_name["above the bar, confirmed (3+ seeds)"].marker.symbol == "circle"
    assert [row[0] for row in by_name["below the bar, confirmed"].customdata] == ["e"]


def test_the_hover_names_the_config_its_spread_and_its_costs():
    fig = figures(front_of(five_configs()), "val_acc", "latency_p50_us", 3, "exp")["accuracy_vs_flops"]
    hovers = {row[0]: row for t in traces(fig, CONFIGS) for row in t.customdata}
    assert hovers["b"] == ["b", "64-32-10", "0.9500 ± 0.0020 (worst seed 0.9480)", "4,736", "12.0 us", "3"]
    assert hovers["c"][2] == "0.9700 (one seed)" and hovers["c"][5] == "1 unconfirmed"
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


# ---------------------------------------------------------------- a real report, in a real browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
NO_BROWSER = (
    "no headless browser to open report.html in: apt-get install chromium chromium-driver (Debian) installs "
    "the one this test drives"
)
ARTIFACTS = REPO / "test-artifacts"  # ignored by git: the screenshots a CI run leaves behind
EMBEDDED_PNG = re.compile(r'<img src="data:image/png;base64,')


@pytest.fixture(scope="module")
def experiment(smoke_experiment) -> Path:
    """A real smoke search (3 configs, seeds confirmed near the bar; shared, see conftest): the experiment
    the reports are of."""
    return smoke_experiment


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through selenium and Debian's chromedriver; skipped, with the reason, without them."""
    webdriver = pytest.importorskip("selenium.webdriver", reason='selenium is not installed: pip install -e ".[test]"')
    import shutil

    from selenium.webdriver.chrome.service import Service

    binary = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip(NO_BROWSER)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1800"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_window_size(1280, 1800)  # a whole graph in view: an element's screenshot is cut at the viewport
    yield driver
    driver.quit()


#: In the interpreter without plotly, first ``require_plotly()`` (what it raises, printed), then the analysis.
ANALYSE_WITHOUT_PLOTLY = """
import sys
from analysis.interactive import require_plotly
from tune_mnist.core.errors import InputError
try:
    require_plotly()
except InputError as error:
    print("InputError:", error, flush=True)
from analysis import pareto
sys.exit(pareto.main(sys.argv[1:]))
"""


def analyse(experiment: Path, out: Path, blocked: bool = False) -> tuple[Path, str]:
    """``python -m analysis.pareto EXPERIMENT --out OUT``: in this process, or, if ``blocked``, in a fresh
    interpreter without plotly after ``require_plotly()``. The report's path and what was printed."""
    if blocked:
        proc = without_plotly(ANALYSE_WITHOUT_PLOTLY, str(experiment), "--out", str(out))
        assert proc.returncode == 0, proc.stderr[-3000:]
        return out / "report.html", proc.stdout
    from analysis import pareto

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = pareto.main([str(experiment), "--out", str(out)])
    assert code == 0, printed.getvalue()[-3000:]
    return out / "report.html", printed.getvalue()


def open_page(browser, page: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # what an earlier page logged is not this one's
    browser.get(page.resolve().as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")


#: Per graph on the page: its id, and per drawn trace (in the SVG) its meta, its labels and the points drawn.
DRAWN = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
  id: gd.id,
  traces: Array.from(gd.querySelectorAll('.scatterlayer .trace')).map(g => ({
    meta: g.__data__[0].trace.meta,
    labels: (g.__data__[0].trace.customdata || []).map(row => row[0]),
    points: g.querySelectorAll('.point').length}))}));
"""


def screenshot(browser, element, path: Path) -> Path:
    """``element`` as a PNG at ``path``, hover included, wherever it lies on the page (Chrome's own capture:
    an element's screenshot through WebDriver is cut at the viewport, and the hover moves the page)."""
    import base64

    rect = element.rect
    clip = {"x": rect["x"], "y": rect["y"], "width": rect["width"], "height": rect["height"], "scale": 1}
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"clip": clip, "captureBeyondViewport": True})
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def page_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def images_decoded(browser) -> list[bool]:
    return browser.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")


@pytest.mark.slow
def test_the_report_renders_its_interactive_front_in_a_browser(browser, experiment, tmp_path):
    """Opened from file:// in headless Chromium: each graph draws one point per config of trials.csv and
    rings the rows of front.csv, hovering a point names its config, nothing is fetched and no script fails."""
    from selenium.webdriver.common.action_chains import ActionChains

    page, _ = analyse(experiment, tmp_path / "analysis")
    configs = pd.read_csv(tmp_path / "analysis" / "trials.csv")
    front = pd.read_csv(tmp_path / "analysis" / "front.csv")
    open_page(browser, page)
    graphs = browser.execute_script(DRAWN)
    assert [g["id"] for g in graphs] == ["accuracy_vs_flops", "accuracy_vs_latency"]
    for graph in graphs:
        drawn = [t for t in graph["traces"] if t["meta"] == CONFIGS]
        assert sum(t["points"] for t in drawn) == len(configs)
        assert sorted(label for t in drawn for label in t["labels"]) == sorted(configs["label"])
        (ringed,) = [t for t in graph["traces"] if t["meta"] == FRONT]
        assert ringed["points"] == len(front) and sorted(ringed["labels"]) == sorted(front["label"])
    graph = browser.find_element("id", "accuracy_vs_flops")
    browser.execute_script("arguments[0].scrollIntoView()", graph)
    point = graph.find_elements("css selector", ".scatterlayer .trace .point")[0]
    ActionChains(browser).move_to_element(point).perform()
    hover = browser.execute_script("return arguments[0].querySelector('.hoverlayer').textContent", graph)
    first = next(t for t in graphs[0]["traces"] if t["meta"] == CONFIGS)["labels"][0]
    assert hover.startswith(first) and "architecture:" in hover and "seeds:" in hover
    shot = screenshot(browser, graph, ARTIFACTS / "report-interactive.png")
    assert shot.stat().st_size > 10_000
    assert all(images_decoded(browser)) and len(images_decoded(browser)) >= 4  # the PNGs are still there
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [url for url in fetched if not url.startswith(("file:", "data:"))] == []
    assert page_errors(browser) == []


@pytest.mark.slow
def test_without_plotly_the_report_keeps_its_pngs_and_says_how(experiment, tmp_path, request):
    """In a fresh interpreter where ``import plotly`` fails: ``require_plotly()`` raises InputError with the
    sentence, not an ImportError; then the analysis: every PNG report.md names is embedded, the page
    says how to get the interactive plots and has no script; in a browser (where one is installed)
    every image decodes and nothing is logged as an error."""
    page, printed = analyse(experiment, tmp_path / "analysis", blocked=True)
    assert printed.startswith(f"InputError: {MISSING_TEXT}\n")
    html_text = page.read_text()
    markdown = (tmp_path / "analysis" / "report.md").read_text()
    pngs = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert len(pngs) >= 4 and len(EMBEDDED_PNG.findall(html_text)) == len(pngs)
    assert MISSING_TEXT in html_text.replace("&quot;", '"') and "<script" not in html_text
    browser = request.getfixturevalue("browser")  # skips here, after the checks above, without a browser
    open_page(browser, page)
    assert images_decoded(browser) == [True] * len(pngs)
    assert browser.execute_script("return document.querySelectorAll('.js-plotly-plot').length") == 0
    assert page_errors(browser) == []


def test_where_no_config_clears_the_bar_every_config_is_still_drawn_below_it():
    table = five_configs()
    front = compute_front(table, parse_objectives("val_acc:max,flops:min,latency_p50_us:min", table), 0.99)
    fig = figures(front, "val_acc", "latency_p50_us", 3, "exp")["accuracy_vs_flops"]
    assert sorted(row[0] for t in traces(fig, CONFIGS) for row in t.customdata) == ["a", "b", "c", "d", "e"]
    assert all(t.name.startswith("below the bar") for t in traces(fig, CONFIGS))
    (ringed,) = traces(fig, FRONT)
    assert len(ringed.x) == 0
