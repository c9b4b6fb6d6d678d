"""The metrics a study reports, by name, and their values with bootstrap intervals.

A metric sees three aligned arrays, one value per candidate: the proxy's mean validation accuracy,
the ground truth's mean validation accuracy (both rank the candidates) and the ground truth's mean
test accuracy (regret is measured in it: what trusting the proxy costs in final test accuracy).
Intervals come from :mod:`analysis.bootstrap`: half-samples of the candidates, and each side's seeds
drawn again when it has several (:func:`evaluate_tables`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis import bootstrap as fast
from analysis import metrics
from analysis.bootstrap import Interval
from analysis.metrics import UndefinedMetric
from analysis.seeds import SeedTable, mean_of

TOP_KS = (5, 10, 20, 30)
TOP_FRACTION = 0.05  # "top 5%": ceil(5% of the candidates)


@dataclass(frozen=True)
class Metric:
    name: str  # stable key for CSV and JSON, e.g. "spearman@top10"
    label: str  # for people, e.g. "Spearman ρ, top 10 by truth"
    compute: Callable[[np.ndarray, np.ndarray, np.ndarray], float]  # (proxy, truth, truth_test)
    rows: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # the same for (B, n) resamples
    higher_is_better: bool = True
    correlation_like: bool = True  # a value in [-1, 1] or [0, 1]: shown on the heatmap
    digits: int = 3
    bounds: tuple[float, float] = (-1.0, 1.0)  # the values it can take; intervals are clipped to them


def _regret_points(proxy: np.ndarray, truth: np.ndarray, truth_test: np.ndarray) -> float:
    if np.isnan(truth_test).any():
        raise UndefinedMetric("ground truth has no test accuracy")
    return 100 * metrics.regret(proxy, truth_test)


def _regret_points_rows(proxy: np.ndarray, truth: np.ndarray, truth_test: np.ndarray) -> np.ndarray:
    return 100 * fast.regret_rows(proxy, truth_test)


def _top_fraction(truth: np.ndarray) -> int:
    return metrics.top_fraction(truth.shape[-1], TOP_FRACTION)


def _catalog() -> tuple[Metric, ...]:
    out = [
        Metric("spearman", "Spearman ρ", lambda p, t, _: metrics.spearman(p, t),
               lambda p, t, _: fast.spearman_rows(p, t)),
        Metric("kendall", "Kendall τ", lambda p, t, _: metrics.kendall(p, t),
               lambda p, t, _: fast.kendall_rows(p, t)),
    ]
    out += [Metric(f"spearman@top{k}", f"Spearman ρ, top {k} by truth",
                   lambda p, t, _, k=k: metrics.top_k_spearman(p, t, k),
                   lambda p, t, _, k=k: fast.top_k_spearman_rows(p, t, k)) for k in TOP_KS]
    out.append(Metric("spearman@top5%", "Spearman ρ, top 5% by truth",
                      lambda p, t, _: metrics.top_fraction_spearman(p, t, TOP_FRACTION),
                      lambda p, t, _: fast.top_k_spearman_rows(p, t, _top_fraction(t))))
    out += [Metric(f"precision@{k}", f"Precision@{k} (shared top {k})",
                   lambda p, t, _, k=k: metrics.precision_at_k(p, t, k),
                   lambda p, t, _, k=k: fast.precision_at_k_rows(p, t, k), digits=2, bounds=(0.0, 1.0))
            for k in TOP_KS]
    out += [Metric(f"best_rank@{k}", f"Best true rank in proxy's top {k} (expected)",
                   lambda p, t, _, k=k: metrics.best_true_rank_in_top_k(p, t, k),
                   lambda p, t, _, k=k: fast.best_true_rank_in_top_k_rows(p, t, k),
                   higher_is_better=False, correlation_like=False, digits=1, bounds=(1.0, math.inf))
            for k in (1, 5, 10)]
    out.append(Metric("regret", "Regret (test accuracy, % points)", _regret_points, _regret_points_rows,
                      higher_is_better=False, correlation_like=False, digits=2, bounds=(0.0, 100.0)))
    return tuple(out)


METRICS: tuple[Metric, ...] = _catalog()


def metric(name: str) -> Metric:
    for m in METRICS:
        if m.name == name:
            return m
    raise KeyError(name)


@dataclass(frozen=True)
class MetricValue:
    """One metric's value for one comparison, or ``None`` with the reason it has none."""

    metric: str
    value: float | None
    interval: Interval | None = None
    reason: str | None = None  # why value (or only the interval) is missing

    def text(self, digits: int = 3, interval: bool = True) -> str:
        if self.value is None:
            return f"undefined ({self.reason})"
        out = f"{self.value:.{digits}f}"
        if interval and self.interval is not None:
            out += f" [{self.interval.low:.{digits}f}, {self.interval.high:.{digits}f}]"
        elif interval and self.reason:  # the value stands, its interval does not: the tables say why below
            out += " (no interval)"
        return out

    def to_dict(self) -> dict[str, Any]:
        iv = self.interval
        return {"value": self.value, "reason": self.reason,
                "interval": None if iv is None else {
                    "low": iv.low, "high": iv.high, "level": iv.level,
                    "resamples": iv.resamples, "undefined_resamples": iv.undefined}}


Score = MetricValue  # its name before a scorer's score of a candidate took the word; kept for users


def _point(m: Metric, proxy: np.ndarray, truth: np.ndarray, truth_test: np.ndarray) -> MetricValue | float:
    try:
        return float(m.compute(proxy, truth, truth_test))
    except UndefinedMetric as why:
        return MetricValue(m.name, None, reason=str(why))


def _with_interval(m: Metric, value: float, draws: tuple[np.ndarray, ...] | None, what: str) -> MetricValue:
    if draws is None:
        return MetricValue(m.name, value)
    try:
        iv = fast.interval(value, np.asarray(m.rows(*draws), dtype=float), bounds=m.bounds, what=what)
    except UndefinedMetric as why:
        return MetricValue(m.name, value, reason=str(why))
    return MetricValue(m.name, value, iv)


def evaluate(m: Metric, proxy: np.ndarray, truth: np.ndarray, truth_test: np.ndarray,
             *, seed: int, resamples: int) -> MetricValue:
    """The metric and its 95% interval over half-samples of the candidates (one value each)."""
    return evaluate_all(proxy, truth, truth_test, seed=seed, resamples=resamples, only=(m,))[m.name]


def evaluate_all(proxy: np.ndarray, truth: np.ndarray, truth_test: np.ndarray, *, seed: int, resamples: int,
                 only: tuple[Metric, ...] = METRICS) -> dict[str, MetricValue]:
    """Every metric with its interval over half-samples of the candidates; no seed noise (one value each)."""
    arrays = [np.asarray(a, dtype=float)[:, None] for a in (proxy, truth, truth_test)]
    return _evaluate(*arrays, seed=seed, resamples=resamples, only=only)


def evaluate_tables(proxy: SeedTable, truth: SeedTable, *, seed: int, resamples: int) -> dict[str, MetricValue]:
    """Every metric of the seed means, with intervals over half-samples of the candidates and, where a
    side has several seeds, over its seeds drawn again; both tables hold the same candidates in order."""
    if proxy.candidates != truth.candidates:
        raise ValueError("the two sides must list the same candidates in the same order")
    return _evaluate(proxy.val, truth.val, truth.test, seed=seed, resamples=resamples)


def _evaluate(proxy: np.ndarray, truth: np.ndarray, truth_test: np.ndarray, *, seed: int, resamples: int,
              only: tuple[Metric, ...] = METRICS) -> dict[str, MetricValue]:
    """(candidates, seeds) arrays in; every metric of the seed means, with its interval."""
    means = (mean_of(proxy), mean_of(truth), mean_of(truth_test, truth))
    n = len(proxy)
    draws, what = None, ""
    if resamples > 0 and n:
        rng = np.random.default_rng(seed)
        picks = fast.half_samples(n, resamples, rng)
        (p,) = fast.seed_means(rng, resamples, proxy)
        t, tt = fast.seed_means(rng, resamples, truth, truth_test)
        draws = tuple(np.take_along_axis(a, picks, 1) for a in (p, t, tt))
        what = f"half-samples of {n // 2} candidates"
    out = {}
    for m in only:
        value = _point(m, *means)
        out[m.name] = value if isinstance(value, MetricValue) else _with_interval(m, value, draws, what)
    return out
