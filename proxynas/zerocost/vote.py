"""``vote`` (Abdelfattah et al., ICLR 2021): a candidate beats another when most of synflow, jacob_cov and
snip rank it higher; its score is how many candidates it beats (Copeland's count of pairwise majorities).
Computed from stored scores, over the candidates all three scored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

BLOCK = 512  # rows of the pairwise comparison at a time (memory: BLOCK x N booleans per measure)


def vote(scores: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Copeland counts of the candidates every mapping scores (ties count for neither side)."""
    ids = sorted(set.intersection(*(set(s) for s in scores)))
    values = np.array([[s[c] for c in ids] for s in scores], dtype=float)  # (measures, N)
    majority = len(scores) // 2 + 1
    wins = np.zeros(len(ids))
    for start in range(0, len(ids), BLOCK):
        block = values[:, start:start + BLOCK, None]  # (measures, B, 1) against (measures, 1, N)
        ahead = (block > values[:, None, :]).sum(0)
        wins[start:start + BLOCK] = (ahead >= majority).sum(1)
    return dict(zip(ids, wins.tolist(), strict=True))
