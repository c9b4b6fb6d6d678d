"""The contract every registered augmentation keeps, as the engine uses it (``proxynas.augment.Augment``).

For every dataset's facts, an augmentation is ``None`` (no augmentation) or draws its random numbers on the
CPU from a model's own generator, the same for the same seed; applying them keeps a batch's shape, dtype and
finiteness; and the draws of two models joined and applied to their two batches at once give each model
what it gets alone (what lets a stack train its models as they train one by one). A new augmentation, in
``proxynas/augment/`` or behind a ``proxynas.augmentations`` entry point, is tested here with no edit.
"""

from __future__ import annotations

import pytest
import torch

from proxynas.augment import AUGMENTS, join_draws, make_augment
from proxynas.datasets import dataset_info, list_datasets

NAMES = AUGMENTS.names()


def test_the_built_in_augmentations_are_registered():
    assert {"none", "dsa", "crop_scale_rotate", "idc", "idc_cutout"} <= set(NAMES)


def batch(shape, n: int, seed: int) -> torch.Tensor:
    return torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dataset", list_datasets())
def test_an_augmentation_draws_per_model_and_applies_per_stack(name, dataset):
    info = dataset_info(dataset)
    augment = make_augment(name, info)
    if augment is None:
        return  # no augmentation: the engine trains on the batch as it is
    size = info.shape[1:]
    draws = [augment.draw_batch(3, size, torch.Generator().manual_seed(seed)) for seed in (0, 1)]
    again = augment.draw_batch(3, size, torch.Generator().manual_seed(0))
    x = [batch(info.shape, 3, seed) for seed in (10, 11)]
    alone = [augment.apply(xi, d) for xi, d in zip(x, draws, strict=True)]
    assert torch.equal(augment.apply(x[0], again), alone[0])  # the same seed draws the same transforms
    for out in alone:
        assert out.shape == x[0].shape and out.dtype == x[0].dtype and torch.isfinite(out).all()
    together = augment.apply(torch.cat(x), join_draws(draws))
    # bit for bit: the built-ins measured 0 difference, with AVX-512 and with AVX2 kernels
    assert torch.equal(together, torch.cat(alone))
