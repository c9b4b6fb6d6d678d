"""CIFAR-10 and CIFAR-100 from torchvision's pickles (``cifar-10-batches-py``, ``cifar-100-python``)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from proxynas.datasets.files import data_error, reading
from proxynas.datasets.registry import DatasetInfo, RawData, SampleWriter, register_dataset, sample_arrays

CIFAR10_DIR, CIFAR100_DIR = "cifar-10-batches-py", "cifar-100-python"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl",
    "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair",
    "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin",
    "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp",
    "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
    "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television",
    "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf",
    "woman", "worm",
)  # fmt: skip


# What a CIFAR pickle may name: numpy's array reconstruction, nothing that runs other code.
ALLOWED_GLOBALS = {(module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray", "numpy")
                   for name in ("_reconstruct", "ndarray", "dtype", "scalar")}
ALLOWED_GLOBALS.add(("_codecs", "encode"))  # how protocol-2 pickles written by Python 3 rebuild bytes


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds dicts, lists and numpy arrays and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays")
        return super().find_class(module, name)


def unpickle(path: Path) -> dict[bytes, Any]:
    """One CIFAR pickle in torchvision's layout, keys as bytes. Never runs code from the file."""
    with path.open("rb") as f:
        obj = ArrayUnpickler(f, encoding="bytes").load()
    if not isinstance(obj, dict):
        raise ValueError(f"holds a {type(obj).__name__}, expected a dict")
    return obj


def read_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 3 x 32 x 32 uint8) and labels (int64) of one batch file."""
    batch = unpickle(path)
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key], dtype=np.int64).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"data is {data.dtype} {data.shape}, expected uint8 N x 3072")
    if len(labels) != len(data):
        raise ValueError(f"{len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def class_names(path: Path, key: bytes, fallback: tuple[str, ...]) -> tuple[str, ...]:
    """Class names from a meta pickle when it is there and sane, else ``fallback``."""
    if not path.is_file():
        return fallback
    try:
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in unpickle(path)[key])
    except Exception:  # a damaged meta file only costs the class names
        return fallback
    return names if len(names) == len(fallback) else fallback


def read_cifar(name: str, root: Path, folder: str, train: tuple[str, ...], test: str, label_key: bytes,
               meta: str, names_key: bytes, fallback: tuple[str, ...]) -> RawData:
    directory = root / folder
    expected = [directory / f for f in (*train, test)]
    missing = [p for p in expected if not p.is_file()]
    if missing:
        raise data_error(name, root, f"missing {', '.join(str(p) for p in missing)}", expected)
    parts = []
    for path in expected:
        with reading(name, root, path, expected):
            parts.append(read_batch(path, label_key))
    train_x = np.concatenate([x for x, _ in parts[:-1]])
    train_y = np.concatenate([y for _, y in parts[:-1]])
    test_x, test_y = parts[-1]
    return RawData(train_x, train_y, test_x, test_y, class_names(directory / meta, names_key, fallback),
                   source=directory)


def write_batch(path: Path, images: np.ndarray, labels: np.ndarray, label_key: bytes) -> None:
    """A pickled batch as the CIFAR files hold it: rows of 3072 bytes, labels a Python list."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump({label_key: [int(v) for v in labels], b"data": images.reshape(len(images), -1)}, f, protocol=2)


def cifar_sample(folder: str, train: tuple[str, ...], test: str, label_key: bytes,
                 num_classes: int) -> SampleWriter:
    """A writer of the batches (2 images per class in each) under ``root / folder``, without the meta file."""

    def write(root: Path, rng: np.random.Generator) -> RawData:
        parts = [sample_arrays(rng, 2 * num_classes, (3, 32, 32), num_classes) for _ in (*train, test)]
        for name, (x, y) in zip((*train, test), parts, strict=True):
            write_batch(root / folder / name, x, y, label_key)
        return RawData(np.concatenate([x for x, _ in parts[:-1]]), np.concatenate([y for _, y in parts[:-1]]),
                       *parts[-1])

    return write


@register_dataset(DatasetInfo("cifar10", (3, 32, 32), 10, CIFAR10_CLASSES, (0.4914, 0.4822, 0.4465),
                              (0.2023, 0.1994, 0.2010), flip_ok=True),
                  sample=cifar_sample(CIFAR10_DIR, CIFAR10_TRAIN, "test_batch", b"labels", 10))
def read_cifar10(root: Path) -> RawData:
    return read_cifar("cifar10", root, CIFAR10_DIR, CIFAR10_TRAIN, "test_batch", b"labels", "batches.meta",
                      b"label_names", CIFAR10_CLASSES)


@register_dataset(DatasetInfo("cifar100", (3, 32, 32), 100, CIFAR100_CLASSES, (0.5071, 0.4866, 0.4409),
                              (0.2673, 0.2564, 0.2762), flip_ok=True),
                  sample=cifar_sample(CIFAR100_DIR, ("train",), "test", b"fine_labels", 100))
def read_cifar100(root: Path) -> RawData:
    return read_cifar("cifar100", root, CIFAR100_DIR, ("train",), "test", b"fine_labels", "meta",
                      b"fine_label_names", CIFAR100_CLASSES)
