"""Import condensed sets published by the reference implementations into the proxy library.

Formats (told apart by what the file holds, never by running it: ``torch.load(weights_only=True)``):

* DC/DSA/DM (VICO-UoE/DatasetCondensation) ``res_{METHOD}_{DATASET}_{MODEL}_{N}ipc.pt``: a dict with
  ``data``, one ``[image_syn, label_syn]`` pair per experiment, and ``accs_all_exps``. Images are
  normalized with the same per-dataset mean/std proxynas uses.
* IDC (snu-mllab/Efficient-Dataset-Condensation) ``data.pt``: ``[data, target]`` with the *stored*
  multi-formation images in pixel space [0, 1]; decoded here with the factor (``factor{F}`` in IDC's
  folder name, or given) and normalized.
* MTT (GeorgeCazenavette/mtt-distillation) ``images_best.pt`` (normalized images) with
  ``labels_best.pt`` beside it. Sets distilled with ZCA whitening stay in ZCA space; ``zca=True``
  (``--zca``) says so on the card, so that evaluation whitens the real images alike.
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from condensed.formation import decode_by_class
from proxynas import __version__
from proxynas.datasets import dataset_info, list_datasets
from proxynas.datasets.base import TensorSet
from proxynas.datasets.zca import REFERENCE_EPS, WHOLE_TRAINING_SET
from proxynas.errors import ProxynasError
from proxynas.proxies import Proxy, ProxyCard, ProxyLibrary, check_name

FORMATS = "DC/DSA/DM res_*.pt, IDC data.pt, or MTT images_best.pt with labels_best.pt"

# Dataset names as the reference repositories spell them (in file and folder names), lowercased.
DATASET_ALIASES = {"mnist": "mnist", "fashionmnist": "fashion_mnist", "fashion": "fashion_mnist",
                   "fashion_mnist": "fashion_mnist", "svhn": "svhn", "cifar10": "cifar10",
                   "cifar100": "cifar100"}
_DC_FILE = re.compile(r"^res_(?P<method>[A-Za-z0-9]+)_(?P<dataset>[A-Za-z0-9]+)_.*\.pt$")
_FACTOR = re.compile(r"factor(\d+)")


@dataclass(frozen=True)
class Foreign:
    """What a foreign file holds, before it becomes a proxy."""

    method: str  # 'dc', 'dsa', 'dm', 'idc', 'mtt', ...
    images: Tensor  # normalized, N x C x H x W, ready to train on
    labels: Tensor
    settings: dict[str, Any] = field(default_factory=dict)  # 'factor' when multi-formation decoded


def load_tensors(path: Path) -> Any:
    """``torch.load`` that only rebuilds tensors and plain containers; anything else is refused."""
    if not path.is_file():
        raise ProxynasError(f"{path} does not exist", "give the path of a .pt file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols it reads fine
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged or hostile file fails in many ways; none may get further
        raise ProxynasError(f"refused to load {path}: {_load_failure(err)}",
                            f"import only {FORMATS}") from None


def _load_failure(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    culprit = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line), None)
    if isinstance(err, pickle.UnpicklingError) or culprit:
        return f"it would run code or build objects other than tensors ({culprit or 'not a tensor pickle'})"
    return f"it is not a tensor file ({type(err).__name__})"


def infer_dataset(path: Path) -> str:
    """The dataset named in the file name or its three nearest folders (closest to the file first)."""
    names = DATASET_ALIASES | {name: name for name in list_datasets()}
    for part in reversed(path.resolve().parts[-4:]):
        for token in re.split(r"[^a-z0-9]+", part.lower()):
            if token in names:
                return names[token]
    raise ProxynasError(f"cannot tell the dataset of {path} from its name",
                        f"pass --dataset (one of {', '.join(list_datasets())})")


def infer_factor(path: Path) -> int | None:
    """IDC's ``factor{F}`` in the folder name of a ``data.pt`` (``..._factor2_lr0.0001_mix_ipc10/``)."""
    for part in reversed(path.resolve().parts[-2:]):
        match = _FACTOR.search(part)
        if match:
            return int(match[1])
    return None


def _tensor_pair(pair: Any, what: str) -> tuple[Tensor, Tensor]:
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(t, Tensor) for t in pair)):
        raise ProxynasError(f"{what} is not an [images, labels] pair of tensors", f"import only {FORMATS}")
    return pair[0], pair[1]


def read_dc(path: Path, content: dict[str, Any], exp: int) -> Foreign:
    runs = content["data"]
    if not isinstance(runs, (list, tuple)) or not runs:
        raise ProxynasError(f"{path}: 'data' holds no experiments", f"import only {FORMATS}")
    if not 0 <= exp < len(runs):
        raise ProxynasError(f"{path} holds {len(runs)} experiment(s), there is no --exp {exp}",
                            f"use --exp 0 to {len(runs) - 1}")
    images, labels = _tensor_pair(runs[exp], f"{path}: data[{exp}]")
    match = _DC_FILE.match(path.name)
    settings: dict[str, Any] = {"format": "dc", "experiment": exp, "experiments": len(runs)}
    accs = content.get("accs_all_exps")
    if isinstance(accs, dict):
        settings["published_accs"] = {str(k): [float(a) for a in v] for k, v in accs.items()
                                      if isinstance(v, (list, tuple))}
    method = match["method"].lower() if match else "dc"
    return Foreign(method, images.float(), labels, settings)


def read_idc(path: Path, content: Any, factor: int | None, mean: Tensor, std: Tensor) -> Foreign:
    images, labels = _tensor_pair(content, str(path))
    factor = factor if factor is not None else infer_factor(path)
    if factor is None or factor < 1:
        raise ProxynasError(f"{path} does not say its multi-formation factor",
                            "pass --factor 2 (IDC) or --factor 1 (IDC-I)")
    _check(path, images, labels)
    decoded, decoded_labels = decode_by_class(images.float(), labels.long(), factor)
    normalized = (decoded - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    return Foreign("idc" if factor > 1 else "idc-i", normalized, decoded_labels,
                   {"format": "idc", "factor": factor})


def read_mtt(path: Path, images: Tensor) -> Foreign:
    labels_path = path.with_name(path.name.replace("images", "labels", 1))
    if labels_path == path or not labels_path.is_file():
        raise ProxynasError(f"{path} holds images only and {labels_path.name} is not beside it",
                            "put MTT's labels_best.pt next to images_best.pt")
    labels = load_tensors(labels_path)
    if not isinstance(labels, Tensor):
        raise ProxynasError(f"{labels_path} holds a {type(labels).__name__}, not a tensor of labels",
                            f"import only {FORMATS}")
    return Foreign("mtt", images.float(), labels, {"format": "mtt", "labels_file": labels_path.name})


def _check(path: Path, images: Tensor, labels: Tensor) -> None:
    if len(images) == 0:
        raise ProxynasError(f"{path} holds no images", f"import only {FORMATS}")
    if images.ndim != 4 or not images.is_floating_point():
        raise ProxynasError(f"{path}: images are {tuple(images.shape)} {images.dtype}, "
                            "not N x C x H x W floats", f"import only {FORMATS}")
    if labels.ndim != 1 or labels.is_floating_point() or len(labels) != len(images):
        raise ProxynasError(f"{path}: labels {tuple(labels.shape)} {labels.dtype} are not one class index "
                            f"per image ({len(images)} images)", "soft or missing labels cannot be imported")


def _per_class(path: Path, labels: Tensor) -> int:
    """Images per class (labels already checked to be class indices); unequal counts are refused."""
    counts = torch.bincount(labels)
    counts = counts[counts > 0]
    if not bool((counts == counts[0]).all()):
        raise ProxynasError(f"{path}: classes have {int(counts.min())} to {int(counts.max())} images",
                            "only sets with the same number of images per class can be imported")
    return int(counts[0])


def read_foreign(path: Path, dataset: str, *, exp: int = 0, factor: int | None = None) -> Foreign:
    """Read ``path`` (any of the formats above) into normalized images of ``dataset``."""
    info = dataset_info(dataset)
    mean, std = torch.tensor(info.mean), torch.tensor(info.std)
    content = load_tensors(path)
    if isinstance(content, dict) and "data" in content:
        foreign = read_dc(path, content, exp)
    elif isinstance(content, (list, tuple)):
        foreign = read_idc(path, content, factor, mean, std)
    elif isinstance(content, Tensor):
        foreign = read_mtt(path, content)
    else:
        raise ProxynasError(f"{path} holds a {type(content).__name__}, not a condensed set",
                            f"import only {FORMATS}")
    _check(path, foreign.images, foreign.labels)
    images, labels = foreign.images, foreign.labels.long()
    low, high = int(labels.min()), int(labels.max())
    if tuple(images.shape[1:]) != info.shape or low < 0 or high >= info.num_classes:
        raise ProxynasError(f"{path} holds {tuple(images.shape[1:])} images with labels {low}..{high}, which "
                            f"do not fit {dataset} ({info.shape}, {info.num_classes} classes)",
                            "pass the right --dataset")
    order = torch.sort(labels, stable=True).indices
    return Foreign(foreign.method, images[order].contiguous(), labels[order], foreign.settings)


def import_proxy(store: ProxyLibrary, path: Path, name: str, *, dataset: str | None = None, exp: int = 0,
                 factor: int | None = None, force: bool = False, zca: bool = False,
                 syn_lr: float | None = None) -> Proxy:
    """Read a published set and save it in ``store`` as ``name`` (with a card saying where it came from).

    ``zca``: an MTT/FTD set distilled with ``--zca`` (its images are in ZCA space): the card says so, and
    evaluation whitens the validation and test images with a ZCA fitted on the whole training set, as the
    reference fits it. ``syn_lr``: the step size the reference learned (printed in its log as
    ``Synthetic_LR``), which the ``mtt``/``ftd`` protocols train with."""
    check_name(name)
    if name in store and not force:
        raise ProxynasError(f"proxy '{name}' is already in the store",
                            "choose another --name or pass --force")
    path = Path(path)
    dataset = dataset or infer_dataset(path)
    info = dataset_info(dataset)
    foreign = read_foreign(path, info.name, exp=exp, factor=factor)
    data = TensorSet(foreign.images, foreign.labels, info.num_classes)
    stored_per_class = _per_class(path, foreign.labels) // foreign.settings.get("factor", 1) ** 2
    settings = {"kind": "synthetic", "source": "imported", "file": str(path.resolve()), **foreign.settings}
    if (zca or syn_lr is not None) and foreign.method != "mtt":
        raise ProxynasError(f"{path} is a {foreign.method} set; --zca and --syn-lr are for MTT/FTD's images_best.pt",
                            "leave them out")
    if syn_lr is not None and not syn_lr > 0:
        raise ProxynasError(f"--syn-lr must be positive, got {syn_lr}", "pass the Synthetic_LR the reference logged")
    if zca:
        settings["resolved"] = {"zca": True, "zca_eps": REFERENCE_EPS, "zca_fit": WHOLE_TRAINING_SET}
    if syn_lr is not None:
        settings["learned"] = {"syn_lr": float(syn_lr)}
    card = ProxyCard(method=foreign.method, dataset=info.name, ipc=stored_per_class, seed=exp,
                     num_classes=info.num_classes, shape=data.shape, source_fingerprint="", seconds=0.0,
                     settings=settings, version=__version__, device="")
    store.save(name, data, card)
    return store.load(name)
