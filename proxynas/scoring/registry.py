"""Scorers: anything that ranks the candidates, with its cost. The unit the analysis compares.

The ground truth (``truth``), a proxy's search (``search``), early stopping, a zero-cost measure, an
imported table of accuracies (``published``): each is a scorer, registered by name with
``@register_scorer`` on a :class:`Scorer` subclass (``proxynas.registry``), and ``correlate``, ``report``
and studies take scorers by name (``--baseline synflow``, ``baselines = [...]``): a newly registered one
shows up in their tables and plots with no change to them. A scorer declares its ``cost`` in words,
whether it needs the dataset's files (``data``), whether it trains (``trains``: its rows are training runs
of the results table, and a study plans them with :meth:`Scorer.training`) or reads an imported table
(``imported``); the others give one score per candidate (:meth:`Scorer.scores`), by default those
``proxynas score`` stored in the ``scores`` table (:mod:`.store`). Higher scores rank higher.

The analysis asks a scorer for its side of the comparison (:meth:`Scorer.side`, with an
``analysis.sides.Ask``); a score is never dressed as a training run (``analysis.sides.Side.basis``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from proxynas.errors import ProxynasError
from proxynas.registry import Registry

if TYPE_CHECKING:
    from analysis.sides import Ask, Side
    from proxynas.scoring.stored import Scores
    from proxynas.study.spec import TrainingSpec


class Scorer:
    name: ClassVar[str]
    cost: ClassVar[str]  # what scoring one candidate takes, in words, for tables and ``proxynas score --list``
    data: ClassVar[bool] = True  # needs the dataset's training split on disk
    trains: ClassVar[bool] = False  # True: rows of the results table (training runs), not of ``scores``
    imported: ClassVar[bool] = False  # True: accuracies measured elsewhere (``proxynas truth import``)
    needs: ClassVar[tuple[str, ...]] = ()  # scorers whose stored scores this one combines
    kind: ClassVar[str] = "baseline"  # how tables call its side: 'truth', 'proxy' or 'baseline'
    argument: ClassVar[str | None] = None  # what may follow its name after ':' (early_stopping:E -> 'E')

    def describe(self) -> str:
        return f"{self.name}: {self.cost}" + ("" if self.data else " (data-free)")

    def measures(self) -> tuple[str, ...]:
        """The zero-cost measures ``proxynas score`` (and a study's run) computes and stores for it; none
        for a scorer that trains, reads an imported table or computes its scores itself."""
        return self.needs

    def needed(self) -> list[Scorer]:
        """The scorers whose stored scores this one combines (``needs``)."""
        return [get_scorer(n) for n in self.needs]

    def parse(self, spec: str) -> str | None:
        """The argument of ``name`` or ``name:ARG``; an argument this scorer takes none of is an error."""
        _, sep, arg = spec.partition(":")
        if sep and self.argument is None:
            raise ProxynasError(f"{self.name} takes no argument, got '{spec}'", f"write {self.name}")
        return arg if sep else None

    def side(self, ask: Ask) -> Side:
        """Its ranking of ``ask``'s candidates as one side of the comparison. By default the scores of
        :meth:`scores`, one row per candidate, of untrained networks (basis ``scored``, no epochs)."""
        from analysis.scored import scored_side

        return scored_side(self.name, self.scores(ask), ask)

    def scores(self, ask: Ask) -> Scores:
        """One score per candidate (None where it is undefined) with its seconds. By default those
        ``proxynas score`` stored for this scorer (the ``scores`` table of ``ask.store``'s file)."""
        from proxynas.scoring.store import ScoreStore
        from proxynas.scoring.stored import stored

        with ScoreStore(ask.store.path) as store:
            return stored(store, ask.space, ask.dataset, self)

    def training(self, arg: str | None, truth: TrainingSpec) -> TrainingSpec:
        """What a study trains on the whole training set for it, given the ground truth's training
        (scorers that train only)."""
        raise ProxynasError(f"{self.name} trains nothing a study plans", f"list {self.name} without an argument")


SCORERS: Registry[Scorer] = Registry("scorer", builtins=("proxynas.scoring.*", "proxynas.zerocost.*"),
                                    group="proxynas.scorers")
register_scorer = SCORERS.register_class


def get_scorer(name: str) -> Scorer:
    """The scorer ``name`` (the registry finds the built-in scorers and the plugins on its first lookup)."""
    return SCORERS.get(name)


def list_scorers() -> list[str]:
    return SCORERS.names()
