"""``proxynas evaluate``: the papers' mean ± std over seeds, kept in the results store."""

from __future__ import annotations

import json
import sqlite3
import statistics
from dataclasses import replace

import pytest
import torch

from proxynas.cli import build_parser, main
from proxynas.cli.evaluate import evaluation_protocol
from proxynas.datasets import dataset_info
from proxynas.datasets.base import TensorSet
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyCard, ProxyLibrary

ARCH = "d1_w32_relu_none_avgpool"
EVALUATE = ["evaluate", "--proxy", "random_digits_ipc5", "--arch", ARCH, "--runs", "3", "--epochs", "4",
            "--device", "cpu"]


def test_evaluate_reports_mean_and_std_and_stores_every_run(home, capsys):
    assert main(EVALUATE) == 0
    captured = capsys.readouterr()
    assert "0 in the store, 3 to train" in captured.err
    assert "protocol dc, changed [" in captured.err and "the proxy's method is random" in captured.err
    summary = captured.out.strip().splitlines()[-1]
    assert summary.startswith(f"random_digits_ipc5 · {ARCH} · protocol dc, changed (4 epochs, aug none): test accuracy")
    assert "±" in summary and summary.endswith("% over 3 run(s)")

    db = sqlite3.connect(home / "results.sqlite")
    rows = db.execute("SELECT seed, test_acc FROM results WHERE trainset = 'random_digits_ipc5' "
                      "AND candidate = ? AND status = 'done' ORDER BY seed", (ARCH,)).fetchall()
    assert [seed for seed, _ in rows] == [0, 1, 2]

    assert main([*EVALUATE, "--json"]) == 0  # all in the store now: nothing is trained again
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    accs = [100 * acc for _, acc in rows]
    assert out["test_acc_mean"] == statistics.fmean(accs) and out["test_acc_std"] == statistics.pstdev(accs)
    assert [r["seed"] for r in out["runs"]] == [0, 1, 2] and out["protocol"]["epochs"] == 4
    assert out["protocol_name"] == "dc, changed"
    stored = db.execute("SELECT json FROM protocols WHERE key = ?", (out["protocol_key"],)).fetchone()[0]
    assert json.loads(stored)["name"] == "dc, changed"  # the name and the hash are in the store
    assert f"{statistics.fmean(accs):.2f} ± {statistics.pstdev(accs):.2f}" in summary
    assert len(set(accs)) > 1  # the seeds draw different networks and batches


def test_evaluate_trains_on_every_image_of_a_multi_formation_proxy_with_dsa(home, capsys):
    """A proxy holding decoded images (IDC's) is trained on as it is; --aug dsa is its own protocol."""
    info = dataset_info("digits")
    images = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    data = TensorSet(images, torch.arange(10).repeat_interleave(4), 10)
    card = ProxyCard(method="idc", dataset="digits", ipc=1, seed=0, num_classes=10, shape=info.shape,
                     source_fingerprint="", seconds=0.0, settings={"factor": 2})
    ProxyLibrary(home / "proxies").save("idc_digits_ipc1", data, card)
    args = ["evaluate", "--proxy", "idc_digits_ipc1", "--arch", ARCH, "--runs", "2", "--epochs", "2",
            "--aug", "dsa", "--device", "cpu", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"]["augment"] == "dsa" and len(out["runs"]) == 2
    assert all(r["status"] == "done" for r in out["runs"])


def test_evaluate_explains_a_missing_synthetic_proxy(home, capsys):
    assert main(["evaluate", "--proxy", "dc_digits_ipc1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "does not exist yet" in err and "proxynas condense dc --dataset digits --ipc 1" in err


def card(method: str, dataset: str = "fashion_mnist", **settings) -> ProxyCard:
    info = dataset_info(dataset)
    return ProxyCard(method=method, dataset=dataset, ipc=10, seed=0, num_classes=info.num_classes,
                     shape=info.shape, source_fingerprint="", seconds=0.0, settings=settings)


@pytest.mark.parametrize(("method", "name", "epochs", "aug"), [
    ("dc", "dc", 300, "none"), ("random", "dc", 300, "none"), ("herding", "dc", 300, "none"),
    ("dsa", "dsa", 1000, "dsa"), ("dm", "dm", 1000, "dsa"), ("idc", "idc", 1000, "idc"), ("idc-i", "idc", 1000, "idc"),
])
def test_the_protocol_comes_from_the_proxys_method(method, name, epochs, aug):
    parse = build_parser().parse_args
    protocol, why = evaluation_protocol(parse(["evaluate", "--proxy", "x"]), card(method, factor=2))
    assert (protocol.name, protocol.epochs, protocol.augment) == (name, epochs, aug)
    assert why == f"the proxy's method is {method}"


def test_protocol_and_options_override_the_cards_choice():
    parse = build_parser().parse_args
    forced, why = evaluation_protocol(parse(["evaluate", "--proxy", "x", "--protocol", "dsa"]), card("dc"))
    assert (forced.name, forced.epochs, forced.augment, why) == ("dsa", 1000, "dsa", "--protocol")
    short, why = evaluation_protocol(parse(["evaluate", "--proxy", "x", "--epochs", "7"]), card("dsa"))
    assert (short.name, short.epochs, short.augment) == ("dsa, changed", 7, "dsa") and "changed" in why
    exact, _ = evaluation_protocol(parse(["evaluate", "--proxy", "x", "--exact"]), card("dm"))
    assert (exact.schedule, exact.total_epochs, exact.decay_epochs()) == ("evaluate_synset", 1001, [502])
    mnist, _ = evaluation_protocol(parse(["evaluate", "--proxy", "x"]), card("dc", "mnist"))
    assert (mnist.epochs, mnist.augment) == (1000, "crop_scale_rotate")
    with pytest.raises(ProxynasError, match="no evaluation protocol is known for method 'kip'"):
        evaluation_protocol(parse(["evaluate", "--proxy", "x"]), card("kip"))


@pytest.mark.slow
def test_evaluate_trains_a_dsa_proxy_with_dsa_for_1000_epochs_unasked(home, capsys):
    info = dataset_info("digits")
    images = torch.randn(10, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    data = TensorSet(images, torch.arange(10), 10)
    ProxyLibrary(home / "proxies").save("dsa_digits_ipc1", data,
                                        replace(card("dsa", "digits"), ipc=1, shape=info.shape))
    assert main(["evaluate", "--proxy", "dsa_digits_ipc1", "--arch", ARCH, "--runs", "1", "--device", "cpu",
                 "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["protocol_name"] == "dsa" and out["protocol"]["epochs"] == 1000 and out["protocol"]["augment"] == "dsa"
    assert out["runs"][0]["status"] == "done"
    db = sqlite3.connect(home / "results.sqlite")
    (epochs,) = db.execute("SELECT epochs FROM results WHERE trainset = 'dsa_digits_ipc1'").fetchone()
    assert epochs == 1000
