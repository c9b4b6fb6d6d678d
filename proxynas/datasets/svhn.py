"""SVHN (cropped digits) from ``train_32x32.mat`` / ``test_32x32.mat``, as torchvision downloads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from proxynas.datasets.files import data_error, reading
from proxynas.datasets.registry import DIGIT_CLASSES, DatasetInfo, RawData, register_dataset, sample_arrays

FILES = ("train_32x32.mat", "test_32x32.mat")


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 3 x 32 x 32 uint8) and labels (int64, digit 0 stored as 10 becomes 0) of one file."""
    mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise ValueError(f"X is {x.dtype} {x.shape}, expected uint8 32 x 32 x 3 x N")
    if x.shape[3] != len(y):
        raise ValueError(f"{x.shape[3]} images but {len(y)} labels")
    y[y == 10] = 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y


def write_svhn_sample(root: Path, rng: np.random.Generator) -> RawData:
    """The two .mat files (5 train and 2 test images per class) in ``root / "svhn"``; digit 0 stored as 10."""
    (root / "svhn").mkdir(parents=True, exist_ok=True)
    parts = [sample_arrays(rng, n, (3, 32, 32), 10) for n in (50, 20)]
    for name, (x, y) in zip(FILES, parts, strict=True):
        stored = np.where(y == 0, 10, y).reshape(-1, 1).astype(np.uint8)
        scipy.io.savemat(root / "svhn" / name, {"X": x.transpose(2, 3, 1, 0), "y": stored})
    return RawData(*parts[0], *parts[1])


@register_dataset(DatasetInfo("svhn", (3, 32, 32), 10, DIGIT_CLASSES, (0.4377, 0.4438, 0.4728),
                              (0.1980, 0.2010, 0.1970), flip_ok=False), sample=write_svhn_sample)
def read_svhn(root: Path) -> RawData:
    dirs = [root, root / "svhn"]
    directory = next((d for d in dirs if all((d / f).is_file() for f in FILES)), None)
    if directory is None:
        raise data_error("svhn", root, ".mat files not found", [d / f for d in dirs for f in FILES])
    expected = [directory / f for f in FILES]
    parts = []
    for path in expected:
        with reading("svhn", root, path, expected):
            parts.append(read_mat(path))
    (train_x, train_y), (test_x, test_y) = parts
    return RawData(train_x, train_y, test_x, test_y, source=directory)
