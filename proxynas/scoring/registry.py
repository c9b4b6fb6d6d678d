"""Scorers: anything that gives each candidate a number, with its cost. The unit the analysis compares.

A training run on a proxy, early stopping, a zero-cost measure, an imported table: each is a scorer,
registered by name with ``@register_scorer`` on a :class:`Scorer` subclass (``proxynas.registry``), and
``correlate``, ``report`` and studies take scorers by name (``--baseline synflow``, ``baselines = [...]``).
A scorer declares its ``cost`` in words and whether it needs the dataset's files (``data``); scorers that
do not train (``trains = False``) store their numbers in the ``scores`` table (:mod:`.store`), scored
by ``proxynas score``. Higher scores rank higher.
"""

from __future__ import annotations

from typing import ClassVar

from proxynas.registry import Registry


class Scorer:
    name: ClassVar[str]
    cost: ClassVar[str]  # what scoring one candidate takes, in words, for tables and ``proxynas score --list``
    data: ClassVar[bool] = True  # needs the dataset's training split on disk
    trains: ClassVar[bool] = False  # True: rows of the results table (training runs), not of ``scores``
    needs: ClassVar[tuple[str, ...]] = ()  # scorers whose stored scores this one combines

    def describe(self) -> str:
        return f"{self.name}: {self.cost}" + ("" if self.data else " (data-free)")


SCORERS: Registry[Scorer] = Registry("scorer", builtins=("proxynas.scoring.builtin", "proxynas.zerocost.*"),
                                    group="proxynas.scorers")
register_scorer = SCORERS.register_class


def get_scorer(name: str) -> Scorer:
    """The scorer ``name`` (the zero-cost measures and the built-in scorers are registered on first use)."""
    import proxynas.scoring.builtin  # noqa: F401  (registers)

    return SCORERS.get(name)


def list_scorers() -> list[str]:
    import proxynas.scoring.builtin  # noqa: F401

    return SCORERS.names()
