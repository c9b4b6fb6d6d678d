"""The proxy library: one safetensors file per proxy under ``$PROXYNAS_HOME/proxies``.

A file holds ``images`` (float32, normalized N x C x H x W) and ``labels`` (int64); its metadata
holds the card. Loading never runs code (safetensors has no pickle).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from proxynas import __version__
from proxynas.atomic import atomic_write_bytes, file_lock
from proxynas.datasets.base import TensorSet
from proxynas.errors import ProxynasError, UnknownNameError
from proxynas.proxies.card import ProxyCard
from proxynas.proxies.names import check_name

SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Proxy:
    name: str
    card: ProxyCard
    data: TensorSet


def write_proxy(path: Path, data: TensorSet, card: ProxyCard) -> None:
    """Write atomically (``proxynas.atomic``): a killed or failed writer never leaves half a proxy behind."""
    card = replace(card, created=card.created or time.time(), version=card.version or __version__)
    content = save({"images": data.images.detach().cpu().float().contiguous(),
                    "labels": data.labels.detach().cpu().long().contiguous()}, metadata={"card": card.to_json()})
    atomic_write_bytes(path, content, what="the proxy file")


def read_header(path: Path) -> tuple[ProxyCard, int]:
    """A proxy file's card and image count, without loading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            card = ProxyCard.from_json((f.metadata() or {})["card"])
            return card, int(f.get_slice("images").get_shape()[0])
    except (SafetensorError, KeyError, ValueError, OSError) as err:
        raise ProxynasError(f"proxy file {path} is damaged or not a proxynas proxy ({err})",
                            "delete it and make it again with `proxynas condense`") from None


def read_proxy(path: Path) -> Proxy:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
        card = ProxyCard.from_json(meta["card"])
        data = TensorSet(tensors["images"], tensors["labels"], card.num_classes)
    except (SafetensorError, KeyError, ValueError, OSError) as err:
        raise ProxynasError(f"proxy file {path} is damaged or not a proxynas proxy ({err})",
                            "delete it and make it again with `proxynas condense`") from None
    return Proxy(path.name[: -len(SUFFIX)], card, data)


class ProxyLibrary:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}{SUFFIX}"

    def names(self) -> list[str]:
        return sorted(p.name[: -len(SUFFIX)] for p in self.root.glob(f"*{SUFFIX}"))

    def __contains__(self, name: str) -> bool:
        return self.path(name).exists()

    @contextlib.contextmanager
    def making(self, name: str) -> Iterator[None]:
        """Held while this process makes (checks, condenses, writes) the proxy ``name``: another process
        making the same proxy waits, then finds it made (a lock file ``.{name}.lock`` beside it)."""
        with file_lock(self.root / f".{check_name(name)}.lock", f"proxy {name}"):
            yield

    def save(self, name: str, data: TensorSet, card: ProxyCard) -> Path:
        path = self.path(name)
        write_proxy(path, data, card)
        return path

    def load(self, name: str, device: torch.device | str = "cpu") -> Proxy:
        if name not in self:
            raise UnknownNameError("proxy", name, self.names())
        proxy = read_proxy(self.path(name))
        return replace(proxy, data=proxy.data.to(device))

    def cards(self) -> list[tuple[str, ProxyCard, int]]:
        """(name, card, number of training images) per proxy, read from the file headers only."""
        return [(name, *read_header(self.path(name))) for name in self.names()]
