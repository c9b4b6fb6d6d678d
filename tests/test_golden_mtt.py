"""MTT and FTD against numbers from their reference code on the same inputs (tests/golden/README.md).

``zca``: kornia's ZCAWhitening(eps=0.1, compute_inv=True), float64. ``mtt_iteration`` / ``ftd_iteration``:
one expert epoch (mtt-distillation ``utils.epoch`` with buffer.py's SGD; FTD's ``utils_gsam.epoch`` with
buffer_FTD.py's GSAM) in float32, as the reference casts its images to float32; and one distillation
iteration (the loop body of ``distill.py`` / ``distill_FTD.py``, run as written) in float64, without
augmentation (DSA is checked against its reference in test_golden.py). The reference's random draws (the
epoch's shuffle, the ``randperm`` chunks of the student's steps, numpy's start epoch) were recorded and are
handed to proxynas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from golden_support import checksum, load
from torch import nn

from condensed.experts import ExpertSettings, expert_epoch
from condensed.trajectory import split_flat, trajectory_step
from proxynas.datasets.base import TensorSet
from proxynas.datasets.zca import fit_zca
from proxynas.engine.accel import Accel
from proxynas.engine.fit import fit
from proxynas.engine.stack import ListStack
from proxynas.presets import protocol_for
from search_spaces import get_space

C, H, K, N = 3, 16, 10, 24
NET = "d2_w32_relu_instancenorm_avgpool"  # the fixture's ConvNet(net_width=32, net_depth=2, ...)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def net_at(flat: torch.Tensor, size: int = H) -> nn.Module:
    space = get_space("dc_convnet")
    net = space.build(space.parse(NET), (C, size, size), K).to(flat.dtype)
    torch.nn.utils.vector_to_parameters(flat, net.parameters())
    return net


def test_zca_is_korniasfloat64():
    g = load("zca")
    fit_x = torch.rand(300, 3, 4, 4, generator=gen(21), dtype=torch.float64)
    test_x = torch.rand(7, 3, 4, 4, generator=gen(22), dtype=torch.float64)
    torch.testing.assert_close(checksum(fit_x), g["fit_checksum"], rtol=0, atol=0)
    torch.testing.assert_close(checksum(test_x), g["test_checksum"], rtol=0, atol=0)
    zca = fit_zca(fit_x, 0.1, dtype=torch.float64)
    # float64 on both sides (kornia: torch.linalg.svd of the same covariance); measured difference ~1e-14
    torch.testing.assert_close(zca.matrix, g["matrix"], rtol=0, atol=1e-10)
    torch.testing.assert_close(zca.apply(test_x), g["white"], rtol=0, atol=1e-10)
    torch.testing.assert_close(zca.invert(zca.apply(test_x)), g["inverse"], rtol=0, atol=1e-10)


def expert_case(name: str) -> tuple[float, torch.Tensor, torch.Tensor]:
    g = load(name)
    x = torch.randn(N, C, H, H, generator=gen(1), dtype=torch.float64)
    flat0 = (torch.rand(g["expert.after"].numel(), generator=gen(2), dtype=torch.float64) * 2 - 1) * 0.1
    torch.testing.assert_close(checksum(x), g["expert.input_checksum"], rtol=0, atol=0)
    torch.testing.assert_close(checksum(flat0), g["expert.flat0_checksum"], rtol=0, atol=0)
    net = net_at(flat0.float())
    optimizer = "sgd" if name.startswith("mtt") else "gsam"
    settings = ExpertSettings(net=f"dc_convnet:{NET}", batch=10, augment="none", optimizer=optimizer)
    sgd = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.0, weight_decay=0.0)
    data = TensorSet(x.float(), torch.arange(N) % K, K)
    loss = expert_epoch(net, sgd, data, settings, None, gen(0), order=g["expert.order"])
    return loss, torch.nn.utils.parameters_to_vector(net.parameters()).detach(), g


def test_one_mtt_expert_epoch_is_buffer_pys():
    loss, after, g = expert_case("mtt_iteration")
    # float32, three SGD steps: the two sides' convolutions sum in different orders (~1e-7 relative measured)
    torch.testing.assert_close(after, g["expert.after"], rtol=1e-5, atol=1e-6)
    assert abs(loss - float(g["expert.loss"])) < 1e-5


def test_one_ftd_expert_epoch_is_buffer_ftd_pys_gsam():
    loss, after, g = expert_case("ftd_iteration")
    torch.testing.assert_close(after, g["expert.after"], rtol=1e-5, atol=1e-6)
    assert abs(loss - float(g["expert.loss"])) < 1e-5


def distill_case(name: str) -> None:
    g = load(name)
    meta = g.meta["distill"]
    p = g["expert.after"].numel()
    flat0 = (torch.rand(p, generator=gen(2), dtype=torch.float64) * 2 - 1) * 0.1
    delta = torch.randn(p, generator=gen(4), dtype=torch.float64) * 0.01
    images = torch.randn(K * meta["ipc"], C, H, H, generator=gen(5), dtype=torch.float64)
    torch.testing.assert_close(checksum(images), g["distill.image_checksum"], rtol=0, atol=0)
    images.requires_grad_(True)
    labels = torch.arange(K).repeat_interleave(meta["ipc"])
    syn_lr = torch.tensor(meta["lr_teacher"], dtype=torch.float64).requires_grad_(True)
    start = int(g["distill.start_epoch"])
    batches = [g[f"distill.batch{i}"] for i in range(meta["syn_steps"])]
    optimizer = torch.optim.SGD([images], lr=meta["lr_img"], momentum=0.5)
    lr_optimizer = torch.optim.SGD([syn_lr], lr=meta["lr_lr"], momentum=0.5)
    ema = images.detach().clone() if meta["ema_decay"] else None
    net = net_at(flat0.clone())
    assert set(split_flat(net, flat0)) == {n for n, _ in net.named_parameters()}
    loss = trajectory_step(net, flat0 + start * delta, flat0 + (start + meta["expert_epochs"]) * delta, images,
                           labels, syn_lr, meta["syn_steps"], lambda step: (batches[step], None), None, optimizer,
                           lr_optimizer, ema, meta["ema_decay"] or 0.0)
    # float64 throughout; measured differences ~1e-16 relative (summation order only)
    torch.testing.assert_close(loss, g["distill.loss"], rtol=1e-10, atol=0)
    torch.testing.assert_close(images.grad, g["distill.image_grad"], rtol=1e-8, atol=1e-14)
    torch.testing.assert_close(syn_lr.grad, g["distill.lr_grad"], rtol=1e-8, atol=0)
    torch.testing.assert_close(checksum(images), g["distill.images_after_checksum"], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(syn_lr.detach(), g["distill.syn_lr_after"], rtol=1e-12, atol=0)
    if ema is not None:
        torch.testing.assert_close(checksum(ema), g["distill.ema_after_checksum"], rtol=1e-10, atol=1e-12)


def test_one_mtt_distillation_iteration_is_distill_pys():
    distill_case("mtt_iteration")


def test_one_ftd_distillation_iteration_is_distill_ftd_pys_with_its_ema():
    distill_case("ftd_iteration")


class RecordedAugmentation:
    """The reference's DiffAugment calls, in order: each training batch gets the reference's augmented images
    (its draws come from torch's global RNG inside DiffAugment, so the outputs are stored, not the draws; the
    DSA transforms themselves are checked against that reference in test_golden.py). Rows are matched by
    content, so proxynas's own batch order is kept."""

    @dataclass(frozen=True)
    class Call:
        index: int

        @classmethod
        def cat(cls, draws):
            assert len(draws) == 1
            return draws[0]

        def to(self, device):
            return self

    def __init__(self, golden, images: torch.Tensor) -> None:
        self.golden, self.images, self.calls = golden, images, 0

    def draw_batch(self, count, size, generator):
        self.calls += 1
        return self.Call(self.calls - 1)

    def apply(self, x: torch.Tensor, draw: Call) -> torch.Tensor:
        given = self.images[self.golden[f"aug{draw.index}.order"]]  # the reference's batch, in its loader's order
        augmented = self.golden[f"aug{draw.index}.output"]
        same = (x.flatten(1)[:, None, :] == given.flatten(1)[None]).all(-1)  # (proxynas row, reference row)
        assert bool(same.sum(1).eq(1).all()), "a training image is not in the reference's batch"
        return augmented[same.int().argmax(1)]


def eval_step(perturb: float = 0.0) -> tuple[torch.Tensor, float, int, Any]:
    g = load("trajectory_eval")
    m = g.meta
    k, ipc, (c, h, _) = m["classes"], m["ipc"], m["shape"]
    images = torch.randn(k * ipc, c, h, h, generator=gen(41))
    test_x = torch.randn(m["ntest"], c, h, h, generator=gen(42))
    test_y = torch.randint(0, k, (m["ntest"],), generator=gen(43))
    net = net_at(torch.zeros(g["after"].numel()), h)
    flat0 = g["flat0"]  # the reference ConvNet's default initialisation after torch.manual_seed(44)
    for drawn, key in ((images, "images_checksum"), (test_x, "test_checksum")):
        # the same float32 draws; their float64 sums may round in another order (3e-16 relative seen)
        torch.testing.assert_close(checksum(drawn), g[key], rtol=1e-12, atol=0)
    torch.nn.utils.vector_to_parameters(flat0 * (1 + perturb), net.parameters())
    # what distill.py / distill_FTD.py evaluate with: args.lr_net = syn_lr.item(), DSA, evaluate_synset's loop
    protocol = protocol_for("mtt", "cifar10", {"syn_lr": m["syn_lr"]}, exact=True).with_(epochs=m["epochs"])
    replay = RecordedAugmentation(g, images)
    data = TensorSet(images, torch.arange(k).repeat_interleave(ipc), k)
    fit(ListStack([net]), data, protocol, [0], augment=replay, accel=Accel())
    assert replay.calls == protocol.total_epochs == m["epochs"] + 1  # one batch per epoch: 20 images < 256
    net.eval()
    with torch.no_grad():
        logits = net(test_x)
    loss = float(F.cross_entropy(logits, test_y))
    acc = int((logits.argmax(1) == test_y).sum())
    return torch.nn.utils.parameters_to_vector(net.parameters()).detach(), loss, acc, g


def test_one_evaluation_step_is_evaluate_synset_at_the_learned_step_size():
    """MTT's and FTD's evaluate_synset (identical code: the maker checked both give the same numbers) against
    proxynas's mtt/ftd protocol with the exact schedule: 7 epochs, the step size dropped x0.1 after epoch 4 with
    a new optimizer, SGD momentum 0.9, weight decay 5e-4, the recorded DSA batches."""
    after, loss, acc, g = eval_step()
    assert g.meta["ftd_equals_mtt"] is True
    # float32 (the reference's epoch() casts to float). Measured (tests/golden/README.md): largest parameter
    # difference 3.0e-8 (AVX-512 and AVX2 kernels); a 1e-7 relative change of the initial weights moves the result
    # by 1.2e-7 to 1.8e-7, while training moved parameters by up to 0.039 (and a step size of 0.01 instead of the
    # learned one moves them 0.030): 1e-6 leaves room for other CPUs' summation orders and still fails on a wrong
    # step size, momentum, drop or weight decay.
    torch.testing.assert_close(after, g["after"], rtol=0, atol=1e-6)
    assert abs(loss - float(g["loss_test"])) < 1e-5
    assert acc == round(float(g["acc_test"]) * g.meta["ntest"])  # correct test images
