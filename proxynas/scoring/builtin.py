"""The scorers proxynas ships: the ground truth (``truth``), a proxy's search (``search``), early stopping,
an imported table (``published``), every zero-cost measure (registered by ``@register_measure``) and
``vote``. A new one is a module with ``@register_scorer`` on its class."""

from __future__ import annotations

import proxynas.zerocost  # noqa: F401  (registers the measures as scorers)
from proxynas.scoring import early_stopping, published, search, truth  # noqa: F401  (each registers its scorer)
from proxynas.scoring.registry import Scorer, register_scorer


@register_scorer
class Vote(Scorer):
    """Abdelfattah et al.'s vote: candidate a beats b when most of synflow, jacob_cov and snip rank a above b;
    a candidate's score is how many others it beats (a Copeland count of the pairwise majorities)."""

    name = "vote"
    cost = "synflow + jacob_cov + snip (their stored scores)"
    needs = ("synflow", "jacob_cov", "snip")
