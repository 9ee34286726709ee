"""One spelling per config: a real search and its analysis name every config the same way in every
place a user reads or copies it (the live table, the summary's picks, the analysis's tables, CSVs and
report, the trial directories, which also name the MLflow runs, and the exported model directories)."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pandas as pd
import pytest

from tune_mnist.confirm.summary import group_rows
from tune_mnist.core.config import CONFIG_KEYS, TrialConfig, config_key
from tune_mnist.core.labels import distinct_labels

MIN_ACCURACY = "0.5"  # the smoke models are tiny; a low bar gives picks, a front and exports (the shared search's)


def test_same_label_configs_are_told_apart_the_same_way_everywhere():
    """Two configs that differ only in epochs read the same as a bare label; the summary's groups and
    the analysis's rule (``distinct_labels``) add ``e<epochs>`` to both, and a linear model is ``linear``."""
    a = TrialConfig(crop=20, side=8, depth=0, width=1, epochs=2).to_dict()
    b = {**a, "epochs": 4}
    groups = group_rows([(a, {"val_acc": 0.8}), (b, {"val_acc": 0.81}), ({**a, "seed": 1}, {"val_acc": 0.79})])
    assert [g.label for g in groups] == ["crop20-resize8 linear e2", "crop20-resize8 linear e4"]
    assert [g.n for g in groups] == [2, 1]
    assert distinct_labels(["x 1x8", "x 1x8", "y 1x8"], [{"lr": 0.01}, {"lr": 0.001}, {"lr": 0.01}]) == [
        "x 1x8 lr1e-2",
        "x 1x8 lr1e-3",
        "y 1x8",
    ]


def spoken(text: str) -> str:
    """Directory names and labels compared with spaces for underscores, as ``label('_')`` writes them."""
    return text.replace("_", " ")


@pytest.fixture(scope="module")
def searched(smoke_search, smoke_experiment, tmp_path_factory):
    """The shared smoke search (conftest; its bar is MIN_ACCURACY) and its console, then its analysis."""
    from analysis import pareto

    export = tmp_path_factory.mktemp("labels_export")
    out = io.StringIO(smoke_search.console)
    out.seek(0, io.SEEK_END)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = pareto.main([str(smoke_experiment), "--min-accuracy", MIN_ACCURACY, "--export", str(export)])
        assert code == 0, out.getvalue()[-3000:]
    return {"console": out.getvalue(), "experiment": smoke_experiment, "export": export}


@pytest.mark.slow
def test_each_config_has_exactly_one_spelling(searched):
    experiment, console = searched["experiment"], spoken(searched["console"])
    analysis = experiment / "analysis"
    spellings: dict[str, set[str]] = {}

    def saw(config: dict, spelling: str) -> None:
        spellings.setdefault(config_key(config), set()).add(spelling)

    # Trial directories (and so the MLflow runs, named after them): <trial id>_<label>_s<seed>.
    trial_dirs = [p.parent for p in experiment.glob("*/params.json")]
    assert len(trial_dirs) > 3  # the confirmation stage trained more seeds of the smoke space's 3 configs
    for directory in trial_dirs:
        params = json.loads((directory / "params.json").read_text())
        match = re.fullmatch(r"[0-9a-f]+(?:_\d{5})?_(.+)_s(\d+)", directory.name)
        assert match and int(match[2]) == params["seed"], directory.name
        saw(params, spoken(match[1]))
    # The analysis's tables: trials.csv, front.csv (one row per config, with its config columns).
    trials = pd.read_csv(analysis / "trials.csv")
    for name in ("trials.csv", "front.csv"):
        for _, row in pd.read_csv(analysis / name).iterrows():
            saw({k: row[k] for k in CONFIG_KEYS if k in row and pd.notna(row[k])}, row["label"])
    # Exported models: NN_<label>_s<seed>/config.json, and index.csv's label column.
    index = pd.read_csv(searched["export"] / "index.csv")
    assert len(index) >= 1
    for _, entry in index.iterrows():
        meta = json.loads((searched["export"] / entry["directory"] / "config.json").read_text())
        config = meta.get("config", meta)
        match = re.fullmatch(r"\d\d_(.+)_s(\d+)", entry["directory"])
        assert match, entry["directory"]
        saw(config, spoken(match[1]))
        saw(config, entry["label"])
    assert len(spellings) == 3, spellings  # the smoke space's three configs
    for key, names in spellings.items():
        assert len(names) == 1, f"{key} is spelled {sorted(names)}"
    labels = {next(iter(names)) for names in spellings.values()}
    assert len(labels) == 3  # and no two configs share one
    # Everything printed (live table, summary picks, confirmation lines, analysis) and report.md: after a
    # config's input spec and model come the rest of its label's words, never another spelling; a
    # linear model is never ``0x1``.
    report = spoken((analysis / "report.md").read_text())
    for text, where in ((console, "the console"), (report, "report.md")):
        for label in labels:
            spec, *rest = label.split()
            found = [
                m.group(1).split()[: len(rest)] for m in re.finditer(rf"(?<![\w-]){re.escape(spec)} ([^\n|]+)", text)
            ]
            assert found, f"{label} is not in {where}"
            for words in found:
                words = [w.strip(":,.()") for w in words]
                if words[0] == rest[0]:  # this config (another model on this input, e.g. the notebook's pick, is not)
                    assert words == rest, f"{where} names {label} as {spec} {' '.join(words)}"
    picks = re.findall(r"best by \S+ \(\w+\) among .*?\(seed means\): (.+?) (\d+(?:-\d+)+): ", console)
    assert picks, console[-3000:]
    by_architecture = dict(zip(trials["architecture"], trials["label"], strict=True))
    for label, architecture in picks:
        assert label == by_architecture[architecture]
    assert " 0x" not in console and " 0x" not in report
