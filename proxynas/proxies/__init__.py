"""Proxy sets: names, cards and the proxy library (their folder on disk)."""

from proxynas.proxies.card import ProxyCard
from proxynas.proxies.library import Proxy, ProxyLibrary, read_proxy, write_proxy
from proxynas.proxies.names import ProxyName, check_name

# the old name, printed in the analysis' usage example before #19: kept for scripts (docs/glossary.md)
ProxyStore = ProxyLibrary  # words-renames: keep

__all__ = ["Proxy", "ProxyCard", "ProxyLibrary", "ProxyName", "check_name", "read_proxy", "write_proxy"]
