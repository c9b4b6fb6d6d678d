"""The dataset layer: real image datasets in torchvision's on-disk layout, as normalized tensors.

>>> splits = load_dataset("digits")            # train / val (held out of train) / test
>>> dataset_info("cifar10").mean               # static facts, no file I/O

A dataset is a reader of its files with ``@register_dataset(DatasetInfo(...))`` in a module of this package
(imported by the registry on its first lookup) or behind a ``proxynas.datasets`` entry point.
"""

from proxynas.datasets.base import DatasetSplits, TensorSet
from proxynas.datasets.download import download
from proxynas.datasets.load import load_dataset
from proxynas.datasets.registry import DatasetInfo, dataset_info, list_datasets
from proxynas.datasets.split import stratified_split

__all__ = [
    "DatasetInfo",
    "DatasetSplits",
    "TensorSet",
    "dataset_info",
    "download",
    "list_datasets",
    "load_dataset",
    "stratified_split",
]
