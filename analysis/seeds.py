"""A side's accuracies per candidate and seed, with every failed run counted at chance accuracy.

A run that failed (diverged, ran out of memory) gives a model no better than a guess, so it counts at
chance accuracy, 1 / the dataset's classes, on the side where it failed: dropping it would score a
proxy that makes weak candidates diverge on an easier subset. Should a finished run on that side be
worse than a guess, failed runs count at its accuracy instead, so that no finished run ranks below a
failed one. A candidate is the mean of its runs, so one whose every run failed is last, tied with the
others like it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.sides import Side
from proxynas.datasets import dataset_info


def chance(dataset: str) -> float:
    """The accuracy of a guess on ``dataset``: 1 / its classes."""
    return 1.0 / dataset_info(dataset).num_classes


@dataclass(frozen=True)
class SeedTable:
    """Validation and test accuracy, candidate x seed (NaN where that seed was not run)."""

    candidates: tuple[str, ...]
    seeds: tuple[int, ...]
    val: np.ndarray  # (candidates, seeds)
    test: np.ndarray  # (candidates, seeds); NaN also where a finished run has no test accuracy
    failed: np.ndarray  # (candidates,) bool: at least one run failed (and counts at chance)

    def take(self, ids: Sequence[str]) -> SeedTable:
        """The rows of ``ids``, in that order."""
        where = {c: i for i, c in enumerate(self.candidates)}
        pick = [where[c] for c in ids]
        return SeedTable(tuple(ids), self.seeds, self.val[pick], self.test[pick], self.failed[pick])

    def mean_val(self) -> np.ndarray:
        return mean_of(self.val)

    def mean_test(self) -> np.ndarray:
        return mean_of(self.test, self.val)

    def runs(self) -> np.ndarray:
        """How many seeds each candidate has."""
        return (~np.isnan(self.val)).sum(axis=1)


def mean_of(values: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Each row's mean over the seeds that were run (not NaN in ``present``, default ``values``); NaN
    where a run that exists lacks the value (a finished run without a test accuracy)."""
    present = values if present is None else present
    ran = ~np.isnan(present)
    if np.isnan(values[ran]).any():  # a run without this value: the mean is unknown, not the others'
        out = np.full(len(values), math.nan)
        ok = ~(np.isnan(values) & ran).any(axis=1)
        out[ok] = np.nanmean(values[ok], axis=1)
        return out
    return np.nanmean(np.where(ran, values, np.nan), axis=1)


def seed_table(side: Side, dataset: str, candidates: Iterable[str] | None = None) -> SeedTable:
    """The side's runs of ``candidates`` (default: all it has), failed runs at chance accuracy."""
    wanted = set(side.candidates() if candidates is None else candidates)
    rows = [r for r in side.rows if r.candidate in wanted]
    ids = tuple(sorted({r.candidate for r in rows}))
    seeds = tuple(sorted({r.seed for r in rows}))
    at, col = {c: i for i, c in enumerate(ids)}, {s: j for j, s in enumerate(seeds)}
    val = np.full((len(ids), len(seeds)), math.nan)
    test = np.full_like(val, math.nan)
    lost = np.zeros_like(val, dtype=bool)
    for r in rows:
        i, j = at[r.candidate], col[r.seed]
        if r.status == "done":
            val[i, j] = math.nan if r.value is None else r.value
            test[i, j] = math.nan if r.test is None else r.test
        else:
            lost[i, j] = True
    if lost.any():
        guess = chance(dataset)
        for values in (val, test):
            finished = values[~lost & ~np.isnan(values)]
            values[lost] = min(guess, finished.min()) if len(finished) else guess
    return SeedTable(ids, seeds, val, test, lost.any(axis=1))
