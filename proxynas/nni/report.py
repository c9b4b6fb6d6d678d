"""The candidates an experiment tried, best first, and how its pick fares against what the store knows.

Where the store holds every candidate of the space trained on the same proxy (an exhaustive
``proxynas search``), the pick is placed among all of them; where it holds the ground truth
(``proxynas truth``), the pick's full-data accuracy is placed among the truth's candidates.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from proxynas.store import ResultRow, ResultsStore, truth_trainset


@dataclass(frozen=True)
class Scored:
    """One candidate's accuracies, averaged over the seeds stored for it."""

    candidate: str
    val_acc: float
    test_acc: float
    seeds: int


@dataclass(frozen=True)
class Standing:
    """Where the pick stands in a reference ranking (by validation accuracy, best is 1)."""

    reference: str  # what was ranked, in words
    rank: int
    total: int
    pick: Scored
    best: Scored


def scored(rows: Iterable[ResultRow]) -> list[Scored]:
    """Finished candidates, best validation accuracy first (ties by id)."""
    groups: dict[str, list[ResultRow]] = {}
    for row in rows:
        if row.status == "done" and row.val_acc is not None:
            groups.setdefault(row.candidate, []).append(row)
    out = [Scored(c, statistics.fmean(r.val_acc for r in g), statistics.fmean(r.test_acc or 0.0 for r in g),
                  len(g)) for c, g in groups.items()]
    return sorted(out, key=lambda s: (-s.val_acc, s.candidate))


def tried(store: ResultsStore, space: str, trainset_id: str, protocol: str, seed: int,
          candidates: Iterable[str]) -> list[Scored]:
    """The experiment's candidates as its trials stored them (this proxy by content, protocol and seed), best
    first."""
    wanted = set(candidates)
    rows = store.rows(space=space, trainset_id=trainset_id, protocol=protocol, seed=seed)
    return scored(r for r in rows if r.candidate in wanted)


def standing(ranking: list[Scored], pick: str, reference: str) -> Standing | None:
    ids = [s.candidate for s in ranking]
    if pick not in ids:
        return None
    at = ids.index(pick)
    return Standing(reference, at + 1, len(ranking), ranking[at], ranking[0])


def exhaustive_standing(store: ResultsStore, space: str, space_size: int, trainset: str, protocol: str,
                        pick: str, trainset_id: str) -> Standing | None:
    """The pick among all candidates on the same proxy (by content), if the store holds all of them."""
    ranking = scored(store.rows(space=space, trainset_id=trainset_id, protocol=protocol))
    if len(ranking) < space_size:
        return None
    return standing(ranking, pick, f"exhaustive search on {trainset} ({len(ranking)} candidates)")


def truth_standing(store: ResultsStore, space: str, dataset: str, pick: str) -> Standing | None:
    """The pick in the ground truth (the training set, protocol and regime with the most candidates), if the
    truth has it."""
    trainset = truth_trainset(dataset)
    by_protocol: dict[tuple[str, str, str], list[ResultRow]] = {}
    for row in store.rows(space=space, trainset=trainset):
        by_protocol.setdefault((row.trainset_id, row.protocol, row.regime), []).append(row)
    if not by_protocol:
        return None
    rows = max(by_protocol.values(), key=lambda rs: len({r.candidate for r in rs}))
    ranking = scored(rows)
    return standing(ranking, pick, f"ground truth {trainset} ({len(ranking)} candidates, "
                                   f"{rows[0].epochs} epochs on the full training split)")
