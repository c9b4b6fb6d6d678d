"""Make a proxy: run a method on a dataset's training split, time it, write the file with its card.

A synthetic method's run state stays beside the file (``.{name}.ckpt``) after the last iteration, so a
later call asking more iterations of the same run continues from it (see :mod:`condensed.reuse`).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from condensed.base import Context, Progress
from condensed.registry import get_method
from condensed.reuse import checkpoint_path
from proxynas import __version__
from proxynas.datasets import dataset_info
from proxynas.datasets.base import DatasetSplits
from proxynas.engine.device import describe
from proxynas.proxies import Proxy, ProxyCard, ProxyLibrary, ProxyName


def make_proxy(
    store: ProxyLibrary,
    method: str,
    splits: DatasetSplits,
    ipc: int,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    seconds_before: float = 0.0,
    **overrides: Any,
) -> Proxy:
    """Condense ``splits.train`` with ``method`` into ``{method}_{dataset}_ipc{ipc}`` in ``store``.

    ``seconds_before``: condensing seconds already spent on the run this call continues (the card keeps
    the total).
    """
    impl = get_method(method)
    settings = impl.settings(**overrides)
    name = str(ProxyName(method, splits.name, ipc))
    device = torch.device(device)
    checkpoint = checkpoint_path(store.root, name)
    ctx = Context(dataset_info(splits.name), device, seed, progress, checkpoint)
    start = time.perf_counter()
    data = impl.condense(splits.train.to(device), ipc, settings, ctx)
    seconds = time.perf_counter() - start
    card = ProxyCard(method=method, dataset=splits.name, ipc=ipc, seed=seed, num_classes=data.num_classes,
                     shape=data.shape, source_fingerprint=splits.train.fingerprint(), seconds=seconds_before + seconds,
                     settings=impl.card_settings(settings, ipc, ctx, splits.train.shape), version=__version__,
                     device=describe(device))
    store.save(name, data, card)
    if impl.kind != "synthetic":
        checkpoint.unlink(missing_ok=True)
    return store.load(name)
