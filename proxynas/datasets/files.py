"""Finding dataset files under the data root, reading them, and the one-line error when they are bad."""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from proxynas.errors import DataError


def how_to_get(name: str, root: Path) -> str:
    """The fix part of a :class:`DataError` for dataset ``name`` under ``root``."""
    if name == "digits":
        return "the file ships with proxynas: reinstall it (`pip install --force-reinstall proxynas`)"
    fix = (f"run `proxynas data download {name} --data-root {root}` (needs `pip install proxynas[vision]`) "
           "or copy torchvision's files there")
    if name == "fashion_mnist":
        fix += ", or `apt-get install dataset-fashion-mnist`"
    return fix


def data_error(name: str, root: Path, problem: str, expected: Sequence[Path | str]) -> DataError:
    """A one-line :class:`DataError`: what is wrong, the files expected (full paths), how to get them."""
    msg = f"{name}: {problem}; expected {', '.join(str(p) for p in expected)}"
    return DataError(" ".join(msg.split()), how_to_get(name, root))


def find_dir(dirs: Sequence[Path], files: Sequence[str]) -> Path | None:
    """The first directory holding every file of ``files`` (each as ``f`` or ``f.gz``), else None."""
    for d in dirs:
        if all(find_file(d, f) is not None for f in files):
            return d
    return None


def find_file(directory: Path, name: str) -> Path | None:
    """``directory/name``, else ``directory/name.gz`` (torchvision keeps both; the plain one is faster)."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it ends in ``.gz``. Raises OSError/EOFError/zlib.error if bad."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


@contextmanager
def reading(name: str, root: Path, path: Path, expected: Sequence[Path | str]) -> Iterator[None]:
    """Turn any failure while parsing ``path`` (bad gzip, pickle, mat, sizes) into a :class:`DataError`."""
    try:
        yield
    except (DataError, MemoryError):
        raise
    except Exception as err:
        raise data_error(name, root, f"cannot read {path} ({type(err).__name__}: {err})", expected) from err
