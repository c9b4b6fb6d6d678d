"""Intervals from half-samples of the candidates (each at most once) and resampled seeds, and the metrics
of :mod:`analysis.metrics` for many draws at once.

One draw (docs/metrics.md says why):

1. *candidates*: half of them, ``n // 2``, drawn without replacement, so no candidate is ever twice in
   a draw, let alone in a top-k set. Without replacement, half of n candidates vary as much as n drawn
   with replacement would (the finite-population correction is 1 - m/n = 1/2; the delete-d jackknife
   with d = n/2), so the spread needs no rescaling;
2. *seeds*: each drawn candidate's accuracy on each side is the mean of its seeds drawn again with
   replacement (ground-truth validation and test accuracy from the same seeds), so seed noise is in
   the interval whenever a side has several seeds.

The interval is the draws' percentile interval moved so that its median sits on the estimate (a metric
at a fixed k is easier on half the candidates; the move keeps that shift out), clipped to the metric's
range.

A ``*_rows`` function takes (B, n) arrays, one draw per row, and returns B values with NaN where the
metric is undefined. Each equals the scalar metric applied row by row (the tests check it) and exists
only because a thousand scipy calls per metric make a study slow.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis import metrics
from analysis.metrics import UndefinedMetric, kendall

PAIRWISE_LIMIT = 256  # above this many candidates Kendall's O(n^2) pair matrix loses to scipy's O(n log n)


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval; ``undefined`` draws (e.g. constant) were left out."""

    low: float
    high: float
    level: float
    resamples: int
    undefined: int


def half_samples(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n // 2) candidate indices, each row without repeats."""
    return np.argsort(rng.random((resamples, n)), axis=1)[:, : n // 2]


def seed_means(rng: np.random.Generator, resamples: int, first: np.ndarray, *more: np.ndarray) -> list[np.ndarray]:
    """(resamples, n) means of each candidate's seeds drawn with replacement; NaN in ``first`` = no run.

    ``more`` arrays (same shape) are averaged over the same drawn seeds. With one seed per candidate
    there is nothing to draw: every row is the plain mean.
    """
    arrays = [first, *more]
    ran = ~np.isnan(first)
    counts = ran.sum(axis=1)
    if counts.max(initial=0) <= 1:
        with warnings.catch_warnings():  # a run without a test accuracy: NaN, said by the metric
            warnings.simplefilter("ignore", RuntimeWarning)
            return [np.broadcast_to(np.nanmean(a, axis=1), (resamples, len(a))) for a in arrays]
    # pack each candidate's runs to the left, then draw counts[i] of them with replacement
    left = np.argsort(~ran, axis=1, kind="stable")
    packed = [np.take_along_axis(a, left, 1) for a in arrays]
    width = first.shape[1]
    picks = np.floor(rng.random((resamples, len(first), width)) * counts[None, :, None]).astype(int)
    used = np.arange(width)[None, None, :] < counts[None, :, None]
    out = []
    for p in packed:
        drawn = np.take_along_axis(np.broadcast_to(p, picks.shape), picks, 2)
        out.append(np.where(used, drawn, 0.0).sum(2) / counts[None, :])
    return out


def interval(point: float, values: np.ndarray, *, level: float = 0.95,
             bounds: tuple[float, float] = (-math.inf, math.inf), what: str = "draws") -> Interval:
    """The draws' percentile interval moved to have its median on ``point``, clipped to ``bounds``.

    Draws on which the metric is undefined (NaN) are left out and counted; if more than half are, so is
    the interval (:class:`UndefinedMetric` saying so).
    """
    resamples = len(values)
    values = values[~np.isnan(values)]
    undefined = resamples - len(values)
    if len(values) * 2 < resamples or not len(values):
        raise UndefinedMetric(f"no interval: undefined on {undefined} of {resamples} {what}")
    tail = (1 - level) / 2 * 100
    low, mid, high = np.percentile(values, [tail, 50, 100 - tail])
    low, high = point + (low - mid), point + (high - mid)
    return Interval(float(max(low, bounds[0])), float(min(high, bounds[1])), level, resamples, undefined)


def bootstrap(
    metric: Callable[..., float],
    *arrays: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 1000,
    level: float = 0.95,
    rows: Callable[..., np.ndarray] | None = None,
) -> Interval:
    """Interval of ``metric(*arrays)`` over half-samples of the candidates (one value per candidate each).

    One draw picks the same candidates from each array. ``rows`` is the same metric for all draws at
    once; it changes the speed, not the result.
    """
    columns = [np.asarray(a, dtype=float) for a in arrays]
    n = len(columns[0])
    if n == 0 or any(len(c) != n for c in columns):
        raise ValueError("bootstrap needs aligned, non-empty arrays")
    point = float(metric(*columns))
    picks = half_samples(n, resamples, rng)
    if rows is not None:
        values = np.asarray(rows(*(c[picks] for c in columns)), dtype=float)
    else:
        values = np.array([_or_nan(metric, *(c[pick] for c in columns)) for pick in picks])
    return interval(point, values, level=level, what=f"half-samples of {n // 2} candidates")


def _or_nan(metric: Callable[..., float], *arrays: np.ndarray) -> float:
    try:
        return float(metric(*arrays))
    except UndefinedMetric:
        return math.nan


def _too_few(values: np.ndarray, k: int) -> bool:
    return values.shape[-1] < k


def membership_rows(values: np.ndarray, k: int) -> np.ndarray:
    """:func:`analysis.metrics.membership` of every row."""
    boundary = -np.sort(-values, axis=-1)[:, k - 1:k]
    above, tied = values > boundary, values == boundary
    share = (k - above.sum(-1, keepdims=True)) / np.maximum(tied.sum(-1, keepdims=True), 1)
    return np.where(above, 1.0, np.where(tied, share, 0.0))


def spearman_rows(proxy: np.ndarray, truth: np.ndarray) -> np.ndarray:
    a, b = stats.rankdata(proxy, axis=-1), stats.rankdata(truth, axis=-1)
    a -= a.mean(axis=-1, keepdims=True)
    b -= b.mean(axis=-1, keepdims=True)
    scale = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (a * b).sum(axis=-1) / scale, np.nan)


def kendall_rows(proxy: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Kendall's tau-b: concordance over pairs, each side's tied pairs left out of its normaliser."""
    n = proxy.shape[-1]
    if n > PAIRWISE_LIMIT:
        return np.array([_or_nan(kendall, p, t) for p, t in zip(proxy, truth, strict=True)])
    i, j = np.triu_indices(n, 1)
    out = np.empty(proxy.shape[0])
    step = max(1, 4_000_000 // max(len(i), 1))
    for start in range(0, proxy.shape[0], step):
        sp = np.sign(proxy[start:start + step, i] - proxy[start:start + step, j])
        st = np.sign(truth[start:start + step, i] - truth[start:start + step, j])
        scale = np.sqrt((sp * sp).sum(-1) * (st * st).sum(-1))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + step] = np.where(scale > 0, (sp * st).sum(-1) / scale, np.nan)
    return out


def top_k_spearman_rows(proxy: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    out = np.full(truth.shape[0], np.nan)
    if _too_few(truth, k) or k < 2:
        return out
    ranked = np.argsort(-truth, axis=-1, kind="stable")
    boundary = np.take_along_axis(truth, ranked[:, k - 1:k], -1)
    sizes = (truth >= boundary).sum(-1)  # every candidate tied with the k-th is in
    for size in np.unique(sizes):
        rows = np.flatnonzero(sizes == size)
        best = ranked[rows, :size]
        out[rows] = spearman_rows(np.take_along_axis(proxy[rows], best, -1),
                                  np.take_along_axis(truth[rows], best, -1))
    return out


def precision_at_k_rows(proxy: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    if _too_few(truth, k):
        return np.full(truth.shape[0], np.nan)
    return (membership_rows(proxy, k) * membership_rows(truth, k)).sum(-1) / k


def best_true_rank_in_top_k_rows(proxy: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    if _too_few(truth, k):
        return np.full(truth.shape[0], np.nan)
    if k == 1:  # the mean true rank of the proxy's tied favourites
        pick = membership_rows(proxy, 1)
        return (pick * stats.rankdata(-truth, method="min", axis=-1)).sum(-1)
    return np.array([metrics.best_true_rank_in_top_k(p, t, k) for p, t in zip(proxy, truth, strict=True)])


def regret_rows(proxy: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return truth.max(-1) - (membership_rows(proxy, 1) * truth).sum(-1)
