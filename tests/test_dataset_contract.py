"""The contract every registered dataset keeps: it reads its own on-disk format from files the test writes.

Each dataset declares a writer of a small sample in its layout (``register_dataset(..., sample=...)``);
the test writes it under a temporary root, reads it back with the dataset's reader (every image and label
as written) and loads it as proxynas does (normalized tensors of the declared shape, a stratified
validation split). A dataset without files (digits, embedded) is loaded as it is. A new dataset, in the
package or behind a ``proxynas.datasets`` entry point, is tested here with no edit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proxynas.datasets import list_datasets, load_dataset
from proxynas.datasets.registry import DATASETS

NAMES = list_datasets()


def test_the_built_in_datasets_are_registered():
    assert {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "svhn"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_dataset_reads_the_files_its_sample_writer_wrote(name, tmp_path):
    entry = DATASETS.get(name)
    info = entry.info
    if entry.sample is None:
        raw = entry.read(tmp_path)  # no files of its own
    else:
        written = entry.sample(tmp_path, np.random.default_rng(0))
        raw = entry.read(tmp_path)
        np.testing.assert_array_equal(raw.train_images, written.train_images)
        np.testing.assert_array_equal(raw.train_labels, written.train_labels)
        if written.test_images is not None:
            np.testing.assert_array_equal(raw.test_images, written.test_images)
            np.testing.assert_array_equal(raw.test_labels, written.test_labels)
    assert raw.train_images.shape[1:] == info.shape and len(raw.train_images) == len(raw.train_labels)
    assert set(np.unique(raw.train_labels).tolist()) == set(range(info.num_classes))
    splits = load_dataset(name, tmp_path, val_size=info.num_classes)  # one validation image per class
    for part in (splits.train, splits.val, splits.test):
        assert part.shape == info.shape and part.num_classes == info.num_classes
        assert part.images.dtype == torch.float32 and torch.isfinite(part.images).all()
    carved = 0 if raw.test_images is not None else len(splits.test)  # no test set: one is held out of train
    assert len(splits.val) == info.num_classes
    assert len(splits.train) + len(splits.val) + carved == len(raw.train_images)
