"""A study's ``[transfer]`` section: the matrix is a step of the study (planned, estimated, resumable)
and one of its outputs (printed, ``transfer.csv``/``.json``/``.png``, a section of the report).

Tiny digits study: one random proxy, two ConvNets searched, the matrix on dc_eval's MLP and LeNet
(2 runs of 2 epochs); and the shipped ``transfer-fashion-mnist`` recipe reads and builds its steps.
"""

from __future__ import annotations

import json
import sqlite3
import statistics

import pytest

from proxynas.cli import main
from proxynas.errors import ProxynasError
from proxynas.study import build_steps, load_study
from proxynas.study.validate import parse_study

TINY = """\
[study]
name = "tiny-transfer"
dataset = "digits"
output = "{out}"

[space]
sample = 2
where = {{ width = [32], depth = [1] }}

[[proxies]]
method = "random"
ipc = 2

[search]
epochs = 2

[truth]
epochs = 1

[metrics]
top_k = [2]
resamples = 0

[transfer]
archs = ["mlp", "dc_eval:lenet"]
runs = 2
epochs = 2
"""


def test_a_study_trains_and_writes_the_matrix(home, tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(out=tmp_path / "out"))
    assert main(["study", "plan", str(path), "--device", "cpu"]) == 0
    plan = capsys.readouterr().out
    assert "transfer random_digits_ipc2: mlp, lenet" in plan and "2 cand x 2 seed" in plan

    assert main(["study", "run", str(path), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "[4/4] transfer random_digits_ipc2" in captured.err
    assert "random_digits_ipc2 (dc, changed)" in captured.out and captured.out.count("±") >= 2
    cells = json.loads((tmp_path / "out" / "transfer.json").read_text())["cells"]
    assert [c["arch"] for c in cells] == ["dc_eval:mlp", "dc_eval:lenet"] and all(c["done"] == 2 for c in cells)
    db = sqlite3.connect(home / "results.sqlite")
    assert db.execute("SELECT COUNT(*) FROM results WHERE space = 'dc_eval'").fetchone()[0] == 4

    assert main(["study", "run", str(path), "--device", "cpu"]) == 0  # resumed: nothing left to train
    assert "0 candidate runs to train" in capsys.readouterr().err
    assert main(["study", "report", str(path)]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Across architectures" in page and (tmp_path / "out" / "transfer.png").exists()


def test_the_recipe_builds_its_steps_and_a_cost_aware_estimate():
    spec = load_study("transfer-fashion-mnist")
    steps = build_steps(spec)
    assert [p.method for p in spec.proxies] == ["random", "dc", "dsa", "dm", "idc"]
    assert len(steps.transfer) == 5 and all(len(s.plan.candidates) == 7 for s in steps.transfer)
    protocols = {s.proxy: (s.plan.protocol.name, s.plan.protocol.epochs) for s in steps.transfer}
    assert protocols["dc_fashion_mnist_ipc10"] == ("dc", 300) and protocols["dm_fashion_mnist_ipc10"] == ("dm", 1000)
    assert protocols["idc_fashion_mnist_ipc10"] == ("idc", 1000)
    # the estimate scales the searched ConvNets' throughput by the networks' FLOPs per image over theirs
    shape = (1, 28, 28)
    networks = statistics.fmean(steps.transfer[0].plan.space.cost(c, shape) for c in steps.transfer[0].plan.candidates)
    searched = statistics.fmean(steps.space.cost(c, shape) for c in steps.candidates)
    assert all(s.cost_ratio == pytest.approx(networks / searched) for s in steps.transfer)
    resnet18 = steps.transfer[0].plan.space.parse("resnet18")
    convnet = steps.space.parse("d3_w128_relu_instancenorm_avgpool")
    assert 8 < steps.transfer[0].plan.space.cost(resnet18, shape) / steps.space.cost(convnet, shape) < 10


@pytest.mark.parametrize(("section", "message"), [
    ('[transfer]\nruns = 2', "needs 'archs'|archs"),
    ('[transfer]\narchs = ["resnet19"]', "not a dc_eval candidate id"),
    ('[transfer]\narchs = ["mlp"]\nprotocol = "dcc"', "unknown protocol"),
])
def test_bad_transfer_sections_are_clear_errors(section, message, tmp_path):
    text = TINY.split("[transfer]")[0].format(out=tmp_path) + section + "\n"
    with pytest.raises(ProxynasError, match=message):
        parse_study(text, label="tiny.toml")
