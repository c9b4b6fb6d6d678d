"""How well one ranking agrees with another: pure functions of two aligned accuracy arrays.

Every function takes ``proxy`` and ``truth``: one value per candidate, in the same candidate order,
higher is better. Conventions, the same in every function (docs/metrics.md says why):

- Correlations use scipy's average ranks for ties (Spearman rho, Kendall tau-b).
- A *top-k set chosen by a ranking* (the proxy's shortlist, the truth's top k for precision) never
  looks at names or positions: candidates tied at the boundary share the remaining places, each with
  the same chance, and a metric is its expected value over those random tie-breaks. A candidate's
  *membership* is that chance: 1 above the boundary, (places left) / (tied) on it, 0 below.
- The *top k by truth* over which top-k Spearman is computed holds every candidate at least as good as
  the k-th best: all ties at the boundary are in (the same set for every proxy).
- A *true rank* is 1 for the best candidate; tied candidates share the best of their ranks (1, 1, 3).
- A metric that has no value raises :class:`UndefinedMetric` saying why: a constant ranking (and on
  which side) has no correlation, a correlation needs two candidates, and a metric at k needs at least
  k candidates (precision@10 over 6 candidates would be a trivial 1.0, so it is undefined).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import stats

CONSTANT = "constant ranking"


class UndefinedMetric(ValueError):
    """The metric has no value for these inputs; ``str(err)`` says why (e.g. 'constant ranking ...')."""


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
    """Candidate indices best first; ties keep their input order (for display only, never for a metric)."""
    return np.argsort(-np.asarray(values, dtype=float), kind="stable")


def true_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, best = 1, ties share the best rank of their group."""
    return stats.rankdata(-np.asarray(values, dtype=float), method="min").astype(int)


def top_fraction(n: int, fraction: float) -> int:
    """How many candidates the top ``fraction`` of ``n`` holds (at least one)."""
    return max(1, math.ceil(n * fraction))


def membership(values: np.ndarray, k: int) -> np.ndarray:
    """Each candidate's chance to be in the top k when ties at the boundary are broken at random."""
    values = np.asarray(values, dtype=float)
    _need(len(values), k)
    boundary = np.sort(values)[::-1][k - 1]
    above, tied = values > boundary, values == boundary
    return np.where(above, 1.0, np.where(tied, (k - above.sum()) / tied.sum(), 0.0))


def top_group(values: np.ndarray) -> np.ndarray:
    """Indices of the candidates tied for best: a ranking's pick, when it cannot tell them apart."""
    values = np.asarray(values, dtype=float)
    return np.flatnonzero(values == values.max())


def _correlation(test: Callable[..., object], proxy: np.ndarray, truth: np.ndarray) -> float:
    proxy, truth = _pair(proxy, truth)
    if len(proxy) < 2:
        raise UndefinedMetric(f"fewer than 2 shared candidates ({len(proxy)})")
    if np.ptp(proxy) == 0:
        raise UndefinedMetric(f"{CONSTANT}: all {len(proxy)} candidates tie on the ranked side")
    if np.ptp(truth) == 0:
        raise UndefinedMetric(f"{CONSTANT}: all {len(truth)} candidates tie on the ground truth")
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


def top_by_truth(truth: np.ndarray, k: int) -> np.ndarray:
    """Indices of every candidate at least as good as the k-th best by truth (ties at the boundary in)."""
    truth = np.asarray(truth, dtype=float)
    _need(len(truth), k)
    return np.flatnonzero(truth >= np.sort(truth)[::-1][k - 1])


def top_k_spearman(proxy: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Spearman's rho over the k best candidates by ground truth (as the DC NAS studies report it)."""
    proxy, truth = _pair(proxy, truth)
    _need(len(truth), k)
    if k < 2:
        raise UndefinedMetric(f"k={k}: a correlation needs at least 2 candidates")
    best = top_by_truth(truth, k)
    try:
        return spearman(proxy[best], truth[best])
    except UndefinedMetric as why:
        raise UndefinedMetric(f"{why} (top {k} by truth: {len(best)} candidates)") from None


def top_fraction_spearman(proxy: np.ndarray, truth: np.ndarray, fraction: float) -> float:
    """Spearman's rho over the top ``fraction`` of the candidates by ground truth (rounded up)."""
    n = len(truth)
    k = top_fraction(n, fraction)
    if k < 2 <= n:
        raise UndefinedMetric(f"{fraction:.0%} of {n} candidates is k={k}: a correlation needs at least 2")
    return top_k_spearman(proxy, truth, k)


def precision_at_k(proxy: np.ndarray, truth: np.ndarray, k: int) -> float:
    """The expected share of the proxy's top k that is also in the ground truth's top k."""
    proxy, truth = _pair(proxy, truth)
    _need(len(truth), k)
    return float(np.dot(membership(proxy, k), membership(truth, k)) / k)


def best_true_rank_in_top_k(proxy: np.ndarray, truth: np.ndarray, k: int) -> float:
    """The expected best true rank among the proxy's top k: 1 when its shortlist surely holds a best one."""
    proxy, truth = _pair(proxy, truth)
    _need(len(truth), k)
    ranks = true_ranks(truth).astype(float)
    boundary = np.sort(proxy)[::-1][k - 1]
    sure = ranks[proxy > boundary]
    tied = np.sort(ranks[proxy == boundary])
    slots = k - len(sure)
    best_sure = sure.min() if len(sure) else math.inf
    # the best of `slots` drawn from the tied group is its j-th best with chance C(g-1-j, slots-1) / C(g, slots)
    g, total = len(tied), math.comb(len(tied), slots)
    return float(sum(math.comb(g - 1 - j, slots - 1) / total * min(best_sure, tied[j])
                     for j in range(g - slots + 1)))


def regret(proxy: np.ndarray, truth: np.ndarray) -> float:
    """Truth's best value minus the expected value of the proxy's pick (0 = no loss), in truth's units.

    The pick is the proxy's best candidate; when several tie for best, each is equally likely.
    """
    proxy, truth = _pair(proxy, truth)
    _need(len(truth), 1)
    return float(truth.max() - truth[top_group(proxy)].mean())
