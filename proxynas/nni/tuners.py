"""The NNI tuners an HPO experiment may use, each with the class arguments proxynas gives it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxynas.errors import ProxynasError
from proxynas.registry import Registry

# (seed, max_trials, concurrency) -> classArgs; every tuner maximizes validation accuracy.
ClassArgs = Callable[[int, int, int], dict[str, Any]]

TUNERS: Registry[ClassArgs] = Registry("tuner")


@TUNERS.register("TPE")
@TUNERS.register("Random")
def maximize_with_seed(seed: int, trials: int, concurrency: int) -> dict[str, Any]:
    return {"optimize_mode": "maximize", "seed": seed}


@TUNERS.register("GridSearch")
def grid_search(seed: int, trials: int, concurrency: int) -> dict[str, Any]:
    return {}  # takes no arguments; a fixed order


@TUNERS.register("Evolution")
def evolution(seed: int, trials: int, concurrency: int) -> dict[str, Any]:
    # NNI asks for a population larger than the concurrency; a small one lets a short run evolve at all.
    return {"optimize_mode": "maximize", "population_size": max(concurrency + 1, min(32, trials // 2))}


# Built into NNI 3.0 but broken with the scipy this project installs.
BROKEN = {"GP": "GP", "GPTuner": "GP", "Metis": "Metis", "MetisTuner": "Metis"}


def tuner_class_args(name: str, seed: int, max_trials: int, concurrency: int) -> dict[str, Any]:
    """The ``classArgs`` of tuner ``name``; a clear error for tuners that are broken or not supported."""
    if name in BROKEN:
        raise ProxynasError(f"NNI 3.0's {BROKEN[name]} tuner fails with current scipy versions",
                            f"choose one of {', '.join(TUNERS.names())}")
    return TUNERS.get(name)(seed, max_trials, concurrency)
