"""The statistical rules of docs/metrics.md, each on constructed data where the right answer is known.

Float tolerances: the values compared are sums of at most a few hundred fractions in float64, whose
rounding is ~1e-15; ``abs=1e-12`` leaves a thousandfold margin. The noise-ceiling test is statistical:
its margin is three standard errors of a mean over 20 replications (measured: s.e. 0.006 for two seeds).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from analysis import bootstrap as fast
from analysis import compare, compare_sides, metrics, tables
from analysis.ceiling import ceiling_scores
from analysis.metrics import UndefinedMetric
from analysis.paper import paper_table, render_paper
from analysis.scores import METRICS, evaluate_all, evaluate_tables
from analysis.seeds import SeedTable
from analysis.sides import Side
from proxynas.store import ResultRow, ResultsStore
from search_spaces import get_space

SPACE = get_space("dc_convnet")
EXACT = 1e-12  # see the module docstring


def _ids(n: int, seed: int = 3) -> list[str]:
    return [c.id for c in SPACE.sample(n, seed=seed)]


def _side(label: str, kind: str, ids: list[str], by_seed: dict[int, np.ndarray], failed=()) -> Side:
    rows = tuple(ResultRow("dc_convnet", c, label, "p", s, "digits", "failed" if c in failed else "done",
                           None if c in failed else float(v[i]), None if c in failed else float(v[i]),
                           0.5, 1.0, 5, "diverged" if c in failed else None)
                 for s, v in by_seed.items() for i, c in enumerate(ids))
    return Side(label, kind, label, "p", 5, {"epochs": 5}, rows)


# 1. failed candidates: ranked last at chance accuracy on the side where they failed, counted, not dropped

def test_a_proxy_that_makes_weak_candidates_fail_is_not_scored_on_an_easier_subset(tmp_path):
    ids = _ids(20)
    truth = np.linspace(0.9, 0.3, 20)  # ids[0] best ... ids[19] worst, all above chance (0.1)
    proxy = truth + 0.2 * np.sin(np.arange(20))  # an imperfect ranking ...
    weak = set(ids[15:])  # ... that makes the five weakest diverge
    with ResultsStore(tmp_path / "results.sqlite") as store:
        for trainset, key, values, failed in (("full_digits", "t", truth, ()), ("weak_digits_ipc1", "w", proxy, weak)):
            store.save_protocol(key, {"epochs": 5})
            for cand, acc in zip(ids, values, strict=True):
                bad = cand in failed
                store.put(ResultRow("dc_convnet", cand, trainset, key, 0, "digits", "failed" if bad else "done",
                                    None if bad else float(acc), None if bad else float(acc) - 0.01, 0.5, 1.0, 5,
                                    "diverged" if bad else None))
        study = compare(store, dataset="digits", proxies=["weak_digits_ipc1"], resamples=0)
    (c,) = study.comparisons
    assert len(c.candidates) == 20 and c.failed == {"ranked side": 5, "ground truth": 0}
    at = {cand: i for i, cand in enumerate(c.candidates)}
    ranked = np.array([0.1 if cand in weak else proxy[i] for i, cand in enumerate(ids)])
    order = [at[cand] for cand in ids]
    assert c.proxy[order] == pytest.approx(ranked, abs=EXACT)  # the failed five at chance, tied, last
    assert c.scores["spearman"].value == pytest.approx(stats.spearmanr(ranked, truth).statistic, abs=EXACT)
    assert "5 on weak_digits_ipc1" in tables.overview_table(study)
    paper = paper_table(study, top_k=(5,), top_fraction=0.05, storage={}, whole_images=None)
    assert [r.failed for r in paper.rows] == [5, 0] and "failed" in render_paper(paper).splitlines()[1]


def test_a_failed_strong_candidate_costs_the_proxy():
    ids = _ids(10)
    truth = np.linspace(0.9, 0.5, 10)
    truth_side = _side("full_digits", "truth", ids, {0: truth})
    fails_best = _side("p_digits_ipc1", "proxy", ids, {0: truth}, failed={ids[0]})
    study = compare_sides(truth_side, [(fails_best, None)], space="dc_convnet", dataset="digits", resamples=0)
    (c,) = study.comparisons
    # leaving it out would have scored a perfect 1.0 on the other nine
    assert stats.spearmanr(truth[1:], truth[1:]).statistic == 1.0
    ranked = np.r_[0.1, truth[1:]]
    assert c.scores["spearman"].value == pytest.approx(stats.spearmanr(ranked, truth).statistic, abs=EXACT)
    assert c.scores["spearman"].value < 0.5
    # the best candidate failed on the proxy: ranked last, so the proxy's top 1 is the true second
    assert c.scores["best_rank@1"].value == 2
    assert c.scores["regret"].value == pytest.approx(100 * (truth[0] - truth[1]), abs=1e-9)


# 2. ties at the top-k boundary: resolved without names or positions

def _orders(values: np.ndarray) -> list[tuple[int, ...]]:
    """Every best-first order of the candidates that ``values`` allows (ties in any order)."""
    return [p for p in itertools.permutations(range(len(values)))
            if all(values[p[i]] >= values[p[i + 1]] for i in range(len(p) - 1))]


def test_tied_metrics_are_the_average_over_every_tie_break():
    proxy = np.array([0.9, 0.7, 0.7, 0.7, 0.5, 0.5, 0.2])
    truth = np.array([0.8, 0.9, 0.3, 0.6, 0.6, 0.1, 0.4])
    ranks = metrics.true_ranks(truth)
    p_orders, t_orders = _orders(proxy), _orders(truth)
    for k in (1, 2, 3, 4, 5):
        precision = np.mean([len(set(p[:k]) & set(t[:k])) / k for p in p_orders for t in t_orders])
        best = np.mean([ranks[list(p[:k])].min() for p in p_orders])
        assert metrics.precision_at_k(proxy, truth, k) == pytest.approx(precision, abs=EXACT), k
        assert metrics.best_true_rank_in_top_k(proxy, truth, k) == pytest.approx(best, abs=EXACT), k
    regret = np.mean([truth.max() - truth[p[0]] for p in _orders(np.array([0.9, 0.9, 0.1, 0.9]))])
    assert metrics.regret(np.array([0.9, 0.9, 0.1, 0.9]), truth[:4]) == pytest.approx(regret, abs=EXACT)


def test_no_metric_depends_on_the_order_the_candidates_are_listed_in():
    rng = np.random.default_rng(4)
    proxy, truth, test = np.round(rng.random((3, 30)), 1)  # rounding to 0.1 makes many ties
    before = evaluate_all(proxy, truth, test, seed=0, resamples=0)
    for _ in range(5):
        p = rng.permutation(30)
        after = evaluate_all(proxy[p], truth[p], test[p], seed=0, resamples=0)
        for m in METRICS:
            a, b = before[m.name], after[m.name]
            assert (a.value is None) == (b.value is None) and a.reason == b.reason, m.name
            if a.value is not None:
                assert b.value == pytest.approx(a.value, abs=EXACT), m.name


def test_a_ranking_that_ties_everything_scores_like_chance():
    truth = np.linspace(1, 0, 20)
    flat = np.full(20, 0.5)
    for k in (1, 5, 10):
        assert metrics.precision_at_k(flat, truth, k) == pytest.approx(k / 20, abs=EXACT)
    assert metrics.regret(flat, truth) == pytest.approx(1 - truth.mean(), abs=EXACT)
    assert metrics.best_true_rank_in_top_k(flat, truth, 1) == pytest.approx(10.5, abs=EXACT)


def test_top_k_by_truth_holds_every_candidate_tied_with_the_kth():
    truth = np.array([0.9, 0.8, 0.8, 0.8, 0.1])
    assert sorted(metrics.top_by_truth(truth, 2)) == [0, 1, 2, 3]
    proxy = np.array([0.5, 0.4, 0.3, 0.2, 0.9])
    assert metrics.top_k_spearman(proxy, truth, 2) == pytest.approx(
        stats.spearmanr(proxy[:4], truth[:4]).statistic, abs=EXACT)


# 3. intervals: no candidate twice in a draw, so never twice in a top-k set

def test_every_draw_holds_each_candidate_at_most_once():
    seen: list[np.ndarray] = []

    def record(ids: np.ndarray) -> np.ndarray:
        seen.append(ids)
        return np.ones(len(ids))

    fast.bootstrap(lambda ids: 1.0, np.arange(24.0), rng=np.random.default_rng(0), resamples=500, rows=record)
    (draws,) = seen
    assert draws.shape == (500, 12)
    assert all(len(set(row)) == 12 for row in draws)
    counts = np.bincount(draws.astype(int).ravel(), minlength=24)
    assert counts.min() > 200 and counts.max() < 300  # each candidate in about half the draws (250)


def test_a_perfect_ranking_has_a_perfect_interval_without_seed_noise():
    truth = np.linspace(0.9, 0.3, 30)
    scores = evaluate_all(truth, truth, truth, seed=1, resamples=300)
    for name in ("spearman", "kendall", "precision@5", "precision@10", "regret", "best_rank@1"):
        iv = scores[name].interval
        assert (iv.low, iv.high) == (scores[name].value, scores[name].value), name


# 4. seed noise is in the intervals when there are several seeds

def _table(ids: list[str], by_seed: list[np.ndarray]) -> SeedTable:
    val = np.stack(by_seed, axis=1)
    return SeedTable(tuple(ids), tuple(range(len(by_seed))), val, val.copy(), np.zeros(len(ids), dtype=bool))


def test_seed_noise_widens_the_interval_and_only_then():
    ids = _ids(30)
    rng = np.random.default_rng(2)
    quality = np.linspace(0.9, 0.6, 30)
    noise = 0.05 * rng.standard_normal(30)
    noisy = _table(ids, [quality + noise, quality - noise])  # seed mean = quality, seeds disagree
    # the proxy's seed means equal the truth's exactly: over candidates alone, rho is 1 on every draw
    alone = evaluate_all(quality, quality, quality, seed=0, resamples=300)["spearman"]
    assert (alone.value, alone.interval.low, alone.interval.high) == (1.0, 1.0, 1.0)
    with_seeds = evaluate_tables(noisy, noisy, seed=0, resamples=300)["spearman"]
    assert with_seeds.value == pytest.approx(1.0, abs=EXACT)
    assert with_seeds.interval.low < 0.95
    # identical seeds carry no noise: the same interval as one seed
    quiet = evaluate_tables(_table(ids, [quality, quality]), _table(ids, [quality, quality]), seed=0, resamples=300)
    assert (quiet["spearman"].interval.low, quiet["spearman"].interval.high) == (1.0, 1.0)


def test_seed_draws_use_only_the_seeds_each_candidate_has():
    val = np.array([[0.5, np.nan, np.nan], [0.2, 0.4, np.nan], [0.1, 0.3, 0.8]])
    (means,) = fast.seed_means(np.random.default_rng(0), 4000, val)
    assert set(np.unique(means[:, 0])) == {0.5}
    assert set(np.round(np.unique(means[:, 1]), 12)) == {0.2, 0.3, 0.4}
    assert means[:, 2].mean() == pytest.approx(0.4, abs=0.01)  # 3 s.e. of 4000 draws of sd 0.17 / sqrt(3)


# 5. the noise ceiling is on the proxies' footing: against the seed mean

def test_a_noise_free_ranking_reaches_the_ceiling_and_no_further():
    gaps, old, best = [], [], []
    for rep in range(20):
        rng = np.random.default_rng(rep)
        quality = 0.6 + 0.05 * rng.standard_normal(300)
        seeds = quality[:, None] + 0.05 * rng.standard_normal((300, 2))
        ceiling = ceiling_scores(seeds, seeds, seed=0, resamples=0)
        perfect = metrics.spearman(quality, seeds.mean(axis=1))  # the best any proxy can do
        gaps.append(ceiling["spearman"].value - perfect)
        best.append(perfect)
        old.append(metrics.spearman(seeds[:, 0], seeds[:, 1]))  # the old ceiling: seed against seed
    assert abs(np.mean(gaps)) < 0.018  # 3 s.e.: sd of the gaps 0.026 / sqrt(20)
    assert np.mean(old) < np.mean(best) - 0.2  # the old ceiling was far below what a proxy could reach


def test_the_ceiling_comparison_in_a_study():
    ids = _ids(40)
    quality = np.linspace(0.9, 0.5, 40)
    wobble = 0.02 * np.cos(np.arange(40))
    truth = _side("full_digits", "truth", ids, {0: quality + wobble, 1: quality - wobble, 2: quality})
    proxy = _side("p_digits_ipc1", "proxy", ids, {0: quality})
    study = compare_sides(truth, [(proxy, None)], space="dc_convnet", dataset="digits", resamples=0)
    assert study.ceiling.label == "noise ceiling (3 seeds)"
    # seed-to-seed agreement, corrected to the 3-seed mean (Spearman-Brown on the Pearson scale)
    pairs = [metrics.spearman(*(quality + w for w in pair)) for pair in
             itertools.combinations((wobble, -wobble, 0 * wobble), 2)]
    r = 2 * math.sin(math.pi * np.mean(pairs) / 6)
    expected = 6 / math.pi * math.asin(math.sqrt(3 * r / (1 + 2 * r)) / 2)
    assert study.ceiling.scores["spearman"].value == pytest.approx(expected, abs=EXACT)
    assert "Spearman-Brown" in study.ceiling_note


# 6. every "undefined" says why

@pytest.mark.parametrize(("proxy", "truth", "metric", "reason"), [
    (np.linspace(0, 1, 20), np.linspace(0, 1, 20), "spearman@top5%",
     "5% of 20 candidates is k=1: a correlation needs at least 2"),
    (np.full(6, 0.5), np.arange(6.0), "spearman", "constant ranking: all 6 candidates tie on the ranked side"),
    (np.arange(6.0), np.full(6, 0.5), "kendall", "constant ranking: all 6 candidates tie on the ground truth"),
    (np.array([0.3]), np.array([0.4]), "spearman", "fewer than 2 shared candidates (1)"),
    (np.arange(6.0), np.arange(6.0), "precision@10", "only 6 candidates for k=10"),
    (np.arange(3.0), np.array([0.9, 0.1, 0.2]), "spearman@top5", "only 3 candidates for k=5"),
])
def test_undefined_says_why(proxy, truth, metric, reason):
    score = evaluate_all(proxy, truth, truth, seed=0, resamples=0)[metric]
    assert score.value is None and score.reason == reason


def test_a_tied_top_by_truth_and_a_missing_interval_say_why():
    truth = np.array([0.9, 0.9, 0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    with pytest.raises(UndefinedMetric, match=r"tie on the ground truth \(top 2 by truth: 3 candidates\)"):
        metrics.top_k_spearman(np.arange(10.0), truth, 2)
    # defined on all 10, but a half-sample of 5 holds fewer than 10: the value stands, the interval says why
    score = evaluate_all(np.arange(10.0), np.arange(10.0), np.arange(10.0), seed=0, resamples=50)["precision@10"]
    assert score.value == 1.0 and score.interval is None
    assert score.reason == "no interval: undefined on 50 of 50 half-samples of 5 candidates"
