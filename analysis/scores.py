"""The metrics a study reports, by name, and their values with bootstrap intervals.

A metric sees three aligned arrays, one value per candidate: the proxy's mean validation accuracy,
the ground truth's mean validation accuracy (both rank the candidates) and the ground truth's mean
test accuracy (regret is measured in it: what trusting the proxy costs in final test accuracy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis import bootstrap as fast
from analysis import metrics
from analysis.bootstrap import Interval
from analysis.metrics import UndefinedMetric

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
                      lambda p, t, _: metrics.top_k_spearman(p, t, _top_fraction(t)),
                      lambda p, t, _: fast.top_k_spearman_rows(p, t, _top_fraction(t))))
    out += [Metric(f"precision@{k}", f"Precision@{k} (shared top {k})",
                   lambda p, t, _, k=k: metrics.precision_at_k(p, t, k),
                   lambda p, t, _, k=k: fast.precision_at_k_rows(p, t, k), digits=2) for k in TOP_KS]
    out += [Metric(f"best_rank@{k}", f"Best true rank in proxy's top {k}",
                   lambda p, t, _, k=k: metrics.best_true_rank_in_top_k(p, t, k),
                   lambda p, t, _, k=k: fast.best_true_rank_in_top_k_rows(p, t, k),
                   higher_is_better=False, correlation_like=False, digits=0) for k in (1, 5, 10)]
    out.append(Metric("regret", "Regret (test accuracy, % points)", _regret_points, _regret_points_rows,
                      higher_is_better=False, correlation_like=False, digits=2))
    return tuple(out)


METRICS: tuple[Metric, ...] = _catalog()


def metric(name: str) -> Metric:
    for m in METRICS:
        if m.name == name:
            return m
    raise KeyError(name)


@dataclass(frozen=True)
class Score:
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
        return out

    def to_dict(self) -> dict[str, Any]:
        iv = self.interval
        return {"value": self.value, "reason": self.reason,
                "interval": None if iv is None else {
                    "low": iv.low, "high": iv.high, "level": iv.level,
                    "resamples": iv.resamples, "undefined_resamples": iv.undefined}}


def evaluate(m: Metric, proxy: np.ndarray, truth: np.ndarray, truth_test: np.ndarray,
             *, seed: int, resamples: int) -> Score:
    """The metric and its 95% bootstrap interval. Every metric of a seed draws the same resamples."""
    try:
        value = float(m.compute(proxy, truth, truth_test))
    except UndefinedMetric as why:
        return Score(m.name, None, reason=str(why))
    if resamples <= 0:
        return Score(m.name, value)
    try:
        interval = fast.bootstrap(m.compute, proxy, truth, truth_test, rows=m.rows,
                                     rng=np.random.default_rng(seed), resamples=resamples)
    except UndefinedMetric as why:
        return Score(m.name, value, reason=str(why))
    return Score(m.name, value, interval)


def evaluate_all(proxy: np.ndarray, truth: np.ndarray, truth_test: np.ndarray,
                 *, seed: int, resamples: int) -> dict[str, Score]:
    return {m.name: evaluate(m, proxy, truth, truth_test, seed=seed, resamples=resamples) for m in METRICS}
