"""A search space as NNI's search-space JSON (``{"dim": {"_type": "choice", "_value": [...]}}``) and back.

Every dimension of a :class:`~proxynas.spaces.SearchSpace` is a categorical choice, so the JSON has one
``choice`` per dimension and the parameters NNI draws from it name exactly one candidate.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from proxynas.errors import ProxynasError
from proxynas.nni.messages import check_passable
from proxynas.spaces import Candidate, SearchSpace


def nni_search_space(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """The NNI search-space JSON of ``space``, dimension by dimension."""
    out = {dim: {"_type": "choice", "_value": list(choices)} for dim, choices in space.dimensions.items()}
    check_passable(out, f"search space {space.name}")
    return out


def candidate_from(space: SearchSpace, parameters: Mapping[str, Any]) -> Candidate:
    """The candidate of ``space`` that NNI's ``parameters`` (one value per dimension) describe."""
    missing = [dim for dim in space.dimensions if dim not in parameters]
    extra = [key for key in parameters if key not in space.dimensions]
    if missing or extra:
        problem = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}"
        raise ProxynasError(f"NNI parameters {dict(parameters)} do not fit {space.name}: {problem}",
                            f"use the search space from `proxynas nni space --space {space.name}`")
    return space.candidate({dim: parameters[dim] for dim in space.dimensions})


def candidates_in(space: SearchSpace, search_space: Mapping[str, Mapping[str, Any]]) -> list[Candidate]:
    """Every candidate an NNI search-space JSON of ``space`` allows (product of its choices, in order)."""
    for dim, spec in search_space.items():
        if spec.get("_type") != "choice":
            raise ProxynasError(f"search-space entry '{dim}' is {spec.get('_type')!r}, not a choice",
                                "every dimension of a proxynas space is a 'choice'")
    dims = list(search_space)
    return [candidate_from(space, dict(zip(dims, values, strict=True)))
            for values in itertools.product(*(search_space[d]["_value"] for d in dims))]
