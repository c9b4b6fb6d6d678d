"""The dataset layer on small files written in the real on-disk formats (IDX, CIFAR pickles, SVHN .mat)."""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from proxynas.datasets import (
    DatasetInfo,
    DatasetSplits,
    dataset_info,
    download,
    list_datasets,
    load_dataset,
    stratified_split,
)
from proxynas.datasets.idx import DEBIAN_FASHION_MNIST
from proxynas.datasets.split import per_class_counts
from proxynas.errors import DataError, ProxynasError, UnknownNameError

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ---------------------------------------------------------------- writers for the real formats


def uneven_labels(num_classes: int, base: int) -> np.ndarray:
    """Class c appears base + c times, interleaved: uneven classes test proportional stratification."""
    labels = np.concatenate([np.full(base + c, c) for c in range(num_classes)])
    return np.random.default_rng(0).permutation(labels).astype(np.uint8)


def images_with_ids(n: int, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 images whose first value is the image's index (n <= 256) and the rest a known pattern."""
    assert n <= 256
    flat = (np.arange(int(np.prod(shape)))[None, :] * 3 + np.arange(n)[:, None] * 7) % 256
    images = flat.reshape(n, *shape).astype(np.uint8)
    images.reshape(n, -1)[:, 0] = np.arange(n)
    return images


def write_idx(path: Path, array: np.ndarray, magic: int, gz: bool) -> Path:
    data = struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_mnist(directory: Path, gz: bool = True, n_train: int = 0) -> dict[str, np.ndarray]:
    """Four IDX files: train has uneven classes (sum 10*4 + 45 = 85 unless n_train), test 20 images."""
    train_y = uneven_labels(10, 4) if not n_train else np.arange(n_train, dtype=np.uint8) % 10
    test_y = np.arange(20, dtype=np.uint8) % 10
    arrays = {"train_x": images_with_ids(len(train_y), (28, 28)), "train_y": train_y,
              "test_x": images_with_ids(20, (28, 28))[::-1].copy(), "test_y": test_y}
    for name, key, magic in zip(IDX_FILES, ("train_x", "train_y", "test_x", "test_y"), (2051, 2049) * 2,
                                strict=True):
        write_idx(directory / name, arrays[key], magic, gz)
    return arrays


def write_cifar10(root: Path, per_batch: int = 20) -> dict[str, np.ndarray]:
    directory = root / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    rng = np.random.default_rng(1)
    all_x, all_y = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in np.arange(per_batch) % 10]  # a python list, as in the real files
        with (directory / f"data_batch_{i}").open("wb") as f:
            pickle.dump({b"batch_label": b"x", b"labels": y, b"data": x, b"filenames": []}, f, protocol=2)
        all_x.append(x)
        all_y.extend(y)
    test_x = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
    with (directory / "test_batch").open("wb") as f:
        pickle.dump({b"labels": list(range(10)), b"data": test_x}, f, protocol=2)
    names = [b"plane", b"car", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with (directory / "batches.meta").open("wb") as f:
        pickle.dump({b"label_names": names, b"num_vis": 3072}, f, protocol=2)
    return {"train_x": np.concatenate(all_x), "train_y": np.array(all_y), "test_x": test_x}


def write_cifar100(root: Path, meta: bool = True) -> dict[str, np.ndarray]:
    directory = root / "cifar-100-python"
    directory.mkdir(parents=True)
    rng = np.random.default_rng(2)
    train_x = rng.integers(0, 256, (200, 3072), dtype=np.uint8)
    train_y = [i % 100 for i in range(200)]
    with (directory / "train").open("wb") as f:
        pickle.dump({b"fine_labels": train_y, b"coarse_labels": [0] * 200, b"data": train_x}, f)
    with (directory / "test").open("wb") as f:
        pickle.dump({b"fine_labels": list(range(100)), b"data": train_x[:100]}, f)
    if meta:
        with (directory / "meta").open("wb") as f:
            pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, f)
    return {"train_x": train_x, "train_y": np.array(train_y)}


def write_svhn(directory: Path) -> dict[str, np.ndarray]:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    out = {}
    for split, n in (("train", 50), ("test", 20)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # labels 1..10, 10 meaning digit 0
        scipy.io.savemat(directory / f"{split}_32x32.mat", {"X": x, "y": y})
        out[f"{split}_x"], out[f"{split}_y"] = x, y
    return out


# ---------------------------------------------------------------- helpers


def raw_values(images: torch.Tensor, name: str, max_value: float = 255.0) -> np.ndarray:
    """Undo the normalization: the stored pixel values, as ints."""
    info = dataset_info(name)
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    return torch.round((images * std + mean) * max_value).to(torch.int64).numpy()


def ids(images: torch.Tensor, name: str) -> list[int]:
    """The index written into the first pixel of each image by :func:`images_with_ids`."""
    return raw_values(images, name)[:, 0, 0, 0].tolist()


def check_split(splits: DatasetSplits, name: str, n_train_file: int) -> None:
    """Train and val are disjoint, together the whole training file; dtypes and shapes are right."""
    info = dataset_info(name)
    for part in (splits.train, splits.val, splits.test):
        assert part.images.dtype == torch.float32 and part.labels.dtype == torch.int64
        assert part.shape == info.shape and part.num_classes == info.num_classes
    train_ids, val_ids = ids(splits.train.images, name), ids(splits.val.images, name)
    assert not set(train_ids) & set(val_ids)
    assert sorted(train_ids + val_ids) == list(range(n_train_file))


# ---------------------------------------------------------------- static facts


def test_list_and_info() -> None:
    assert list_datasets() == ["cifar10", "cifar100", "digits", "fashion_mnist", "mnist", "svhn"]
    flips = {name: dataset_info(name).flip_ok for name in list_datasets()}
    assert flips == {"cifar10": True, "cifar100": True, "digits": False, "fashion_mnist": True,
                     "mnist": False, "svhn": False}
    info = dataset_info("cifar10")
    assert isinstance(info, DatasetInfo)
    assert info.shape == (3, 32, 32) and info.num_classes == 10 and info.classes[0] == "airplane"
    assert info.mean == (0.4914, 0.4822, 0.4465) and info.std == (0.2023, 0.1994, 0.2010)
    assert dataset_info("fashion_mnist").classes[0] == "T-shirt/top"
    assert dataset_info("mnist").mean == (0.1307,) and dataset_info("svhn").std == (0.1980, 0.2010, 0.1970)
    c100 = dataset_info("cifar100").classes
    assert len(c100) == 100 and list(c100) == sorted(c100) and c100[:2] == ("apple", "aquarium_fish")
    assert dataset_info("digits").shape == (1, 8, 8)
    with pytest.raises(AttributeError):
        info.name = "x"  # type: ignore[misc]


def test_unknown_name_lists_valid_names_and_closest() -> None:
    with pytest.raises(UnknownNameError) as err:
        load_dataset("fashion-mnist")
    msg = str(err.value)
    assert "did you mean 'fashion_mnist'" in msg
    assert all(name in msg for name in list_datasets())
    with pytest.raises(UnknownNameError, match="cifar10"):
        dataset_info("cifar-10")


# ---------------------------------------------------------------- MNIST / FashionMNIST (IDX)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["MNIST/raw", "."])
def test_mnist_idx(tmp_path: Path, gz: bool, layout: str) -> None:
    arrays = write_mnist(tmp_path / layout, gz=gz)
    splits = load_dataset("mnist", tmp_path)
    n = len(arrays["train_y"])  # 85
    assert (len(splits.train), len(splits.val), len(splits.test)) == (n - 9, 9, 20)  # 8.5 rounds up
    check_split(splits, "mnist", n)
    # a known pixel comes back as (v / 255 - mean) / std
    v = int(arrays["test_x"][3, 10, 12])
    assert splits.test.images[3, 0, 10, 12].item() == pytest.approx((v / 255 - 0.1307) / 0.3081, abs=1e-5)
    assert np.array_equal(raw_values(splits.test.images, "mnist")[:, 0], arrays["test_x"])
    assert splits.test.labels.tolist() == arrays["test_y"].tolist()
    # labels travel with their images
    for part in (splits.train, splits.val):
        assert part.labels.tolist() == [int(arrays["train_y"][i]) for i in ids(part.images, "mnist")]
    assert splits.classes == tuple(str(d) for d in range(10)) and splits.mean == (0.1307,)


def test_fashion_mnist_under_root_beats_debian(tmp_path: Path) -> None:
    write_mnist(tmp_path / "fashion-mnist", gz=False, n_train=30)
    splits = load_dataset("fashion_mnist", tmp_path, val_size=10)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 10, 20)
    assert splits.classes[0] == "T-shirt/top"
    check_split(splits, "fashion_mnist", 30)


def test_real_debian_fashion_mnist(tmp_path: Path) -> None:
    if not all((DEBIAN_FASHION_MNIST / f"{f}.gz").is_file() for f in IDX_FILES):
        pytest.fail(f"FashionMNIST is not in {DEBIAN_FASHION_MNIST}: `apt-get install dataset-fashion-mnist`")
    splits = load_dataset("fashion_mnist", tmp_path)  # nothing under the root: Debian's copy
    assert (len(splits.train), len(splits.val), len(splits.test)) == (54000, 6000, 10000)
    assert splits.train.images.shape == (54000, 1, 28, 28)
    assert torch.bincount(splits.val.labels).tolist() == [600] * 10  # stratified
    assert torch.bincount(splits.test.labels).tolist() == [1000] * 10
    assert abs(splits.train.images.mean().item()) < 0.01 and abs(splits.train.images.std().item() - 1) < 0.01


# ---------------------------------------------------------------- CIFAR


def test_cifar10(tmp_path: Path) -> None:
    arrays = write_cifar10(tmp_path)
    splits = load_dataset("cifar10", tmp_path, val_size=0.2)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (80, 20, 10)
    assert splits.train.images.shape[1:] == (3, 32, 32) and splits.train.images.dtype == torch.float32
    assert splits.classes[:2] == ("plane", "car")  # from batches.meta
    # row-major CHW: value at data[i, c * 1024 + h * 32 + w]
    v = int(arrays["test_x"][4, 1 * 1024 + 5 * 32 + 7])
    expected = (v / 255 - 0.4822) / 0.1994
    assert splits.test.images[4, 1, 5, 7].item() == pytest.approx(expected, abs=1e-5)
    assert np.array_equal(raw_values(splits.test.images, "cifar10").reshape(10, -1), arrays["test_x"])
    parts = (splits.train, splits.val)
    got = np.concatenate([raw_values(s.images, "cifar10").reshape(len(s), -1) for s in parts])
    assert sorted(map(bytes, got.astype(np.uint8))) == sorted(map(bytes, arrays["train_x"]))
    assert torch.bincount(splits.val.labels).tolist() == [2] * 10


def test_cifar100_names_from_meta_else_standard(tmp_path: Path) -> None:
    write_cifar100(tmp_path / "a")
    splits = load_dataset("cifar100", tmp_path / "a", val_size=100)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (100, 100, 100)
    assert splits.classes[:2] == ("c0", "c1") and splits.num_classes == 100
    assert torch.bincount(splits.val.labels, minlength=100).tolist() == [1] * 100
    write_cifar100(tmp_path / "b", meta=False)
    assert load_dataset("cifar100", tmp_path / "b").classes == dataset_info("cifar100").classes


# ---------------------------------------------------------------- SVHN


@pytest.mark.parametrize("sub", [".", "svhn"])
def test_svhn(tmp_path: Path, sub: str) -> None:
    arrays = write_svhn(tmp_path / sub)
    splits = load_dataset("svhn", tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (45, 5, 20)
    assert splits.test.labels.tolist() == [i % 10 + 1 if i % 10 + 1 < 10 else 0 for i in range(20)]  # 10 -> 0
    assert splits.test.labels.min() == 0 and splits.test.labels.max() == 9
    v = int(arrays["test_x"][6, 9, 2, 11])  # X is H x W x C x N
    assert splits.test.images[11, 2, 6, 9].item() == pytest.approx((v / 255 - 0.4728) / 0.1970, abs=1e-5)
    assert np.array_equal(raw_values(splits.test.images, "svhn"), arrays["test_x"].transpose(3, 2, 0, 1))


# ---------------------------------------------------------------- digits


def test_digits() -> None:
    a, b = load_dataset("digits"), load_dataset("digits", split_seed=1)
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    assert (len(a.train), len(a.val), len(a.test)) == (1294, 144, 359)
    assert a.train.images.shape[1:] == (1, 8, 8) and a.train.labels.dtype == torch.int64
    assert torch.equal(a.test.images, b.test.images)  # the test hold-out ignores split_seed
    assert not torch.equal(a.val.labels, b.val.labels) or not torch.equal(a.val.images, b.val.images)
    pixels = raw_values(torch.cat([a.train.images, a.val.images, a.test.images]), "digits", 16.0)
    assert pixels.min() == 0 and pixels.max() == 16
    everything = torch.cat([a.train.images, a.val.images, a.test.images])
    assert abs(everything.mean().item()) < 1e-3 and abs(everything.std().item() - 1) < 1e-2
    assert len(load_dataset("digits", val_size=0).val) == 0


# ---------------------------------------------------------------- splits


def test_split_deterministic_stratified_disjoint() -> None:
    labels = torch.from_numpy(uneven_labels(10, 20).astype(np.int64))  # classes of 20..29, 245 items
    kept, held = stratified_split(labels, 0.2, seed=5)
    again_kept, again_held = stratified_split(labels, 0.2, seed=5)
    assert torch.equal(held, again_held) and torch.equal(kept, again_kept)
    assert not torch.equal(held, stratified_split(labels, 0.2, seed=6)[1])
    assert len(held) == 49 and len(kept) == 196
    assert sorted(kept.tolist() + held.tolist()) == list(range(245))
    sizes = torch.bincount(labels)
    per_class = torch.bincount(labels[held], minlength=10)
    assert torch.all((per_class.double() - sizes * 0.2).abs() < 1)
    assert per_class.tolist() == per_class_counts(sizes, 49).tolist()
    assert len(stratified_split(labels, 17, seed=0)[1]) == 17


def test_load_split_seed(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    a, b = load_dataset("mnist", tmp_path, split_seed=3), load_dataset("mnist", tmp_path, split_seed=3)
    c = load_dataset("mnist", tmp_path, split_seed=4)
    assert ids(a.val.images, "mnist") == ids(b.val.images, "mnist")
    assert ids(a.val.images, "mnist") != ids(c.val.images, "mnist")
    assert torch.equal(a.val.labels.sort().values, c.val.labels.sort().values)  # same per-class counts


@pytest.mark.parametrize("bad", [-1, 85, 1.0, -0.1, "10", True])
def test_bad_val_size(tmp_path: Path, bad: object) -> None:
    write_mnist(tmp_path, gz=False)
    with pytest.raises(ProxynasError, match="val_size"):
        load_dataset("mnist", tmp_path, val_size=bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- damaged or missing files


def assert_data_error(name: str, root: Path, *expected: Path | str) -> str:
    with pytest.raises(DataError) as err:
        load_dataset(name, root)
    msg = str(err.value)
    assert "\n" not in msg
    for path in expected:
        assert str(path) in msg, (path, msg)
    return msg


@pytest.mark.parametrize(("name", "expected"), [
    ("mnist", ["MNIST/raw/train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
    ("cifar10", ["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/test_batch"]),
    ("cifar100", ["cifar-100-python/train", "cifar-100-python/test"]),
    ("svhn", ["train_32x32.mat", "svhn/test_32x32.mat"]),
])
def test_missing_dir(tmp_path: Path, name: str, expected: list[str]) -> None:
    root = tmp_path / "nothing-here"
    msg = assert_data_error(name, root, *(root / e for e in expected))
    assert f"proxynas data download {name} --data-root {root}" in msg and "proxynas[vision]" in msg


def test_missing_one_cifar_batch(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    assert_data_error("cifar10", tmp_path, tmp_path / "cifar-10-batches-py" / "data_batch_3")


def test_truncated_gz(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:300])
    assert_data_error("mnist", tmp_path, path)


def test_wrong_magic(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, gz=False)
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte", arrays["test_y"], 2051, gz=False)
    assert "magic number 2051, expected 2049" in assert_data_error("mnist", tmp_path, path)


def test_wrong_count(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", arrays["test_y"][:15], 2049, gz=True)
    msg = assert_data_error("mnist", tmp_path, tmp_path / "t10k-labels-idx1-ubyte[.gz]")
    assert "20 images but 15 labels" in msg


def test_payload_shorter_than_header_says(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    assert "bytes of data" in assert_data_error("mnist", tmp_path, path)


def test_wrong_image_size(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((85, 27, 27)), 2051, gz=False)
    assert "expected (1, 28, 28)" in assert_data_error("mnist", tmp_path, tmp_path)


def test_damaged_pickle_and_mat(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "c")
    path = tmp_path / "c" / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(b"not a pickle at all")
    assert_data_error("cifar10", tmp_path / "c", path)
    write_svhn(tmp_path / "s")
    mat = tmp_path / "s" / "train_32x32.mat"
    mat.write_bytes(mat.read_bytes()[:1000])
    assert_data_error("svhn", tmp_path / "s", mat)


def test_bad_labels(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", arrays["test_y"] + 5, 2049, gz=False)
    assert "expected 0..9" in assert_data_error("mnist", tmp_path, tmp_path)


# ---------------------------------------------------------------- download


def test_download_without_torchvision(tmp_path: Path) -> None:
    if importlib.util.find_spec("torchvision") is not None:
        try:
            import torchvision  # noqa: F401
        except Exception:
            pass  # installed but broken: download must still say how to fix it
        else:
            pytest.skip("torchvision imports here; this test covers machines without it")
    with pytest.raises(ProxynasError, match=r"proxynas\[vision\]"):
        download("cifar10", tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()
    assert download("digits", tmp_path).is_file()  # embedded: nothing to download
    with pytest.raises(UnknownNameError, match="did you mean 'svhn'"):
        download("svnh", tmp_path)


class _RunsCode:
    """A pickle payload that would create a marker file when unpickled by a plain ``pickle.load``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_cifar_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "c")
    marker = tmp_path / "pwned"
    path = tmp_path / "c" / "cifar-10-batches-py" / "data_batch_3"
    with path.open("wb") as f:
        pickle.dump({b"labels": [0], b"data": _RunsCode(marker)}, f, protocol=2)
    message = assert_data_error("cifar10", tmp_path / "c", path)
    assert "refusing to load" in message
    assert not marker.exists()
