"""Reading MNIST from every source, rejecting every bad input with one sentence, and the split."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tune_mnist.core.errors import InputError
from tune_mnist.data.sources import DEFAULT_DATA_DIR, FILE_STEMS, IMAGE_MAGIC, LABEL_MAGIC, load_mnist, read_csv
from tune_mnist.data.splits import split_validation, subset

TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # data/mnist/README.md
CSV_HEADER = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))


def assert_one_sentence(error: pytest.ExceptionInfo, *names: object) -> str:
    """The message is one sentence (one line, one final full stop) naming each of ``names``."""
    message = str(error.value)
    assert "\n" not in message and message.endswith("."), message
    assert not re.search(r"[.!?]\s+[A-Z]", message[:-1]), f"more than one sentence: {message}"
    for name in names:
        assert str(name) in message, f"{name} not named in: {message}"
    return message


def write_idx(path: Path, array: np.ndarray, magic: int, compress: bool, dims: tuple[int, ...] | None = None) -> Path:
    """An IDX file as MNIST ships it: magic, dimensions (big-endian uint32), then the uint8 bytes."""
    dims = array.shape if dims is None else dims
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + array.astype(np.uint8).tobytes()
    path = path.with_name(path.name + ".gz") if compress else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def write_idx_dir(directory: Path, mnist, n_train: int = 600, n_test: int = 200, compress: bool = True) -> Path:
    """A small but valid MNIST directory made of the first real images."""
    parts = {
        "train_images": mnist.train_images[:n_train],
        "train_labels": mnist.train_labels[:n_train],
        "test_images": mnist.test_images[:n_test],
        "test_labels": mnist.test_labels[:n_test],
    }
    for key, array in parts.items():
        write_idx(directory / FILE_STEMS[key], array, IMAGE_MAGIC if key.endswith("images") else LABEL_MAGIC, compress)
    return directory


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray, header: str | None = None) -> Path:
    rows = np.column_stack([labels.astype(np.int64), images.reshape(len(images), -1)])
    lines = ([header] if header else []) + [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_lines(images: np.ndarray, labels: np.ndarray) -> list[list[str]]:
    return [[str(int(l))] + [str(int(v)) for v in im.ravel()] for im, l in zip(images, labels)]


def write_lines(path: Path, rows: list[list[str]], header: str | None = None) -> Path:
    path.write_text("\n".join(([header] if header else []) + [",".join(r) for r in rows]) + "\n")
    return path


def assert_same_arrays(a, b, n_train: int | None = None, n_test: int | None = None) -> None:
    np.testing.assert_array_equal(a.train_images, b.train_images[:n_train])
    np.testing.assert_array_equal(a.train_labels, b.train_labels[:n_train])
    np.testing.assert_array_equal(a.test_images, b.test_images[:n_test])
    np.testing.assert_array_equal(a.test_labels, b.test_labels[:n_test])


# ---------------------------------------------------------------- sources


def test_shipped_files_are_the_canonical_mnist(mnist):
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_images.dtype == np.uint8 and mnist.train_labels.dtype == np.uint8
    assert np.bincount(mnist.train_labels, minlength=10).tolist() == TRAIN_LABEL_COUNTS
    assert len(mnist.test_labels) == 10000 and mnist.test_labels.max() == 9
    assert mnist.train_images.max() == 255 and mnist.train_images.min() == 0
    assert Path(mnist.source) == DEFAULT_DATA_DIR
    # The README's md5s of the uncompressed bytes: the shipped files are the canonical release.
    raw = gzip.decompress((DEFAULT_DATA_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == "27ae3e4e09519cfbb04c329615203637"


def test_directory_of_gzipped_idx_files_with_checksums(tmp_path, mnist):
    for path in DEFAULT_DATA_DIR.iterdir():
        shutil.copy(path, tmp_path)
    assert_same_arrays(load_mnist(data_dir=tmp_path), mnist)


@pytest.mark.parametrize("compress", [False, True], ids=["uncompressed", "gzipped"])
def test_directory_of_small_idx_files(tmp_path, mnist, compress):
    loaded = load_mnist(data_dir=write_idx_dir(tmp_path, mnist, compress=compress))
    assert_same_arrays(loaded, mnist, 600, 200)
    assert loaded.source == str(tmp_path)


def test_torchvision_raw_layout_reads_the_same_as_torchvision(tmp_path, mnist):
    from torchvision.datasets import MNIST

    raw = tmp_path / "MNIST" / "raw"
    for stem in FILE_STEMS.values():
        (raw / stem).parent.mkdir(parents=True, exist_ok=True)
        (raw / stem).write_bytes(gzip.decompress((DEFAULT_DATA_DIR / (stem + ".gz")).read_bytes()))
    ours = load_mnist(data_dir=tmp_path)
    assert_same_arrays(ours, mnist)
    theirs = MNIST(str(tmp_path), train=False)  # torchvision's own parser over the same files
    np.testing.assert_array_equal(theirs.data.numpy(), ours.test_images)
    np.testing.assert_array_equal(theirs.targets.numpy(), ours.test_labels)


def test_download_uses_files_already_in_place_without_network(tmp_path, mnist):
    from torchvision.datasets import MNIST

    write_idx_dir(tmp_path / "MNIST" / "raw", mnist, compress=False)
    loaded = load_mnist(download_dir=tmp_path)
    assert_same_arrays(loaded, mnist, 600, 200)
    # torchvision's MNIST(download=True) finds the same files in place and fetches nothing.
    fetched = MNIST(str(tmp_path), train=True, download=True)
    np.testing.assert_array_equal(fetched.data.numpy(), loaded.train_images)


def test_download_failure_is_one_sentence(tmp_path):
    # A regular file where the directory should be: torchvision fails before any network access.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    with pytest.raises(InputError) as error:
        load_mnist(download_dir=blocker)
    message = assert_one_sentence(error, blocker.resolve())
    assert "Downloading MNIST" in message and "--data-dir" in message


@pytest.mark.parametrize(
    "header",
    [
        None,
        CSV_HEADER,
        "label," + ",".join(f"pixel{i}" for i in range(784)),
        "label," + ",".join(str(i) for i in range(784)),
    ],
    ids=["no-header", "notebook-header", "kaggle-header", "numbered-header"],
)
def test_csv_layout_with_and_without_header(tmp_path, mnist, header):
    train = write_csv(tmp_path / "train.csv", mnist.train_images[:300], mnist.train_labels[:300], header)
    test = write_csv(tmp_path / "test.csv", mnist.test_images[:100], mnist.test_labels[:100], header)
    loaded = load_mnist(train_csv=train, test_csv=test)
    assert_same_arrays(loaded, mnist, 300, 100)  # no image lost to header detection


def test_csv_first_image_with_a_bad_value_is_not_taken_for_a_header(tmp_path, mnist):
    rows = csv_lines(mnist.train_images[:5], mnist.train_labels[:5])
    rows[0][300] = "x"
    path = write_lines(tmp_path / "train.csv", rows)
    with pytest.raises(InputError) as error:
        read_csv(path)
    assert_one_sentence(error, path, "line 1", "pixel 300")


# ---------------------------------------------------------------- bad IDX input


def small_dir(tmp_path: Path, mnist, compress: bool = False) -> Path:
    return write_idx_dir(tmp_path / "mnist", mnist, n_train=300, n_test=100, compress=compress)


def test_wrong_magic_number(tmp_path, mnist):
    directory = small_dir(tmp_path, mnist)
    path = write_idx(directory / FILE_STEMS["train_images"], mnist.train_images[:300], LABEL_MAGIC, False)
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=directory)
    assert_one_sentence(error, path, "magic number 2049", "2051")


def test_truncated_file(tmp_path, mnist):
    directory = small_dir(tmp_path, mnist, compress=True)
    path = directory / (FILE_STEMS["test_images"] + ".gz")
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))  # a valid gzip of a short IDX file
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=directory)
    assert "truncated" in assert_one_sentence(error, path)


def test_too_short_to_be_idx(tmp_path, mnist):
    directory = small_dir(tmp_path, mnist)
    path = directory / FILE_STEMS["train_labels"]
    path.write_bytes(b"\x00\x00\x08")
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=directory)
    assert_one_sentence(error, path)


def test_corrupt_gzip(tmp_path, mnist):
    directory = small_dir(tmp_path, mnist, compress=True)
    path = directory / (FILE_STEMS["train_images"] + ".gz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=directory)
    assert "gzip" in assert_one_sentence(error, path)


@pytest.mark.parametrize("sums_format", ["text", "binary"])
def test_checksum_mismatch_even_for_a_readable_file(tmp_path, sums_format):
    for source in DEFAULT_DATA_DIR.iterdir():
        shutil.copy(source, tmp_path)
    if sums_format == "binary":  # as `sha256sum -b` writes it, with a stray line besides
        sums = tmp_path / "SHA256SUMS"
        sums.write_text("# checksums\n" + sums.read_text().replace("  ", " *"))
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    # Same labels, re-compressed: readable, but not the bytes SHA256SUMS vouches for.
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=1))
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=tmp_path)
    assert "checksum" in assert_one_sentence(error, path, tmp_path / "SHA256SUMS")


def test_label_out_of_range(tmp_path, mnist):
    directory = small_dir(tmp_path, mnist)
    labels = mnist.test_labels[:100].copy()
    labels[42] = 10
    path = write_idx(directory / FILE_STEMS["test_labels"], labels, LABEL_MAGIC, False)
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=directory)
    assert_one_sentence(error, path, "label 10", "index 42")


def test_images_not_28x28(tmp_path, mnist):
    directory = small_dir(tmp_path, mnist)
    images = mnist.train_images[:300]
    path = write_idx(directory / FILE_STEMS["train_images"], images, IMAGE_MAGIC, False, dims=(300, 16, 49))
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=directory)
    assert_one_sentence(error, path, "16x49", "28x28")


def test_images_and_labels_disagree_in_count(tmp_path, mnist):
    directory = small_dir(tmp_path, mnist)
    write_idx(directory / FILE_STEMS["test_labels"], mnist.test_labels[:99], LABEL_MAGIC, False)
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=directory)
    assert_one_sentence(
        error, directory / FILE_STEMS["test_images"], directory / FILE_STEMS["test_labels"], "100 images but 99 labels"
    )


def test_missing_directory_says_how_to_get_mnist(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=missing)
    message = assert_one_sentence(error, missing, "does not exist")
    assert "--data-dir" in message and "--download" in message and "--train-csv" in message


def test_directory_without_the_files_says_how_to_get_mnist(tmp_path, mnist):
    directory = small_dir(tmp_path, mnist)
    (directory / FILE_STEMS["train_labels"]).unlink()
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=directory)
    assert "--download" in assert_one_sentence(error, directory, FILE_STEMS["train_labels"])


# ---------------------------------------------------------------- bad CSV input


@pytest.fixture
def rows(mnist) -> list[list[str]]:
    return csv_lines(mnist.train_images[:8], mnist.train_labels[:8])


@pytest.mark.parametrize("header", [None, CSV_HEADER], ids=["no-header", "header"])
@pytest.mark.parametrize(
    "case, row, what",
    [
        ("extra value", 4, "more than 785 values"),
        ("missing value", 4, "fewer than 785 values"),
        ("non-numeric pixel", 6, "pixel 100 = 'abc'"),
        ("pixel 256", 3, "pixel 5 = '256'"),
        ("negative pixel", 3, "pixel 5 = '-1'"),
        ("fractional pixel", 2, "pixel 7 = '0.5'"),
        ("label 10", 7, "label = '10'"),
        ("empty value", 5, "empty value"),
    ],
)
def test_malformed_csv_names_the_line(tmp_path, rows, header, case, row, what):
    edit = {
        "extra value": lambda r: r.append("0"),
        "missing value": lambda r: r.pop(),
        "non-numeric pixel": lambda r: r.__setitem__(100, "abc"),
        "pixel 256": lambda r: r.__setitem__(5, "256"),
        "negative pixel": lambda r: r.__setitem__(5, "-1"),
        "fractional pixel": lambda r: r.__setitem__(7, "0.5"),
        "label 10": lambda r: r.__setitem__(0, "10"),
        "empty value": lambda r: r.__setitem__(9, ""),
    }[case]
    edit(rows[row])
    path = write_lines(tmp_path / "train.csv", rows, header)
    line = row + 1 + (1 if header else 0)
    with pytest.raises(InputError) as error:
        read_csv(path)
    message = assert_one_sentence(error, path, what)
    assert re.search(rf"\bline {line}\b", message), message


def test_csv_where_every_row_has_an_extra_value(tmp_path, rows):
    path = write_lines(tmp_path / "train.csv", [r + ["0"] for r in rows])
    with pytest.raises(InputError) as error:
        read_csv(path)
    assert_one_sentence(error, path, "more than 785 values")


def test_empty_and_header_only_csv(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError) as error:
        read_csv(empty)
    assert_one_sentence(error, empty, "empty")
    header_only = tmp_path / "header.csv"
    header_only.write_text(CSV_HEADER + "\n")
    with pytest.raises(InputError) as error:
        read_csv(header_only)
    assert_one_sentence(error, header_only, "no images")


def test_only_one_csv_given(tmp_path, mnist):
    train = write_csv(tmp_path / "train.csv", mnist.train_images[:3], mnist.train_labels[:3])
    for kwargs in ({"train_csv": train}, {"test_csv": train}):
        with pytest.raises(InputError) as error:
            load_mnist(**kwargs)
        assert_one_sentence(error, "--train-csv", "--test-csv")


def test_missing_csv_file(tmp_path, mnist):
    train = write_csv(tmp_path / "train.csv", mnist.train_images[:3], mnist.train_labels[:3])
    missing = tmp_path / "mnist_test.csv"
    with pytest.raises(InputError) as error:
        load_mnist(train_csv=train, test_csv=missing)
    assert_one_sentence(error, missing, "does not exist")


def test_more_than_one_source(tmp_path, mnist):
    train = write_csv(tmp_path / "train.csv", mnist.train_images[:3], mnist.train_labels[:3])
    with pytest.raises(InputError) as error:
        load_mnist(data_dir=tmp_path, train_csv=train, test_csv=train)
    assert_one_sentence(error, "--data-dir")


# ---------------------------------------------------------------- validation split and subsets


def as_rows(images: np.ndarray) -> np.ndarray:
    """Each image as one sortable value, to compare sets of images."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    return np.sort(flat.view(np.dtype((np.void, flat.shape[1]))).ravel())


def test_default_split_holds_out_5000_and_loses_nothing(mnist):
    splits = split_validation(mnist)
    assert len(splits.train_labels) == 55000 and len(splits.val_labels) == 5000
    assert len(splits.train_images) == 55000 and len(splits.val_images) == 5000
    both_images = np.concatenate([splits.train_images, splits.val_images])
    np.testing.assert_array_equal(as_rows(both_images), as_rows(mnist.train_images))
    both_labels = np.concatenate([splits.train_labels, splits.val_labels])
    assert np.bincount(both_labels).tolist() == TRAIN_LABEL_COUNTS
    assert splits.test_images is mnist.test_images
    # A random hold-out has every class in it, at about its share.
    shares = np.bincount(splits.val_labels, minlength=10) / 5000
    np.testing.assert_allclose(shares, np.array(TRAIN_LABEL_COUNTS) / 60000, atol=0.02)


def test_split_seeding(mnist):
    a, b = split_validation(mnist, 1000, seed=3), split_validation(mnist, 1000, seed=3)
    np.testing.assert_array_equal(a.val_images, b.val_images)
    np.testing.assert_array_equal(a.train_labels, b.train_labels)
    c = split_validation(mnist, 1000, seed=4)
    assert not np.array_equal(a.val_images, c.val_images)
    assert len(c.val_labels) == 1000 and len(c.train_labels) == 59000


def test_validation_size_zero_is_the_whole_training_set(mnist):
    splits = split_validation(mnist, 0)
    assert len(splits.val_labels) == 0 and splits.val_images.shape == (0, 28, 28)
    np.testing.assert_array_equal(splits.train_images, mnist.train_images)
    np.testing.assert_array_equal(splits.train_labels, mnist.train_labels)


@pytest.mark.parametrize("size", [-1, 60000, 10**6, 2.5, True, "100"])
def test_bad_validation_size(mnist, size):
    with pytest.raises(InputError) as error:
        split_validation(mnist, size)
    assert_one_sentence(error, "Validation size", "59999")


def test_subset_is_seeded_and_capped(mnist):
    splits = split_validation(mnist, 1000)
    small = subset(splits, 2000, seed=1)
    assert (len(small.train_labels), len(small.val_labels), len(small.test_labels)) == (2000, 1000, 2000)
    np.testing.assert_array_equal(small.train_images, subset(splits, 2000, seed=1).train_images)
    assert not np.array_equal(small.train_images, subset(splits, 2000, seed=2).train_images)
    assert subset(splits, None) is splits
    with pytest.raises(InputError) as error:
        subset(splits, 0)
    assert_one_sentence(error, "Subset size")
