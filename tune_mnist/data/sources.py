"""Read MNIST from the shipped IDX files, a directory of IDX files, the notebook's CSV layout or a
torchvision download; validate every byte of it (the validation split: ``splits``).

Everything here is uint8 numpy: the object store hands it to trials zero-copy, and each trial
turns it into float tensors once, on its own device (``tune_mnist.data.inputs``)."""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tune_mnist.core.config import IMAGE_SIDE, NUM_CLASSES
from tune_mnist.core.errors import InputError

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mnist"
#: Training images held out for validation unless told otherwise, and the seed that picks them.
DEFAULT_VALIDATION_SIZE, DEFAULT_SPLIT_SEED = 5000, 0
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
FILE_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
HOW_TO_GET = (
    "pass --data-dir with the four MNIST IDX files, --train-csv and --test-csv for the CSV "
    "layout, or --download DIR to fetch them with torchvision"
)


@dataclass(frozen=True)
class MnistArrays:
    """Images (N, 28, 28) uint8 and labels (N,) uint8, as read."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


# ---------------------------------------------------------------- IDX


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"Cannot read data file {path} ({exc.strerror}): check the path and its permissions."
        ) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(
                f"Data file {path} is not a valid gzip file ({exc}): replace it with an intact copy."
            ) from None
    return raw


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file, checking its magic number, dimensions and length."""
    data = _read_bytes(path)
    kind = "images" if magic == IMAGE_MAGIC else "labels"
    if len(data) < 8:
        raise InputError(f"Data file {path} is too short to be an IDX file: replace it with an intact copy.")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise InputError(
            f"Data file {path} has magic number {found}, not {magic} (IDX {kind}): "
            "check that the file is the right one and intact."
        )
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if magic == IMAGE_MAGIC and dims[1:] != [IMAGE_SIDE, IMAGE_SIDE]:
        raise InputError(
            f"Data file {path} holds {dims[1]}x{dims[2]} images, not {IMAGE_SIDE}x{IMAGE_SIDE}: use the MNIST files."
        )
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise InputError(
            f"Data file {path} has {len(data) - header} bytes of {kind} where its header promises "
            f"{expected - header}: the file is truncated or corrupt, replace it with an intact copy."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def find_idx_files(directory: Path) -> dict[str, Path] | None:
    """Locate the four files in ``directory``, its ``raw/`` or torchvision's ``MNIST/raw/``."""
    for base in (directory, directory / "raw", directory / "MNIST" / "raw"):
        found = {}
        for key, stem in FILE_STEMS.items():
            for name in (stem + ".gz", stem):
                if (base / name).is_file():
                    found[key] = base / name
                    break
        if len(found) == len(FILE_STEMS):
            return found
    return None


def _verify_checksums(directory: Path, files: dict[str, Path]) -> None:
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        return
    expected = {}
    for line in sums.read_text().splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2:  # "HASH  NAME", or "HASH *NAME" as sha256sum -b writes it
            expected[parts[1].strip().lstrip("*")] = parts[0]
    for path in files.values():
        want = expected.get(path.name)
        if want and hashlib.sha256(path.read_bytes()).hexdigest() != want.strip():
            raise InputError(
                f"Data file {path} does not match its checksum in {sums}: "
                "it is corrupt, restore it (git checkout data/mnist) or replace it with an intact copy."
            )


def load_idx_dir(directory: Path) -> MnistArrays:
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"Data directory {directory} does not exist: {HOW_TO_GET}.")
    files = find_idx_files(directory)
    if files is None:
        wanted = ", ".join(s + "[.gz]" for s in FILE_STEMS.values())
        raise InputError(f"Data directory {directory} lacks the MNIST IDX files ({wanted}): {HOW_TO_GET}.")
    _verify_checksums(files["train_images"].parent, files)
    arrays = {
        key: read_idx(path, IMAGE_MAGIC if key.endswith("images") else LABEL_MAGIC) for key, path in files.items()
    }
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise InputError(
                f"Data files {files[split + '_images']} and {files[split + '_labels']} disagree: "
                f"{len(images)} images but {len(labels)} labels; use files from the same release."
            )
        _check_labels(labels, files[f"{split}_labels"])
    return MnistArrays(**arrays, source=str(directory))


def _check_labels(labels: np.ndarray, path: Path) -> None:
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise InputError(
            f"Data file {path} has label {labels[bad[0]]} at index {bad[0]}: "
            f"labels must be 0-{NUM_CLASSES - 1}, replace it with an intact copy."
        )


# ---------------------------------------------------------------- CSV


def _is_pixel(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return 0 <= value <= 255


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's layout: label, then 784 pixels, one image a row; a header row is detected
    (never taken as an image, and never an image taken as a header)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"CSV file {path} does not exist: check the path, or {HOW_TO_GET}.")
    with path.open() as handle:
        first = handle.readline().strip()
    if not first:
        raise InputError(f"CSV file {path} is empty: pass a CSV with a label and 784 pixel values per row.")
    # A header names its columns; an image row is (nearly) all pixel values. A first image with one
    # bad value must fail on that value below, not vanish as a "header".
    fields = first.split(",")
    header = sum(_is_pixel(v) for v in fields) < len(fields) / 2
    width = 1 + IMAGE_SIDE * IMAGE_SIDE
    try:
        frame = pd.read_csv(
            path,
            header=None,
            skiprows=1 if header else 0,
            names=range(width),
            dtype=str,
            skip_blank_lines=True,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        line = _parser_error_line(str(exc))
        where = f" at line {line}" if line else ""  # pandas counts the file's lines, skipped ones included
        raise InputError(
            f"CSV file {path} has more than {width} values{where}: each row must be a label then {width - 1} pixels."
        ) from None
    offset = 2 if header else 1  # file line number of frame row 0
    if not isinstance(frame.index, pd.RangeIndex):
        # Every row had more than `width` values, so pandas took the extra leading columns as an index.
        raise InputError(
            f"CSV file {path} line {offset} has more than {width} values: each row must be a label "
            f"then {width - 1} pixels."
        )
    if len(frame) == 0:
        raise InputError(
            f"CSV file {path} has a header row but no images: pass a CSV with a label and 784 pixel values per row."
        )
    missing = frame.isna().any(axis=1).to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise InputError(
            f"CSV file {path} line {row + offset} has an empty value or fewer than {width} values: "
            f"each row must be a label then {width - 1} pixels."
        )
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) | (values != np.round(values)) | (values < 0) | (values > 255)
    bad[:, 0] |= values[:, 0] >= NUM_CLASSES
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        what = "label" if col == 0 else f"pixel {col}"
        allowed = f"an integer 0-{NUM_CLASSES - 1}" if col == 0 else "an integer 0-255"
        raise InputError(
            f"CSV file {path} line {row + offset} has {what} = {frame.iat[row, col]!r}: it must be {allowed}."
        )
    labels = values[:, 0].astype(np.uint8)
    images = values[:, 1:].astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    return images, labels


def _parser_error_line(message: str) -> int | None:
    import re

    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------- download


def download(directory: Path) -> MnistArrays:
    """Fetch with torchvision (it verifies md5s) into ``directory/MNIST/raw`` and read that."""
    from torchvision.datasets import MNIST

    directory = Path(directory).resolve()
    if find_idx_files(directory) is None:
        try:
            for train in (True, False):
                MNIST(str(directory), train=train, download=True)
        except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError depending on the failure
            raise InputError(
                f"Downloading MNIST into {directory} failed ({type(exc).__name__}: {exc}); "
                f"without a network, use the shipped files (omit --download) or --data-dir."
            ) from None
    return load_idx_dir(directory)


# ---------------------------------------------------------------- entry points


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    train_csv: str | os.PathLike | None = None,
    test_csv: str | os.PathLike | None = None,
    download_dir: str | os.PathLike | None = None,
) -> MnistArrays:
    """One source, chosen by which argument is given; the shipped files by default."""
    if (train_csv is None) != (test_csv is None):
        raise InputError("Only one of --train-csv and --test-csv was given: pass both.")
    chosen = [x is not None for x in (data_dir, train_csv, download_dir)]
    if sum(chosen) > 1:
        raise InputError(
            "More than one data source was given: pass only one of --data-dir, --train-csv/--test-csv and --download."
        )
    if train_csv is not None:
        train_images, train_labels = read_csv(Path(train_csv))
        test_images, test_labels = read_csv(Path(test_csv))
        return MnistArrays(train_images, train_labels, test_images, test_labels, source=f"{train_csv}, {test_csv}")
    if download_dir is not None:
        return download(Path(download_dir))
    return load_idx_dir(Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR)
