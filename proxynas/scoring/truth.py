"""The ground truth as a scorer: every candidate trained on the whole training split (``proxynas truth``),
or accuracies imported for it (``proxynas truth import``). The reference the other scorers are compared with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxynas.scoring.registry import Scorer, register_scorer

if TYPE_CHECKING:
    from analysis.sides import Ask, Side


@register_scorer
class Truth(Scorer):
    name = "truth"
    cost = "training every candidate on the whole training split (`proxynas truth`), or an imported table"
    trains = True
    kind = "truth"

    def side(self, ask: Ask) -> Side:
        """The longest full-data protocol stored, or the one of ``ask.epochs`` (``analysis.sides.select_truth``)."""
        from analysis.sides import select_truth

        return select_truth(ask.store, ask.space, ask.dataset, ask.epochs, identity=ask.identity, want=ask.want,
                            choice=ask.choice)
