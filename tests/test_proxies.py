import pytest
import torch

from condensed import get_method, list_methods
from condensed.make import make_proxy
from proxynas.datasets.base import TensorSet
from proxynas.errors import ProxynasError, UnknownNameError
from proxynas.proxies import ProxyCard, ProxyLibrary, ProxyName


def test_proxy_names_round_trip():
    name = ProxyName.parse("random_fashion_mnist_ipc50")
    assert (name.method, name.dataset, name.ipc) == ("random", "fashion_mnist", 50)
    assert str(name) == "random_fashion_mnist_ipc50"
    assert ProxyName.parse("idc-i_cifar10_ipc1").method == "idc-i"
    for bad in ["random_digits", "Random_digits_ipc1", "random_digits_ipcx"]:
        with pytest.raises(ProxynasError, match="not a proxy name"):
            ProxyName.parse(bad)


def test_store_saves_loads_and_refuses_damage(tmp_path):
    store = ProxyLibrary(tmp_path)
    data = TensorSet(torch.randn(6, 1, 8, 8), torch.tensor([0, 0, 1, 1, 2, 2]), 3)
    card = ProxyCard(method="random", dataset="digits", ipc=2, seed=0, num_classes=3, shape=(1, 8, 8),
                     source_fingerprint="x", seconds=0.5, settings={"a": 1})
    store.save("random_digits_ipc2", data, card)
    proxy = store.load("random_digits_ipc2")
    assert torch.equal(proxy.data.images, data.images) and torch.equal(proxy.data.labels, data.labels)
    assert proxy.card.settings == {"a": 1} and proxy.card.created > 0 and proxy.card.version
    assert store.names() == ["random_digits_ipc2"]
    with pytest.raises(UnknownNameError, match="did you mean 'random_digits_ipc2'"):
        store.load("random_digits_ipc3")
    store.path("broken_digits_ipc1").write_bytes(b"\x00" * 64)
    with pytest.raises(ProxynasError, match="damaged"):
        store.load("broken_digits_ipc1")


@pytest.mark.parametrize("method", ["random", "herding", "kcenter"])
def test_coresets_pick_real_images_per_class(tmp_path, digits, method):
    assert method in list_methods()
    proxy = make_proxy(ProxyLibrary(tmp_path), method, digits, 5, seed=3)
    data, card = proxy.data, proxy.card
    assert len(data) == 50 and data.shape == (1, 8, 8)
    assert torch.equal(data.labels, torch.arange(10).repeat_interleave(5))
    flat = digits.train.images.flatten(1)
    for image in data.images.flatten(1):  # every image is one of the training images
        assert (flat == image).all(1).any()
    assert len({tuple(x.tolist()) for x in data.images.flatten(1)}) == 50  # no repeats
    assert (card.method, card.dataset, card.ipc, card.seed) == (method, "digits", 5, 3)
    assert card.source_fingerprint == digits.train.fingerprint()
    again = make_proxy(ProxyLibrary(tmp_path / "b"), method, digits, 5, seed=3)
    assert torch.equal(again.data.images, data.images)  # seeded, deterministic


def test_herding_keeps_the_mean_closer_than_random(digits):
    from condensed.coresets import select_herding, select_random

    features = digits.train.images[digits.train.labels == 0].flatten(1)
    mean = features.mean(0)
    herd = features[select_herding(features, 5, torch.Generator())].mean(0)
    gaps = [(features[select_random(features, 5, torch.Generator().manual_seed(s))].mean(0) - mean).norm()
            for s in range(20)]
    assert (herd - mean).norm() < min(gaps)


def test_coreset_errors(digits):
    with pytest.raises(ProxynasError, match="fewer than ipc"):
        make_proxy(ProxyLibrary("/tmp/unused-proxynas"), "random", digits, 10_000)
    with pytest.raises(ProxynasError, match="no setting 'colour'"):
        get_method("random").settings(colour=1)
    with pytest.raises(UnknownNameError, match="did you mean 'herding'"):
        get_method("herd")
