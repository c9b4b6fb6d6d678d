"""Differentiable siamese augmentation: shapes, determinism, siamese draws, each family, flips."""

from __future__ import annotations

import math

import pytest
import torch

from proxynas.augment import DSA, FAMILIES, REFERENCE_STRATEGY, make_augment
from proxynas.augment.dsa import DSAParams, cut_out, translate
from proxynas.datasets import dataset_info
from proxynas.errors import ProxynasError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 6, c: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=gen(seed))


def test_make_augment_by_name_and_dataset():
    assert make_augment("none", dataset_info("cifar10")) is None
    with_flip = make_augment("dsa", dataset_info("cifar10"))
    assert isinstance(with_flip, DSA) and with_flip.strategy == REFERENCE_STRATEGY
    no_flip = make_augment("dsa", dataset_info("digits"))
    assert no_flip.families == ("color", "crop", "cutout", "scale", "rotate")
    with pytest.raises(ProxynasError, match=r"unknown augmentation 'dsaa'.*did you mean 'dsa'"):
        make_augment("dsaa", dataset_info("digits"))


def test_reference_parameters():
    p = DSAParams()
    assert (p.brightness, p.saturation, p.contrast) == (1.0, 2.0, 0.5)
    assert (p.crop_pad, p.cutout, p.flip, p.scale, p.rotate) == (0.125, 0.5, 0.5, 1.2, 15.0)


@pytest.mark.parametrize("shape", [(5, 1, 8, 8), (4, 3, 32, 32), (3, 1, 28, 28)])
def test_shape_and_dtype_kept(shape):
    x = torch.randn(shape, generator=gen())
    for seed in range(8):  # several draws, so several families
        out = DSA()(x, gen(seed))
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()


def test_same_generator_state_same_output():
    x, dsa = images(), DSA()
    assert torch.equal(dsa(x, gen(3)), dsa(x, gen(3)))
    outputs = {dsa(x, gen(seed)).sum().item() for seed in range(10)}
    assert len(outputs) > 5  # different seeds, different transforms


def test_siamese_draw_transforms_two_batches_alike():
    dsa, x = DSA(), images()
    for seed in range(12):
        draw = dsa.draw(1, x.shape[-2:], gen(seed), x.device)
        first, second = dsa.apply(x, draw), dsa.apply(x.clone(), draw)
        assert torch.equal(first, second)
        # one transform for every image: a batch of copies of one image stays a batch of copies
        copies = dsa.apply(x[:1].expand(4, -1, -1, -1), draw)
        assert torch.equal(copies, copies[:1].expand_as(copies))
        assert torch.equal(copies[0], first[0])


def test_training_call_draws_parameters_per_image():
    copies = images(1).expand(8, -1, -1, -1)
    out = DSA("scale")(copies, gen(0))
    assert not torch.allclose(out[0], out[1])


def test_draw_take_gives_each_image_its_transform():
    dsa, x = DSA(), images(4)
    draws = dsa.draw(2, x.shape[-2:], gen(5), x.device)
    labels = torch.tensor([0, 0, 1, 1])
    together = dsa.apply(x, draws.take(labels))
    for k in (0, 1):
        one = draws.take(torch.tensor([k]))
        assert torch.allclose(together[labels == k], dsa.apply(x[labels == k], one))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_differentiable(family):
    x = images(4).requires_grad_(True)
    out = DSA(family)(x, gen(1))
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_translate_moves_pixels_and_fills_zeros():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(2, 1, 1, 1)
    out = translate(x, torch.tensor([[1, 0], [0, -1]]))
    assert torch.equal(out[0, 0, :3], x[0, 0, 1:]) and out[0, 0, 3].abs().sum() == 0
    assert torch.equal(out[1, 0, :, 1:], x[1, 0, :, :3]) and out[1, 0, :, 0].abs().sum() == 0


def test_cutout_zeroes_one_square():
    x = torch.ones(1, 2, 8, 8)
    out = cut_out(x, torch.tensor([[4, 4]]), (4, 4))
    assert torch.equal(out[0, :, 2:6, 2:6], torch.zeros(2, 4, 4))
    assert out.sum() == 2 * (64 - 16)
    corner = cut_out(x, torch.tensor([[0, 0]]), (4, 4))  # clipped at the border
    assert corner.sum() == 2 * (64 - 4)


def test_flip_mirrors_about_half_the_images():
    x = images(400, 1, 8)
    out = DSA("flip")(x, gen(2))
    mirrored = (out == x.flip(3)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert torch.all(mirrored | kept)
    assert 150 < int(mirrored.sum()) < 250


def test_no_flip_for_digits():
    dsa = make_augment("dsa", dataset_info("digits"))
    draws = dsa.draw(500, (8, 8), gen(0), torch.device("cpu"))
    chosen = {dsa.families[int(k)] for k in draws.family}
    assert chosen == {"color", "crop", "cutout", "scale", "rotate"}


def test_color_does_not_change_saturation_of_grey_images():
    x = images(3, 1)
    dsa = DSA("color")
    draw = dsa.draw(3, x.shape[-2:], gen(0), x.device)
    # brightness and contrast only: out = (x + b - mean(x + b)) * c + mean(x + b)
    shifted = x + (draw.brightness.view(-1, 1, 1, 1) - 0.5) * 1.0
    mean = shifted.mean((1, 2, 3), keepdim=True)
    expected = (shifted - mean) * (draw.contrast.view(-1, 1, 1, 1) + 0.5) + mean
    assert torch.allclose(dsa.apply(x, draw), expected, atol=1e-6)


def test_rotation_turns_within_fifteen_degrees():
    dsa = DSA("rotate")
    draw = dsa.draw(1000, (8, 8), gen(0), torch.device("cpu"))
    assert draw.angle.abs().max() <= math.radians(15)
    assert draw.angle.abs().max() > math.radians(14)
    assert (draw.scale >= 1 / 1.2).all() and (draw.scale <= 1.2).all()


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown DSA families"):
        DSA("color_blur")


def test_engine_trains_with_dsa(digits):
    from proxynas.engine import Protocol, fit
    from search_spaces import get_space

    space = get_space("dc_convnet")
    stack = space.build_stack([space.parse("d1_w32_relu_none_avgpool")] * 2, [0, 1], digits.shape, 10)
    report = fit(stack, digits.train.subset(torch.arange(64)), Protocol(epochs=2, augment="dsa"), [0, 1],
                 augment=make_augment("dsa", dataset_info("digits")))
    assert torch.all(report.failed_epoch < 0)
