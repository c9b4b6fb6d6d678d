"""``proxynas evaluate``: the papers' mean ± std over seeds, kept in the results store."""

from __future__ import annotations

import json
import sqlite3
import statistics

import torch

from proxynas.cli import build_parser, main
from proxynas.cli.evaluate import evaluation_protocol
from proxynas.datasets import dataset_info
from proxynas.datasets.base import TensorSet
from proxynas.proxies import ProxyCard, ProxyStore

ARCH = "d1_w32_relu_none_avgpool"
EVALUATE = ["evaluate", "--proxy", "random_digits_ipc5", "--arch", ARCH, "--runs", "3", "--epochs", "4",
            "--device", "cpu"]


def test_evaluate_reports_mean_and_std_and_stores_every_run(home, capsys):
    assert main(EVALUATE) == 0
    captured = capsys.readouterr()
    assert "0 in the store, 3 to train" in captured.err
    summary = captured.out.strip().splitlines()[-1]
    assert summary.startswith(f"random_digits_ipc5 · {ARCH} · 4 epochs, aug none: test accuracy")
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
    assert f"{statistics.fmean(accs):.2f} ± {statistics.pstdev(accs):.2f}" in summary
    assert len(set(accs)) > 1  # the seeds draw different networks and batches


def test_evaluate_trains_on_every_image_of_a_multi_formation_proxy_with_dsa(home, capsys):
    """A proxy holding decoded images (IDC's) is trained on as it is; --aug dsa is its own protocol."""
    info = dataset_info("digits")
    images = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    data = TensorSet(images, torch.arange(10).repeat_interleave(4), 10)
    card = ProxyCard(method="idc", dataset="digits", ipc=1, seed=0, num_classes=10, shape=info.shape,
                     source_fingerprint="", seconds=0.0, settings={"factor": 2})
    ProxyStore(home / "proxies").save("idc_digits_ipc1", data, card)
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


def test_the_reference_protocol_is_the_default():
    parse = build_parser().parse_args
    plain = evaluation_protocol(parse(["evaluate", "--proxy", "x"]))
    dsa = evaluation_protocol(parse(["evaluate", "--proxy", "x", "--aug", "dsa"]))
    assert (plain.epochs, plain.augment, plain.lr, plain.batch_size) == (300, "none", 0.01, 256)
    assert (dsa.epochs, dsa.augment) == (1000, "dsa")
    short = evaluation_protocol(parse(["evaluate", "--proxy", "x", "--aug", "dsa", "--epochs", "7"]))
    assert short.epochs == 7
