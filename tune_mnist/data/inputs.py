"""Turn uint8 splits into the float tensors one config trains on: centre crop, antialiased resize
(torchvision v2 functional ops on the whole batched tensor, once), scaling, flattening."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from tune_mnist.core.config import TrialConfig
from tune_mnist.data.splits import Splits


@dataclass
class Tensors:
    """Flattened float32 inputs and int64 labels, all on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: float
    std: float

    @property
    def device(self) -> torch.device:
        return self.train_x.device


def transform_images(images: torch.Tensor, crop: int | None, side: int | None) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, side*side) float32 in [0, 1]: crop the centre, then resize."""
    x = images.to(torch.float32).div_(255.0).unsqueeze(1)
    if crop is not None:
        x = TF.center_crop(x, [crop, crop])
    if side is not None and side != x.shape[-1]:
        x = TF.resize(x, [side, side], antialias=True)
    return x.flatten(1).contiguous()


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    # from_numpy needs a writable array; object-store arrays are read-only, so copy once.
    return torch.from_numpy(np.array(array, copy=True)).to(device)


def build_tensors(splits: Splits, config: TrialConfig, device: torch.device | str = "cpu") -> Tensors:
    """Apply ``config``'s input spec to every split; standardise with the training split's statistics."""
    device = torch.device(device)
    xs = [
        transform_images(_to_device(images, device), config.crop, config.side)
        for images in (splits.train_images, splits.val_images, splits.test_images)
    ]
    ys = [_to_device(labels, device).long() for labels in (splits.train_labels, splits.val_labels, splits.test_labels)]
    mean, std = 0.0, 1.0
    if config.scaling == "standard":
        mean, std = float(xs[0].mean()), float(xs[0].std())
        std = std if std > 0 else 1.0
        xs = [x.sub_(mean).div_(std) for x in xs]
    return Tensors(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], mean, std)
