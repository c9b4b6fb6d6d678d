"""IDC and IDC-I on real digits with tiny settings: multi-formation, learning, the proxy, resume."""

from __future__ import annotations

import pytest
import torch

from condensed import Context, get_method
from condensed.formation import decode, decode_by_class, encode
from condensed.idc import IDCSettings, resolve
from condensed.make import make_proxy
from proxynas.datasets import dataset_info
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyLibrary, ProxyName

TINY = {"iterations": 3, "inner_loop": 2, "batch_real": 8, "n_data": 16,
        "net": "d1_w32_relu_instancenorm_avgpool"}
QUICK = {**TINY, "iterations": 1, "inner_loop": 1}


def context(checkpoint=None, progress=None, seed=0):
    return Context(dataset_info("digits"), torch.device("cpu"), seed, progress, checkpoint)


def test_decode_puts_each_tile_in_its_own_image():
    image = torch.zeros(2, 1, 4, 4)
    for k, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        image[0, 0, 2 * r:2 * r + 2, 2 * c:2 * c + 2] = k + 1  # stored image 0: tiles 1 2 / 3 4
        image[1, 0, 2 * r:2 * r + 2, 2 * c:2 * c + 2] = 10 * (k + 1)  # stored image 1: 10 20 / 30 40
    out = decode(image, 2)
    assert out.shape == (8, 1, 4, 4)
    # tile position major: tile k of stored image i is output k * 2 + i, upsampled to the full size
    expected = [1, 10, 2, 20, 3, 30, 4, 40]
    for j, value in enumerate(expected):
        assert torch.allclose(out[j], torch.full((1, 4, 4), float(value))), j
    images, labels = decode_by_class(image, torch.tensor([1, 0]), 2)
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [float(x[0, 0, 0]) for x in images] == [10, 20, 30, 40, 1, 2, 3, 4]


def test_decode_upsamples_a_tile_bilinearly_and_pads_odd_sides():
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, :2, :2] = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # a left-to-right ramp in the top-left tile
    tile = decode(image, 2)[0, 0]
    assert torch.all(tile[:, 1:] >= tile[:, :-1]) and tile[0, 0] == 0 and tile[0, -1] == 1
    odd = decode(torch.zeros(1, 1, 5, 5), 2)  # padded with grey to 6x6, tiles of 3x3
    assert odd.shape == (4, 1, 5, 5) and float(odd[3].max()) == pytest.approx(0.5)


def test_encode_then_decode_gives_back_shrunk_images():
    images = torch.rand(8, 1, 8, 8)
    stored = encode(images, 2)
    assert stored.shape == (2, 1, 8, 8)
    assert torch.equal(stored[1, :, 4:, :4], images[2 * 2 + 1, :, ::2, ::2])  # tile 2 of image 1, nearest
    assert torch.equal(encode(images, 1), images) and torch.equal(decode(images, 1), images)


def test_encode_lays_out_uneven_tiles_as_the_reference_initialisation():
    images = torch.arange(9.0).view(9, 1, 1, 1).expand(9, 1, 28, 28)  # image k is the constant k
    stored = encode(images, 3)[0, 0]
    starts = [0, 10, 19]  # tiles of 10, 9 and 9 pixels (Synthesizer.init('mix'))
    for k in range(9):
        top, left = starts[k // 3], starts[k % 3]
        assert float(stored[top, left]) == k and float(stored[top + 8, left + 8]) == k
    assert float(stored[9, 9]) == 0 and float(stored[10, 10]) == 4


def test_settings_follow_the_reference_per_dataset():
    fashion = resolve(IDCSettings(), "fashion_mnist", 10, 28)
    assert (fashion.metric, fashion.n_data, fashion.init, fashion.augment, fashion.net_mixup) == \
        ("l1", 500, "mix", "color_crop_cutout", "cut")
    assert fashion.lr_img == pytest.approx(1e-4 * (28 / 32) ** 2)  # tune_lr_img: ipc 10, side 28 vs 32
    cifar = resolve(IDCSettings(factor=1), "cifar10", 50, 32)
    assert (cifar.metric, cifar.n_data, cifar.init) == ("mse", 2000, "real")
    assert cifar.lr_img == pytest.approx(5e-3 * 5)
    mnist = resolve(IDCSettings(), "mnist", 1, 28)
    assert (mnist.augment, mnist.net_mixup) == ("color_crop", "vanilla")
    assert get_method("idc").settings().factor == 2 and get_method("idc-i").settings().factor == 1
    with pytest.raises(ProxynasError, match="init"):
        get_method("idc").settings(init="zeros")
    assert str(ProxyName.parse("idc-i_digits_ipc1")) == "idc-i_digits_ipc1"


@pytest.mark.parametrize("method", ["idc", "idc-i"])
def test_learning_lowers_the_matching_loss(digits, method):
    """Same networks, same draws: learned images match the real gradients better than the frozen start."""
    impl = get_method(method)
    frozen = impl.learn(digits.train, 2, impl.settings(**TINY, lr_img=0.0), context())
    learned = impl.learn(digits.train, 2, impl.settings(**TINY, lr_img=16.0), context())  # x 2/10 x (8/32)^2
    assert len(learned.losses) == TINY["iterations"]
    assert learned.losses[-1] < learned.losses[0]
    assert all(a < b for a, b in zip(learned.losses[1:], frozen.losses[1:], strict=True))
    assert not torch.equal(learned.data.images, frozen.data.images)


def test_the_proxy_holds_decoded_images_by_class(digits, tmp_path):
    store = ProxyLibrary(tmp_path)
    proxy = make_proxy(store, "idc", digits, 2, device="cpu", **QUICK)
    assert proxy.name == "idc_digits_ipc2"
    assert len(proxy.data) == 10 * 2 * 4 and proxy.data.shape == (1, 8, 8)
    assert proxy.data.labels.tolist() == [c for c in range(10) for _ in range(8)]
    card = proxy.card
    assert (card.method, card.ipc, card.num_classes, card.settings["factor"]) == ("idc", 2, 10, 2)
    # the card says what ran: the per-dataset choices are filled in, not left at None
    resolved = card.settings["resolved"]
    assert card.settings["init"] is None and (resolved["init"], resolved["metric"], resolved["net_mixup"]) == (
        "mix", "l1", "vanilla")
    pixels = proxy.data.images * 0.376 + 0.3053  # digits' std and mean: decoded pixels stay in [0, 1]
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    plain = make_proxy(store, "idc-i", digits, 2, device="cpu", **QUICK)
    assert len(plain.data) == 20 and plain.card.settings["factor"] == 1
    assert plain.card.settings["resolved"]["init"] == "real"


class Killed(Exception):
    pass


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_the_same(digits, tmp_path):
    impl = get_method("idc")
    settings = impl.settings(**{**TINY, "iterations": 3, "inner_loop": 1})
    whole = impl.learn(digits.train, 1, settings, context())

    checkpoint = tmp_path / "idc.ckpt"

    def kill_after_two(done, total):
        if done == 2:  # a checkpoint comes after every iteration here (3 // 20 -> 1)
            raise Killed

    with pytest.raises(Killed):
        impl.learn(digits.train, 1, settings, context(checkpoint, kill_after_two))
    assert checkpoint.exists()
    seen = []
    resumed = impl.learn(digits.train, 1, settings, context(checkpoint, lambda d, t: seen.append(d)))
    assert seen == [2, 3]  # it started from the checkpoint, not from zero
    assert torch.equal(resumed.data.images, whole.data.images)
    assert resumed.losses == pytest.approx(whole.losses)
