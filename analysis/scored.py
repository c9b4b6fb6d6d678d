"""The side of a scorer that gives one score per candidate (``Scorer.side``'s default).

The score is what ranks a candidate (higher first), its seconds are the scoring time, nothing was trained
(basis ``scored``, no epochs, no training set), and a candidate the score is undefined for (None, NaN,
infinite) counts as failed, ranked last. Apart from :mod:`analysis.scorers` so that the scorer registry,
which calls it, imports nothing that imports the registry back.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from analysis.sides import Ask, Ranked, Side

if TYPE_CHECKING:
    from proxynas.scoring.stored import Scores


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
