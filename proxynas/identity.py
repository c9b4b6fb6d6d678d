"""What a result row says made it: the training set by content, and the numeric regime.

- A proxy is identified by the fingerprint of its tensors (``TensorSet.fingerprint``: sha256 of the
  image and label bytes, 16 hex digits), so a proxy remade under the same name is another training set.
- The ground truth by the fingerprint of the training split it trained on, cached in
  ``$PROXYNAS_HOME/split_fingerprints.json`` by the size and modification time of the files read, so
  a command does not hash CIFAR's 45,000 images again while its files are unchanged.
- An imported truth by ``published:{protocol}`` (its source names it; a re-import replaces it).
- Rows of a store written before identities existed: see :mod:`proxynas.store_schema` (``legacy:{name}``).

The numeric regime is 'bf16' under bf16 autocast; 'tf32' when fp32 matmuls or convolutions may run in
TF32 (CUDA: ``torch.backends.cuda.matmul.allow_tf32`` or ``torch.backends.cudnn.allow_tf32``, the
latter on by default; any device: a float32 matmul precision other than 'highest'); 'fp32' otherwise.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from proxynas.datasets.base import DatasetSplits, TensorSet
from proxynas.engine.accel import regime_of
from proxynas.paths import home

log = logging.getLogger(__name__)

CACHE = "split_fingerprints.json"
REGIMES = ("fp32", "tf32", "bf16")
__all__ = ["legacy_identity", "published_identity", "regime_of", "set_identity", "short", "split_identity"]


def set_identity(data: TensorSet) -> str:
    """A proxy's (or any training set's) identity: its tensors' fingerprint."""
    return data.fingerprint()


def _files(folder: Path) -> list[list[object]]:
    return sorted([p.name, st.st_size, st.st_mtime_ns] for p in folder.iterdir()
                  if p.is_file() and (st := p.stat()))


def split_identity(splits: DatasetSplits) -> str:
    """The fingerprint of ``splits.train``, from the cache while the files it was read from are unchanged."""
    if splits.source is None or not Path(splits.source).is_dir():
        return splits.train.fingerprint()
    key = f"{splits.name}|{Path(splits.source).resolve()}|{splits.split_key}"
    files = _files(Path(splits.source))
    cache_path = home() / CACHE
    cache = _read(cache_path)
    entry = cache.get(key)
    if isinstance(entry, dict) and entry.get("files") == files and isinstance(entry.get("fingerprint"), str):
        return str(entry["fingerprint"])
    fingerprint = splits.train.fingerprint()
    cache[key] = {"files": files, "fingerprint": fingerprint}
    _write(cache_path, cache)
    return fingerprint


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict[str, object]) -> None:
    """Atomically, under a unique temporary name; a cache that cannot be written is only a slower next run."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as err:
        log.info("split fingerprint cache not written (%s)", err)


def short(identity: str) -> str:
    """How tables print an identity: a fingerprint's first 8 digits, other identities whole."""
    is_fingerprint = len(identity) > 8 and all(ch in "0123456789abcdef" for ch in identity)
    return identity[:8] if is_fingerprint else identity


def published_identity(protocol: str) -> str:
    return f"published:{protocol}"


def legacy_identity(name: str) -> str:
    return f"legacy:{name}"
