"""Scorers as sides of a comparison: every ranking the analysis compares comes from a scorer, by name.

:func:`scorer_side` turns ``NAME`` or ``NAME:ARG`` into the registered scorer's side (``Scorer.side``):
the ground truth, a proxy's search, early stopping, a zero-cost measure, an imported table, or any scorer
registered later, with no change here. A scorer that gives one score per candidate gets its side from
:func:`analysis.scored.scored_side`.
"""

from __future__ import annotations

from dataclasses import replace

from analysis.scored import scored_side
from analysis.sides import Ask, Side
from proxynas.scoring import get_scorer

__all__ = ["scored_side", "scorer_side"]


def scorer_side(spec: str, ask: Ask) -> Side:
    """The side of the scorer ``spec`` (``name`` or ``name:argument``, e.g. ``early_stopping:5``)."""
    scorer = get_scorer(spec.partition(":")[0])
    return scorer.side(replace(ask, arg=scorer.parse(spec)))
