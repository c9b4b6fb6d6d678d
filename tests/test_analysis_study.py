"""A study read from a real SQLite results store filled with rows of synthetic accuracies."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from analysis import compare, plots, tables
from proxynas.datasets.base import TensorSet
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyCard, ProxyLibrary
from proxynas.store import ResultRow, ResultsStore
from search_spaces import get_space

SPACE = get_space("dc_convnet")
CANDIDATES = [c.id for c in SPACE.sample(24, seed=3)]
QUALITY = np.random.default_rng(0).random(len(CANDIDATES))  # the candidates' true worth


def put(store: ResultsStore, trainset: str, key: str, epochs: int, accuracy, *, seeds=(0,), failed=(),
        seconds: float = 1.0, candidates=CANDIDATES) -> None:
    store.save_protocol(key, {"epochs": epochs, "lr": 0.01, "batch_size": 256})
    for seed in seeds:
        for cand, acc in zip(candidates, accuracy, strict=True):
            ok = cand not in failed
            value = float(acc) + 0.01 * seed
            store.put(ResultRow("dc_convnet", cand, trainset, key, seed, "digits", "done" if ok else "failed",
                                value if ok else None, value - 0.02 if ok else None, 0.5, seconds, epochs,
                                None if ok else "diverged"))


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    """A store file with a two-seed ground truth, two shorter full-data runs and one proxy search."""
    path = tmp_path_factory.mktemp("study") / "results.sqlite"
    rng = np.random.default_rng(1)
    with ResultsStore(path) as s:
        put(s, "full_digits", "long", 50, QUALITY, seeds=(0, 1), seconds=10.0)
        put(s, "full_digits", "short", 5, QUALITY + 0.3 * rng.random(24), seconds=1.0)
        put(s, "full_digits", "shorter", 2, QUALITY + rng.random(24), seconds=0.4)
        put(s, "random_digits_ipc5", "p", 20, QUALITY + 0.5 * rng.random(24), failed={CANDIDATES[0]},
            seconds=0.2)
    return path


@pytest.fixture
def store(filled, tmp_path):
    """A private copy of the filled store (closing it above folded the WAL into the file)."""
    shutil.copy(filled, tmp_path / "results.sqlite")
    with ResultsStore(tmp_path / "results.sqlite") as s:
        yield s


def test_comparison_matches_scipy_on_means_over_seeds(store):
    put(store, "random_digits_ipc5", "p", 20, QUALITY[::-1], seeds=(1,), failed={CANDIDATES[0]}, seconds=0.2)
    study = compare(store, dataset="digits", proxies=["random_digits_ipc5"], resamples=0)
    (c,) = study.comparisons
    proxy_rows = store.rows(trainset="random_digits_ipc5")
    truth_rows = store.rows(trainset="full_digits", protocol="long")
    mean = {cand: np.mean([r.val_acc for r in proxy_rows if r.candidate == cand]) for cand in CANDIDATES[1:]}
    mean[CANDIDATES[0]] = 0.1  # failed on both proxy seeds: chance accuracy on digits' 10 classes
    truth = {cand: np.mean([r.val_acc for r in truth_rows if r.candidate == cand]) for cand in CANDIDATES}
    ids = sorted(mean)
    assert c.candidates == tuple(ids)
    expected = stats.spearmanr([mean[i] for i in ids], [truth[i] for i in ids]).statistic
    assert c.scores["spearman"].value == pytest.approx(expected)
    assert study.truth.epochs == 50  # the longest full-data protocol is the truth


def test_failed_candidates_are_ranked_last_at_chance_and_counted(store):
    put(store, "full_digits", "long", 50, QUALITY, seeds=(1,), failed={CANDIDATES[5]}, seconds=10.0)
    study = compare(store, dataset="digits", proxies=["random_digits_ipc5"], resamples=0)
    (c,) = study.comparisons
    assert len(c.candidates) == 24  # nobody left out
    at = {cand: i for i, cand in enumerate(c.candidates)}
    # its only run failed: chance accuracy (0.1), or a finished run's lower accuracy (these synthetic
    # accuracies go below chance), so that it ranks last
    others = np.delete(c.proxy, at[CANDIDATES[0]])
    assert c.proxy[at[CANDIDATES[0]]] == pytest.approx(min(0.1, others.min()))
    # one of the truth's two seeds failed: that run counts at chance, the other at its accuracy
    floor = min(0.1, QUALITY.min())
    assert c.truth[at[CANDIDATES[5]]] == pytest.approx((QUALITY[5] + floor) / 2)
    assert c.failed == {"ranked side": 1, "ground truth": 1}
    overview = tables.overview_table(study)
    assert "failed (ranked last)" in overview
    assert "1 on random_digits_ipc5; 1 on the ground truth" in overview


def test_missing_ground_truth_names_the_truth_command(tmp_path):
    with ResultsStore(tmp_path / "empty.sqlite") as empty:
        put(empty, "random_digits_ipc5", "p", 20, QUALITY)
        with pytest.raises(ProxynasError, match=r"no ground truth for digits") as err:
            compare(empty, dataset="digits", proxies=["random_digits_ipc5"])
    assert "`proxynas truth --dataset digits --space dc_convnet`" in str(err.value)


def test_missing_proxy_and_baseline_name_the_commands_to_run(store):
    with pytest.raises(ProxynasError, match="`proxynas search --proxy herding_digits_ipc5`"):
        compare(store, dataset="digits", proxies=["herding_digits_ipc5"])
    with pytest.raises(ProxynasError, match="`proxynas truth --dataset digits --space dc_convnet --epochs 7`"):
        compare(store, dataset="digits", baselines=["early_stopping:7"])
    with pytest.raises(ProxynasError, match="nothing to compare"):
        compare(store, dataset="digits")
    others = [c.id for c in SPACE.candidates() if c.id not in CANDIDATES][:5]
    put(store, "kcenter_digits_ipc5", "k", 20, QUALITY[:5], candidates=others)
    with pytest.raises(ProxynasError, match="share no candidates"):
        compare(store, dataset="digits", proxies=["kcenter_digits_ipc5"])


def test_early_stopping_defaults_to_the_shortest_full_data_run(store):
    study = compare(store, dataset="digits", baselines=["early_stopping", "early_stopping:5"], resamples=0)
    assert [c.label for c in study.comparisons] == ["early_stopping:2", "early_stopping:5"]
    assert all(c.kind == "baseline" and c.trainset == "full_digits" for c in study.comparisons)
    assert [c.cost.search_seconds for c in study.comparisons] == pytest.approx([0.4 * 24, 1.0 * 24])


def test_truth_epochs_pick_another_ground_truth(store):
    study = compare(store, dataset="digits", proxies=["random_digits_ipc5"], truth_epochs=5, resamples=0)
    assert study.truth.epochs == 5
    assert study.ceiling is None and "--seeds 2" in study.ceiling_note
    with pytest.raises(ProxynasError, match=r"trained 3 epochs \(stored: 2, 5, 50\)"):
        compare(store, dataset="digits", proxies=["random_digits_ipc5"], truth_epochs=3)


def test_noise_ceiling_compares_two_truth_seeds(store):
    study = compare(store, dataset="digits", proxies=["random_digits_ipc5"], resamples=0)
    ceiling = study.ceiling
    assert ceiling is not None and ceiling.kind == "noise ceiling"
    # the seeds differ by a constant offset here, so they rank alike
    assert ceiling.scores["spearman"].value == pytest.approx(1.0)
    assert ceiling.scores["regret"].value == pytest.approx(0.0)


def test_constant_proxy_reads_undefined_in_tables_and_null_in_json(store, tmp_path):
    put(store, "flat_digits_ipc1", "f", 20, np.full(24, 0.1))
    study = compare(store, dataset="digits", proxies=["flat_digits_ipc1"], resamples=20)
    why = "constant ranking: all 24 candidates tie on the ranked side"
    assert f"undefined ({why})" in tables.metrics_table(study)
    text = json.dumps(tables.to_json(study), allow_nan=False)
    rho = json.loads(text)["comparisons"][0]["metrics"]["spearman"]
    assert rho == {"value": None, "reason": why, "interval": None}
    rows = list(csv.DictReader(tables.write_csv(study, tmp_path / "m.csv").open()))
    spearman = next(r for r in rows if r["compared"] == "flat_digits_ipc1" and r["metric"] == "spearman")
    assert spearman["value"] == "" and spearman["reason"] == why


def test_cost_adds_condensing_seconds_from_the_proxy_card(store, tmp_path):
    proxies = ProxyLibrary(tmp_path / "proxies")
    data = TensorSet(torch.zeros(10, 1, 8, 8), torch.arange(10), 10)
    card = ProxyCard("random", "digits", 1, 0, 10, (1, 8, 8), "fingerprint", seconds=12.5)
    proxies.save("random_digits_ipc5", data, card)
    with pytest.raises(ProxynasError, match="on its current file; results of earlier sets"):
        compare(store, dataset="digits", proxies=["random_digits_ipc5"], proxy_store=proxies, resamples=0)
    with store._tx() as db:  # the rows as `search` stores them on this file: keyed by its fingerprint
        db.execute("UPDATE results SET trainset_id = ? WHERE trainset = 'random_digits_ipc5'", (data.fingerprint(),))
    study = compare(store, dataset="digits", proxies=["random_digits_ipc5"], proxy_store=proxies, resamples=0)
    cost = study.comparisons[0].cost
    assert cost.search_seconds == pytest.approx(0.2 * 24)  # the failed candidate's run took time too
    assert cost.condense_seconds == 12.5
    assert cost.truth_seconds == pytest.approx(10.0 * 2 * 24)
    assert cost.share_of_truth == pytest.approx((0.2 * 24 + 12.5) / (10.0 * 2 * 24))
    assert "ρ per minute" in tables.render(study)


def test_figures_have_titles_units_and_legends(store):
    study = compare(store, dataset="digits", proxies=["random_digits_ipc5"], baselines=["early_stopping"],
                    resamples=0)
    figures = plots.figures(study)
    assert set(figures) == {"accuracy_scatter", "rank_scatter", "metric_heatmap", "precision_curves",
                            "dimension_effects"}
    scatter = figures["accuracy_scatter"].axes
    assert len([ax for ax in scatter if ax.get_visible()]) == 3  # proxy, baseline, noise ceiling
    assert all("(%)" in ax.get_xlabel() and ax.get_legend() for ax in scatter if ax.get_visible())
    effects = [ax for ax in figures["dimension_effects"].axes if ax.get_title()]
    assert [ax.get_title() for ax in effects] == [f"effect of {d}" for d in SPACE.dimensions]
    assert figures["precision_curves"].axes[0].get_legend() is not None
