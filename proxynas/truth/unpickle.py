"""Read the pickles the NAS-Bench-201 / NATS-Bench files are made of, without ever running their code.

The files hold dicts, lists, tuples, sets, strings and numbers, ``collections.OrderedDict`` and numpy
scalars (``params`` is a ``numpy.float64``). :class:`DataUnpickler` rebuilds exactly those: an OrderedDict,
a set, bytes from a latin-1 string (protocol 2), and a numpy scalar through a numeric ``numpy.dtype``
turned into a Python number. Any other global a pickle names is refused. In a torch-saved file
(NB201's ``.pth``) tensors, which only network weights would be, are read as ``None`` without touching
their bytes.
"""

from __future__ import annotations

import bz2
import collections
import io
import pickle
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from proxynas.errors import DataError

NUMERIC_DTYPE = re.compile(r"[<>|=]?[biuf]\d{1,2}")


def numeric_dtype(spec: object, align: object = False, copy: object = False) -> np.dtype:
    """``numpy.dtype`` as a pickle calls it, for plain numbers only (no object or record dtypes)."""
    if not isinstance(spec, str) or not NUMERIC_DTYPE.fullmatch(spec):
        raise pickle.UnpicklingError(f"refusing numpy dtype {spec!r}: only plain numbers are expected")
    return np.dtype(spec)


def numpy_scalar(dtype: object, data: object = b"") -> int | float | bool:
    """A pickled numpy scalar (``numpy.core.multiarray.scalar(dtype, bytes)``) as a Python number."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"refusing a numpy scalar of dtype {dtype!r}")
    if isinstance(data, str):  # protocol 0-2 pickles carry the bytes as a latin-1 string
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("a numpy scalar's bytes do not fit its dtype")
    return np.frombuffer(data, dtype=dtype, count=1)[0].item()


def latin1_bytes(text: object, encoding: object = "latin1") -> bytes:
    """``_codecs.encode(text, "latin1")``: how protocol-2 pickles (``torch.save``'s) carry bytes."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("refusing _codecs.encode other than of a latin-1 string")
    return text.encode("latin1")


def no_tensor(*args: object) -> None:
    """A tensor of a torch-saved file (network weights): not needed, not read."""
    return None


ALLOWED: dict[tuple[str, str], Callable[..., object]] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,  # protocol 2 writes a set as set(list)
    ("__builtin__", "set"): set,  # ... under its Python 2 name
    ("_codecs", "encode"): latin1_bytes,
    ("numpy", "dtype"): numeric_dtype,
    ("numpy.core.multiarray", "scalar"): numpy_scalar,
    ("numpy._core.multiarray", "scalar"): numpy_scalar,
}
TORCH_ALLOWED = {("torch._utils", "_rebuild_tensor_v2"): no_tensor, ("torch._utils", "_rebuild_tensor"): no_tensor}


class DataUnpickler(pickle.Unpickler):
    """Rebuilds plain data, OrderedDicts and numpy scalars; refuses every other global."""

    def __init__(self, file: IO[bytes], *, torch_file: bool = False) -> None:
        super().__init__(file)
        self.allowed = {**ALLOWED, **TORCH_ALLOWED} if torch_file else ALLOWED
        self.torch_file = torch_file

    def find_class(self, module: str, name: str) -> Callable[..., object]:
        if self.torch_file and module == "torch" and name.endswith("Storage"):
            return no_tensor  # the storage type a tensor's persistent id names
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a benchmark file holds only "
                                         "numbers and strings") from None

    def persistent_load(self, pid: object) -> object:
        if self.torch_file:  # a tensor storage of torch.save
            return None
        raise pickle.UnpicklingError("unexpected persistent id in a plain pickle")


def _refused(path: Path, err: Exception) -> DataError:
    return DataError(f"{path} cannot be read as a NAS-Bench-201 / NATS-Bench file: {err}",
                     "pass the benchmark file or folder as downloaded (nothing in it is ever run)")


def load_bz2_pickle(path: Path) -> object:
    """One ``.pickle.pbz2`` file of NATS-Bench (a bz2-compressed pickle)."""
    try:
        return DataUnpickler(io.BytesIO(bz2.decompress(path.read_bytes()))).load()
    except (OSError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise _refused(path, err) from None


def load_torch_pickle(path: Path) -> object:
    """The object of a ``torch.save`` file (NB201's ``.pth``), zip or legacy layout, tensors as None."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
                if name is None:
                    raise ValueError("no data.pkl in the archive")
                return DataUnpickler(io.BytesIO(archive.read(name)), torch_file=True).load()
        with path.open("rb") as f:  # legacy: magic number, protocol, system info, then the object
            for _ in range(3):
                DataUnpickler(f, torch_file=True).load()
            return DataUnpickler(f, torch_file=True).load()
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
        raise _refused(path, err) from None
