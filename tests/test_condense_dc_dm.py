"""DC, DSA and DM on the digits: settings, loss curves, the proxy file, resume after a kill, quality."""

from __future__ import annotations

import statistics

import pytest
import torch

from condensed import Context, get_method, list_methods
from condensed.dc import loops_for
from condensed.make import make_proxy
from condensed.sampling import RealSampler
from proxynas import paths
from proxynas.datasets import dataset_info
from proxynas.engine import Job, Protocol, run_jobs
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyLibrary
from search_spaces import get_space

SMALL_NET = "d2_w32_relu_instancenorm_avgpool"  # condensing with the 128-wide default is slow on a CPU
TINY = {"net": SMALL_NET, "batch_real": 32}


def context(seed: int = 0, checkpoint=None, progress=None) -> Context:
    return Context(dataset_info("digits"), torch.device("cpu"), seed, progress, checkpoint)


def learn(method: str, digits, ipc: int = 1, seed: int = 0, checkpoint=None, progress=None, **overrides):
    impl = get_method(method)
    settings = impl.settings(**TINY | overrides)
    return impl.learn(digits.train, ipc, settings, context(seed, checkpoint, progress))


def test_registered_with_the_reference_defaults():
    assert {"dc", "dsa", "dm"} <= set(list_methods())
    dc, dsa, dm = (get_method(m).settings() for m in ("dc", "dsa", "dm"))
    assert (dc.iterations, dc.lr_img, dc.momentum_img, dc.lr_net, dc.batch_real, dc.batch_train) == (
        1000, 0.1, 0.5, 0.01, 256, 256)
    assert (dc.init, dc.augment, dc.metric) == ("noise", "none", "ours")  # main.py's --init default
    assert dc.net == get_space("dc_convnet").default().qualified_id == "dc_convnet:d3_w128_relu_instancenorm_avgpool"
    assert (dsa.augment, dsa.iterations, dsa.init) == ("dsa", 1000, "real")  # readme: --init real
    assert (dm.iterations, dm.lr_img, dm.momentum_img, dm.batch_real, dm.init, dm.augment) == (
        20_000, 1.0, 0.5, 256, "real", "dsa")
    assert {get_method(m).kind for m in ("dc", "dsa", "dm")} == {"synthetic"}


def test_loops_by_images_per_class():
    assert [loops_for(ipc) for ipc in (1, 10, 50)] == [(1, 1), (10, 50), (50, 10)]
    assert loops_for(20) == (20, 25) and loops_for(5) == (5, 100) and loops_for(1000) == (1000, 1)
    settings = get_method("dc").settings(outer_loop=3)
    assert settings.loops(10) == (3, 50)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"init": "zeros"}, "unknown init 'zeros'"),
    ({"metric": "l2"}, "unknown gradient distance 'l2'"),
    ({"augment": "mixup"}, "unknown augment 'mixup'"),
    ({"iterations": 0}, "iterations must be at least 1"),
    ({"net": "d9_w1"}, "not a dc_convnet candidate id"),
    ({"lr": 0.1}, "method 'dc' has no setting 'lr'"),
])
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(ProxynasError, match=message):
        get_method("dc").settings(**overrides)


def test_real_sampler_draws_each_class_without_replacement(digits):
    sampler = RealSampler(digits.train)
    x, y = sampler.sample(100, torch.Generator().manual_seed(0))
    assert torch.equal(y, torch.arange(10).repeat_interleave(100))
    for label in range(10):
        picked = x[y == label].flatten(1)
        own = digits.train.images[digits.train.labels == label].flatten(1)
        assert (picked[:, None] == own[None]).all(-1).any(1).all()  # every image is of its class
        assert len(torch.unique(picked, dim=0)) >= 95  # (the digits hold a few duplicate images)
    big, _ = sampler.sample(10_000, torch.Generator().manual_seed(0))
    assert len(big) == len(digits.train)


@pytest.mark.parametrize(("method", "ipc", "overrides"), [
    ("dc", 1, {"iterations": 40}),
    ("dsa", 2, {"iterations": 30, "outer_loop": 2, "inner_loop": 2, "init": "noise"}),
    ("dm", 1, {"iterations": 40}),
])
def test_each_method_runs_and_its_loss_falls(digits, method, ipc, overrides):
    result = learn(method, digits, ipc, **overrides)
    losses = result.losses
    assert len(losses) == overrides["iterations"] and all(map(torch.isfinite, torch.tensor(losses)))
    window = len(losses) // 4
    first, last = statistics.mean(losses[:window]), statistics.mean(losses[-window:])
    assert last < 0.85 * first, losses
    assert result.data.images.shape == (10 * ipc, 1, 8, 8)
    assert torch.equal(result.data.labels, torch.arange(10).repeat_interleave(ipc))


def test_make_proxy_stores_images_and_card(home, digits):
    store = ProxyLibrary(paths.proxy_dir())
    proxy = make_proxy(store, "dm", digits, 2, seed=3, iterations=4, **TINY)
    assert proxy.name == "dm_digits_ipc2" and store.names() == ["dm_digits_ipc2"]
    assert proxy.data.images.shape == (20, 1, 8, 8)
    assert torch.equal(proxy.data.labels, torch.arange(10).repeat_interleave(2))
    card = proxy.card
    assert (card.method, card.dataset, card.ipc, card.seed, card.shape) == ("dm", "digits", 2, 3, (1, 8, 8))
    assert card.settings["kind"] == "synthetic" and card.settings["iterations"] == 4
    assert card.settings["lr_img"] == 1.0 and card.settings["net"] == SMALL_NET
    assert card.settings["init"] == "real"
    # the run's last state stays, so that asking more iterations later continues it (condensed.reuse)
    assert [p.name for p in store.root.glob(".*.ckpt*")] == [".dm_digits_ipc2.ckpt"]
    start = digits.train.images[digits.train.labels == 0]
    assert not any(torch.equal(proxy.data.images[0], image) for image in start)  # it learned


@pytest.mark.parametrize(("method", "init"), [("dc", "noise"), ("dsa", "real")])
def test_the_card_records_the_init_each_method_ran_with(home, digits, method, init):
    store = ProxyLibrary(paths.proxy_dir())
    proxy = make_proxy(store, method, digits, 1, iterations=1, **TINY)
    assert proxy.card.settings["init"] == init
    noise = make_proxy(store, "dm", digits, 1, iterations=1, init="noise", **TINY)
    assert noise.card.settings["init"] == "noise"


class Kill(KeyboardInterrupt):
    pass


def test_a_killed_run_resumes_where_it_stopped(tmp_path, digits):
    """DSA at ipc 2 (inner loops and augmentation draws) killed after iteration 5 of 8, run again."""
    overrides = {"iterations": 8, "outer_loop": 2, "inner_loop": 1}
    checkpoint = tmp_path / "run.ckpt"
    reports: list[int] = []

    def killer(done: int, total: int) -> None:
        reports.append(done)
        if done == 5:
            raise Kill

    with pytest.raises(Kill):
        learn("dsa", digits, 2, checkpoint=checkpoint, progress=killer, **overrides)
    assert checkpoint.exists() and reports == [0, 1, 2, 3, 4, 5]

    reports.clear()
    resumed = learn("dsa", digits, 2, checkpoint=checkpoint, progress=lambda d, t: reports.append(d),
                    **overrides)
    assert reports == [5, 6, 7, 8]
    straight = learn("dsa", digits, 2, **overrides)
    assert torch.equal(resumed.data.images, straight.data.images)
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6)


def test_a_checkpoint_of_another_run_is_ignored_and_a_damaged_one_refused(tmp_path, digits):
    checkpoint = tmp_path / "run.ckpt"
    learn("dm", digits, 1, seed=0, checkpoint=checkpoint, iterations=2)
    reports: list[int] = []
    learn("dm", digits, 1, seed=1, checkpoint=checkpoint, progress=lambda d, t: reports.append(d),
          iterations=2)
    assert reports[0] == 0  # another seed: started afresh
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(ProxynasError, match=r"cannot be read.*delete it"):
        learn("dm", digits, 1, checkpoint=checkpoint, iterations=2)


def test_condense_command_makes_a_dm_proxy(home, digits, capsys):
    from proxynas.cli import main

    code = main(["condense", "dm", "--dataset", "digits", "--ipc", "1", "--iterations", "3",
                 "--device", "cpu", "--set", f"net={SMALL_NET}", "--set", "batch_real=16"])
    assert code == 0 and "dm_digits_ipc1" in capsys.readouterr().out
    assert ProxyLibrary(paths.proxy_dir()).load("dm_digits_ipc1").card.settings["iterations"] == 3


def proxy_accuracy(data, digits, seeds=(0, 1, 2)) -> float:
    """Mean test accuracy of the default ConvNet trained on ``data`` with each seed."""
    space = get_space("dc_convnet")
    jobs = [Job(space.default(), seed) for seed in seeds]
    protocol = Protocol(epochs=40)
    outcomes = run_jobs(jobs, space, data, digits.val, digits.test, protocol, max_models=len(seeds))
    return statistics.mean(o.test_acc for o in outcomes)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "overrides"), [("dm", {"iterations": 150}), ("dc", {"iterations": 60})])
def test_learned_proxies_beat_random_images(digits, method, overrides):
    """At 1 image per class, over 2 condensation seeds x 3 training seeds."""
    learned, random = [], []
    for seed in (0, 1):
        learned.append(proxy_accuracy(learn(method, digits, 1, seed, **overrides).data, digits))
        impl = get_method("random")
        random.append(proxy_accuracy(impl.condense(digits.train, 1, impl.settings(), context(seed)), digits))
    assert statistics.mean(learned) > statistics.mean(random) + 0.10, (learned, random)
