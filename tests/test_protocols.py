"""The papers' evaluation protocols: their values, their schedules in the engine, CutMix, the invariant."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from golden_support import load

from proxynas.augment import make_augment
from proxynas.augment.cutmix import CutMixDraw, cutmix, draw_cutmix, mixed_loss
from proxynas.datasets import dataset_info
from proxynas.engine import Job, Protocol, run_jobs
from proxynas.engine.fit import fit
from proxynas.errors import ProxynasError
from proxynas.presets import PRESETS, list_presets, method_preset, protocol_for
from proxynas.spaces import PlainStacks, SearchSpace
from search_spaces import get_space

SPACE = get_space("dc_convnet")
PLAIN = PlainStacks(SPACE)
IDS = ["d1_w32_relu_instancenorm_avgpool", "d1_w32_sigmoid_batchnorm_avgpool",
       "d1_w32_leakyrelu_none_avgpool", "d1_w32_relu_groupnorm_avgpool"]


def test_the_registered_protocols_hold_the_reference_values():
    assert list_presets() == ["dc", "dm", "dsa", "ftd", "idc", "mtt"]
    assert all(PRESETS.get(n).source for n in list_presets())  # each says where it comes from
    dc = protocol_for("dc", "fashion_mnist")
    assert (dc.epochs, dc.batch_size, dc.lr, dc.momentum, dc.weight_decay, dc.decay_epochs(), dc.gamma,
            dc.augment, dc.mixup) == (300, 256, 0.01, 0.9, 5e-4, [150], 0.1, "none", "none")
    mnist = protocol_for("dc", "mnist")
    assert (mnist.epochs, mnist.augment) == (1000, "crop_scale_rotate")  # get_daparam('MNIST')
    for name in ("dsa", "dm"):
        p = protocol_for(name, "cifar10")
        assert (p.epochs, p.batch_size, p.lr, p.decay_epochs(), p.augment, p.name) == (
            1000, 256, 0.01, [500], "dsa", name)
    assert make_augment("dsa", dataset_info("mnist")).strategy == "color_crop_cutout_scale_rotate"  # readme
    assert make_augment("dsa", dataset_info("fashion_mnist")).strategy == "color_crop_cutout_flip_scale_rotate"


def test_idc_protocol_is_what_idcs_argument_py_sets():
    """The golden fixture holds the values the reference's argument.py gives FashionMNIST (run there)."""
    ref = load("idc").meta["eval_aug"]
    p = protocol_for("idc", "fashion_mnist", {"factor": 2, "ipc": 10})
    assert (p.epochs, p.batch_size, p.lr, p.momentum, p.weight_decay) == (
        ref["epochs"], ref["batch_size"], ref["lr"], ref["momentum"], ref["weight_decay"])
    assert (p.mixup, p.mix_p, ref["mixup"], ref["beta"], ref["dsa"]) == ("cutmix", ref["mix_p"], "cut", 1.0, True)
    assert make_augment(p.augment, dataset_info("fashion_mnist")).strategy == ref["strategy"]
    assert (p.gamma, p.decay_epochs()) == (0.2, [2 * 1000 // 3, 5 * 1000 // 6])  # MultiStepLR milestones
    # test.py's return_data_path: the published sets evaluated without CutMix
    mnist = protocol_for("idc", "mnist", {"factor": 2, "ipc": 10})
    assert (mnist.mixup, make_augment(mnist.augment, dataset_info("mnist")).strategy) == (
        "none", "color_crop_scale_rotate")
    svhn = protocol_for("idc", "svhn", {"factor": 1, "ipc": 1})
    assert (svhn.mixup, make_augment(svhn.augment, dataset_info("svhn")).strategy) == (
        "none", "color_crop_cutout_scale_rotate")
    assert protocol_for("idc", "mnist", {"factor": 1, "ipc": 10}).mixup == "cutmix"


def test_exact_is_the_dc_reference_loop_and_leaves_idc_alone():
    exact = protocol_for("dsa", "cifar10", exact=True)
    assert (exact.total_epochs, exact.decay_epochs(), exact.restarts_optimizer) == (1001, [502], True)
    assert protocol_for("idc", "cifar10", exact=True) == protocol_for("idc", "cifar10")
    assert [method_preset(m) for m in ("dc", "dsa", "dm", "idc", "idc-i", "random", "mtt", "ftd")] == [
        "dc", "dsa", "dm", "idc", "idc", "dc", "mtt", "ftd"]
    # an imported MTT set (no learned step size on its card) trains as under dsa: the same key
    assert protocol_for("mtt", "cifar10").key() == protocol_for("dsa", "cifar10").key()
    with pytest.raises(ProxynasError, match="milestone"):
        Protocol(milestones=("3/2",))
    with pytest.raises(ProxynasError, match="schedule"):
        Protocol(schedule="cosine")


def one_model(seed: int = 0) -> torch.nn.Module:
    return SearchSpace.build_stack(SPACE, [SPACE.parse(IDS[0])], [seed], (1, 8, 8), 10)


def reference_loop(digits, protocol: Protocol, seed: int, optimizers) -> torch.nn.Module:
    """A plain loop with the engine's batch order; ``optimizers`` says how the learning rate moves."""
    stack = one_model(seed)
    data = digits.train.subset(torch.arange(96))
    order_gen = torch.Generator().manual_seed(seed)
    optimizer, on_epoch_end = optimizers(stack)
    for epoch in range(protocol.total_epochs):
        order = torch.randperm(len(data), generator=order_gen)
        for start in range(0, len(data), protocol.batch_size):
            index = order[start:start + protocol.batch_size]
            loss = F.cross_entropy(stack(data.images[index][None])[0], data.labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        optimizer = on_epoch_end(epoch, optimizer) or optimizer
    return stack


def engine(digits, protocol: Protocol, seed: int) -> torch.nn.Module:
    stack = one_model(seed)
    fit(stack, digits.train.subset(torch.arange(96)), protocol, [seed])
    return stack


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_the_exact_schedule_is_evaluate_synset(digits):
    """utils.evaluate_synset: for ep in range(Epoch + 1), after ep == Epoch // 2 + 1 a new SGD at lr x0.1."""
    protocol = Protocol(epochs=6, batch_size=32, schedule="evaluate_synset")

    def optimizers(stack):
        def make(lr):
            return torch.optim.SGD(stack.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)

        def on_epoch_end(ep, optimizer):
            return make(0.001) if ep == 6 // 2 + 1 else None

        return make(0.01), on_epoch_end

    assert_same_weights(engine(digits, protocol, 3), reference_loop(digits, protocol, 3, optimizers))


def test_the_idc_schedule_is_multisteplr(digits):
    """train.py: MultiStepLR(milestones=[2E // 3, 5E // 6], gamma=0.2), stepped after every epoch."""
    protocol = Protocol(epochs=6, batch_size=32, milestones=("2/3", "5/6"), gamma=0.2)

    def optimizers(stack):
        optimizer = torch.optim.SGD(stack.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2 * 6 // 3, 5 * 6 // 6], gamma=0.2)
        return optimizer, lambda ep, opt: scheduler.step()

    assert_same_weights(engine(digits, protocol, 4), reference_loop(digits, protocol, 4, optimizers))
    assert protocol.lr_at(3) == 0.01 and protocol.lr_at(4) == pytest.approx(0.002)
    assert protocol.lr_at(5) == pytest.approx(0.0004)


def test_cutmix_of_a_stack_is_each_batch_mixed_alone():
    x = torch.randn(3 * 8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(24) % 10
    draws = [draw_cutmix(8, (8, 8), 0.9, torch.Generator().manual_seed(s)) for s in range(3)]
    joined = cutmix(x, y, CutMixDraw.cat(draws))
    for b, d in enumerate(draws):
        mixed, pasted, keep = cutmix(x[8 * b:8 * (b + 1)], y[8 * b:8 * (b + 1)], d)
        assert torch.equal(joined[0][8 * b:8 * (b + 1)], mixed) and torch.equal(joined[1][8 * b:8 * (b + 1)], pasted)
        assert torch.equal(joined[2][b:b + 1], keep)
    never = cutmix(x, y, CutMixDraw.cat([draw_cutmix(8, (8, 8), 0.0, torch.Generator()) for _ in range(3)]))
    assert torch.equal(never[0], x) and torch.equal(never[2], torch.ones(3))
    logits = torch.randn(24, 10)
    plain = F.cross_entropy(logits, y, reduction="none").view(3, 8).mean(1)
    assert torch.equal(mixed_loss(logits, y, never[1], never[2]), plain)


def outcomes(digits, protocol, dataset, **engine_options):
    jobs = [Job(SPACE.parse(i), seed) for i, seed in zip(IDS, (0, 1, 2, 3), strict=True)]
    train = digits.train.subset(torch.arange(100))
    augment = make_augment(protocol.augment, dataset_info(dataset))
    found = {(o.job.candidate.id, o.job.seed): o
             for o in run_jobs(jobs, PLAIN, train, digits.val, digits.test, protocol, augment=augment,
                               **engine_options)}
    return [(o.status, o.train_loss, o.val_acc, o.test_acc) for o in (found[j.candidate.id, j.seed] for j in jobs)]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "dataset"), [("idc", "digits"), ("dc", "mnist")])
def test_a_model_trains_the_same_alone_and_in_a_stack(digits, name, dataset):
    """IDC (its augmentation and CutMix, batch 32 of 100 images: a smaller last batch) and DC's MNIST
    crop_scale_rotate: per-model draws, so alone == stacked == two threads, bit for bit."""
    protocol = protocol_for(name, dataset, {"factor": 2, "ipc": 10}).with_(epochs=3, batch_size=32)
    assert protocol.augment in ("idc", "crop_scale_rotate") and (protocol.mixup == "cutmix") == (name == "idc")
    alone = outcomes(digits, protocol, dataset, max_models=1, workers=1)
    stacked = outcomes(digits, protocol, dataset, max_models=4, workers=1)
    threads = outcomes(digits, protocol, dataset, max_models=2, workers=2)
    assert all(status == "done" for status, *_ in alone)
    assert stacked == alone and threads == alone
    plain = outcomes(digits, protocol.with_(mixup="none"), dataset, max_models=4, workers=1) if name == "idc" else None
    assert plain is None or plain != alone  # CutMix did something
