"""Scorers, the unit of comparison (:mod:`.registry`), and the table zero-cost scores are kept in (:mod:`.store`)."""

from proxynas.scoring.registry import SCORERS, Scorer, get_scorer, list_scorers, register_scorer
from proxynas.scoring.store import ScoreRow, ScoreStore, settings_key

__all__ = ["SCORERS", "ScoreRow", "ScoreStore", "Scorer", "get_scorer", "list_scorers", "register_scorer",
           "settings_key"]
