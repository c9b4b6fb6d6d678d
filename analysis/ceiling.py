"""The noise ceiling: how well any ranking can be expected to agree with a ground truth that is itself
a mean over noisy seeds (docs/metrics.md says why and how).

Proxies are scored against the mean of the ground truth's S seeds, so the ceiling is on that footing:

- Spearman's rho and Kendall's tau over all candidates: the agreement the noise-free ground truth
  would reach with the S-seed mean. Two seeds agree by r on average (each pair's correlation, made a
  Pearson correlation under a normal model: 2 sin(pi rho / 6), sin(pi tau / 2)); the mean of S seeds
  then has reliability R = S r / (1 + (S - 1) r) (Spearman-Brown) and the noise-free truth correlates
  with it by sqrt(R), given back as rho or tau. No ranking can expect more, however good.
- every other metric (top k, precision, best rank, regret): one ground-truth run ranked against the
  mean of the other seeds, averaged over which seed is left out: what training every candidate once
  more on the full data would score. It is a reference, not a bound.

Intervals: the same half-samples of the candidates as the proxies' (the seeds are what is compared,
so they are not drawn again).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import combinations

import numpy as np

from analysis import bootstrap as fast
from analysis import metrics
from analysis.metrics import UndefinedMetric
from analysis.scores import METRICS, Metric, MetricValue

# correlation -> (to a Pearson correlation, back), for a bivariate normal
TO_PEARSON: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "spearman": (lambda rho: 2 * math.sin(math.pi * rho / 6), lambda r: 6 / math.pi * math.asin(r / 2)),
    "kendall": (lambda tau: math.sin(math.pi * tau / 2), lambda r: 2 / math.pi * math.asin(r)),
}
PAIRED = {"spearman": (metrics.spearman, fast.spearman_rows), "kendall": (metrics.kendall, fast.kendall_rows)}


def corrected(name: str, between_seeds: float, seeds: int) -> float:
    """The expected correlation of the noise-free truth with the mean of ``seeds`` seeds."""
    to, back = TO_PEARSON[name]
    r = to(between_seeds)
    if r <= 0:
        raise UndefinedMetric(f"the ground-truth seeds do not agree ({name} between seeds {between_seeds:.3f})")
    reliability = seeds * r / (1 + (seeds - 1) * r)
    return back(math.sqrt(reliability))


def _others(values: np.ndarray, s: int) -> np.ndarray:
    return np.delete(values, s, axis=-1).mean(axis=-1)


def _point(m: Metric, val: np.ndarray, test: np.ndarray) -> float:
    seeds = val.shape[1]
    if m.name in PAIRED:
        one = PAIRED[m.name][0]
        mean = float(np.mean([one(val[:, a], val[:, b]) for a, b in combinations(range(seeds), 2)]))
        return corrected(m.name, mean, seeds)
    return float(np.mean([m.compute(val[:, s], _others(val, s), _others(test, s)) for s in range(seeds)]))


def _rows(m: Metric, val: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The same for (B, m, S) draws: B values, NaN where undefined."""
    seeds = val.shape[-1]
    if m.name in PAIRED:
        rows = PAIRED[m.name][1]
        mean = np.mean([rows(val[..., a], val[..., b]) for a, b in combinations(range(seeds), 2)], axis=0)
        return np.array([math.nan if math.isnan(x) else _or_nan(m.name, x, seeds) for x in mean])
    return np.mean([m.rows(val[..., s], _others(val, s), _others(test, s)) for s in range(seeds)], axis=0)


def _or_nan(name: str, between: float, seeds: int) -> float:
    try:
        return corrected(name, between, seeds)
    except UndefinedMetric:
        return math.nan


def ceiling_scores(val: np.ndarray, test: np.ndarray, *, seed: int, resamples: int) -> dict[str, MetricValue]:
    """Every metric's noise ceiling from (candidates, seeds) ground-truth accuracies, every seed present."""
    if val.shape[1] < 2 or np.isnan(val).any():
        raise ValueError("the noise ceiling needs every candidate's accuracy on two or more seeds")
    n = len(val)
    picks = fast.half_samples(n, resamples, np.random.default_rng(seed)) if resamples > 0 else None
    out = {}
    for m in METRICS:
        try:
            value = _point(m, val, test)
        except UndefinedMetric as why:
            out[m.name] = MetricValue(m.name, None, reason=str(why))
            continue
        if picks is None:
            out[m.name] = MetricValue(m.name, value)
            continue
        try:
            iv = fast.interval(value, _rows(m, val[picks], test[picks]), bounds=m.bounds,
                               what=f"half-samples of {n // 2} candidates")
            out[m.name] = MetricValue(m.name, value, iv)
        except UndefinedMetric as why:
            out[m.name] = MetricValue(m.name, value, reason=str(why))
    return out
