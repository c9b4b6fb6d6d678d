"""Published accuracies as ground truth: rows of the results store under a protocol named for their source.

An imported truth goes where ``proxynas truth`` puts its own: training set ``full_{dataset}``, one row
per (candidate, seed), accuracies as fractions, and a protocol whose settings say where the numbers come
from and how long the networks trained (``epochs``, which ``correlate`` uses to pick a truth). Importing
the same source again replaces its rows, so a re-import never leaves stale ones behind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from proxynas.errors import ProxynasError
from proxynas.identity import published_identity
from proxynas.spaces import SearchSpace
from proxynas.store import ResultRow, ResultsStore, truth_trainset


@dataclass(frozen=True)
class PublishedRun:
    """One published training run of one candidate."""

    candidate: str  # an id of the space
    seed: int
    val_acc: float  # what the truth ranks by (a fraction)
    test_acc: float  # a fraction
    train_loss: float | None = None
    seconds: float = 0.0  # training time the source reports, 0 when it reports none


@dataclass(frozen=True)
class PublishedTruth:
    space: str
    dataset: str
    protocol: str  # a readable key naming the source, e.g. 'NATS-tss-v1_0-3ffb9:cifar10:200ep:test'
    settings: dict[str, Any]  # stored with the protocol; holds at least 'epochs' and 'source'
    runs: tuple[PublishedRun, ...]
    device: str  # what the rows' device column says: where the numbers were measured

    @property
    def epochs(self) -> int:
        return int(self.settings["epochs"])

    def candidates(self) -> set[str]:
        return {r.candidate for r in self.runs}

    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs})


def check_accuracy(value: float, where: str) -> float:
    if not 0.0 <= value <= 1.0:
        raise ProxynasError(f"{where}: accuracy {value} is not between 0 and 1", "check the source's units")
    return value


def save_truth(store: ResultsStore, truth: PublishedTruth, space: SearchSpace) -> int:
    """Store ``truth`` (replacing an earlier import of the same protocol); returns the rows written."""
    if space.name != truth.space:
        raise ValueError(f"truth of {truth.space} given with space {space.name}")
    if not truth.runs:
        raise ProxynasError(f"no results to import from {truth.settings.get('source')}",
                            "check the file and the dataset")
    for run in truth.runs:
        space.parse(run.candidate)  # a clear error for an id of another space
    rows = [ResultRow(space=truth.space, candidate=run.candidate, trainset=truth_trainset(truth.dataset),
                      protocol=truth.protocol, seed=run.seed, dataset=truth.dataset, status="done",
                      val_acc=check_accuracy(run.val_acc, run.candidate),
                      test_acc=check_accuracy(run.test_acc, run.candidate), train_loss=run.train_loss,
                      seconds=run.seconds, epochs=truth.epochs, device=truth.device,
                      trainset_id=published_identity(truth.protocol), regime="published",
                      cost_method="published")
            for run in truth.runs]
    counts = Counter((r.candidate, r.seed) for r in rows)
    duplicate = next((key for key, n in counts.items() if n > 1), None)
    if duplicate is not None:
        raise ProxynasError(f"{duplicate[0]} seed {duplicate[1]} appears twice in the import",
                            "give each (candidate, seed) one accuracy")
    store.replace_protocol_rows(truth.space, published_identity(truth.protocol), truth.protocol, truth.settings,
                                rows)
    return len(rows)
