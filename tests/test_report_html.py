"""report.html: the analysis's report as one self-contained page, every plot embedded, nothing
referenced outside the file; the converter on the markdown subset analysis.outputs writes."""

from __future__ import annotations

import base64
import contextlib
import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from analysis.html_report import markdown_to_html, write_html  # noqa: E402

EMBEDDED_PNG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def external_references(page: str) -> list[str]:
    """Every attribute that makes a browser fetch something outside the page, and every http(s) URL
    in a src/href/url(): what an offline, self-contained file must not have. An inline script (plotly's,
    embedded) is part of the page: its code is left out of the search, a script with ``src`` is not."""
    refs = re.findall(r"<script\b[^>]*\bsrc\s*=[^>]*>", page)
    page = re.sub(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>.*?</script>", "", page, flags=re.S)
    refs += [
        m
        for m in re.findall(r"""\b(?:src|href|data|poster)\s*=\s*["']?([^"'\s>]+)""", page)
        if not m.startswith(("data:", "#"))
    ]
    refs += re.findall(r"url\(\s*['\"]?(?!data:)([^)'\"]+)", page)
    refs += re.findall(r"<(?:link|script|iframe|object|embed)\b[^>]*>", page)
    refs += re.findall(r"@import", page)
    return refs


def plot(path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [3, 1, 2])
    fig.savefig(path)
    plt.close(fig)
    return path


def test_the_markdown_subset_converts(tmp_path):
    plot(tmp_path / "a.png")
    text = "\n".join(
        [
            "# Title with `code`",
            "",
            "A paragraph that",
            "wraps, with `x < y`.",
            "",
            "## Table",
            "",
            "| config | FLOPs |",
            "|---|---|",
            "| resize8 1x256 | 33,280 |",
            "| full28 2x1024 | 3,723,264 |",
            "",
            "- first item",
            "- second `item`",
            "",
            "![a plot](a.png)",
            "",
            "![gone](missing.png)",
        ]
    )
    body = markdown_to_html(text, tmp_path)
    assert "<h1>Title with <code>code</code></h1>" in body
    assert "<p>A paragraph that wraps, with <code>x &lt; y</code>.</p>" in body
    assert "<th>config</th><th>FLOPs</th>" in body and "<td>full28 2x1024</td><td>3,723,264</td>" in body
    assert "<ul><li>first item</li><li>second <code>item</code></li></ul>" in body
    (encoded,) = EMBEDDED_PNG.findall(body)
    assert base64.b64decode(encoded) == (tmp_path / "a.png").read_bytes()
    assert "missing.png is not here" in body
    assert 'src="missing.png"' not in body


def test_write_html_embeds_plots_and_tables_and_references_nothing(tmp_path):
    names = ["accuracy_vs_flops.png", "latency_vs_flops.png"]
    for name in names:
        plot(tmp_path / name)
    (tmp_path / "front.csv").write_text("label,flops,val_acc\nresize8 1x256,33280,0.961\n")
    (tmp_path / "report.md").write_text(
        "# Pareto analysis of x\n\n## Plots\n\n" + "".join(f"![{Path(n).stem}]({n})\n\n" for n in names)
    )
    page = write_html(tmp_path / "report.md", [tmp_path / "front.csv"]).read_text()
    assert len(EMBEDDED_PNG.findall(page)) == 2
    assert "<title>Pareto analysis of x</title>" in page and "front.csv (1 rows, 3 columns)" in page
    assert "<td>resize8 1x256</td>" in page
    assert external_references(page) == []


@pytest.mark.slow
def test_the_analysis_writes_a_self_contained_report_html(smoke_experiment):
    """A real smoke search (shared: see conftest), then the analysis CLI: report.html holds every plot
    report.md names."""
    from analysis import pareto

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert pareto.main([str(smoke_experiment), "--remeasure", "--rounds", "1"]) == 0, err.getvalue()
    analysis = smoke_experiment / "analysis"
    markdown = (analysis / "report.md").read_text()
    plots = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert len(plots) >= 5  # four plots and remeasure.png, at least
    page = (analysis / "report.html").read_text()
    embedded = [base64.b64decode(e) for e in EMBEDDED_PNG.findall(page)]
    assert len(embedded) == len(plots) and all(png[:8] == PNG_SIGNATURE for png in embedded)
    assert sorted(embedded) == sorted((analysis / name).read_bytes() for name in plots)
    assert external_references(page) == []
    assert "<h2>Pareto front" in page and "front.csv (" in page
    assert "report.html" in out.getvalue()
