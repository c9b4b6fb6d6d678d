"""Proxy sets: names, cards and the on-disk store."""

from proxynas.proxies.card import ProxyCard
from proxynas.proxies.names import ProxyName, check_name
from proxynas.proxies.store import Proxy, ProxyStore, read_proxy, write_proxy

__all__ = ["Proxy", "ProxyCard", "ProxyName", "ProxyStore", "check_name", "read_proxy", "write_proxy"]
