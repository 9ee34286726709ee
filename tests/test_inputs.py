"""Input specs: the config's checks, and the crop / resize / scaling applied once to whole tensors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.data.inputs import build_tensors, transform_images
from tune_mnist.data.splits import split_validation, subset


def one_sentence(error: pytest.ExceptionInfo, *names: str) -> str:
    message = str(error.value)
    assert "\n" not in message and message.endswith("."), message
    assert not re.search(r"[.!?]\s+[A-Z]", message[:-1]), f"more than one sentence: {message}"
    for name in names:
        assert name in message, f"{name} not named in: {message}"
    return message


@pytest.fixture(scope="module")
def small_splits(mnist):
    return subset(split_validation(mnist, 1000), 3000)


# ---------------------------------------------------------------- TrialConfig


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"crop": 14, "side": 20}, "side=20"),  # a resize may only shrink what the crop left
        ({"side": 29}, "side=29"),
        ({"crop": 29}, "crop=29"),
        ({"crop": -1}, "crop=-1"),
        ({"side": -3}, "side=-3"),
        ({"side": 8.5}, "side=8.5"),
        ({"depth": -1}, "depth=-1"),
        ({"width": 0}, "width=0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"epochs": 0}, "epochs=0"),
        ({"seed": -1}, "seed=-1"),
        ({"lr": 0}, "lr=0"),
        ({"lr": float("nan")}, "lr=nan"),
        ({"scaling": "minmax"}, "scaling='minmax'"),
        ({"depth": True}, "depth=True"),
    ],
)
def test_impossible_configs_fail_early(kwargs, field):
    with pytest.raises(InputError) as error:
        TrialConfig(**kwargs)
    one_sentence(error, "Config", field)


def test_no_op_steps_normalise_to_none():
    assert TrialConfig(side=0).side is None  # side 0: no resize
    assert TrialConfig(crop=0).crop is None and TrialConfig(crop=28).crop is None
    assert TrialConfig(crop=14, side=14) == TrialConfig(crop=14)  # resizing to the crop's own size is nothing
    assert TrialConfig(side=28) == TrialConfig()
    assert TrialConfig(side=0).input_side == 28 and TrialConfig().in_features == 784


def test_config_labels_and_round_trip():
    config = TrialConfig(crop=20, side=8, depth=1, width=256, scaling="standard")
    assert config.input_spec == "crop20-resize8-std"
    assert config.architecture == "64-256-10"
    assert TrialConfig(side=14).input_spec == "resize14" and TrialConfig(crop=14).input_spec == "crop14"
    assert TrialConfig().input_spec == "full28" and TrialConfig().architecture == "784-1024-1024-10"
    assert TrialConfig(depth=0).architecture == "784-10"
    # Tune / JSON may give floats and extra keys: whole numbers come back exact, extras are ignored.
    values = {**config.to_dict(), "side": 8.0, "width": np.int64(256), "seed": 0.0, "extra": 1}
    assert TrialConfig.from_dict(values) == config


# ---------------------------------------------------------------- transforms


@pytest.mark.parametrize(
    "crop, side, out",
    [
        (None, None, 28),
        (None, 14, 14),
        (14, None, 14),
        (None, 8, 8),
        (20, 8, 8),
        (20, None, 20),
        (1, None, 1),
    ],
)
def test_transform_shapes_and_range(mnist, crop, side, out):
    images = torch.from_numpy(mnist.train_images[:256].copy())
    x = transform_images(images, crop, side)
    assert x.shape == (256, out * out) and x.dtype == torch.float32 and x.is_contiguous()
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.max()) > 0.5  # the digits are still there


def test_no_transform_is_pixels_over_255(mnist):
    images = torch.from_numpy(mnist.train_images[:64].copy())
    torch.testing.assert_close(
        transform_images(images, None, None), images.reshape(64, -1).float() / 255, rtol=0, atol=0
    )


@pytest.mark.parametrize("value", [0, 77, 255])
@pytest.mark.parametrize("crop, side", [(None, 14), (None, 8), (20, 8), (None, 5), (13, 3)])
def test_resize_of_a_constant_image_stays_constant(value, crop, side):
    images = torch.full((3, 28, 28), value, dtype=torch.uint8)
    torch.testing.assert_close(
        transform_images(images, crop, side), torch.full((3, side * side), value / 255), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("crop, start", [(14, 7), (20, 4), (2, 13)])
def test_crop_takes_the_centre(mnist, crop, start):
    images = mnist.train_images[:32]
    x = transform_images(torch.from_numpy(images.copy()), crop, None).reshape(-1, crop, crop)
    expected = torch.from_numpy(images[:, start : start + crop, start : start + crop].astype(np.float32) / 255)
    torch.testing.assert_close(x, expected, rtol=0, atol=0)


def test_crop_keeps_a_centred_marker_and_drops_the_border():
    images = torch.zeros(1, 28, 28, dtype=torch.uint8)
    images[0, 13:15, 13:15] = 255  # the centre 2x2
    images[0, 0, :] = 255  # a border row a 20x20 crop must drop
    x = transform_images(images, 20, None).reshape(20, 20)
    assert float(x.sum()) == 4.0 and float(x[9:11, 9:11].sum()) == 4.0


def test_resize_is_antialiased_like_the_notebooks_pil_resize(mnist):
    # The notebook: PIL image -> torchvision Resize((8, 8)) -> ToTensor. PIL rounds to uint8 in between,
    # so the two agree to within a couple of grey levels, not exactly; a non-antialiased resize does not.
    from PIL import Image
    from torchvision import transforms

    images = mnist.test_images[:64]
    ours = transform_images(torch.from_numpy(images.copy()), None, 8)
    pipeline = transforms.Compose([transforms.Resize((8, 8)), transforms.ToTensor()])
    theirs = torch.stack([pipeline(Image.fromarray(im)) for im in images]).flatten(1)
    assert float((ours - theirs).abs().max()) <= 3 / 255
    nearest = torch.nn.functional.interpolate(
        torch.from_numpy(images.copy()).float().unsqueeze(1) / 255, size=(8, 8), mode="bilinear", antialias=False
    ).flatten(1)
    assert float((nearest - theirs).abs().max()) > 0.1


# ---------------------------------------------------------------- build_tensors


def test_build_tensors_shapes_labels_and_dtypes(small_splits):
    t = build_tensors(small_splits, TrialConfig(crop=20, side=8))
    assert t.train_x.shape == (3000, 64) and t.val_x.shape == (1000, 64) and t.test_x.shape == (3000, 64)
    assert t.train_x.dtype == torch.float32 and t.train_y.dtype == torch.int64
    assert t.device == torch.device("cpu") and (t.mean, t.std) == (0.0, 1.0)
    np.testing.assert_array_equal(t.train_y.numpy(), small_splits.train_labels)
    np.testing.assert_array_equal(t.test_y.numpy(), small_splits.test_labels)
    torch.testing.assert_close(t.test_x, transform_images(torch.from_numpy(small_splits.test_images.copy()), 20, 8))


def test_build_tensors_accepts_read_only_arrays(small_splits):
    # Ray's object store hands trials read-only numpy arrays.
    for array in (small_splits.train_images, small_splits.train_labels):
        array.flags.writeable = False
    try:
        t = build_tensors(small_splits, TrialConfig(side=14))
    finally:
        small_splits.train_images.flags.writeable = small_splits.train_labels.flags.writeable = True
    assert t.train_x.shape == (3000, 196)


def test_standardisation_uses_the_training_split(small_splits):
    unit = build_tensors(small_splits, TrialConfig(side=14))
    std = build_tensors(small_splits, TrialConfig(side=14, scaling="standard"))
    assert abs(float(std.train_x.mean())) < 1e-4 and abs(float(std.train_x.std()) - 1) < 1e-3
    assert std.mean == pytest.approx(float(unit.train_x.mean()), rel=1e-5)
    assert std.std == pytest.approx(float(unit.train_x.std()), rel=1e-5)
    # Validation and test are scaled with the training statistics, not their own.
    torch.testing.assert_close(std.test_x, (unit.test_x - std.mean) / std.std)
    torch.testing.assert_close(std.val_x, (unit.val_x - std.mean) / std.std)
    assert float(std.test_x.mean()) != pytest.approx(0.0, abs=1e-6)
