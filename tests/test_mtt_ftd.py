"""MTT and FTD (#21): experts, ZCA, trajectory matching, the EMA, the protocols; digits, shrunk."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from safetensors import safe_open

from condensed.experts import ExpertSettings, open_set, train_experts
from condensed.make import make_proxy
from proxynas import paths
from proxynas.cli import main
from proxynas.datasets import dataset_info
from proxynas.datasets.zca import fit_zca, to_pixels, whiten_like, zca_for
from proxynas.errors import ProxynasError
from proxynas.presets import method_preset, protocol_for
from proxynas.proxies import ProxyCard, ProxyLibrary

NET = "dc_convnet:d1_w32_relu_instancenorm_avgpool"  # small: seconds on a CPU
SHRUNK = {"net": NET, "iterations": 3, "syn_steps": 3, "expert_epochs": 1, "max_start_epoch": 2, "lr_img": 10.0,
          "zca": "no"}


@pytest.fixture
def small(digits):
    """Digits with a 300-image training split (the experts' and the distillation's)."""
    return replace(digits, train=digits.train.subset(torch.arange(300)))


def experts_for(small, optimizer: str, epochs: int = 2, seeds=(0,), zca: bool = False):
    settings = ExpertSettings(net=NET, optimizer=optimizer, zca=zca)
    experts = open_set(paths.home(), "digits", small.train, settings, create=True)
    train = small.train
    if zca:
        from proxynas.datasets.zca import whiten
        info = dataset_info("digits")
        train = whiten(train, info, zca_for(train, info, 0.1, paths.home() / "zca"))
    train_experts(experts, train, dataset_info("digits"), settings, list(seeds), epochs)
    return experts


def test_experts_save_every_epoch_and_resume_where_they_stopped(home, small):
    experts = experts_for(small, "sgd", epochs=2)
    assert experts.seeds(2) == [0] and experts.epochs_done(0) == 2
    first = [experts.flat(0, e) for e in range(3)]
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
    with safe_open(str(experts.epoch_path(0, 2)), "pt") as f:
        meta = f.metadata()
    assert json.loads(meta["card"])["settings"]["optimizer"] == "sgd" and meta["epoch"] == "2"
    experts.epoch_path(0, 2).unlink()  # as if killed during epoch 2
    experts_for(small, "sgd", epochs=2)
    assert torch.equal(experts.flat(0, 2), first[2])  # epoch 2 again from epoch 1's file: the same


def test_gsam_experts_differ_from_sgd_experts_from_the_same_start(home, small):
    sgd, gsam = experts_for(small, "sgd", epochs=1), experts_for(small, "gsam", epochs=1)
    assert sgd.root != gsam.root
    assert torch.equal(sgd.flat(0, 0), gsam.flat(0, 0))  # one seed, one initialisation
    assert not torch.allclose(sgd.flat(0, 1), gsam.flat(0, 1))


def test_mtt_needs_experts_and_says_how_to_train_them_or_trains_them_first(home, small):
    store = ProxyLibrary(paths.proxy_dir())
    with pytest.raises(ProxynasError, match="proxynas experts --dataset digits"):
        make_proxy(store, "mtt", small, 1, **SHRUNK)
    proxy = make_proxy(store, "mtt", small, 1, **(SHRUNK | {"train_experts": 1, "expert_train_epochs": 2}))
    experts = open_set(paths.home(), "digits", small.train, ExpertSettings(net=NET), create=False)
    assert experts.seeds(2) == [0] and proxy.card.settings["train_experts"] == 1


@pytest.mark.parametrize("method", ["mtt", "ftd"])
def test_trajectory_matching_learns_images_and_the_step_size(home, small, method):
    experts_for(small, "sgd" if method == "mtt" else "gsam", epochs=2, seeds=(0, 1))
    store = ProxyLibrary(paths.proxy_dir())
    proxy = make_proxy(store, method, small, 1, **SHRUNK)
    card = proxy.card.settings
    assert card["resolved"]["syn_steps"] == 3 and card["resolved"]["lr_lr"] == 1e-05  # 0: the reference's
    syn_lr = card["learned"]["syn_lr"]
    assert syn_lr != pytest.approx(0.01, abs=1e-9)  # lr_teacher moved
    assert torch.isfinite(proxy.data.images).all() and proxy.data.labels.tolist() == list(range(10))
    state = torch.load(store.root / f".{proxy.name}.ckpt", weights_only=True)
    if method == "ftd":  # the EMA is the result: decay 0.9995 from the initial images, 3 steps
        assert not torch.equal(proxy.data.images, state["images"])
        assert torch.equal(proxy.data.images, state["ema"])
    else:
        assert torch.equal(proxy.data.images, state["images"])


def test_zca_inverts_and_whitens(digits):
    pixels = to_pixels(digits.train.images, digits.mean, digits.std)
    zca = fit_zca(pixels, eps=0.1, dtype=torch.float64)
    white = zca.apply(pixels.double())
    torch.testing.assert_close(zca.invert(white), pixels.double(), rtol=0, atol=1e-9)
    # kornia's regularized ZCA: the whitened covariance has eigenvalues S / (S + eps), S the pixels' (float64:
    # both sides agree to ~1e-15 here, 1e-9 leaves room for another CPU's summation order)
    s = torch.linalg.eigvalsh(torch.cov(pixels.double().flatten(1).T))
    eig = torch.linalg.eigvalsh(torch.cov(white.flatten(1).T))
    torch.testing.assert_close(eig, s / (s + 0.1), rtol=0, atol=1e-9)


def test_a_zca_card_whitens_the_validation_and_test_images(home, digits):
    card = ProxyCard("mtt", "digits", 1, 0, 10, digits.shape, digits.train.fingerprint(), 0.0,
                     settings={"resolved": {"zca": True, "zca_eps": 0.1}})
    seen = whiten_like(card, digits, paths.home() / "zca")
    zca = zca_for(digits.train, digits, 0.1)
    expected = zca.apply(to_pixels(digits.val.images, digits.mean, digits.std))
    torch.testing.assert_close(seen.val.images, expected)
    assert whiten_like(replace(card, settings={}), digits) is digits
    with pytest.raises(ProxynasError, match="cannot be fitted alike"):
        whiten_like(replace(card, source_fingerprint="another split"), digits)


def test_the_mtt_and_ftd_protocols_train_at_the_learned_step_size():
    assert method_preset("mtt") == "mtt" and method_preset("ftd") == "ftd"
    p = protocol_for("ftd", "cifar10", {"syn_lr": 0.0231})
    assert (p.lr, p.epochs, p.augment, p.momentum, p.weight_decay, p.batch_size) == (0.0231, 1000, "dsa", 0.9,
                                                                                     5e-4, 256)
    assert p.decay_epochs() == [500]
    assert protocol_for("mtt", "cifar10", {}).lr == 0.01  # an imported set without one: lr_teacher
    assert protocol_for("mtt", "cifar10", {}, exact=True).decay_epochs() == [502]


def test_cli_experts_condense_and_evaluate_on_zca_digits(home, capsys):
    base = ["--dataset", "digits", "--device", "cpu"]
    assert main(["experts", *base, "--net", NET, "--experts", "1", "--epochs", "2", "--zca"]) == 0
    sets = ["--set", f"net={NET}", "--set", "syn_steps=2", "--set", "expert_epochs=1", "--set", "max_start_epoch=2",
            "--set", "zca=yes"]
    assert main(["condense", "mtt", *base, "--ipc", "1", "--iterations", "2", *sets]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--proxy", "mtt_digits_ipc1", "--arch", NET.split(":")[1], "--runs", "1",
                 "--epochs", "4", "--device", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    card = ProxyLibrary(paths.proxy_dir()).load("mtt_digits_ipc1").card
    assert out["protocol_name"] == "mtt, changed" and out["protocol"]["lr"] == card.settings["learned"]["syn_lr"]
    assert out["runs"][0]["status"] == "done"
    assert main(["experts", *base, "--experts", "0"]) == 2


def test_an_imported_zca_mtt_set_is_evaluated_on_images_whitened_as_the_reference_whitens(home, digits, tmp_path):
    """MTT's get_dataset fits kornia's ZCA on the raw pixels of the whole training set and whitens the test set
    with it; an images_best.pt made that way and imported with --zca is evaluated on the same whitening."""
    from proxynas.cli.resolve import proxy_and_splits
    from proxynas.transfer import proxy_protocol

    whole = torch.cat([digits.train.images, digits.val.images])  # the reference's dst_train
    zca = fit_zca(to_pixels(whole, digits.mean, digits.std), eps=0.1)
    picks = torch.cat([torch.nonzero(digits.train.labels == c)[:2, 0] for c in range(10)])
    folder = tmp_path / "digits_mtt"
    folder.mkdir()
    torch.save(zca.apply(to_pixels(digits.train.images[picks], digits.mean, digits.std)), folder / "images_best.pt")
    torch.save(digits.train.labels[picks], folder / "labels_best.pt")
    assert main(["proxies", "import", str(folder / "images_best.pt"), "--name", "mttzca", "--dataset", "digits",
                 "--zca", "--syn-lr", "0.02"]) == 0
    proxy, seen = proxy_and_splits("mttzca", data_root=None)
    expected = zca.apply(to_pixels(digits.test.images, digits.mean, digits.std))
    # float32 whitening of the same pixels by the same fit (fitted in float64 on both sides): ~1e-6 apart
    torch.testing.assert_close(seen.test.images, expected, rtol=0, atol=1e-5)
    assert (seen.test.images - to_pixels(digits.test.images, digits.mean, digits.std)).abs().max() > 0.5
    protocol, _ = proxy_protocol(proxy.card)
    assert protocol.name == "mtt" and protocol.lr == 0.02
    assert main(["proxies", "import", str(folder / "images_best.pt"), "--name", "mttplain", "--dataset",
                 "digits"]) == 0
    assert proxy_and_splits("mttplain", data_root=None)[1] is not None  # without --zca: splits as they are
    assert torch.equal(proxy_and_splits("mttplain", data_root=None)[1].test.images, digits.test.images)


def test_an_nni_trial_scores_a_zca_set_on_whitened_validation_images(home, digits, tmp_path, monkeypatch):
    """NNI trials (proxynas.nni.evaluate) validate as evaluate/search/studies do: on ZCA'd images for a ZCA set
    (they used the raw splits)."""
    from proxynas.nni import evaluate as nni_evaluate
    from search_spaces import get_space

    whole = torch.cat([digits.train.images, digits.val.images])
    zca = fit_zca(to_pixels(whole, digits.mean, digits.std), eps=0.1)
    folder = tmp_path / "digits_mtt"
    folder.mkdir()
    torch.save(zca.apply(to_pixels(digits.train.images[:20], digits.mean, digits.std)), folder / "images_best.pt")
    torch.save(torch.arange(10).repeat_interleave(2), folder / "labels_best.pt")
    assert main(["proxies", "import", str(folder / "images_best.pt"), "--name", "mttzca", "--dataset", "digits",
                 "--zca"]) == 0
    scored = []
    real = nni_evaluate.accuracy

    def probe(stack, data, g_count):  # records what the trial validates on, then scores as before
        scored.append(data.images.detach().clone())
        return real(stack, data, g_count)

    monkeypatch.setattr(nni_evaluate, "accuracy", probe)
    space = get_space("dc_convnet")
    setup = nni_evaluate.ProxyTraining("mttzca", protocol_for("mtt", "digits", {}).with_(epochs=1), device="cpu")
    row = nni_evaluate.train_candidate(space.parse(NET.split(":")[1]), space, setup, on_epoch=lambda e, a: None)
    assert row.status == "done" and len(scored) == 1
    torch.testing.assert_close(scored[0], zca.apply(to_pixels(digits.val.images, digits.mean, digits.std)),
                               rtol=0, atol=1e-5)


def test_ftd_takes_its_papers_table_7_per_dataset_and_ipc():
    """FTD's Table 7 (docs/parameters.png of the reference): ipc 50 is not MTT's row (lr_img 1000, EMA 0.999)."""
    from condensed import get_method

    ftd = get_method("ftd")
    r = ftd.resolve(ftd.settings(), "cifar10", 50)
    assert (r.syn_steps, r.expert_epochs, r.max_start_epoch, r.lr_img, r.lr_lr, r.lr_teacher, r.ema_decay) == (
        30, 2, 40, 1000.0, 1e-05, 0.01, 0.999)
    r = ftd.resolve(ftd.settings(), "cifar10", 10)  # = distill/run_distill.sh
    assert (r.syn_steps, r.max_start_epoch, r.lr_img, r.lr_teacher, r.ema_decay, r.zca) == (30, 20, 100.0, 0.001,
                                                                                           0.9995, True)
    assert ftd.resolve(ftd.settings(), "cifar100", 50).batch_syn == 1000
    assert ftd.resolve(ftd.settings(ema_decay=0.99, batch_syn=7), "cifar100", 50).ema_decay == 0.99
    assert ftd.resolve(ftd.settings(), "digits", 10).ema_decay == 0.9995  # no row: run_distill.sh's


def test_a_run_far_from_the_references_step_ratio_is_warned_about():
    """Digits' experts take 6 SGD steps per epoch (1,294 images, batches of 256), CIFAR's 176-196."""
    from condensed.mtt import scale_warning
    from condensed.trajectory import Resolved

    def resolved(syn_steps, expert_epochs):
        return Resolved(syn_steps, expert_epochs, 2, 100.0, 1e-5, 0.01, False, 0)

    assert "1.2 per student step" in scale_warning(1294, 256, resolved(10, 2))  # wave 3's shrunk digits run
    assert scale_warning(1294, 256, resolved(2, 5)) is None  # 30 expert steps for 2 student steps
    assert scale_warning(45000, 256, resolved(30, 2)) is None  # CIFAR-10 ipc 10: 352 / 30
