"""The search spaces. The space registry imports every module of this package on its first lookup (and
loads the ``proxynas.spaces`` entry points), so a new space is one file whose
:class:`~proxynas.spaces.SearchSpace` subclass carries ``@register_space``; the contract test
(``tests/test_space_contract.py``) then checks it with the others.

``get_space("dc_convnet")``, ``list_spaces()`` and the contract types are re-exported from
:mod:`proxynas.spaces`.
"""

from __future__ import annotations

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

__all__ = ["SPACES", "Candidate", "SearchSpace", "StackBuilder", "get_space", "list_spaces", "register_space",
           "resolve_candidate"]
