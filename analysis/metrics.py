"""How well one ranking agrees with another: pure functions of two aligned accuracy arrays.

Every function takes ``proxy`` and ``truth``: one value per candidate, in the same candidate order,
higher is better. Conventions, the same in every function:

- Correlations use scipy's average ranks for ties (Spearman rho, Kendall tau-b).
- A *top-k set* orders candidates best first and breaks ties by position (the first listed wins),
  so it always holds exactly k candidates and the result is reproducible.
- A *true rank* is 1 for the best candidate; tied candidates share the best of their ranks (1, 1, 3).
- A metric that has no value raises :class:`UndefinedMetric` with the reason: a constant ranking has
  no correlation, and a metric at k needs at least k candidates (precision@10 over 6 candidates would be
  a trivial 1.0, so it is undefined, not computed on what there is).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import stats

CONSTANT = "constant ranking"


class UndefinedMetric(ValueError):
    """The metric has no value for these inputs; ``str(err)`` says why (e.g. 'constant ranking')."""


def _pair(proxy: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proxy, truth = np.asarray(proxy, dtype=float), np.asarray(truth, dtype=float)
    if proxy.shape != truth.shape or proxy.ndim != 1:
        raise ValueError(f"need two aligned 1-D arrays, got shapes {proxy.shape} and {truth.shape}")
    return proxy, truth


def _need(n: int, k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if n < k:
        raise UndefinedMetric(f"only {n} candidates for k={k}")


def order(values: np.ndarray) -> np.ndarray:
    """Candidate indices best first; ties keep their input order."""
    return np.argsort(-np.asarray(values, dtype=float), kind="stable")


def true_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, best = 1, ties share the best rank of their group."""
    return stats.rankdata(-np.asarray(values, dtype=float), method="min").astype(int)


def top_fraction(n: int, fraction: float) -> int:
    """How many candidates the top ``fraction`` of ``n`` holds (at least one)."""
    return max(1, math.ceil(n * fraction))


def _correlation(test: Callable[..., object], proxy: np.ndarray, truth: np.ndarray) -> float:
    proxy, truth = _pair(proxy, truth)
    if len(proxy) < 2:
        raise UndefinedMetric(f"only {len(proxy)} candidate(s), need 2")
    if np.ptp(proxy) == 0 or np.ptp(truth) == 0:
        raise UndefinedMetric(CONSTANT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(test(proxy, truth).statistic)
    if not math.isfinite(value):
        raise UndefinedMetric(CONSTANT)
    return value


def spearman(proxy: np.ndarray, truth: np.ndarray) -> float:
    """Spearman's rho over all candidates."""
    return _correlation(stats.spearmanr, proxy, truth)


def kendall(proxy: np.ndarray, truth: np.ndarray) -> float:
    """Kendall's tau-b over all candidates."""
    return _correlation(stats.kendalltau, proxy, truth)


def top_k_spearman(proxy: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Spearman's rho over the k best candidates by ground truth (as the DC NAS studies report it)."""
    proxy, truth = _pair(proxy, truth)
    _need(len(truth), k)
    best = order(truth)[:k]
    return spearman(proxy[best], truth[best])


def precision_at_k(proxy: np.ndarray, truth: np.ndarray, k: int) -> float:
    """The share of the proxy's top k that is also in the ground truth's top k."""
    proxy, truth = _pair(proxy, truth)
    _need(len(truth), k)
    return len(set(order(proxy)[:k]) & set(order(truth)[:k])) / k


def best_true_rank_in_top_k(proxy: np.ndarray, truth: np.ndarray, k: int) -> int:
    """The best true rank among the proxy's top k: 1 when the proxy's shortlist holds a best candidate."""
    proxy, truth = _pair(proxy, truth)
    _need(len(truth), k)
    return int(true_ranks(truth)[order(proxy)[:k]].min())


def regret(proxy: np.ndarray, truth: np.ndarray) -> float:
    """Truth's value of the best candidate minus that of the proxy's pick (0 = no loss), in truth's units."""
    proxy, truth = _pair(proxy, truth)
    _need(len(truth), 1)
    return float(truth.max() - truth[order(proxy)[0]])
