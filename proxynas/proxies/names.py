"""Proxy names: ``{method}_{dataset}_ipc{N}``, e.g. ``dc_cifar10_ipc50`` or ``random_fashion_mnist_ipc10``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxynas.errors import ProxynasError

_NAME = re.compile(r"^(?P<method>[a-z0-9-]+)_(?P<dataset>[a-z0-9_]+)_ipc(?P<ipc>[0-9]+)$")
_PART = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class ProxyName:
    method: str
    dataset: str
    ipc: int

    def __str__(self) -> str:
        return f"{self.method}_{self.dataset}_ipc{self.ipc}"

    @classmethod
    def parse(cls, name: str) -> ProxyName:
        match = _NAME.match(name)
        if not match:
            raise ProxynasError(f"'{name}' is not a proxy name",
                                "proxy names look like {method}_{dataset}_ipc{N}, e.g. random_digits_ipc10")
        return cls(match["method"], match["dataset"], int(match["ipc"]))


def check_name(name: str) -> str:
    """A free-form proxy name (imports may use any): lowercase letters, digits, '_' and '-'."""
    if not _PART.match(name):
        raise ProxynasError(f"'{name}' is not a usable proxy name",
                            "use lowercase letters, digits, '_' and '-' only")
    return name
