"""The probe a measure sees: a seeded minibatch of the training split, the same for every candidate, or, for
data-free measures, only the dataset's input shape and class count (no files needed)."""

from __future__ import annotations

import torch

from proxynas.datasets import dataset_info, load_dataset
from proxynas.zerocost.measure import Probe


def make_probe(dataset: str, *, data: bool, batch_size: int = 64, seed: int = 0,
               root: str | None = None) -> tuple[Probe, str]:
    """The probe and its fingerprint (``batch`` of the score rows)."""
    info = dataset_info(dataset)
    if not data:
        shape = "x".join(map(str, info.shape))
        return Probe(None, None, info.shape, info.num_classes, batch_size, seed), f"none:{shape}:{info.num_classes}"
    train = load_dataset(dataset, root).train
    generator = torch.Generator().manual_seed(seed)
    batch = train.subset(torch.randperm(len(train), generator=generator)[:batch_size])
    probe = Probe(batch.images, batch.labels, train.shape, train.num_classes, len(batch), seed)
    return probe, batch.fingerprint()
