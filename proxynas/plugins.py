"""Where the registries find their plugins: the project's own modules, then Python entry points.

Every registry (:mod:`proxynas.registry`) fills itself on its first lookup:

1. its built-in modules are imported (``"condensed.*"``: every module of the package ``condensed``), so
   a built-in plugin is one file with the decorator on it, found without editing a list;
2. every entry point of the registry's group (``proxynas.methods``, ``proxynas.executors``,
   ``proxynas.spaces``, ``proxynas.datasets``, ``proxynas.augmentations``, ``proxynas.presets``,
   ``proxynas.scorers``; docs/extending.md) is loaded: a third-party distribution declares, in its ``pyproject.toml``::

       [project.entry-points."proxynas.methods"]
       theirs = "their_package.method"     # a module whose import registers the plugin

A plugin that fails to load is a one-line :class:`~proxynas.errors.ProxynasError` naming the
distribution, the entry point and the cause.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import EntryPoint, EntryPoints, entry_points

from proxynas.errors import ProxynasError

log = logging.getLogger(__name__)


def import_builtins(modules: Iterable[str]) -> None:
    """Import each module; ``"pkg.*"`` imports the package ``pkg`` and every module in it (sorted)."""
    for name in modules:
        if not name.endswith(".*"):
            importlib.import_module(name)
            continue
        package = importlib.import_module(name[:-2])
        for found in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
            importlib.import_module(f"{package.__name__}.{found}")


def distribution(point: EntryPoint) -> str:
    """``name version`` of the distribution that declares ``point`` (``?`` when unknown)."""
    dist = getattr(point, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name'] or dist.name} {dist.version}"


@lru_cache(maxsize=4)
def installed(path: tuple[str, ...]) -> EntryPoints:
    """Every entry point installed on ``path`` (``sys.path``): read once for all the groups (about 15 ms a
    scan of this project's environment, measured on the shared development CPU)."""
    return entry_points()


def load_group(group: str, kind: str) -> list[str]:
    """Load every entry point of ``group``; the names loaded, in order. A failure raises one line."""
    loaded = []
    for point in sorted(installed(tuple(sys.path)).select(group=group), key=lambda p: p.name):
        try:
            point.load()
        except Exception as err:  # any error of foreign code: reported, naming who to ask
            cause = str(err).splitlines()[0] if str(err) else ""
            raise ProxynasError(
                f"the {kind} plugin '{point.name}' ({point.value}) of {distribution(point)} failed to load: "
                f"{type(err).__name__}{': ' + cause if cause else ''}",
                f"fix or uninstall that distribution: pip uninstall {point.dist.name if point.dist else '...'}",
            ) from err
        log.debug("loaded %s plugin %s from %s", kind, point.name, distribution(point))
        loaded.append(point.name)
    return loaded
