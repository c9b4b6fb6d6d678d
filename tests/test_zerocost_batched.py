"""The batched forms nb201 offers (synflow of many cells in one pass, params by formula) give the per-network
numbers, and scoring stores rows once (resumable, content-addressed)."""

from __future__ import annotations

import pytest
import torch

import search_spaces.nb201_synflow as batched
from proxynas.scoring import ScoreStore
from proxynas.zerocost import MEASURES, Probe
from proxynas.zerocost.measure import without_batch_norm
from proxynas.zerocost.score import ScoringSettings, score
from search_spaces import get_space
from search_spaces.nb201_params import nb201_params

SPACE = get_space("nb201")
CUT_OFF = SPACE.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
SHAPE = (3, 16, 16)  # smaller than CIFAR's 32x32 to keep the per-network reference fast
PROBE = Probe(None, None, SHAPE, 10, 64, 0)


@pytest.fixture(scope="module")
def cells():
    return [*SPACE.sample(5, seed=3), CUT_OFF, SPACE.default()]


def test_batched_synflow_is_the_references_synflow_of_the_bank_network(cells, monkeypatch):
    reference = [MEASURES.get("synflow").fn(without_batch_norm(batched.bank_network(c, 0, SHAPE, 10)).train(), PROBE)
                 for c in cells]
    monkeypatch.setattr(batched, "DTYPE", torch.float64)
    exact = [s for s, _ in batched.synflow_nb201(SPACE, cells, PROBE, 0)]
    monkeypatch.undo()
    fast = [s for s, _ in batched.synflow_nb201(SPACE, cells, PROBE, 0)]
    assert reference[cells.index(CUT_OFF)] == 0.0 and fast[cells.index(CUT_OFF)] == 0.0
    # float64: the same sum in another order (measured <= 5e-16 relative); float32 (the default, with the
    # input scaled by 2^-64 so 1e50 scores stay in range): measured <= 1.4e-7 relative
    assert exact == pytest.approx(reference, rel=1e-12)
    assert fast == pytest.approx(reference, rel=1e-5)
    assert max(reference) > 1e30  # far beyond float32 without the scaling


def test_params_formula_counts_the_built_networks(cells):
    for c in cells:
        model = SPACE.build(c, (3, 32, 32), 10)
        assert nb201_params(c, 3, 10) == sum(p.numel() for p in model.parameters())


def test_scores_are_stored_once_and_resumed(tmp_path, cells):
    with ScoreStore(tmp_path / "results.sqlite") as store:
        first = score(store, "synflow", SPACE, cells[:3], "cifar10")
        assert len(first) == 3 and all(r.score > 0 and r.seconds > 0 for r in first)
        again = score(store, "synflow", SPACE, cells, "cifar10")
        assert len(again) == len(cells) and {r.finished_at for r in again} >= {r.finished_at for r in first}
        assert {r.candidate: r.score for r in again if r.candidate in {c.id for c in cells[:3]}} == \
            {r.candidate: r.score for r in first}
        other_seed = score(store, "synflow", SPACE, cells[:2], "cifar10", ScoringSettings(seed=1))
        by_id = {r.candidate: r.score for r in again}
        assert all(r.score != by_id[r.candidate] for r in other_seed)  # another seed, another weight bank
        assert len(store.rows(space="nb201", scorer="synflow")) == len(cells) + 2
        assert first[0].batch == "none:3x32x32:10"  # data-free: the dataset's shape, no files read
        assert store.settings(first[0].settings)["form"] == "batched"
