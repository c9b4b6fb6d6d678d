"""Make a proxy: run a method on a dataset's training split, time it, write the file with its card."""

from __future__ import annotations

import time
from typing import Any

import torch

from condensed.base import Context, Progress
from condensed.registry import get_method
from proxynas import __version__
from proxynas.datasets import dataset_info
from proxynas.datasets.base import DatasetSplits
from proxynas.engine.device import describe
from proxynas.proxies import Proxy, ProxyCard, ProxyName, ProxyStore


def make_proxy(
    store: ProxyStore,
    method: str,
    splits: DatasetSplits,
    ipc: int,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    **overrides: Any,
) -> Proxy:
    """Condense ``splits.train`` with ``method`` into ``{method}_{dataset}_ipc{ipc}`` in ``store``."""
    impl = get_method(method)
    settings = impl.settings(**overrides)
    name = str(ProxyName(method, splits.name, ipc))
    device = torch.device(device)
    checkpoint = store.root / f".{name}.ckpt"
    ctx = Context(dataset_info(splits.name), device, seed, progress, checkpoint)
    start = time.perf_counter()
    data = impl.condense(splits.train.to(device), ipc, settings, ctx)
    seconds = time.perf_counter() - start
    card = ProxyCard(method=method, dataset=splits.name, ipc=ipc, seed=seed, num_classes=data.num_classes,
                     shape=data.shape, source_fingerprint=splits.train.fingerprint(), seconds=seconds,
                     settings=vars(settings) | {"kind": impl.kind}, version=__version__, device=describe(device))
    store.save(name, data, card)
    checkpoint.unlink(missing_ok=True)
    return store.load(name)
