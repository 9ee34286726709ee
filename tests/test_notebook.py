"""examples/quickstart.ipynb runs top to bottom, as a data scientist would run it: a real search on a
small subset through the Python API, the front as a DataFrame, the interactive plot, the cheapest
front model exported and classifying the test set. Executed with nbclient on an ipykernel, its
parameters set from the environment (the notebook's first code cell reads them)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "examples" / "quickstart.ipynb"

nbformat = pytest.importorskip("nbformat", reason='nbformat is not installed: pip install -e ".[test]"')
nbclient = pytest.importorskip("nbclient", reason='nbclient is not installed: pip install -e ".[test]"')


def outputs(cell: dict, kind: str) -> list[str]:
    """The cell's outputs of a mime type (``text/plain``, ``text/html``, ...), or its printed text (``stream``)."""
    found = []
    for output in cell.get("outputs", []):
        if kind == "stream" and output["output_type"] == "stream":
            found.append(output["text"])
        elif kind in output.get("data", {}):
            found.append(output["data"][kind])
    return found


def test_the_notebook_is_stored_without_outputs():
    """What the repository holds is the recipe, not one run's results (or a 5 MB plot)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert "parameters" in code[0].metadata.get("tags", [])


@pytest.mark.slow
def test_the_quickstart_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    for name, value in {
        "QUICKSTART_SPACE": "smoke",
        "QUICKSTART_SUBSET": "2000",
        "QUICKSTART_EPOCHS": "1",
        "QUICKSTART_MIN_ACCURACY": "0.5",
        "QUICKSTART_STORAGE": str(tmp_path / "ray_results"),
        "QUICKSTART_EXPORT": str(tmp_path / "models"),
        "PYTHONPATH": str(REPO),  # the kernel and Ray's workers import this checkout
    }.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.outputs if o["output_type"] == "error"]
    assert errors == []
    (experiment,) = (tmp_path / "ray_results").iterdir()
    from analysis import load_analysis

    analysis = load_analysis(experiment)
    shown = "".join(text for cell in code for text in outputs(cell, "text/html"))
    for label in analysis.front["label"]:  # the front's DataFrame is displayed, every config on it
        assert label in shown
    plots = [o for cell in code for o in outputs(cell, "application/vnd.plotly.v1+json")]
    assert len(plots) == 2  # accuracy vs FLOPs and vs latency
    index = pd.read_csv(tmp_path / "models" / "index.csv")
    cheapest = analysis.front.sort_values("flops").iloc[0]
    assert set(index["label"]) == {cheapest["label"]} and len(index) == int(cheapest["n_seeds"])
    assert all((tmp_path / "models" / d / "model.pt").is_file() for d in index["directory"])
    printed = "".join(text for text in outputs(code[-1], "stream"))
    found = re.search(r"on 10,000 test images: accuracy ([0-9.]+) \(the trial reported test_acc ([0-9.]+)\)", printed)
    assert found, printed
    measured, reported = map(float, found.groups())
    assert measured > 0.5 and abs(measured - reported) < 0.05  # the trial's number was on a 2,000-image subset
