"""``proxynas transfer`` and ``evaluate --arch A --arch B``: the cross-architecture matrix, end to end.

Tiny: the random digits ipc-5 proxy, two networks (dc_eval's MLP and the DC ConvNet), 2 runs of 2
epochs. The matrix is read back from the results store, so a rerun trains nothing; its cells are the
same numbers ``evaluate`` gives for the same (network, proxy, protocol, seed).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import statistics

import pytest

from analysis.transfer import PUBLISHED, published, text_table
from proxynas.cli import main
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyCard
from proxynas.transfer import Cell, Row, TransferMatrix, columns

PROXY = "random_digits_ipc5"
TRANSFER = ["transfer", "--proxy", PROXY, "--arch", "mlp", "--arch", "dc_eval:convnet", "--runs", "2",
            "--epochs", "2", "--device", "cpu"]


def test_transfer_matrix_end_to_end_and_resumable(home, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*TRANSFER, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "4 run(s) to train" in captured.err
    header, row = captured.out.splitlines()[:2]
    assert header.split()[-2:] == ["mlp", "convnet"] and row.startswith(f"{PROXY} (dc, changed)")
    assert row.count("±") == 2 and "*" not in row  # a coreset was made with no network
    cells = json.loads((out / "transfer.json").read_text())["cells"]
    assert [c["arch"] for c in cells] == ["dc_eval:mlp", "dc_eval:convnet"]
    db = sqlite3.connect(home / "results.sqlite")
    for c in cells:
        stored = [100 * a for (a,) in db.execute(
            "SELECT test_acc FROM results WHERE space = 'dc_eval' AND candidate = ? AND trainset = ? "
            "ORDER BY seed", (c["arch"].split(":")[1], PROXY))]
        assert c["test_accs"] == stored and len(stored) == 2
        assert c["test_acc_mean"] == statistics.fmean(stored) and c["test_acc_std"] == statistics.pstdev(stored)
    with (out / "transfer.csv").open() as f:
        assert [r["arch"] for r in csv.DictReader(f)] == ["dc_eval:mlp", "dc_eval:convnet"]
    assert (out / "transfer.png").stat().st_size > 1000

    assert main([*TRANSFER, "--json", "-"]) == 0  # everything is in the store: nothing retrains
    captured = capsys.readouterr()
    assert "0 run(s) to train" in captured.err
    assert json.loads(captured.out)["cells"] == cells

    # evaluate with the same networks reads the same rows (same protocol hash, seeds 0 and 1)
    count = db.execute("SELECT COUNT(*), MAX(rowid) FROM results").fetchone()
    assert main(["evaluate", "--proxy", PROXY, "--arch", "dc_eval:mlp", "--arch", "dc_eval:convnet", "--runs", "2",
                 "--epochs", "2", "--device", "cpu", "--json"]) == 0
    captured = capsys.readouterr()
    assert db.execute("SELECT COUNT(*), MAX(rowid) FROM results").fetchone() == count  # nothing retrained
    evaluated = json.loads(captured.out)
    assert [e["candidate"] for e in evaluated] == ["dc_eval:mlp", "dc_eval:convnet"]
    assert [e["test_acc_mean"] for e in evaluated] == [c["test_acc_mean"] for c in cells]


def test_the_proxys_own_network_is_marked_and_added():
    card = ProxyCard("dm", "cifar10", 50, 0, 10, (3, 32, 32), "x", 0.0,
                     settings={"net": "dc_convnet:d3_w128_relu_instancenorm_avgpool"})
    # dc_eval:convnet is that network: marked, not added
    assert [c.qualified_id for c in columns(["convnet", "mlp"], [card])] == ["dc_eval:convnet", "dc_eval:mlp"]
    other = ProxyCard("dm", "digits", 1, 0, 10, (1, 8, 8), "x", 0.0, settings={"net": "dc_eval:resnet18ap"})
    assert [c.qualified_id for c in columns(["mlp"], [other])] == ["dc_eval:resnet18ap", "dc_eval:mlp"]
    with pytest.raises(ProxynasError, match="named twice"):
        columns(["convnet", "dc_convnet:d3_w128_relu_instancenorm_avgpool"], [])


def test_published_figures_show_beside_the_measured_ones_where_the_dataset_matches():
    archs = ["dc_eval:convnet", "dc_eval:resnet18", "dc_eval:mlp"]
    rows = [Row("dc_cifar10_ipc50", "dc", "cifar10", 50, "dc", "k", "dc_eval:convnet"),
            Row("dc_cifar10_ipc10", "dc", "cifar10", 10, "dc", "k", "dc_eval:convnet")]
    matrix = TransferMatrix(archs, rows, {(r.proxy, a): Cell(r.proxy, a, (50.0, 52.0), 2, 0)
                                          for r in rows for a in archs})
    text = text_table(matrix)
    assert "51.00 ± 1.00 * [paper 53.9]" in text and "[paper 20.8]" in text and "FTD" in text
    assert published(rows[1], "dc_eval:convnet") is None and published(rows[0], "dc_eval:mlp") is None
    assert PUBLISHED[("cifar10", 50)]["mtt"]["AlexNet"] == 48.2


def test_bad_input_is_one_line(home, capsys):
    assert main([*TRANSFER[:-4], "--arch", "resnet19", "--device", "cpu"]) == 2
    assert "not a dc_eval candidate id" in capsys.readouterr().err
    assert main(["transfer", "--proxy", PROXY, "--proxy", PROXY, "--device", "cpu"]) == 2
