"""Scorers that combine other scorers (``vote``). Every module of this package is a built-in scorer's
(``truth``, ``search``, ``early_stopping``, ``published``), and each zero-cost measure registers itself
(``@register_measure``): the registry imports them on its first lookup, so a new one is one file."""

from __future__ import annotations

from proxynas.scoring.registry import Scorer, register_scorer


@register_scorer
class Vote(Scorer):
    """Abdelfattah et al.'s vote: candidate a beats b when most of synflow, jacob_cov and snip rank a above b;
    a candidate's score is how many others it beats (a Copeland count of the pairwise majorities)."""

    name = "vote"
    cost = "synflow + jacob_cov + snip (their stored scores)"
    needs = ("synflow", "jacob_cov", "snip")
