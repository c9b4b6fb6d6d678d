"""A stored proxy is used only when its card names the asked settings: ``condense`` continues a shorter
synthetic run from its checkpoint, refuses other differences unless ``--fresh``, and a study never trains
on a proxy made with other settings than its file names (its stale search rows are retrained)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from condensed.make import make_proxy
from proxynas import paths
from proxynas.cli import main
from proxynas.proxies import ProxyLibrary
from proxynas.store import ResultsStore

NET = "d2_w32_relu_instancenorm_avgpool"  # the 128-wide default condenses slowly on a CPU
DM = ["condense", "dm", "--dataset", "digits", "--ipc", "1", "--set", f"net={NET}", "--set", "batch_real=16",
      "--device", "cpu"]

STUDY = f"""\
[study]
name = "dm-tiny"
dataset = "digits"
output = "{{out}}"

[space]
archs = ["d1_w32_relu_none_avgpool", "d2_w32_relu_batchnorm_maxpool"]

[[proxies]]
method = "dm"
ipc = 1
settings = {{{{ iterations = 2, net = "{NET}", batch_real = 16 }}}}

[search]
epochs = 2

[truth]
epochs = 1

[metrics]
top_k = [2]
resamples = 0
"""


def test_condense_reuses_only_the_same_settings_and_says_what_differs(home, capsys):
    base = ["condense", "random", "--dataset", "digits", "--ipc", "2"]
    assert main(base) == 0
    assert main(base) == 0
    assert "already in the store with these settings" in capsys.readouterr().out
    assert main([*base, "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "random_digits_ipc2 in the store was made with other settings: seed 0 (asked: 1)" in err
    assert "add --fresh" in err and err.count("\n") == 1
    assert main([*base, "--seed", "1", "--force"]) == 0  # the old flag still works, hidden
    assert ProxyLibrary(paths.proxy_dir()).load("random_digits_ipc2").card.seed == 1
    assert main([*base, "--seed", "2", "--fresh"]) == 0
    store = ProxyLibrary(paths.proxy_dir())
    proxy = store.load("random_digits_ipc2")
    assert proxy.card.seed == 2

    # a set imported under a name condense would make: never taken for one made here
    card = replace(proxy.card, ipc=3, settings={"kind": "synthetic", "source": "imported", "file": "res.pt"})
    store.save("random_digits_ipc3", proxy.data, card)
    assert main(["condense", "random", "--dataset", "digits", "--ipc", "3"]) == 2
    err = capsys.readouterr().err
    assert "random_digits_ipc3 in the store was imported (res.pt), not made by proxynas random" in err
    assert "--fresh replaces it" in err


def test_a_study_names_the_import_it_needs(home, tmp_path, capsys):
    study = tmp_path / "imported.toml"
    study.write_text(STUDY.format(out=tmp_path / "out").split("[[proxies]]")[0]
                     + '[[proxies]]\nimported = "mtt_digits_ipc1"\n\n[search]' + STUDY.split("[search]")[1])
    assert main(["study", "run", str(study), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "proxy mtt_digits_ipc1 is not in the store" in err
    assert "proxynas proxies import FILE --name mtt_digits_ipc1" in err


@pytest.mark.slow
def test_more_iterations_continue_the_run_and_a_study_refuses_other_settings(home, tmp_path, digits, capsys):
    study = tmp_path / "dm.toml"
    study.write_text(STUDY.format(out=tmp_path / "out"))
    assert main(["study", "run", str(study), "--device", "cpu"]) == 0
    store = ResultsStore(paths.results_db())
    first = {r.candidate: r.finished_at for r in store.rows(trainset="dm_digits_ipc1")}
    assert len(first) == 2
    proxies = ProxyLibrary(paths.proxy_dir())
    made_in = proxies.load("dm_digits_ipc1").card.seconds
    capsys.readouterr()

    # more iterations: the stored 2-iteration run goes on from its checkpoint to 3
    assert main([*DM, "--iterations", "3"]) == 0
    err = capsys.readouterr().err
    assert "dm_digits_ipc1 in the store ran 2 iterations; continuing the same run from its checkpoint to 3" in err
    assert "results of earlier sets named dm_digits_ipc1" in err and "stay readable" in err
    continued = proxies.load("dm_digits_ipc1")
    straight = make_proxy(ProxyLibrary(tmp_path / "other"), "dm", digits, 1, iterations=3, net=NET, batch_real=16)
    assert torch.equal(continued.data.images, straight.data.images)  # the same as 3 iterations in one go
    assert continued.card.settings["iterations"] == 3 and continued.card.seconds > made_in

    # the study names 2 iterations: it shows the difference and refuses to train on the 3-iteration set
    assert main(["study", "plan", str(study), "--device", "cpu"]) == 0
    plan = capsys.readouterr().out
    assert "DIFFERS" in plan and "the stored one was made with iterations 3 (asked: 2)" in plan
    assert main(["study", "run", str(study), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "proxy dm_digits_ipc1 in the store does not match the study" in err
    assert "proxynas condense dm --dataset digits --ipc 1 --iterations 2" in err and "--fresh" in err

    # fewer iterations cannot continue: condense says so and names --fresh; with it, the set is made again
    assert main([*DM, "--iterations", "2"]) == 2
    assert "iterations 3 (asked: 2)" in capsys.readouterr().err
    assert main([*DM, "--iterations", "2", "--fresh"]) == 0
    assert main(["study", "plan", str(study), "--device", "cpu"]) == 0
    assert "stale" not in capsys.readouterr().out
    assert main(["study", "run", str(study), "--device", "cpu"]) == 0
    # DM is deterministic: the set remade with 2 iterations is the first one, bit for bit, so its rows
    # (keyed by content) are its results, and nothing is retrained
    remade = proxies.load("dm_digits_ipc1").data.fingerprint()
    again = {r.candidate: r.finished_at for r in store.rows(trainset_id=remade)}
    assert again == first and len(store.rows(trainset="dm_digits_ipc1")) == 2
    store.close()
