"""An imported table of accuracies as a scorer: what ``proxynas truth import`` stored, ranked as it is.

Nothing is trained or scored here: the accuracies were measured elsewhere (the side's basis is
``imported``, its cost none). ``published`` alone is the one table imported for the dataset;
``published:SOURCE`` picks one by the first characters of its protocol (``analognas``, ``NATS-tss``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from proxynas.errors import ProxynasError
from proxynas.scoring.registry import Scorer, register_scorer

if TYPE_CHECKING:
    from analysis.sides import Ask, Side


@register_scorer
class Published(Scorer):
    name = "published"
    cost = "none here: accuracies measured elsewhere, stored by `proxynas truth import`"
    data = False
    imported = True
    argument = "SOURCE"

    def side(self, ask: Ask) -> Side:
        from analysis.sides import runs
        from proxynas.store import truth_trainset

        trainset = truth_trainset(ask.dataset)
        tables = [g for g in ask.store.groups(ask.space, trainset) if g.regime == "published" and
                  g.dataset == ask.dataset and (ask.arg is None or g.protocol.startswith(ask.arg))]
        sources = sorted({g.protocol for g in tables})
        if len(sources) != 1:
            what = f"'{ask.arg}'" if ask.arg else "a table"
            raise ProxynasError(
                f"{len(sources) or 'no'} imported tables of {ask.dataset} ({ask.space}) match {what}"
                + (f": {', '.join(sources)}" if sources else ""),
                "pass published:SOURCE with the start of one" if sources else "import one with `proxynas truth import`")
        label = f"published:{ask.arg}" if ask.arg else "published"
        found = runs(ask.store, ask.space, trainset, label=label, kind="baseline",
                     identities={g.trainset_id for g in tables})
        side = next(s for s in found if s.protocol == sources[0])
        if ask.candidates is None:
            return side
        return replace(side, rows=tuple(r for r in side.rows if r.candidate in ask.candidates))  # a study's own
