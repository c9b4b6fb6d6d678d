"""proxynas against numbers produced by the reference implementations on the same inputs and draws.

The fixtures in tests/golden/ come from VICO-UoE/DatasetCondensation and
snu-mllab/Efficient-Dataset-Condensation (repository and commit in each file's metadata; how they
were made: tests/golden/README.md). Inputs and weights are redrawn here from the fixtures' seeds and
checked against their checksums; the reference's random draws (DSA, crop/scale/rotate, IDC's
augmentation and CutMix) were recorded and are handed to proxynas as its draws.
Tolerances are float32 rounding: the two sides sum in different orders, nothing more.
"""

from __future__ import annotations

import pytest
import torch
from golden_support import ReplayDSA, checksum, fill_weights, load, randn

from condensed import Context
from condensed.dc import DC, DCSettings
from condensed.dm import DM, DMSettings
from condensed.matching import gradient_distance
from proxynas.augment import DSA
from proxynas.augment.crop_scale_rotate import CropScaleRotate, CropScaleRotateDraw
from proxynas.datasets import dataset_info
from proxynas.datasets.base import TensorSet
from search_spaces import get_space

CPU = torch.device("cpu")


def close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    torch.testing.assert_close(actual, expected.to(actual.dtype), rtol=rtol, atol=atol)


def convnet(candidate_id: str, shape: tuple[int, int, int], num_classes: int, seed: int) -> tuple:
    space = get_space("dc_convnet")
    net = space.build(space.parse(candidate_id), shape, num_classes)
    return net, fill_weights(net, seed)


# ---------------------------------------------------------------------------------------------- ConvNet

@pytest.mark.parametrize("candidate_id", load("convnet").meta["ids"])
def test_convnet_forward(candidate_id):
    g = load("convnet")
    index = g.meta["ids"].index(candidate_id)
    for (channels, size), seed in zip(((1, 28), (3, 32)), (11, 12), strict=True):
        key = f"{channels}x{size}"
        x = randn(seed, 3, channels, size, size)
        close(checksum(x), g[f"{key}.input_checksum"], rtol=0, atol=0)
        net, weights = convnet(candidate_id, (channels, size, size), 10, 100 + index)
        close(weights, g[f"{candidate_id}.{key}.weights_checksum"], rtol=1e-12, atol=0)
        net.train()
        with torch.no_grad():
            close(net(x), g[f"{candidate_id}.{key}.logits"])


# ----------------------------------------------------------------------------------- gradient matching

@pytest.mark.parametrize("metric", ["ours", "mse", "cos"])
def test_match_loss(metric):
    g = load("match_loss")
    shapes = [tuple(s) for s in g.meta["shapes"]]
    syn = [randn(200 + k, *s) for k, s in enumerate(shapes)]
    real = [randn(300 + k, *s) + 0.5 * syn[k] for k, s in enumerate(shapes)]
    close(gradient_distance(syn, real, metric), g[metric])


# ---------------------------------------------------------------------------------------- DSA families

def dsa_cases():
    return [c["key"] for c in load("dsa").meta["cases"]]


@pytest.mark.parametrize("key", dsa_cases())
def test_dsa_family_with_the_reference_parameters(key):
    g = load("dsa")
    case = next(c for c in g.meta["cases"] if c["key"] == key)
    x = randn(case["input_seed"], *case["shape"])
    close(checksum(x), g[f"{key}.input_checksum"], rtol=0, atol=0)
    dsa = DSA(case["strategy"])
    draw = g.draw(f"{key}.draw.")
    out = dsa.apply(x, draw.share_family() if draw.count > 1 else draw)
    close(out, g[f"{key}.output"])


# -------------------------------------------------------------------------------------- DC and DM loops

def small_set(meta: dict) -> TensorSet:
    n = meta["classes"] * meta["per_class"]
    images = randn(meta["real_seed"], n, meta["channel"], meta["size"], meta["size"])
    labels = torch.arange(meta["classes"]).repeat_interleave(meta["per_class"])
    return TensorSet(images, labels, meta["classes"])


def golden_net(meta: dict, train: TensorSet, sums: list) -> torch.nn.Module:
    net, weights = convnet(meta["net"], train.shape, train.num_classes, meta["weight_seed"])
    sums.append(weights)
    return net


def test_one_dc_outer_iteration():
    """main.py --method DC --init noise, one iteration: 3 rounds of matching, 4 network epochs between."""
    g = load("dc_iteration")
    m = g.meta
    train = small_set(m)
    close(checksum(train.images), g["real_checksum"], rtol=0, atol=0)
    settings = DCSettings(iterations=1, init="noise", outer_loop=m["outer"], inner_loop=m["inner"],
                          batch_real=m["per_class"], net=m["net"])
    ctx = Context(dataset_info("fashion_mnist"), CPU, seed=m["seed"])
    method = DC()
    work = method.workspace(train, m["ipc"], settings, ctx)
    close(work.images.detach(), g["initial"], rtol=0, atol=0)  # noise init: torch.randn from the seed
    sums: list = []
    work.build_net = lambda: golden_net(m, train, sums)
    method.iteration(work, 0, settings)
    close(sums[0], g["weights_checksum"], rtol=1e-12, atol=0)
    close(work.images.detach(), g["final"], rtol=1e-4, atol=1e-5)
    moved = (g["final"] - g["initial"]).abs().mean()
    assert moved > 1e-3  # the iteration did change the images: the comparison above means something


def test_one_dm_step_with_the_reference_dsa_draws():
    """main_DM.py --init noise, one iteration; the siamese DSA draw of each class is the reference's."""
    g = load("dm_step")
    m = g.meta
    train = small_set(m)
    close(checksum(train.images), g["real_checksum"], rtol=0, atol=0)
    settings = DMSettings(iterations=1, init="noise", batch_real=m["per_class"], net=m["net"])
    ctx = Context(dataset_info("fashion_mnist"), CPU, seed=m["seed"])
    method = DM()
    work = method.workspace(train, m["ipc"], settings, ctx)
    close(work.images.detach(), g["initial"], rtol=0, atol=0)
    replay = ReplayDSA(m["strategy"], [g.draw("draw.")])
    work.augment = replay
    sums: list = []
    work.build_net = lambda: golden_net(m, train, sums)
    method.iteration(work, 0, settings)
    assert replay.exhausted()
    close(sums[0], g["weights_checksum"], rtol=1e-12, atol=0)
    close(work.images.detach(), g["final"], rtol=1e-4, atol=1e-5)
    assert (g["final"] - g["initial"]).abs().mean() > 1e-3


# ------------------------------------------------------------------------ MNIST evaluation augmentation

@pytest.mark.parametrize("key", ["1x28", "3x32"])
def test_crop_scale_rotate_with_the_reference_draws(key):
    """utils.augment with get_daparam('MNIST', ...): per image one of crop, scale, rotate (scipy's)."""
    g = load("crop_scale_rotate")
    case = next(c for c in g.meta["cases"] if c["key"] == key)
    assert g.meta["dc_aug_param"] == {"crop": 4, "scale": 0.2, "rotate": 45, "noise": 0.001,
                                      "strategy": "crop_scale_rotate"}
    x = randn(case["input_seed"], *case["shape"])
    close(checksum(x), g[f"{key}.input_checksum"], rtol=0, atol=0)
    draw = CropScaleRotateDraw(**g.prefixed(f"{key}.draw."))
    assert set(draw.choice.tolist()) == {0, 1, 2}  # every operation is exercised
    close(CropScaleRotate().apply(x, draw), g[f"{key}.output"])
