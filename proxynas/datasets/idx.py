"""MNIST and FashionMNIST from IDX files (``*-idx3-ubyte`` images, ``*-idx1-ubyte`` labels, maybe ``.gz``)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from proxynas.datasets.files import data_error, find_dir, find_file, read_bytes, reading
from proxynas.datasets.registry import (
    DIGIT_CLASSES,
    DatasetInfo,
    RawData,
    SampleWriter,
    register_dataset,
    sample_arrays,
)

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def parse_idx(data: bytes, magic: int) -> np.ndarray:
    """An IDX payload as a uint8 array: (n, rows, cols) for images (magic 2051), (n,) for labels (2049)."""
    ndim = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{len(data)} bytes, shorter than the {header}-byte IDX header")
    found, *dims = struct.unpack(f">{1 + ndim}I", data[:header])
    if found != magic:
        raise ValueError(f"magic number {found}, expected {magic}")
    size = int(np.prod(dims))
    if len(data) - header != size:
        raise ValueError(f"{len(data) - header} bytes of data for dimensions {dims} ({size} bytes)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, magic: int) -> np.ndarray:
    return parse_idx(read_bytes(path), magic)


def read_idx_dir(name: str, root: Path, dirs: list[Path]) -> RawData:
    """Read the four IDX files from the first of ``dirs`` that holds them all."""
    directory = find_dir(dirs, FILES)
    if directory is None:
        expected = [d / f"{f}[.gz]" for d in dirs for f in FILES]
        raise data_error(name, root, "IDX files not found", expected)
    expected = [directory / f"{f}[.gz]" for f in FILES]
    arrays = []
    for f, magic in zip(FILES, (IMAGES_MAGIC, LABELS_MAGIC) * 2, strict=True):
        path = find_file(directory, f)
        assert path is not None
        with reading(name, root, path, expected):
            arrays.append(read_idx(path, magic))
    train_x, train_y, test_x, test_y = arrays
    for split, x, y in (("train", train_x, train_y), ("t10k", test_x, test_y)):
        if len(x) != len(y):
            raise data_error(name, root, f"{split} files hold {len(x)} images but {len(y)} labels", expected)
    return RawData(train_x[:, None], train_y, test_x[:, None], test_y, source=directory)


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    """``array`` (uint8) as a gzipped IDX file at ``path`` + ``.gz``."""
    data = struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))


def idx_sample(folder: str) -> SampleWriter:
    """A writer of the four IDX files (5 train and 2 test images per class) in ``root / folder``."""

    def write(root: Path, rng: np.random.Generator) -> RawData:
        (train_x, train_y), (test_x, test_y) = (sample_arrays(rng, n, (1, 28, 28), 10) for n in (50, 20))
        for name, array, magic in zip(FILES, (train_x[:, 0], train_y, test_x[:, 0], test_y),
                                      (IMAGES_MAGIC, LABELS_MAGIC) * 2, strict=True):
            write_idx(root / folder / name, array, magic)
        return RawData(train_x, train_y, test_x, test_y)

    return write


@register_dataset(DatasetInfo("mnist", (1, 28, 28), 10, DIGIT_CLASSES, (0.1307,), (0.3081,), flip_ok=False),
                  sample=idx_sample("MNIST/raw"))
def read_mnist(root: Path) -> RawData:
    return read_idx_dir("mnist", root, [root / "MNIST" / "raw", root])


@register_dataset(DatasetInfo("fashion_mnist", (1, 28, 28), 10, FASHION_CLASSES, (0.2861,), (0.3530,),
                              flip_ok=True), sample=idx_sample("FashionMNIST/raw"))
def read_fashion_mnist(root: Path) -> RawData:
    """Under the root first; else Debian's ``dataset-fashion-mnist`` package.

    Loose IDX files right in the root are MNIST's: both datasets use the same file names, so only one
    of them may claim the bare root.
    """
    dirs = [root / "FashionMNIST" / "raw", root / "fashion-mnist", DEBIAN_FASHION_MNIST]
    return read_idx_dir("fashion_mnist", root, dirs)
