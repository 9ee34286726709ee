"""A trained model on disk: ``model.pt`` (a plain state_dict, loadable with weights_only=True) and
``config.json`` (the config, the input scaling statistics and the final metrics). The single-run
CLI, trial checkpoints and the analysis export all use this one format."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.core.layout import CONFIG_FILE, MODEL_FILE
from tune_mnist.model.mlp import build_mlp


def jsonable(value: Any) -> Any:
    """A row's value as JSON has it: a missing split's NaN accuracy becomes null, as Ray writes it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_model(
    directory: str | Path,
    model: nn.Module,
    config: TrialConfig,
    mean: float = 0.0,
    std: float = 1.0,
    metrics: dict[str, Any] | None = None,
) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, directory / MODEL_FILE)
    meta = {
        "config": config.to_dict(),
        "in_features": config.in_features,
        "architecture": config.architecture,
        "input_spec": config.input_spec,
        "input_mean": mean,
        "input_std": std,
        "metrics": {k: jsonable(v) for k, v in (metrics or {}).items()},
    }
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Sequential, TrialConfig, dict]:
    """The model (eval mode), its config and the rest of config.json."""
    directory = Path(directory)
    if not (directory / MODEL_FILE).is_file() or not (directory / CONFIG_FILE).is_file():
        raise InputError(
            f"{directory} is not a saved model (it needs {MODEL_FILE} and {CONFIG_FILE}): "
            "pass the directory the training run or --export wrote."
        )
    meta = json.loads((directory / CONFIG_FILE).read_text())
    config = TrialConfig.from_dict(meta["config"])
    model = build_mlp(config.in_features, config.depth, config.width)
    model.load_state_dict(torch.load(directory / MODEL_FILE, map_location="cpu", weights_only=True))
    return model.to(device).eval(), config, meta
