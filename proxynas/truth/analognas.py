"""AnalogNAS-Bench (PyPI ``analog-nasbench``, IBM): NAS-Bench-201's 15,625 cells with CIFAR-10 accuracies.

The package ships one pickle, ``analognasbench/data.anb``: a dict from a 6-tuple of integers to an
``analognasbench.data.Architecture`` object whose ``baseline_accuracy`` is the cell's CIFAR-10 test accuracy
(percent) after the benchmark's digital training (best 94.07%); its other fields are analog-hardware figures.
:class:`AnalogUnpickler` rebuilds those objects as plain records (their state dicts): nothing of the
package is imported or run.

The key encoding (the AnalogNAS-Bench paper, arXiv:2506.18495, and NASLib's
``search_spaces/nasbench201/conversions.py``, whose ``op_indices`` it is):

- operations: 0 ``skip_connect``, 1 ``none``, 2 ``nor_conv_3x3``, 3 ``nor_conv_1x1``, 4 ``avg_pool_3x3``;
- edges, source-major: (0->1, 0->2, 0->3, 1->2, 1->3, 2->3), i.e. e1_0, e2_0, e3_0, e2_1, e3_1, e3_2.

Checked on the data (``tests/test_truth_analognas.py``): the all-``none`` cell and every cell whose
output is cut off (225 of them) score exactly 10%; isomorphic cells score alike. The data alone cannot
tell this edge order from its mirror image (node k <-> 3-k, which keeps isomorphism classes and
operation counts, so parameter counts too); the orientation is NASLib's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxynas.errors import DataError, ProxynasError
from proxynas.truth.published import PublishedRun, PublishedTruth
from proxynas.truth.unpickle import DataUnpickler

SPACE = "nb201"
DATASET = "cifar10"
PACKAGE = "analog-nasbench"
DATA_FILE = "analognasbench/data.anb"
CODE_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")  # by code
KEY_EDGES = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))  # (to, from) of each key position
RECORDS = {("analognasbench.data", "Architecture"), ("analognasbench.data", "DriftMeasurement")}


class Record:
    """Stands in for the package's classes: keeps the pickled state dict, runs nothing."""

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("an AnalogNAS-Bench record's state is not a dict")
        self.state = state


class AnalogUnpickler(DataUnpickler):
    """:class:`DataUnpickler` that also reads the package's two record classes as :class:`Record`."""

    def find_class(self, module: str, name: str) -> Callable[..., object]:
        if (module, name) in RECORDS:
            return Record
        return super().find_class(module, name)


def arch_string(key: tuple[int, ...]) -> str:
    """The NB201 arch string of an AnalogNAS-Bench key, e.g. (2, 2, 0, 2, 3, 2)."""
    if len(key) != len(KEY_EDGES) or not all(isinstance(k, int) and 0 <= k < len(CODE_OPS) for k in key):
        raise DataError(f"AnalogNAS-Bench key {key!r} is not six operation codes 0-4",
                        "pass the package's data.anb as installed")
    ops = {edge: CODE_OPS[code] for edge, code in zip(KEY_EDGES, key, strict=True)}
    return "+".join("|" + "|".join(f"{ops[(i, j)]}~{j}" for j in range(i)) + "|" for i in range(1, 4))


def installed_file() -> Path:
    """The installed package's data file, found through its metadata (the package is not imported)."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ProxynasError(f"{PACKAGE} is not installed",
                            "pip install 'proxynas[analognas]', or pass the path of its data.anb") from None
    path = Path(str(dist.locate_file(DATA_FILE)))
    if not path.is_file():
        raise DataError(f"{PACKAGE} is installed but has no {DATA_FILE}", f"reinstall {PACKAGE}==0.1.3")
    return path


def load(path: Path) -> dict[tuple[int, ...], dict[str, Any]]:
    """The file's records as {key: state dict}, read without running anything of the package."""
    raw = Path(path).read_bytes()
    try:
        data = AnalogUnpickler(io.BytesIO(raw)).load()
    except (EOFError, ValueError, pickle.UnpicklingError) as err:
        raise DataError(f"{path} cannot be read as AnalogNAS-Bench data: {err}",
                        "pass the package's data.anb (nothing in it is ever run)") from None
    if not isinstance(data, dict) or not all(isinstance(v, Record) for v in data.values()):
        raise DataError(f"{path} does not hold AnalogNAS-Bench records", "pass the package's data.anb")
    return {tuple(k): v.state for k, v in data.items()}


def read_analognas(path: Path | None = None, *, epochs: int = 200) -> PublishedTruth:
    """The cells' ``baseline_accuracy`` as a CIFAR-10 truth of nb201 (test accuracy ranks and tests)."""
    path = Path(path) if path is not None else installed_file()
    if not path.is_file():
        raise ProxynasError(f"{path} does not exist", f"pass the data.anb of {PACKAGE}, or leave PATH out")
    records = load(path)
    runs = []
    for key, state in records.items():
        acc = state.get("baseline_accuracy")
        if not isinstance(acc, (int, float)):
            raise DataError(f"{path}: cell {key} has no numeric baseline_accuracy", "pass the package's data.anb")
        runs.append(PublishedRun(arch_string(key), 0, acc / 100, acc / 100))
    settings = {"source": "AnalogNAS-Bench", "layout": "analognas", "file": path.name,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "epochs": epochs,
                "accuracy": "baseline_accuracy (CIFAR-10 test, digital full-precision training)",
                "trained_on": "the 50,000 CIFAR-10 training images, NAS-Bench-201's training recipe",
                "citation": "Benmeziane et al., AnalogNAS-Bench, arXiv:2506.18495"}
    return PublishedTruth(SPACE, DATASET, f"analognas:{SPACE}:{DATASET}:baseline", settings,
                          tuple(sorted(runs, key=lambda r: r.candidate)), device="published (AnalogNAS-Bench)")
