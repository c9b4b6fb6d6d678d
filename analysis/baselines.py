"""Baselines: rankings that need no proxy file, named like ``early_stopping`` or ``early_stopping:5``.

``early_stopping:E`` ranks the candidates by the ground-truth protocol cut to E epochs: the full data,
trained briefly. It is what a user would do instead of making a proxy, so a proxy must beat it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from analysis.sides import Side, runs, truth_command
from proxynas.errors import ProxynasError
from proxynas.registry import Registry
from proxynas.store import ResultsStore

# A baseline resolves (store, space, dataset, truth side, argument after ':') into its side.
Baseline = Callable[[ResultsStore, str, str, Side, "str | None"], Side]
BASELINES: Registry[Baseline] = Registry("baseline")


def _same_settings(a: Side, b: Side) -> bool:
    """Equal protocols apart from the epochs (unknown settings count as equal)."""
    strip = {"epochs"}
    if not a.settings or not b.settings:
        return True
    return {k: v for k, v in a.settings.items() if k not in strip} == \
        {k: v for k, v in b.settings.items() if k not in strip}


@BASELINES.register("early_stopping")
def early_stopping(store: ResultsStore, space: str, dataset: str, truth: Side, arg: str | None) -> Side:
    """The ground truth's training set under a shorter protocol: E epochs, or the fewest stored."""
    shorter = [s for s in runs(store, space, truth.trainset, label="", kind="baseline",
                               identities={truth.trainset_id})
               if s.epochs < truth.epochs and _same_settings(s, truth) and s.regime == truth.regime]
    if arg is not None:
        try:
            epochs = int(arg)
        except ValueError:
            raise ProxynasError(f"early_stopping:{arg}: the epochs must be an integer",
                                "write early_stopping:E, e.g. early_stopping:5") from None
        shorter = [s for s in shorter if s.epochs == epochs]
        if not shorter:
            raise ProxynasError(
                f"no early-stopping results for {dataset}: no ground-truth rows trained {epochs} epochs",
                f"run `{truth_command(dataset, space, epochs)}` on the ground truth's candidates")
    if not shorter:
        suggest = max(1, truth.epochs // 10)
        raise ProxynasError(
            f"no early-stopping results for {dataset}: every ground-truth run has {truth.epochs} epochs",
            f"run `{truth_command(dataset, space, suggest)}` on the ground truth's candidates, "
            f"then pass --baseline early_stopping:{suggest}")
    side = min(shorter, key=lambda s: (s.epochs, -len(s.rows)))
    return replace(side, label=f"early_stopping:{side.epochs}")


def resolve_baseline(spec: str, store: ResultsStore, space: str, dataset: str, truth: Side) -> Side:
    """``spec`` is ``name`` or ``name:argument``, e.g. ``early_stopping:5``, or any scorer that does not train
    (``synflow``, ``params``, ``vote``: its stored scores, :mod:`analysis.scorers`)."""
    name, sep, arg = spec.partition(":")
    if name in BASELINES:
        return BASELINES.get(name)(store, space, dataset, truth, arg if sep else None)
    from analysis.scorers import scorer_side

    return scorer_side(store, space, dataset, name)
