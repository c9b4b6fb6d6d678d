"""Bootstrap intervals over candidates, and the metrics of :mod:`analysis.metrics` for many draws at once.

A ``*_rows`` function takes (B, n) arrays, one resample per row, and returns B values with NaN where
the metric is undefined. Each equals the scalar metric applied row by row (the tests check it) and
exists only because a thousand scipy calls per metric make a study slow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.metrics import UndefinedMetric, kendall

PAIRWISE_LIMIT = 256  # above this many candidates Kendall's O(n^2) pair matrix loses to scipy's O(n log n)


@dataclass(frozen=True)
class Interval:
    """A bootstrap percentile interval; ``undefined`` resamples (e.g. constant) were left out."""

    low: float
    high: float
    level: float
    resamples: int
    undefined: int


def bootstrap(
    metric: Callable[..., float],
    *arrays: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 1000,
    level: float = 0.95,
    rows: Callable[..., np.ndarray] | None = None,
) -> Interval:
    """Percentile interval of ``metric(*arrays)`` over candidates drawn with replacement.

    Every array holds one value per candidate; one draw picks the same candidates from each. Draws on
    which the metric is undefined are skipped and counted; if more than half are, so is the interval.
    ``rows`` is the same metric for all draws at once; it changes the speed, not the result.
    """
    columns = [np.asarray(a, dtype=float) for a in arrays]
    n = len(columns[0])
    if n == 0 or any(len(c) != n for c in columns):
        raise ValueError("bootstrap needs aligned, non-empty arrays")
    picks = rng.integers(0, n, size=(resamples, n))
    if rows is not None:
        values = np.asarray(rows(*(c[picks] for c in columns)), dtype=float)
    else:
        values = np.array([_or_nan(metric, *(c[pick] for c in columns)) for pick in picks])
    values = values[~np.isnan(values)]
    undefined = resamples - len(values)
    if len(values) * 2 < resamples:
        raise UndefinedMetric(f"no interval: undefined on {undefined} of {resamples} resamples")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high), level, resamples, undefined)


def _or_nan(metric: Callable[..., float], *arrays: np.ndarray) -> float:
    try:
        return float(metric(*arrays))
    except UndefinedMetric:
        return math.nan


def _order_rows(values: np.ndarray) -> np.ndarray:
    return np.argsort(-values, axis=-1, kind="stable")


def _too_few(values: np.ndarray, k: int) -> bool:
    return values.shape[-1] < k


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
    if _too_few(truth, k):
        return np.full(truth.shape[0], np.nan)
    best = _order_rows(truth)[:, :k]
    return spearman_rows(np.take_along_axis(proxy, best, -1), np.take_along_axis(truth, best, -1))


def precision_at_k_rows(proxy: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    if _too_few(truth, k):
        return np.full(truth.shape[0], np.nan)
    in_truth_top = np.zeros(truth.shape, dtype=bool)
    np.put_along_axis(in_truth_top, _order_rows(truth)[:, :k], True, -1)
    return np.take_along_axis(in_truth_top, _order_rows(proxy)[:, :k], -1).sum(-1) / k


def best_true_rank_in_top_k_rows(proxy: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    if _too_few(truth, k):
        return np.full(truth.shape[0], np.nan)
    ranks = stats.rankdata(-truth, method="min", axis=-1)
    return np.take_along_axis(ranks, _order_rows(proxy)[:, :k], -1).min(-1).astype(float)


def regret_rows(proxy: np.ndarray, truth: np.ndarray) -> np.ndarray:
    pick = _order_rows(proxy)[:, :1]
    return truth.max(-1) - np.take_along_axis(truth, pick, -1)[:, 0]
