"""Scorers that do not train (zero-cost measures, ``vote``) as sides of a comparison.

A side wraps the scorer's stored scores (:mod:`proxynas.scoring.stored`) in rows of the results' shape:
the score stands where a training run's validation accuracy would (higher ranks higher), its seconds are
the scoring time, and a candidate the measure is undefined for (NaN, infinite) counts as failed.
"""

from __future__ import annotations

from analysis.sides import Side
from proxynas.scoring import ScoreStore
from proxynas.scoring.stored import stored
from proxynas.store import ResultRow, ResultsStore


def scorer_side(store: ResultsStore, space: str, dataset: str, name: str,
                candidates: set[str] | None = None) -> Side:
    """The stored scores of ``name`` (only ``candidates``, when given: a study's own)."""
    with ScoreStore(store.path) as scores:
        found = stored(scores, space, dataset, name)
    rows = tuple(ResultRow(space=space, candidate=c, trainset=f"score:{name}", protocol=found.key, seed=found.seed,
                           dataset=dataset, status="done" if v is not None else "failed", val_acc=v, test_acc=None,
                           train_loss=None, seconds=found.seconds.get(c, 0.0), epochs=0,
                           reason=None if v is not None else f"{name} is undefined for it")
                 for c, v in sorted(found.scores.items()) if candidates is None or c in candidates)
    # no training set: the candidates are scored untrained (in float32 on the scoring device)
    return Side(name, "baseline", f"score:{name}", found.key, 0, found.settings, rows, trainset_id="untrained",
                regime="fp32")
