"""Scorers as sides of a comparison: every ranking the analysis compares comes from a scorer, by name.

:func:`scorer_side` turns ``NAME`` or ``NAME:ARG`` into the registered scorer's side (``Scorer.side``):
the ground truth, a proxy's search, early stopping, a zero-cost measure, an imported table, or any scorer
registered later, with no change here. :func:`scored_side` is the side of a scorer that gives one score
per candidate: the score is what ranks it (higher first), its seconds are the scoring time, nothing was
trained (basis ``scored``, no epochs, no training set), and a candidate the score is undefined for (None,
NaN, infinite) counts as failed, ranked last.
"""

from __future__ import annotations

import math
from dataclasses import replace

from analysis.sides import Ask, Ranked, Side
from proxynas.scoring import get_scorer
from proxynas.scoring.stored import Scores


def scorer_side(spec: str, ask: Ask) -> Side:
    """The side of the scorer ``spec`` (``name`` or ``name:argument``, e.g. ``early_stopping:5``)."""
    scorer = get_scorer(spec.partition(":")[0])
    return scorer.side(replace(ask, arg=scorer.parse(spec)))


def _defined(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def scored_side(name: str, found: Scores, ask: Ask) -> Side:
    """``found``'s scores (only ``ask.candidates``, when given: a study's own) as a side."""
    rows = tuple(Ranked(c, found.seed, v if _defined(v) else None, None, "done" if _defined(v) else "failed",
                        found.seconds.get(c, 0.0), ask.dataset, found.regime,
                        None if _defined(v) else f"{name} is undefined for it")
                 for c, v in sorted(found.scores.items()) if ask.candidates is None or c in ask.candidates)
    # no training set: the candidates are scored untrained
    return Side(name, "baseline", "", found.key, None, found.settings, rows, trainset_id="untrained",
                regime=found.regime, basis="scored")
