"""A scorer's stored scores on a dataset, as the analysis reads them: the group (settings, batch, seed)
with the most rows, and for ``vote`` the combination of the scorers it needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxynas.errors import ProxynasError
from proxynas.scoring.store import ScoreStore

if TYPE_CHECKING:  # the registry's scorers read their scores through this module
    from proxynas.scoring.registry import Scorer


@dataclass(frozen=True)
class Scores:
    """What a scorer that does not train gives: one score per candidate, with the seconds it took."""

    scorer: str
    scores: dict[str, float | None]  # candidate -> score (None: undefined for it)
    seconds: dict[str, float]  # candidate -> seconds of scoring it (missing: 0)
    settings: dict = field(default_factory=dict)  # the scorer's settings (for vote: each needed scorer's)
    key: str = ""  # what names these scores' settings (stored: settings key(s) and batch)
    seed: int = 0
    regime: str = "fp32"  # the numeric regime it scored in


def score_command(name: str, space: str, dataset: str) -> str:
    return f"proxynas score {name} --space {space} --dataset {dataset}"


def stored(store: ScoreStore, space: str, dataset: str, scorer: Scorer) -> Scores:
    """``scorer``'s stored scores (for one that combines others, :meth:`Scorer.needed`'s, combined)."""
    name = scorer.name
    if scorer.trains:
        raise ProxynasError(f"{name} is a training run, not a stored score",
                            f"pass it as --baseline {name}{':' + scorer.argument if scorer.argument else ''}")
    if scorer.needs:
        from proxynas.zerocost.vote import vote

        parts = [stored(store, space, dataset, n) for n in scorer.needed()]
        defined = [{c: v for c, v in p.scores.items() if v is not None} for p in parts]
        scores: dict[str, float | None] = dict(vote(defined))
        seconds = {c: sum(p.seconds.get(c, 0.0) for p in parts) for c in scores}
        return Scores(name, scores, seconds, {p.scorer: p.settings for p in parts}, "+".join(p.key for p in parts),
                      parts[0].seed)
    groups = store.groups(space, name, dataset)
    if not groups:
        raise ProxynasError(f"no {name} scores for {space} on {dataset} in {store.path}",
                            f"run `{score_command(name, space, dataset)}` first")
    key, batch, seed, _ = groups[0]
    rows = store.rows(space=space, scorer=name, settings=key, batch=batch, seed=seed)
    return Scores(name, {r.candidate: r.score for r in rows}, {r.candidate: r.seconds for r in rows},
                  store.settings(key) or {}, f"{key}:{batch}", seed)
