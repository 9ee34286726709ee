"""``--export DIR --format onnx``: each exported ``model.pt`` turned into a ``model.onnx`` of transformed
features, verified against PyTorch on every test image before it is kept (docs/deploy-runtime.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tune_mnist.core.config import NUM_CLASSES, TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.data.inputs import transform_images
from tune_mnist.data.options import DataSource, load_data
from tune_mnist.data.sources import MnistArrays, load_mnist
from tune_mnist.extras.optional import require
from tune_mnist.model.saved import CONFIG_FILE, MODEL_FILE, load_model

INPUT_TEXT = (
    "transformed features: centre crop, antialiased resize and scaling applied, flattened "
    "(tune_mnist.data.inputs; crop, side, input_mean and input_std in config.json)"
)


def mlp_inputs(config: TrialConfig, mean: float, std: float, images: np.ndarray) -> torch.Tensor:
    """The MLP's inputs for ``images`` (N, 28, 28) uint8, as ``tune_mnist.data.inputs.build_tensors`` builds
    them for ``config``: crop, resize, then the training split's standardisation if the config uses it."""
    x = transform_images(torch.from_numpy(np.array(images, copy=True)), config.crop, config.side)
    if config.scaling == "standard":
        x = x.sub_(mean).div_(std)
    return x


def experiment_data(run_options: dict[str, Any]) -> tuple[MnistArrays, str | None]:
    """The data source the search used (its run options), or the shipped MNIST with a warning when
    that source cannot be read here (e.g. a --data-dir on a cluster node)."""
    source = DataSource(**{f.name: run_options.get(f.name) for f in dataclasses.fields(DataSource)})
    try:
        return load_data(source), None
    except InputError as exc:
        return load_mnist(), (
            f"the experiment's data source cannot be read here ({exc}); the ONNX models were "
            "verified on the shipped MNIST test set instead."
        )


def convert_to_onnx(
    index_path: str | Path, run_options: dict[str, Any], threads: int = 1
) -> tuple[pd.DataFrame, list[str]]:
    """Replace each exported ``model.pt`` under ``index_path``'s directory by a verified ``model.onnx``;
    returns the updated index (also written back) and warnings."""
    require("onnx", "--format onnx")
    from tune_mnist.extras.onnx_runtime import INPUT_NAME, ONNX_FILE, OUTPUT_NAME, compare, export_onnx, session

    index_path = Path(index_path)
    index = pd.read_csv(index_path)
    if index.empty:
        return index, []
    arrays, warning = experiment_data(run_options)
    labels = torch.from_numpy(np.array(arrays.test_labels, copy=True)).long()
    extra: list[dict[str, Any]] = []
    for _, entry in index.iterrows():
        directory = index_path.parent / str(entry["directory"])
        model, config, meta = load_model(directory)
        export_onnx(model, config.in_features, directory / ONNX_FILE)
        x = mlp_inputs(
            config, float(meta.get("input_mean", 0.0)), float(meta.get("input_std", 1.0)), arrays.test_images
        )
        check = compare(model, session(directory / ONNX_FILE, threads), x, labels)
        onnx_meta = {
            "file": ONNX_FILE,
            "input": INPUT_NAME,
            "input_shape": ["N", config.in_features],
            "input_meaning": INPUT_TEXT,
            "output": OUTPUT_NAME,
            "output_shape": ["N", NUM_CLASSES],
            "verified_on": f"{check['samples']} test images",
            **{k: check[k] for k in ("max_abs_diff", "argmax_agreement")},
        }
        meta["onnx"] = onnx_meta
        (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        (directory / MODEL_FILE).unlink()
        extra.append(
            {
                "format": "onnx",
                "file": ONNX_FILE,
                "input": "features",
                "input_shape": f"[N, {config.in_features}]",
                "onnx_max_abs_diff": check["max_abs_diff"],
                "onnx_argmax_agreement": check["argmax_agreement"],
                "onnx_test_acc": check["accuracy"],
                "verified_on": check["samples"],
            }
        )
    index = pd.concat([index.reset_index(drop=True), pd.DataFrame(extra)], axis=1)
    index.to_csv(index_path, index=False)
    return index, [warning] if warning else []


def verification_lines(index: pd.DataFrame) -> list[str]:
    """One console line per exported model: what the ONNX check found."""
    return [
        f"  {row['directory']}: ONNX vs PyTorch on {int(row['verified_on']):,} test images: max |logit diff| "
        f"{row['onnx_max_abs_diff']:.2g}, same prediction for {100 * row['onnx_argmax_agreement']:.2f}%, "
        f"test_acc {row['onnx_test_acc']:.4f} (input {row['input_shape']} transformed features)"
        for _, row in index.iterrows()
    ]
