"""Find or make the proxy a command names: coresets are made on demand, synthetic sets never silently."""

from __future__ import annotations

import sys

from condensed import get_method
from condensed.make import make_proxy
from proxynas import paths
from proxynas.cli.progress import bar
from proxynas.datasets import DatasetSplits, dataset_info, load_dataset
from proxynas.datasets.zca import whiten_like
from proxynas.errors import ProxynasError, UnknownNameError
from proxynas.proxies import Proxy, ProxyLibrary, ProxyName


def proxy_library() -> ProxyLibrary:
    return ProxyLibrary(paths.proxy_dir())


def resolve_proxy(name: str, *, data_root: str | None) -> Proxy:
    """The stored proxy ``name`` (on the CPU); a missing coreset proxy is made, a missing synthetic one
    is an error."""
    store = proxy_library()
    if name in store:
        return store.load(name)
    try:
        parsed = ProxyName.parse(name)
    except ProxynasError:
        raise UnknownNameError("proxy", name, store.names()) from None
    method = get_method(parsed.method)
    dataset_info(parsed.dataset)  # an unknown dataset fails here, with the valid names
    command = f"proxynas condense {parsed.method} --dataset {parsed.dataset} --ipc {parsed.ipc}"
    if method.kind != "coreset":
        raise ProxynasError(f"proxy '{name}' does not exist yet", f"make it first: {command}")
    with store.making(name):  # a command making the same proxy at the same time: wait for it, then reuse
        if name in store:
            print(f"proxy {name} was made by another command meanwhile; using it", file=sys.stderr)
            return store.load(name)
        print(f"making proxy {name} ({command})", file=sys.stderr)
        splits = load_dataset(parsed.dataset, data_root)
        with bar(total=splits.num_classes, desc=f"condense {parsed.method}", unit="class") as progress:
            return make_proxy(store, parsed.method, splits, parsed.ipc, device="cpu",
                              progress=lambda done, total: progress.update(done - progress.n))


def proxy_and_splits(name: str, *, data_root: str | None) -> tuple[Proxy, DatasetSplits]:
    """The proxy (made if it is a missing coreset) and the splits of its dataset, checked to match."""
    proxy = resolve_proxy(name, data_root=data_root)
    splits = load_dataset(proxy.card.dataset, data_root)
    if proxy.data.shape != splits.shape or proxy.data.num_classes != splits.num_classes:
        raise ProxynasError(f"proxy {proxy.name} holds {proxy.data.shape} images of {proxy.data.num_classes} "
                            f"classes, but {splits.name} has {splits.shape} and {splits.num_classes}",
                            "make the proxy again from this dataset")
    return proxy, whiten_like(proxy.card, splits, paths.home() / "zca")

