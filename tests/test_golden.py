"""proxynas against numbers produced by the reference implementations on the same inputs and draws.

The fixtures in tests/golden/ come from VICO-UoE/DatasetCondensation and
snu-mllab/Efficient-Dataset-Condensation (repository and commit in each file's metadata; how they
were made: tests/golden/README.md). Inputs and weights are redrawn here from the fixtures' seeds and
checked against their checksums; the reference's random draws (DSA, crop/scale/rotate, IDC's
augmentation and CutMix) were recorded and are handed to proxynas as its draws.
Tolerances are float32 rounding: the two sides sum in different orders, nothing more; a comparison
that is ill-conditioned in float32 runs in float64 on both sides (tests/golden/README.md). The inputs
are torch.randn's AVX2/AVX-512 draws: on a CPU without AVX2 the tests that use them skip, saying why
(``golden_support.same_input``).
"""

from __future__ import annotations

import pytest
import torch
from golden_support import ReplayDSA, ReplayIDCAugment, fill_weights, idc_draw, load, randn, same_input

from condensed import Context
from condensed.dc import DC, DCSettings
from condensed.dm import DM, DMSettings
from condensed.formation import decode, encode
from condensed.idc import IDC, IDCSettings, network_step
from condensed.matching import gradient_distance
from proxynas.augment import DSA
from proxynas.augment.crop_scale_rotate import CropScaleRotate, CropScaleRotateDraw
from proxynas.augment.cutmix import CutMixDraw
from proxynas.augment.idc import IDCAugment
from proxynas.datasets import dataset_info
from proxynas.datasets.base import TensorSet
from search_spaces import get_space

CPU = torch.device("cpu")
# test_one_dc_outer_iteration in float64: perturbing the weights by 1e-15 (relative) moves the result by
# 1.3e-15, 1e-13 by 1.0e-13 (measured); proxynas vs the reference: 4.4e-16 (AVX-512), 8.9e-16 (AVX2).
DC_FLOAT64_ATOL = 1e-12


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
        same_input(x, g[f"{key}.input_checksum"])
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
    same_input(x, g[f"{key}.input_checksum"])
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
    """main.py --method DC --init noise, one iteration: 3 rounds of matching, 2 network epochs between,
    in float64 on both sides (the fixture: the reference run in float64, tests/golden/README.md).

    In float32 the layer-wise cosine distance is ill-conditioned here (rows of near-zero gradients):
    1e-7 relative noise on the weights changed the image gradient by 1.4e-2, the float32 reference run
    and the float64 one differ by 2.7e-5, and so did proxynas on AVX2 kernels against a fixture made on
    AVX-512 ones (all measured). In float64 the loop is well-conditioned (``DC_FLOAT64_ATOL``): the same
    reference run on AVX-512 and on AVX2 kernels differs by 8.9e-16. Two epochs, not the reference's 10
    or 50: two already test the whole loop.
    """
    g = load("dc_iteration")
    m = g.meta
    assert m["dtype"] == "float64"
    train = small_set(m)
    same_input(train.images, g["real_checksum"])
    train = TensorSet(train.images.double(), train.labels, train.num_classes)
    settings = DCSettings(iterations=1, init="noise", outer_loop=m["outer"], inner_loop=m["inner"],
                          batch_real=m["per_class"], net=m["net"])
    ctx = Context(dataset_info("fashion_mnist"), CPU, seed=m["seed"])
    method = DC()
    work = method.workspace(train, m["ipc"], settings, ctx)
    assert work.images.dtype == torch.float64
    close(work.images.detach(), g["initial"], rtol=0, atol=0)  # noise init: torch.randn from the seed
    sums: list = []
    work.build_net = lambda: golden_net(m, train, sums).double()
    method.iteration(work, 0, settings)
    close(sums[0], g["weights_checksum"], rtol=1e-12, atol=0)
    close(work.images.detach(), g["final"], rtol=0, atol=DC_FLOAT64_ATOL)
    moved = (g["final"] - g["initial"]).abs().mean()
    assert moved > 1e-3  # the iteration did change the images: the comparison above means something


def test_one_dm_step_with_the_reference_dsa_draws():
    """main_DM.py --init noise, one iteration; the siamese DSA draw of each class is the reference's."""
    g = load("dm_step")
    m = g.meta
    train = small_set(m)
    same_input(train.images, g["real_checksum"])
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
    close(work.images.detach(), g["final"], rtol=1e-5, atol=2e-6)
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
    same_input(x, g[f"{key}.input_checksum"])
    draw = CropScaleRotateDraw(**g.prefixed(f"{key}.draw."))
    assert set(draw.choice.tolist()) == {0, 1, 2}  # every operation is exercised
    close(CropScaleRotate().apply(x, draw), g[f"{key}.output"])


# ------------------------------------------------------------------------------------------------- IDC

def rand(seed: int, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("key", ["decode.1x28.f2", "decode.1x28.f3", "decode.3x32.f2"])
def test_idc_decode(key):
    """Synthesizer.decode_zoom: tiles row by row, padded with 0.5 when the side is no multiple, upsampled."""
    g = load("idc")
    case = next(c for c in g.meta["decode"] if c["key"] == key)
    x = rand(case["seed"], *case["shape"])
    same_input(x, g[f"{key}.input_checksum"])
    close(decode(x, case["factor"]), g[f"{key}.output"])


@pytest.mark.parametrize("key", ["mix.f2", "mix.f3"])
def test_idc_mix_initialisation(key):
    """Synthesizer.init('mix'): factor**2 real images of a class shrunk into the tiles of one image."""
    g = load("idc")
    case = next(c for c in g.meta["mix"] if c["key"] == key)
    real = rand(case["seed"], *case["shape"])
    same_input(real, g[f"{key}.input_checksum"])
    stored = torch.cat([encode(block, case["factor"]) for block in real])
    close(stored, g[f"{key}.output"])


@pytest.mark.parametrize("family", ["crop", "scale", "rotate"])
def test_idc_evaluation_augmentation(family):
    """DiffAug(args.dsa_strategy, batch=False) as IDC's test.py trains with it on FashionMNIST."""
    g = load("idc")
    m = g.meta["eval_aug"]
    assert m["strategy"] == "color_crop_flip_scale_rotate"  # the reference strategy less cutout (CutMix)
    x = randn(m["input_seed"], *m["shape"])
    same_input(x, g["eval_aug.input_checksum"])
    out = IDCAugment(m["strategy"]).apply(x, idc_draw(g, f"eval_aug.{family}.draw."))
    close(out, g[f"eval_aug.{family}.output"])


def idc_net(train_shape, num_classes: int, seed: int, sums: list) -> torch.nn.Module:
    net, weights = convnet("d3_w128_relu_instancenorm_avgpool", train_shape, num_classes, seed)
    sums.append(weights)
    return net


@pytest.mark.parametrize(("key", "atol"), [("step_mse", 1e-6), ("step", 3e-5)])
def test_one_idc_inner_step_with_the_reference_draws(key, atol):
    """condense() on FashionMNIST-shaped data, factor 2: every class's matching and image update, once.

    With l1 (IDC's metric for FashionMNIST) the image gradient is a sum of signs of gradient differences,
    and float32 rounding flips a few of them: perturbing the weights by 1e-7 (relative) moves the result
    by up to 1.3e-5 (measured), hence its tolerance, 2e-4 of the largest move (0.16). mse is smooth.
    """
    g = load("idc")
    m = g.meta[key]
    n = m["classes"] * m["per_class"]
    pixels = rand(m["real_seed"], n, 1, 28, 28)
    same_input(pixels, g[f"{key}.real_checksum"])
    initial = rand(m["syn_seed"], m["classes"] * m["ipc"], 1, 28, 28)
    same_input(initial, g[f"{key}.initial_checksum"])
    info = dataset_info("fashion_mnist")
    assert (info.mean, info.std) == ((0.2861,), (0.3530,))  # IDC's data.py MEANS / STDS['fashion']
    images = (pixels - torch.tensor(info.mean).view(1, 1, 1, 1)) / torch.tensor(info.std).view(1, 1, 1, 1)
    train = TensorSet(images, torch.arange(m["classes"]).repeat_interleave(m["per_class"]), m["classes"])
    settings = IDCSettings(iterations=1, inner_loop=1, factor=m["factor"], n_data=0, lr_img=m["lr_img"],
                           batch_real=m["per_class"], init="real", metric=None if key == "step" else "mse")
    method = IDC()
    work = method.workspace(train, m["ipc"], settings, Context(info, CPU, seed=0))
    assert (work.resolved.metric, work.resolved.augment) == (m["metric"], m["strategy"])  # fashion's recipe
    assert work.resolved.lr_img == pytest.approx(m["lr_img_tuned"])
    with torch.no_grad():
        work.images.copy_(initial)  # the seeded images, in place of the mix initialisation
    draws = [idc_draw(g, f"{key}.draw.{c}.") for c in range(m["classes"])]
    work.match_augment = ReplayIDCAugment(m["strategy"], draws)
    sums: list = []
    work.build_net = lambda: idc_net(train.shape, train.num_classes, m["weight_seed"], sums)
    method.iteration(work, 0, settings)
    assert work.match_augment.exhausted()
    close(sums[0], g[f"{key}.weights_checksum"], rtol=1e-12, atol=0)
    moved = work.images.detach() - initial
    expected = g[f"{key}.final"] - initial
    assert expected.abs().max() > 5e-3  # a step the comparison can see
    close(moved, expected, rtol=0, atol=atol)


def test_idc_network_updates_with_cutmix():
    """train_epoch on one batch at a time: per-image DiffAug, CutMix (one mixed step, one plain), SGD."""
    g = load("idc")
    m = g.meta["net"]
    info = dataset_info("fashion_mnist")
    net, weights = convnet("d3_w128_relu_instancenorm_avgpool", (1, 28, 28), m["classes"], m["weight_seed"])
    close(weights, g["net.weights_checksum"], rtol=1e-12, atol=0)
    optimizer = torch.optim.SGD(net.parameters(), lr=m["lr"], momentum=m["momentum"],
                                weight_decay=m["weight_decay"])
    augment = IDCAugment(m["strategy"])
    losses, mixed = [], []
    for step in range(m["steps"]):
        pixels = rand(m["batch_seed"] + step, m["n"], 1, 28, 28)
        same_input(pixels, g[f"net.batch_checksum.{step}"])
        y = torch.randint(0, m["classes"], (m["n"],), generator=torch.Generator().manual_seed(70 + step))
        x = (pixels - info.mean[0]) / info.std[0]
        with torch.no_grad():
            x = augment.apply(x, idc_draw(g, f"net.draw.{step}."))
        mix = CutMixDraw(**g.prefixed(f"net.mix.{step}."))
        mixed.append(bool(mix.mixed))
        losses.append(network_step(net, optimizer, x, y, mix))
    assert sorted(mixed) == [False, True]
    close(torch.stack(losses), g["net.losses"])
    with torch.no_grad():
        close(net(randn(m["probe_seed"], 4, 1, 28, 28)), g["net.probe_logits"])
