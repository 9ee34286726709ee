"""``report.html``: ``report.md`` as one self-contained page (plots as ``data:`` URIs, CSV tables as HTML,
no external reference), so that it can be mailed or logged to MLflow as one file. The converter reads
only the markdown subset ``analysis.outputs`` writes: a markdown library would be one more dependency."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

HTML_FILE = "report.html"
#: CSV tables with more rows than this are named, not embedded (a 1,000-config search stays readable).
MAX_TABLE_ROWS = 200
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
td:first-child, th:first-child { text-align: left; }
code { background: #f3f3f3; padding: .05em .3em; border-radius: 3px; font-size: .92em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; margin: .5em 0; }
details { margin: .6em 0; } summary { cursor: pointer; font-weight: 600; }
"""


def _data_uri(path: Path) -> str | None:
    """A PNG (the only image the analysis writes) as a ``data:`` URI."""
    if not path.is_file():
        return None
    return f"data:image/png;base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline(text: str, base: Path) -> str:
    """Escape ``text`` and render code spans and images (embedded)."""
    out = []
    for part in re.split(r"(`[^`]*`|!\[[^\]]*\]\([^)\s]+\))", text):
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        elif image := re.fullmatch(r"!\[([^\]]*)\]\(([^)\s]+)\)", part):
            label, target = image.groups()
            uri = _data_uri(base / target)
            out.append(
                f'<img src="{uri}" alt="{html.escape(label)}">'
                if uri
                else f"<em>[{html.escape(label)}: {html.escape(target)} is not here]</em>"
            )
        else:
            out.append(html.escape(part))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def markdown_to_html(text: str, base: Path) -> str:
    """The HTML body of ``text`` (the subset ``analysis.outputs`` writes); images under ``base`` are embedded."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif heading := re.match(r"(#{1,6})\s+(.*)", line):
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2).strip(), base)}</h{level}>")
            i += 1
        elif line.startswith("|"):
            header = _cells(line)
            rows = []
            i += 2  # the header and the |---| line under it
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            head = "".join(f"<th>{_inline(c, base)}</th>" for c in header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(c, base)}</td>" for c in r) + "</tr>" for r in rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:], base)}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"#{1,6}\s|\||- ", lines[i]):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para), base)}</p>")
    return "\n".join(out)


def csv_section(paths: list[Path]) -> str:
    """The CSV tables as collapsible HTML tables (a table too long to read here is named instead)."""
    parts = []
    for path in paths:
        if not path.is_file() or path.suffix != ".csv":
            continue
        try:
            table = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            continue
        summary = f"{html.escape(path.name)} ({len(table)} rows, {len(table.columns)} columns)"
        if len(table) > MAX_TABLE_ROWS:
            parts.append(f"<p>{summary}: too long to embed here; it is beside this report.</p>")
            continue
        body = table.to_html(index=False, na_rep="-", border=0, float_format=lambda v: f"{v:.6g}")
        parts.append(f"<details><summary>{summary}</summary>{body}</details>")
    return ("<h2>Tables</h2>\n" + "\n".join(parts)) if parts else ""


def write_html(markdown_path: Path, tables: list[Path] = (), interactive: str = "") -> Path:
    """Write ``report.html`` beside ``markdown_path``: the report with its plots, the ``interactive`` section
    (the plotly figures) just above the plots, then ``tables`` (CSV files) as HTML tables."""
    markdown_path = Path(markdown_path)
    text = markdown_path.read_text()
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "Report")
    body = markdown_to_html(text, markdown_path.parent)
    if interactive:
        plots = "<h2>Plots</h2>"
        body = body.replace(plots, interactive + plots, 1) if plots in body else body + "\n" + interactive
    body += "\n" + csv_section([Path(p) for p in tables])
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
    target = markdown_path.with_name(HTML_FILE)
    target.write_text(page, encoding="utf-8")
    return target
