"""``download``: fetch a dataset's files into the data root with torchvision (optional, needs internet)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from proxynas.datasets.digits import DIGITS_FILE
from proxynas.datasets.registry import dataset_info
from proxynas.errors import DataError, ProxynasError
from proxynas.paths import writable_data_root

# torchvision dataset class per proxynas name, and the folder its files land in (relative to the root).
TORCHVISION = {
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "cifar-100-python"),
    "svhn": ("SVHN", "."),
}


def import_torchvision(name: str) -> ModuleType:
    """``torchvision.datasets``, or a :class:`ProxynasError` saying how to install it."""
    try:
        import torchvision.datasets
    except ModuleNotFoundError:
        problem = "torchvision is not installed"
    except Exception as err:  # a wheel built for another torch raises RuntimeError/OSError here
        problem = f"torchvision fails to import ({type(err).__name__}: {' '.join(str(err).split())[:200]})"
    else:
        return torchvision.datasets
    raise ProxynasError(f"downloading {name} needs torchvision: {problem}",
                        "`pip install proxynas[vision]` with a torchvision matching your torch, "
                        "or copy torchvision's files into the data root")


def download(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Download ``name`` (train and test) into the data root in torchvision's layout; returns its folder.

    digits ships with proxynas: nothing to download, returns the embedded file.
    """
    dataset_info(name)  # unknown names: UnknownNameError with the closest match
    if name == "digits":
        return DIGITS_FILE
    path = writable_data_root(root)  # an unwritable root fails before anything is fetched
    datasets = import_torchvision(name)
    cls_name, folder = TORCHVISION[name]
    cls = getattr(datasets, cls_name)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if name == "svhn":
            for split in ("train", "test"):
                cls(str(path), split=split, download=True)
        else:
            for train in (True, False):
                cls(str(path), train=train, download=True)
    except Exception as err:
        raise DataError(f"downloading {name} into {path} failed ({type(err).__name__}: {err})",
                        "check the internet connection, or copy torchvision's files there") from err
    return (path / folder).resolve()
