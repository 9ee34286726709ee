"""An experiment written before ``tune_mnist`` was grouped into subpackages: ``--resume`` refuses it in
one sentence and changes nothing, and the analysis still reads it (it reads JSON only).

``tests/data/pre_regroup`` is a real one: ``python -m tune_mnist.search --space smoke --epochs 1
--confirm 1`` run at commit 53a82f0 (the last before the regrouping), kept with Ray's ``tuner.pkl``
and search state as that code pickled them (naming ``tune_mnist.live_table``, ``tune_mnist.trials``,
...), the run options and each trial's ``params.json`` and ``result.json``."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

from tune_mnist import search
from tune_mnist.core.config import TrialConfig
from tune_mnist.experiment.old_layout import retired_modules

REPO = Path(__file__).resolve().parent.parent
PRE_REGROUP = REPO / "tests" / "data" / "pre_regroup"


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_resume_of_a_pre_regroup_experiment_is_refused_in_one_sentence_and_changes_nothing(tmp_path, capsys):
    """Through the command's ``main`` in this process (the entry point only passes its exit status on):
    the refusal comes before Ray starts, so a child Python would only add its imports."""
    experiment = tmp_path / "old"
    shutil.copytree(PRE_REGROUP, experiment)
    before = snapshot(tmp_path)
    status = search.main(["--resume", "--name", "old", "--storage-path", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 2, out[-2000:] + err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and "Traceback" not in err, err[-2000:]
    sentence = lines[-1]
    assert sentence.startswith(f"error: Experiment {experiment} was written by an older tune_mnist"), sentence
    assert "tune_mnist.live_table" in sentence and "start a new experiment under another --name" in sentence
    assert f"python -m analysis.pareto {experiment} still reads this one" in sentence
    assert sentence.count(". ") == 0 and sentence.endswith(".")
    assert snapshot(tmp_path) == before  # nothing written, nothing deleted


def test_the_analysis_still_reads_a_pre_regroup_experiment():
    from analysis.load import USABLE, load_experiment

    analysed = load_experiment(str(PRE_REGROUP))
    assert sorted(t.label for t in analysed.trials if t.status == USABLE) == sorted(
        ["resize14 1x64 lr1e-2 s0", "resize8 1x32 lr1e-2 s0", "crop20-resize8 linear lr1e-2 s0"]
    )


def test_only_module_paths_the_package_no_longer_has_count():
    old = (PRE_REGROUP / "tuner.pkl").read_bytes()
    assert retired_modules(old) == [
        "tune_mnist.live_table",
        "tune_mnist.schedulers",
        "tune_mnist.storage_guard",
        "tune_mnist.trials",
    ]
    assert retired_modules(old[: len(old) // 2])  # a pickle cut short still shows the names before the cut
    # Today's module paths, and a storage path that merely contains the package's name, are not old.
    today = pickle.dumps({"config": TrialConfig(), "storage_path": "/data/tune_mnist.runs/x"}, protocol=5)
    assert "tune_mnist.core.config" in today.decode("latin-1") and retired_modules(today) == []
