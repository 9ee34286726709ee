"""``--export DIR``: every front model as ``model.pt`` (a plain state_dict, loadable with
``weights_only=True``) and ``config.json``, copied from its trial's checkpoint, plus ``index.csv``."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.find import make_dir
from analysis.load import Experiment, local_checkpoint
from tune_mnist.core.layout import CONFIG_FILE, MODEL_FILE
from tune_mnist.model.saved import load_model


@dataclass
class Exported:
    directory: Path
    configs: int
    index: Path  # index.csv
    format: str = "state_dict"
    lines: list[str] = field(default_factory=list)  # what the ONNX check found, one line per model


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text).strip("_")


def export_front(
    experiment: Experiment,
    front: pd.DataFrame,
    directory: str | Path,
    epoch: int | None = None,
    format: str = "state_dict",
    threads: int = 1,
) -> Exported:
    """Copy each front config's trials (every seed) to ``directory``, with index.csv listing them (``onnx``:
    each as a model.onnx checked against PyTorch on the test set); warnings go to stderr."""
    directory = make_dir(Path(directory), "--export")
    trials = {t.trial_id: t for t in experiment.trials}
    rows, warnings = [], []
    with tempfile.TemporaryDirectory(prefix="pareto-export-") as scratch:
        for rank, (_, config) in enumerate(front.sort_values("flops").iterrows(), 1):
            for trial_id in str(config["trial_ids"]).split(";"):
                trial = trials[trial_id]
                if trial.checkpoint is None:
                    warnings.append(f"{trial.name} has no checkpoint with a model; it was not exported.")
                    continue
                source = Path(local_checkpoint(experiment, trial, scratch))
                target = directory / f"{rank:02d}_{_slug(str(config['label']))}_s{int(trial.params.get('seed', 0))}"
                target.mkdir(parents=True, exist_ok=True)
                for name in (MODEL_FILE, CONFIG_FILE):
                    shutil.copyfile(source / name, target / name)
                _, _, meta = load_model(target)  # proves it loads (weights_only) into the project's MLP
                weights_epoch = (meta.get("metrics") or {}).get("epoch")
                if epoch is not None and weights_epoch is not None and int(weights_epoch) != epoch:
                    warnings.append(
                        f"{target.name}: the weights are from epoch {weights_epoch} (the checkpoint Ray "
                        f"kept), not --epoch {epoch}."
                    )
                rows.append(
                    {
                        "directory": target.name,
                        "label": config["label"],
                        "trial_id": trial_id,
                        "seed": trial.params.get("seed"),
                        "weights_epoch": weights_epoch,
                        "architecture": meta.get("architecture"),
                        "input_spec": meta.get("input_spec"),
                        **{
                            k: (meta.get("metrics") or {}).get(k)
                            for k in ("val_acc", "test_acc", "flops", "params", "latency_p50_us")
                        },
                    }
                )
    index = directory / "index.csv"
    pd.DataFrame(rows).to_csv(index, index=False)
    exported = Exported(directory.resolve(), len(front), index)
    if format == "onnx":
        from analysis.onnx_export import convert_to_onnx, verification_lines

        checked, onnx_warnings = convert_to_onnx(index, experiment.run_options, threads)
        exported.format, exported.lines = "onnx", verification_lines(checked)
        warnings += onnx_warnings
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return exported
