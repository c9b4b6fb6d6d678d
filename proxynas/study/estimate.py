"""How long the study's training will take here: an estimate from this machine's measured throughput.

The unit is one candidate trained one epoch on one image. The throughput comes from rows already in
the results store that trained on this device and at this image size (their ``seconds`` over their
candidate-epoch-images), else from a short measurement: a few of the study's candidates trained for
one and for three epochs on random images of the dataset's shape. Either way it is an average over
candidates that differ a lot in cost: an estimate, and the plan says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from proxynas.datasets import dataset_info
from proxynas.datasets.base import TensorSet
from proxynas.engine import Job, Protocol, default_stack_size, describe, resolve_device, run_jobs
from proxynas.store import ResultsStore

if TYPE_CHECKING:
    from proxynas.spaces import Candidate, SearchSpace

MEASURE_CANDIDATES = 6
MEASURE_EPOCHS = (1, 3)  # the difference of the two runs leaves out building and scoring the models
MEASURE_SECONDS = 5.0  # what the measurement aims to take, after a first probe
MEASURE_IMAGES = (64, 1024)  # the fewest and most random images it trains on


@dataclass(frozen=True)
class Throughput:
    seconds_per_unit: float  # seconds per candidate-epoch-image
    source: str  # where the figure comes from, for the plan's output

    def seconds(self, jobs: int, epochs: int, images: int) -> float:
        return jobs * epochs * images * self.seconds_per_unit


def stored_throughput(store: ResultsStore, space: str, dataset: str, device: str,
                      images: Mapping[str, int]) -> Throughput | None:
    """From finished rows of ``dataset`` on ``device`` whose training set's size ``images`` knows."""
    units = seconds = 0.0
    count = 0
    for row in store.rows(space=space, dataset=dataset, status="done"):
        if row.device != device or row.trainset not in images:
            continue
        units += row.epochs * images[row.trainset]
        seconds += row.seconds
        count += 1
    if count == 0 or units == 0:
        return None
    return Throughput(seconds / units, f"{count} stored results on this device ({device})")


def _timed(space: SearchSpace, candidates: Sequence[Candidate], train: TensorSet, score: TensorSet, epochs: int,
           protocol: Protocol) -> float:
    short = Protocol(epochs=epochs, batch_size=protocol.batch_size, lr=protocol.lr, augment="none")
    stack = default_stack_size(train.device)
    start = time.perf_counter()
    for _ in run_jobs([Job(c, 0) for c in candidates], space, train, score, score, short, max_models=stack):
        pass
    return time.perf_counter() - start


def measure_throughput(space: SearchSpace, candidates: Sequence[Candidate], dataset: str, device_name: str | None,
                       protocol: Protocol) -> Throughput:
    """Train a few of ``candidates`` on random images shaped like ``dataset``'s for 1 and for 3 epochs and
    time the difference: 2 epochs without the fixed cost of building and scoring the models. A first
    probe (one candidate, one epoch, 64 images) sizes the images so that it takes a few seconds."""
    device = resolve_device(device_name)
    info = dataset_info(dataset)
    picked = list(candidates)[:: max(1, len(candidates) // MEASURE_CANDIDATES)][:MEASURE_CANDIDATES]
    fewest, most = MEASURE_IMAGES
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(most, *info.shape, generator=generator)
    labels = torch.arange(most) % info.num_classes
    data = TensorSet(images, labels, info.num_classes).to(device)
    score = TensorSet(images[:32], labels[:32], info.num_classes).to(device)
    probe = _timed(space, picked[:1], TensorSet(data.images[:fewest], data.labels[:fewest], info.num_classes),
                   score, 1, protocol) / fewest
    count = int(min(most, max(fewest, MEASURE_SECONDS / (probe * len(picked) * sum(MEASURE_EPOCHS)))))
    train = TensorSet(data.images[:count], data.labels[:count], info.num_classes)
    first, last = (_timed(space, picked, train, score, e, protocol) for e in MEASURE_EPOCHS)
    spent, epochs = last - first, MEASURE_EPOCHS[1] - MEASURE_EPOCHS[0]
    if spent <= 0:  # noise swamped the difference: count everything instead
        spent, epochs = last, MEASURE_EPOCHS[1]
    return Throughput(spent / (len(picked) * epochs * count),
                      f"measured now on {describe(device)}: {len(picked)} of the study's candidates trained "
                      f"{MEASURE_EPOCHS[0]} and {MEASURE_EPOCHS[1]} epochs on {count} random images")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
