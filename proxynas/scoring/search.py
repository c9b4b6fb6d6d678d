"""A proxy's search as a scorer: every candidate trained on the proxy (``proxynas search --proxy NAME``).

Its argument is the proxy's name, ``NAME[@ID]`` (``correlate --proxy NAME`` asks this scorer); its cost
is the training plus, where the proxy's file is on hand, the seconds it took to condense.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from proxynas.errors import ProxynasError
from proxynas.scoring.registry import Scorer, register_scorer

if TYPE_CHECKING:
    from analysis.sides import Ask, Side
    from proxynas.proxies import ProxyLibrary


def proxy_file(proxy_store: ProxyLibrary | None, name: str) -> tuple[str | None, float | None]:
    """(fingerprint, condensing seconds) of the proxy file ``name`` now; Nones when it is not there."""
    if proxy_store is None or name not in proxy_store:
        return None, None
    proxy = proxy_store.load(name)
    return proxy.data.fingerprint(), float(proxy.card.seconds)


@register_scorer
class Search(Scorer):
    name = "search"
    cost = "condensing the proxy once and training every candidate on it (`proxynas search --proxy NAME`)"
    trains = True
    kind = "proxy"
    argument = "NAME[@ID]"

    def side(self, ask: Ask) -> Side:
        """The proxy's rows of its current file (or ``NAME@ID``'s): its protocol with the most rows, or
        the one of ``ask.epochs`` (``analysis.sides.select_proxy``)."""
        from analysis.sides import select_proxy

        if not ask.arg:
            raise ProxynasError("search ranks by a proxy's search: name the proxy", "write --proxy NAME")
        fingerprint, seconds = proxy_file(ask.proxy_store, ask.arg.partition("@")[0])
        side = select_proxy(ask.store, ask.space, ask.arg, ask.dataset, ask.epochs, identity=fingerprint,
                            choice=ask.choice)
        return replace(side, condense_seconds=seconds if side.trainset_id == fingerprint else None)
