"""``load_dataset``: read a dataset's files, normalize, and split off validation (and digits' test set)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from proxynas.datasets.base import DatasetSplits, TensorSet
from proxynas.datasets.files import data_error
from proxynas.datasets.registry import DATASETS, DatasetInfo, RawData
from proxynas.datasets.split import stratified_split
from proxynas.paths import data_root

# Datasets without an official test set hold out this fraction, always with this seed.
TEST_FRACTION, TEST_SEED = 0.2, 0


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, *,
                 val_size: int | float | None = None, split_seed: int = 0) -> DatasetSplits:
    """Train / validation / test splits of ``name``, images normalized with the reference mean and std.

    ``root``: the data root (else ``$PROXYNAS_DATA``, else the user data dir). ``val_size``: a count or a
    fraction of the training set (default ``DatasetInfo.default_val_size``), held out stratified per class
    with ``split_seed``. Missing or damaged files raise :class:`DataError`.
    """
    entry = DATASETS.get(name)
    info = entry.info
    path = data_root(root)
    raw = entry.read(path)
    check(raw, info, path)
    images, labels = raw.train_images, np.asarray(raw.train_labels, dtype=np.int64)
    if raw.test_images is None or raw.test_labels is None:
        rest, held = stratified_split(torch.from_numpy(labels), TEST_FRACTION, TEST_SEED)
        test = to_tensor_set(images[held.numpy()], labels[held.numpy()], info, raw.max_value)
        images, labels = images[rest.numpy()], labels[rest.numpy()]
    else:
        test = to_tensor_set(raw.test_images, raw.test_labels, info, raw.max_value)
    size = info.default_val_size if val_size is None else val_size
    kept, held = (i.numpy() for i in stratified_split(torch.from_numpy(labels), size, split_seed))
    return DatasetSplits(
        name=info.name,
        train=to_tensor_set(images[kept], labels[kept], info, raw.max_value),
        val=to_tensor_set(images[held], labels[held], info, raw.max_value),
        test=test,
        classes=raw.classes or info.classes,
        mean=info.mean,
        std=info.std,
        source=raw.source,
        split_key=f"val={size},seed={split_seed}",
    )


def to_tensor_set(images: np.ndarray, labels: np.ndarray, info: DatasetInfo, max_value: float) -> TensorSet:
    """float32 images scaled to [0, 1] then normalized per channel; int64 labels."""
    x = torch.from_numpy(images.astype(np.float32))  # always a fresh, writable copy
    x.div_(max_value)
    x.sub_(torch.tensor(info.mean).view(1, -1, 1, 1)).div_(torch.tensor(info.std).view(1, -1, 1, 1))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64).copy())
    return TensorSet(x, y, info.num_classes)


def check(raw: RawData, info: DatasetInfo, root: Path) -> None:
    """Raise :class:`DataError` if the arrays read do not have the dataset's image shape or labels."""
    where = raw.source or "the data root"
    parts = [("train", raw.train_images, raw.train_labels)]
    if raw.test_images is not None and raw.test_labels is not None:
        parts.append(("test", raw.test_images, raw.test_labels))
    for split, images, labels in parts:
        problem = None
        if images.ndim != 4 or tuple(images.shape[1:]) != info.shape:
            problem = f"{split} images have shape {tuple(images.shape[1:])}, expected {info.shape}"
        elif len(labels) == 0 or len(labels) != len(images):
            problem = f"{split} set has {len(images)} images and {len(labels)} labels"
        elif labels.min() < 0 or labels.max() >= info.num_classes:
            problem = (f"{split} labels span {labels.min()}..{labels.max()}, "
                       f"expected 0..{info.num_classes - 1}")
        if problem:
            raise data_error(info.name, root, f"files in {where}: {problem}", [where])
