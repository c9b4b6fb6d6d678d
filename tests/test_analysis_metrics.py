"""Rank-agreement metrics against hand-computed cases and scipy; bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from analysis import bootstrap as fast
from analysis import metrics
from analysis.metrics import UndefinedMetric
from analysis.scores import METRICS, evaluate, evaluate_all


def test_spearman_and_kendall_match_hand_computation():
    proxy, truth = [1, 3, 2, 4], [1, 2, 3, 4]
    # one swapped neighbour pair: sum d^2 = 2, rho = 1 - 6*2 / (4 * 15); one discordant pair of six
    assert metrics.spearman(proxy, truth) == pytest.approx(0.8)
    assert metrics.kendall(proxy, truth) == pytest.approx(4 / 6)
    assert metrics.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_ties_get_average_ranks_as_scipy_does():
    proxy, truth = [1, 2, 2, 3], [1, 2, 3, 4]
    # proxy ranks 1, 2.5, 2.5, 4: Pearson of the ranks = 4.5 / sqrt(4.5 * 5)
    assert metrics.spearman(proxy, truth) == pytest.approx(4.5 / np.sqrt(22.5))
    # tau-b: 5 concordant, 0 discordant, one pair tied in proxy only -> 5 / sqrt(6 * 5)
    assert metrics.kendall(proxy, truth) == pytest.approx(5 / np.sqrt(30))


@pytest.mark.parametrize("seed", range(5))
def test_correlations_agree_with_scipy_on_tied_data(seed):
    rng = np.random.default_rng(seed)
    proxy, truth = rng.integers(0, 8, size=(2, 40)).astype(float)
    assert metrics.spearman(proxy, truth) == pytest.approx(stats.spearmanr(proxy, truth).statistic)
    assert metrics.kendall(proxy, truth) == pytest.approx(stats.kendalltau(proxy, truth).statistic)


def test_constant_ranking_is_undefined_not_nan():
    with pytest.raises(UndefinedMetric, match="constant ranking"):
        metrics.spearman([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])
    with pytest.raises(UndefinedMetric, match="constant ranking"):
        metrics.kendall([0.1, 0.2, 0.3], [0.7, 0.7, 0.7])
    scores = evaluate_all(np.full(6, 0.5), np.arange(6.0), np.arange(6.0), seed=0, resamples=50)
    rho = scores["spearman"]
    why = "constant ranking: all 6 candidates tie on the ranked side"
    assert rho.value is None and rho.reason == why
    assert rho.text() == f"undefined ({why})"
    dumped = json.dumps(rho.to_dict(), allow_nan=False)
    assert json.loads(dumped) == {"value": None, "reason": why, "interval": None}
    with pytest.raises(UndefinedMetric, match="tie on the ground truth"):
        metrics.kendall([0.1, 0.2, 0.3], [0.7, 0.7, 0.7])


def test_top_k_sets_precision_best_rank_and_regret_by_hand():
    proxy = np.array([0.9, 0.8, 0.7, 0.1, 0.2])
    truth = np.array([0.1, 0.9, 0.8, 0.7, 0.2])
    assert metrics.precision_at_k(proxy, truth, 2) == pytest.approx(0.5)  # {0, 1} vs {1, 2}
    assert metrics.precision_at_k(proxy, truth, 3) == pytest.approx(2 / 3)  # {0, 1, 2} vs {1, 2, 3}
    assert metrics.best_true_rank_in_top_k(proxy, truth, 1) == 5  # the proxy's pick is the worst
    assert metrics.best_true_rank_in_top_k(proxy, truth, 2) == 1
    assert metrics.regret(proxy, truth) == pytest.approx(0.8)
    assert metrics.regret(truth, truth) == 0.0


def test_top_k_spearman_uses_the_best_k_by_truth():
    truth = np.array([10, 9, 8, 1, 2])
    proxy = np.array([3, 1, 2, 9, 9])
    # top 3 by truth: proxy ranks (3, 1, 2) against (3, 2, 1): sum d^2 = 2, rho = 1 - 12 / 24
    assert metrics.top_k_spearman(proxy, truth, 3) == pytest.approx(0.5)
    assert metrics.top_k_spearman(proxy, truth, 5) == pytest.approx(metrics.spearman(proxy, truth))


def test_ties_in_top_k_sets_and_true_ranks():
    # a proxy that cannot tell candidates apart scores what a random order would, whatever the order
    assert metrics.precision_at_k([0.5, 0.5, 0.5, 0.5], [4, 3, 2, 1], 2) == 0.5
    assert metrics.precision_at_k([0.5, 0.5, 0.5, 0.5], [1, 2, 3, 4], 2) == 0.5
    # candidates tied for best on the truth share rank 1, and picking either costs nothing
    assert list(metrics.true_ranks([0.9, 0.9, 0.5])) == [1, 1, 3]
    assert metrics.best_true_rank_in_top_k([0.1, 0.9, 0.2], [0.9, 0.9, 0.5], 1) == 1
    assert metrics.regret([0.1, 0.9, 0.2], [0.9, 0.9, 0.5]) == 0.0


def test_fewer_candidates_than_k_is_undefined():
    proxy, truth = [0.3, 0.1, 0.2], [0.1, 0.2, 0.3]
    for metric in (metrics.top_k_spearman, metrics.precision_at_k, metrics.best_true_rank_in_top_k):
        with pytest.raises(UndefinedMetric, match="only 3 candidates for k=5"):
            metric(proxy, truth, 5)
        metric(proxy, truth, 3)  # k == n is defined
    scores = evaluate_all(np.array(proxy), np.array(truth), np.array(truth), seed=0, resamples=0)
    assert scores["precision@10"].value is None
    assert scores["precision@10"].text() == "undefined (only 3 candidates for k=10)"


def test_top_fraction_rounds_up():
    assert metrics.top_fraction(720, 0.05) == 36
    assert metrics.top_fraction(100, 0.05) == 5
    assert metrics.top_fraction(6, 0.05) == 1


@pytest.mark.parametrize("n", [7, 40, fast.PAIRWISE_LIMIT + 5])
def test_fast_paths_equal_the_metrics_row_by_row(n):
    rng = np.random.default_rng(n)
    proxy, truth, test = np.round(rng.random((3, 24, n)), 1)  # rounding makes ties
    proxy[0] = 0.5  # one constant row: undefined correlations
    for m in METRICS:
        fast_values = m.rows(proxy, truth, test)
        for row in range(len(proxy)):
            try:
                expected = m.compute(proxy[row], truth[row], test[row])
            except UndefinedMetric:
                assert np.isnan(fast_values[row]), (m.name, row)
            else:
                assert fast_values[row] == pytest.approx(expected, abs=1e-12), (m.name, row)


def _correlated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n)
    return truth + 0.3 * rng.random(n), truth


def test_bootstrap_interval_is_deterministic_and_holds_the_estimate():
    proxy, truth = _correlated(50, 0)
    runs = [evaluate_all(proxy, truth, truth, seed=seed, resamples=300) for seed in (7, 7, 8)]
    for name in ("spearman", "kendall"):
        first, again, other = (r[name] for r in runs)
        assert first == again
        assert first.interval != other.interval
        assert first.interval.low <= first.value <= first.interval.high
        assert -1 <= first.interval.low < first.interval.high <= 1


def test_bootstrap_fast_path_draws_the_same_resamples():
    proxy, truth = _correlated(30, 1)
    slow = fast.bootstrap(metrics.spearman, proxy, truth, rng=np.random.default_rng(3), resamples=200)
    quick = fast.bootstrap(metrics.spearman, proxy, truth, rng=np.random.default_rng(3), resamples=200,
                           rows=fast.spearman_rows)
    assert (quick.low, quick.high) == pytest.approx((slow.low, slow.high))
    narrow = fast.bootstrap(metrics.spearman, proxy, truth, rng=np.random.default_rng(3), resamples=200,
                            level=0.5)
    assert slow.low < narrow.low <= narrow.high < slow.high


def test_bootstrap_gives_up_when_most_resamples_are_undefined():
    def needs_six(values: np.ndarray) -> float:
        if len(values) < 6:
            raise UndefinedMetric("fewer than 6")
        return 1.0

    # defined on all ten candidates, undefined on every half-sample of five
    with pytest.raises(UndefinedMetric, match="undefined on 100 of 100 half-samples of 5 candidates"):
        fast.bootstrap(needs_six, np.arange(10.0), rng=np.random.default_rng(0), resamples=100)


def test_evaluate_without_resamples_has_no_interval():
    proxy, truth = _correlated(10, 2)
    m = next(m for m in METRICS if m.name == "spearman")
    score = evaluate(m, proxy, truth, truth, seed=0, resamples=0)
    assert score.interval is None and score.value == pytest.approx(metrics.spearman(proxy, truth))
