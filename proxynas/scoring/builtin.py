"""The scorers proxynas ships: every zero-cost measure (registered by ``@register_measure``), ``vote`` and
``early_stopping`` (a training run, stored in the results table, resolved by ``analysis.baselines``)."""

from __future__ import annotations

import proxynas.zerocost  # noqa: F401  (registers the measures as scorers)
from proxynas.scoring.registry import Scorer, register_scorer


@register_scorer
class EarlyStopping(Scorer):
    name = "early_stopping"
    cost = "training E epochs on the whole training split (early_stopping:E)"
    trains = True


@register_scorer
class Vote(Scorer):
    """Abdelfattah et al.'s vote: candidate a beats b when most of synflow, jacob_cov and snip rank a above b;
    a candidate's score is how many others it beats (a Copeland count of the pairwise majorities)."""

    name = "vote"
    cost = "synflow + jacob_cov + snip (their stored scores)"
    needs = ("synflow", "jacob_cov", "snip")
