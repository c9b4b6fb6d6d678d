"""The search spaces. Every module of this package is imported here, so a new space is one file whose
:class:`~proxynas.spaces.SearchSpace` subclass carries ``@register_space``; the contract test
(``tests/test_space_contract.py``) then checks it with the others.

``get_space("dc_convnet")``, ``list_spaces()`` and the contract types are re-exported from
:mod:`proxynas.spaces`.
"""

from __future__ import annotations

import importlib
import pkgutil

from proxynas.spaces import (
    SPACES,
    Candidate,
    SearchSpace,
    StackBuilder,
    get_space,
    list_spaces,
    register_space,
    resolve_candidate,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["SPACES", "Candidate", "SearchSpace", "StackBuilder", "get_space", "list_spaces", "register_space",
           "resolve_candidate"]
