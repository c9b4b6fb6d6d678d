"""Score candidates with a zero-cost measure and store the numbers (resumable, content-addressed).

Per candidate: a network of the space drawn from a seed made of the run's seed and the candidate's id,
the measure on it, the seconds it took. Where a space offers a faster exact form of a measure (registered
with ``@batched_form(measure, space)``, e.g. ``nb201``'s synflow of many cells in one pass) it is used
instead; ``params`` and ``flops`` come from the space's formulas when it has them. Rows land in the
``scores`` table as they finish, so a rerun scores only what is missing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from proxynas.engine.stack import seeded
from proxynas.registry import Registry
from proxynas.scoring.store import ScoreRow, ScoreStore
from proxynas.spaces import Candidate, SearchSpace
from proxynas.zerocost.measure import MEASURES, Probe, without_batch_norm
from proxynas.zerocost.probe import make_probe

log = logging.getLogger(__name__)
VERSION = 1  # bump when a measure's numbers change: old rows then stay apart
CHUNK = 64  # candidates per commit (and per batched pass)

# (space, candidates, probe, seed) -> [(score, seconds)] in the candidates' order
BatchedForm = Callable[[SearchSpace, Sequence[Candidate], Probe, int], list[tuple[float, float]]]
BATCHED: Registry[BatchedForm] = Registry("batched measure")


def batched_form(measure: str, space: str) -> Callable[[BatchedForm], BatchedForm]:
    """``@batched_form("synflow", "nb201")`` on a function scoring many candidates of ``space`` at once."""
    return BATCHED.register(f"{measure}@{space}")


@dataclass(frozen=True)
class ScoringSettings:
    batch_size: int = 64  # the minibatch (zero-cost-nas scores NB201 on one batch of 64)
    seed: int = 0  # picks the minibatch and every candidate's initial weights
    batched: bool = True  # use a space's batched form where one exists


def candidate_seed(seed: int, candidate: Candidate) -> int:
    digest = hashlib.sha256(f"{seed}:{candidate.qualified_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def analytic(name: str, space: SearchSpace, candidate: Candidate, probe: Probe) -> float | None:
    """``flops`` from the space's own cost formula, when it has one."""
    if name == "flops":
        return space.cost(candidate, probe.input_shape)
    return None


def score_one(name: str, space: SearchSpace, candidate: Candidate, probe: Probe, seed: int) -> tuple[float, float]:
    measure = MEASURES.get(name)
    start = time.perf_counter()
    value = analytic(name, space, candidate, probe)
    if value is None:
        model = seeded(lambda: space.build(candidate, probe.input_shape, probe.num_classes),
                       candidate_seed(seed, candidate))
        if not measure.batch_norm:
            model = without_batch_norm(model)
        value = measure.fn(model.train(), probe)
    return value, time.perf_counter() - start


def settings_of(name: str, space: SearchSpace, settings: ScoringSettings) -> dict:
    measure = MEASURES.get(name)
    form = "batched" if settings.batched and f"{name}@{space.name}" in BATCHED else "per-candidate"
    out = {"scorer": name, "version": VERSION, "form": form, "init": "torch defaults, seeded per candidate"}
    if measure.data or name == "zen":
        out["batch_size"] = settings.batch_size
    if form == "batched":
        out["init"] = BATCHED.get(f"{name}@{space.name}").__doc__.strip().splitlines()[0]
    return out


def score(store: ScoreStore, name: str, space: SearchSpace, candidates: Sequence[Candidate], dataset: str,
          settings: ScoringSettings = ScoringSettings(), *, root: str | None = None,
          progress: Callable[[int], None] | None = None,
          on_start: Callable[[int, int], None] | None = None) -> list[ScoreRow]:
    """Score ``candidates`` with measure ``name`` on ``dataset`` (its minibatch, or its shape when data-free);
    returns their rows, the stored ones included. ``on_start(stored, to_score)`` is called once before
    scoring, ``progress(n)`` after each chunk of n candidates."""
    measure = MEASURES.get(name)
    probe, batch = make_probe(dataset, data=measure.data, batch_size=settings.batch_size, seed=settings.seed,
                              root=root)
    key = store.save_settings(settings_of(name, space, settings))
    done = store.done(space.name, name, key, batch, settings.seed)
    todo = [c for c in candidates if c.id not in done]
    log.info("%s on %s: %d of %d candidates stored, %d to score", name, space.name, len(done), len(candidates),
             len(todo))
    if on_start is not None:
        on_start(len(candidates) - len(todo), len(todo))
    form = BATCHED.get(f"{name}@{space.name}") if settings.batched and f"{name}@{space.name}" in BATCHED else None
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        if form is not None:
            results = form(space, chunk, probe, settings.seed)
        else:
            results = [score_one(name, space, c, probe, settings.seed) for c in chunk]
        store.put(ScoreRow(space.name, c.id, name, key, batch, settings.seed, dataset,
                           value if math.isfinite(value) else None, seconds, "cpu")
                  for c, (value, seconds) in zip(chunk, results, strict=True))
        if progress is not None:
            progress(len(chunk))
    wanted = {c.id for c in candidates}
    return [r for r in store.rows(space=space.name, scorer=name, settings=key, batch=batch, seed=settings.seed)
            if r.candidate in wanted]
