"""Early stopping as a scorer: the ground truth's protocol cut to E epochs, on the whole training split.

It is what a user would do instead of making a proxy, so a proxy must beat it. ``early_stopping:E`` ranks
by the ground truth's candidates trained E epochs; ``early_stopping`` alone (in ``correlate``) by the
fewest epochs stored. A study trains it: :meth:`EarlyStopping.training` is its plan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from proxynas.errors import ProxynasError
from proxynas.scoring.registry import Scorer, register_scorer

if TYPE_CHECKING:
    from analysis.sides import Ask, Side
    from proxynas.study.spec import TrainingSpec


def _same_settings(a: Side, b: Side) -> bool:
    """Equal protocols apart from the epochs (unknown settings count as equal)."""
    strip = {"epochs"}
    if not a.settings or not b.settings:
        return True
    return {k: v for k, v in a.settings.items() if k not in strip} == \
        {k: v for k, v in b.settings.items() if k not in strip}


def _epochs(arg: str) -> int:
    try:
        return int(arg)
    except ValueError:
        raise ProxynasError(f"early_stopping:{arg}: the epochs must be an integer",
                            "write early_stopping:E, e.g. early_stopping:5") from None


@register_scorer
class EarlyStopping(Scorer):
    name = "early_stopping"
    cost = "training E epochs on the whole training split (early_stopping:E)"
    trains = True
    argument = "E"

    def side(self, ask: Ask) -> Side:
        """The ground truth's training set under a shorter protocol: E epochs, or the fewest stored."""
        from analysis.sides import runs, truth_command

        truth = ask.truth
        if truth is None or truth.epochs is None:
            raise ProxynasError("early_stopping is compared with a trained ground truth", "pass --truth DATASET")
        space, dataset = ask.space, ask.dataset
        shorter = [s for s in runs(ask.store, space, truth.trainset, label="", kind="baseline",
                                   identities={truth.trainset_id})
                   if s.epochs is not None and s.epochs < truth.epochs and _same_settings(s, truth)
                   and s.regime == truth.regime]
        if ask.arg is not None:
            epochs = _epochs(ask.arg)
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

    def training(self, arg: str | None, truth: TrainingSpec) -> TrainingSpec:
        """The ground-truth protocol cut to E epochs (the same settings otherwise, as :meth:`side` expects)."""
        from proxynas.study.spec import TrainingSpec

        if arg is None or not arg.isdigit():
            raise ProxynasError(f"early_stopping needs its epochs, got '{arg or ''}'",
                                "write early_stopping:E, e.g. early_stopping:10")
        epochs = int(arg)
        if not 1 <= epochs < truth.protocol.epochs:
            raise ProxynasError(f"early_stopping:{epochs} must train fewer epochs than the ground truth "
                                f"({truth.protocol.epochs}) and at least 1", "pick E between 1 and the truth's epochs")
        return TrainingSpec(replace(truth.protocol, epochs=epochs), truth.seeds)
