"""Importing published condensed sets (written here in each reference's format) and showing proxies."""

from __future__ import annotations

import os
import pickle

import matplotlib.image
import pytest
import torch

from condensed.formation import decode_by_class
from condensed.importers import import_proxy
from proxynas.cli import main
from proxynas.datasets import dataset_info
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyLibrary


def normalize(pixels, dataset):
    info = dataset_info(dataset)
    return (pixels - torch.tensor(info.mean).view(1, -1, 1, 1)) / torch.tensor(info.std).view(1, -1, 1, 1)


@pytest.fixture
def store(tmp_path):
    return ProxyLibrary(tmp_path / "proxies")


def test_dc_repository_result_file(tmp_path, store):
    """res_{method}_{dataset}_{model}_{N}ipc.pt: a dict of experiments; the one asked for is taken."""
    generator = torch.Generator().manual_seed(0)
    experiments = []
    for _ in range(2):
        labels = torch.randperm(20, generator=generator) % 10  # two per class, shuffled
        experiments.append([torch.randn(20, 1, 28, 28, generator=generator), labels])
    path = tmp_path / "res_DSA_FashionMNIST_ConvNet_2ipc.pt"
    torch.save({"data": experiments, "accs_all_exps": {"ConvNet": [0.71, 0.70]}}, path)

    proxy = import_proxy(store, path, "dsa_fashion_mnist_ipc2", exp=1)
    images, labels = experiments[1]
    order = torch.sort(labels, stable=True).indices
    assert torch.equal(proxy.data.images, images[order]) and torch.equal(proxy.data.labels, labels[order])
    card = proxy.card
    assert (card.method, card.dataset, card.ipc, card.num_classes, card.shape) == \
        ("dsa", "fashion_mnist", 2, 10, (1, 28, 28))
    assert card.settings["experiment"] == 1 and card.settings["published_accs"] == {"ConvNet": [0.71, 0.70]}
    with pytest.raises(ProxynasError, match="--exp 0 to 1"):
        import_proxy(store, path, "other", exp=2)
    with pytest.raises(ProxynasError, match="already in the store"):
        import_proxy(store, path, "dsa_fashion_mnist_ipc2")


def test_idc_data_file_is_decoded_and_normalized(tmp_path, store):
    """IDC's data.pt holds [stored images in pixel space, labels]; the factor is in its folder name."""
    folder = tmp_path / "fashion" / "conv3in_grad_l1_nd500_cut_niter2000_factor2_lr0.0001_mix_ipc1"
    folder.mkdir(parents=True)
    stored = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(10)
    torch.save([stored, labels], folder / "data.pt")

    proxy = import_proxy(store, folder / "data.pt", "idc_fashion_mnist_ipc1")
    decoded, decoded_labels = decode_by_class(stored, labels, 2)
    assert len(proxy.data) == 40 and proxy.data.labels.tolist() == decoded_labels.tolist()
    assert torch.allclose(proxy.data.images, normalize(decoded, "fashion_mnist"), atol=1e-6)
    assert (proxy.card.method, proxy.card.ipc, proxy.card.settings["factor"]) == ("idc", 1, 2)

    plain = tmp_path / "data.pt"
    torch.save([stored, labels], plain)
    with pytest.raises(ProxynasError, match="--factor"):
        import_proxy(store, plain, "x", dataset="fashion_mnist")
    idc_i = import_proxy(store, plain, "idc-i_fashion_mnist_ipc1", dataset="fashion_mnist", factor=1)
    assert len(idc_i.data) == 10 and idc_i.card.method == "idc-i"
    assert torch.allclose(idc_i.data.images, normalize(stored, "fashion_mnist"), atol=1e-6)


def test_mtt_images_with_labels_beside(tmp_path, store):
    images = torch.randn(30, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(10).repeat(3)
    torch.save(images, tmp_path / "images_best.pt")
    with pytest.raises(ProxynasError, match=r"labels_best\.pt"):
        import_proxy(store, tmp_path / "images_best.pt", "mtt_cifar10_ipc3", dataset="cifar10")
    torch.save(labels, tmp_path / "labels_best.pt")

    proxy = import_proxy(store, tmp_path / "images_best.pt", "mtt_cifar10_ipc3", dataset="cifar10")
    order = torch.sort(labels, stable=True).indices
    assert torch.equal(proxy.data.images, images[order])
    assert proxy.data.labels.tolist() == sorted(labels.tolist())
    assert (proxy.card.method, proxy.card.ipc, proxy.card.dataset) == ("mtt", 3, "cifar10")
    with pytest.raises(ProxynasError, match="do not fit mnist"):
        import_proxy(store, tmp_path / "images_best.pt", "wrong", dataset="mnist")


class RunsCode:
    """Unpickling this runs a shell command: the marker file appears."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused(home, tmp_path, store, capsys):
    marker = tmp_path / "marker"
    hostile = tmp_path / "res_DC_CIFAR10_ConvNet_1ipc.pt"
    torch.save({"data": [[RunsCode(marker), torch.arange(10)]]}, hostile)
    plain = tmp_path / "data.pt"
    plain.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))

    for path in (hostile, plain):
        with pytest.raises(ProxynasError, match="would run code"):
            import_proxy(store, path, "evil", dataset="cifar10", factor=1)
        assert main(["proxies", "import", str(path), "--name", "evil", "--dataset", "cifar10"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("proxynas: error: refused to load") and err.count("\n") == 1
    assert not marker.exists() and store.names() == []
    assert not (home / "proxies" / "evil.safetensors").exists()

    torch.load(hostile, weights_only=False)  # the file is really hostile: a trusting load runs it
    assert marker.exists()


def test_wrong_structures_are_refused(tmp_path, store):
    cases = {"dict.pt": {"images": torch.zeros(10, 3, 32, 32)}, "number.pt": 3,
             "soft.pt": [torch.rand(10, 3, 32, 32), torch.rand(10, 10)]}
    for name, content in cases.items():
        torch.save(content, tmp_path / name)
        with pytest.raises(ProxynasError):
            import_proxy(store, tmp_path / name, "x", dataset="cifar10", factor=1)
    torch.save([torch.rand(3, 3, 32, 32), torch.tensor([0, 0, 1])], tmp_path / "unequal.pt")
    with pytest.raises(ProxynasError, match="same number of images per class"):
        import_proxy(store, tmp_path / "unequal.pt", "x", dataset="cifar10", factor=1)
    torch.save([torch.rand(2, 3, 32, 32), torch.tensor([-1, 0])], tmp_path / "negative.pt")
    with pytest.raises(ProxynasError, match="do not fit cifar10"):
        import_proxy(store, tmp_path / "negative.pt", "x", dataset="cifar10", factor=1)
    (tmp_path / "junk.pt").write_bytes(b"not a tensor file at all")
    with pytest.raises(ProxynasError, match="refused to load"):
        import_proxy(store, tmp_path / "junk.pt", "x", dataset="cifar10")
    torch.save([torch.rand(10, 3, 32, 32), torch.arange(10)], tmp_path / "data.pt")
    with pytest.raises(ProxynasError, match="--dataset"):
        import_proxy(store, tmp_path / "data.pt", "x", factor=1)
    assert store.names() == []


def test_import_and_show_from_the_command_line(home, tmp_path, capsys):
    path = tmp_path / "res_DM_digits_ConvNet_3ipc.pt"
    torch.save({"data": [[torch.randn(30, 1, 8, 8), torch.arange(10).repeat_interleave(3)]]}, path)
    assert main(["proxies", "import", str(path), "--name", "dm_digits_ipc3"]) == 0
    assert "dm_digits_ipc3: 30 images (1, 8, 8) of 10 classes" in capsys.readouterr().out
    assert (home / "proxies" / "dm_digits_ipc3.safetensors").exists()

    png = tmp_path / "grid.png"
    assert main(["proxies", "show", "dm_digits_ipc3", "--out", str(png)]) == 0
    assert f"wrote {png}" in capsys.readouterr().out
    picture = matplotlib.image.imread(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.shape[0] > 100 and picture.std() > 0.05
    assert main(["proxies", "show", "nope"]) == 2
