"""The DC reference's MNIST evaluation augmentation: draws, each operation, scipy's rotation, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from proxynas.augment import CropScaleRotate, CropScaleRotateDraw, make_augment
from proxynas.datasets import dataset_info


def images(n: int, c: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def fixed(n: int, choice: int, size: int = 28, crop=(4, 4), scaled=None, angle: int = 0) -> CropScaleRotateDraw:
    scaled = scaled or (size, size)
    return CropScaleRotateDraw(torch.full((n,), choice), torch.tensor([crop] * n), torch.tensor([scaled] * n),
                               torch.full((n,), angle))


def test_registered_by_name():
    aug = make_augment("crop_scale_rotate", dataset_info("mnist"))
    assert isinstance(aug, CropScaleRotate) and aug.operations == ("crop", "scale", "rotate")
    with pytest.raises(ValueError, match="unknown operations"):
        CropScaleRotate("crop_noise")


def test_draws_follow_the_reference_ranges_and_the_generator():
    aug = CropScaleRotate()
    d = aug.draw(4000, (28, 28), torch.Generator().manual_seed(1), torch.device("cpu"))
    assert torch.bincount(d.choice).tolist() == pytest.approx([4000 / 3] * 3, rel=0.1)
    assert d.crop.min() == 0 and d.crop.max() == 7  # np.random.permutation(8)[0]
    assert d.size.min() == int(0.8 * 28) and d.size.max() == int(1.2 * 28 - 1e-6)
    assert d.angle.min() == -45 and d.angle.max() == 44  # np.random.randint(-45, 45)
    x = images(6)
    one = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(one, aug(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(one, aug(x, torch.Generator().manual_seed(4)))
    assert one.shape == x.shape and one.dtype == x.dtype


def test_neutral_parameters_leave_images_alone():
    x, aug = images(3, c=3, size=32), CropScaleRotate()
    assert torch.equal(aug.apply(x, fixed(3, 0, 32, crop=(4, 4))), x)  # the unshifted window
    assert torch.equal(aug.apply(x, fixed(3, 1, 32, scaled=(32, 32))), x)  # resized to its own size
    torch.testing.assert_close(aug.apply(x, fixed(3, 2, 32, angle=0)), x, rtol=0, atol=1e-5)


def test_crop_shifts_and_fills_with_the_channel_means():
    x, aug = images(2, c=3), CropScaleRotate()
    out = aug.apply(x, fixed(2, 0, crop=(0, 7)))  # 4 rows down, 3 columns left
    means = x.mean(dim=(0, 2, 3))
    assert torch.equal(out[:, :, 4:, :-3], x[:, :, :-4, 3:])
    assert torch.equal(out[:, :, :4], means.view(1, 3, 1, 1).expand(2, 3, 4, 28))
    assert torch.equal(out[:, :, :, -3:], means.view(1, 3, 1, 1).expand(2, 3, 28, 3))


def test_scale_shrinks_onto_zeros_and_enlarges_by_nearest_neighbour():
    x, aug = images(1), CropScaleRotate()
    small = aug.apply(x, fixed(1, 1, scaled=(22, 24)))
    expect = torch.nn.functional.interpolate(x, size=(22, 24))
    assert torch.equal(small[:, :, 3:25, 2:26], expect) and small[:, :, :3].abs().sum() == 0
    big = aug.apply(x, fixed(1, 1, scaled=(33, 30)))
    assert torch.equal(big, torch.nn.functional.interpolate(x, size=(33, 30))[:, :, 2:30, 1:29])


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_rotation_is_scipys_for_every_angle(channels, size):
    angles = torch.arange(-45, 45)
    x = images(len(angles), channels, size, seed=2)
    draw = CropScaleRotateDraw(torch.full((len(angles),), 2), torch.zeros(len(angles), 2, dtype=torch.long),
                               torch.full((len(angles), 2), size), angles)
    out = CropScaleRotate().apply(x, draw)
    cval = float(np.mean([float(x[:, c].mean()) for c in range(channels)]))
    for i, angle in enumerate(angles.tolist()):
        rotated = ndimage.rotate(x[i].numpy(), angle=angle, axes=(-2, -1), cval=cval)
        top, left = (rotated.shape[1] - size) // 2, (rotated.shape[2] - size) // 2
        expect = torch.from_numpy(rotated[:, top:top + size, left:left + size])
        torch.testing.assert_close(out[i], expect, rtol=0, atol=1e-6)


def test_a_stack_of_batches_sees_what_each_batch_sees_alone():
    """The engine joins one draw per model; fills are each batch's own channel means."""
    aug = CropScaleRotate()
    batches = [images(5, c=3, size=32, seed=s) + s for s in range(3)]  # different means per batch
    draws = [aug.draw_batch(5, (32, 32), torch.Generator().manual_seed(s)) for s in range(3)]
    alone = [aug.apply(x, d) for x, d in zip(batches, draws, strict=True)]
    joined = CropScaleRotateDraw.cat(draws)
    assert joined.batches == 3 and joined.count == 15
    assert torch.equal(aug.apply(torch.cat(batches), joined), torch.cat(alone))
    with pytest.raises(ValueError, match="unequal batch sizes"):
        CropScaleRotateDraw.cat([draws[0], aug.draw_batch(4, (32, 32), torch.Generator())])
