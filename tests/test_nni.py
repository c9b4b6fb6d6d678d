"""The NNI bridge with real NNI 3.0: search-space JSON, trials, HPO and NAS experiments.

Experiments run in subprocesses (the ``proxynas`` command), with HOME, $PROXYNAS_HOME and the NNI
experiment folder in tmp_path and a free port: NNI reads HOME once, when it is first imported.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from proxynas.cli import main
from proxynas.errors import ProxynasError, UnknownNameError
from proxynas.nni.messages import check_passable
from proxynas.nni.space import candidate_from, candidates_in, nni_search_space
from proxynas.store import ResultRow, ResultsStore, truth_trainset
from search_spaces import get_space
from search_spaces.dc_convnet import DCConvNetSpace

PROXY = "random_digits_ipc5"


class HashSpace(DCConvNetSpace):
    """The DC ConvNet space with one choice value that NNI 3.0 cannot carry."""

    dimensions: ClassVar = {**DCConvNetSpace.dimensions, "act": ("relu", "leaky#relu")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a subprocess whose NNI and proxynas write only under tmp_path."""
    (tmp_path / "user").mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(tmp_path / "user"), "PROXYNAS_HOME": str(tmp_path / "home")}


def run_isolated(argv: list[str], tmp_path: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run a Python subprocess; past ``timeout`` it gets SIGTERM (so it stops its NNI manager) and fails."""
    proc = subprocess.Popen([sys.executable, *argv], env=isolated_env(tmp_path), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"{argv} still ran after {timeout}s (hung?)\nstdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# --- search space ---------------------------------------------------------------------------------

def test_space_json_round_trips_to_the_same_720_ids():
    space = get_space("dc_convnet")
    text = json.dumps(nni_search_space(space))
    again = candidates_in(space, json.loads(text))
    assert len(again) == 720
    assert [c.id for c in again] == [c.id for c in space.candidates()]


def test_nni_reads_the_space_as_five_choices():
    from nni.common.hpo_utils import format_search_space

    specs = format_search_space(nni_search_space(get_space("dc_convnet")))
    assert {spec.name: spec.size for spec in specs.values()} == {
        "depth": 4, "width": 4, "act": 3, "norm": 5, "pool": 3}


def test_cli_prints_and_writes_the_space(tmp_path, capsys):
    assert main(["nni", "space"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == nni_search_space(get_space("dc_convnet"))
    assert main(["nni", "space", "--output", str(tmp_path / "space.json")]) == 0
    assert json.loads((tmp_path / "space.json").read_text()) == printed


def test_parameters_must_name_one_candidate():
    space = get_space("dc_convnet")
    params = {"depth": 2, "width": 64, "act": "relu", "norm": "batchnorm", "pool": "maxpool"}
    assert candidate_from(space, params).id == "d2_w64_relu_batchnorm_maxpool"
    with pytest.raises(ProxynasError, match="missing pool"):
        candidate_from(space, {k: v for k, v in params.items() if k != "pool"})
    with pytest.raises(ProxynasError, match="not a choice"):
        candidate_from(space, {**params, "width": 48})
    with pytest.raises(ProxynasError, match="not a choice"):
        candidates_in(space, {"depth": {"_type": "uniform", "_value": [1, 4]}})


# --- '#' and '//' -------------------------------------------------------------------------------------

def test_nni_loader_really_mangles_hash_in_nested_messages():
    """The upstream bug the guard exists for; if NNI ever fixes it, this fails and the guard can go."""
    import nni

    # How the manager tells the tuner that a trial ended: parameters in an event in a websocket message.
    parameters = nni.dump({"parameter_id": 0, "parameters": {"act": "leaky#relu"}})
    event = json.dumps({"trial_job_id": "x", "event": "SUCCEEDED", "hyper_params": parameters})
    assert nni.load(event)["hyper_params"] == parameters  # one level of nesting survives
    with pytest.raises(ValueError):  # json.JSONDecodeError: the text after '#' was cut away
        nni.load(json.dumps({"type": "EN", "content": event}))


def test_hash_and_slashes_are_refused_before_nni_sees_them():
    check_passable({"act": ["relu", "leaky_relu"], "path": "/tmp/a/b"}, "ok")
    for bad in ({"act": ["leaky#relu"]}, {"url": "http://x"}, {"a#b": 1}):
        with pytest.raises(ProxynasError, match="microsoft/nni#5684"):
            check_passable(bad, "test value")
    with pytest.raises(ProxynasError, match="leaky#relu"):
        nni_search_space(HashSpace())


@pytest.mark.slow
def test_an_experiment_over_a_hash_value_is_refused_and_never_hangs(tmp_path):
    script = f"""
import sys
from proxynas.errors import ProxynasError
from proxynas.engine import Protocol
from proxynas.nni.experiment import HpoSettings, run_hpo
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_nni import HashSpace
settings = HpoSettings(proxy={PROXY!r}, space=HashSpace(), max_trials=2, port={free_port()},
                       protocol=Protocol(epochs=1), experiment_dir={str(tmp_path / "exp")!r})
try:
    run_hpo(settings)
except ProxynasError as err:
    print("refused:", err)
"""
    result = run_isolated(["-c", script], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "leaky#relu" in result.stdout
    assert not (tmp_path / "exp").exists()  # refused before NNI started anything


# --- tuners, config, YAML -------------------------------------------------------------------------

def test_tuners_that_fail_are_refused_with_a_reason():
    from proxynas.nni.tuners import tuner_class_args

    assert tuner_class_args("TPE", 3, 10, 2) == {"optimize_mode": "maximize", "seed": 3}
    assert tuner_class_args("Evolution", 0, 4, 2)["population_size"] > 2  # NNI wants more than concurrency
    for broken in ("GP", "Metis"):
        with pytest.raises(ProxynasError, match="scipy"):
            tuner_class_args(broken, 0, 10, 1)
    with pytest.raises(UnknownNameError, match="TPE"):
        tuner_class_args("SMAC", 0, 10, 1)


def test_yaml_config_loads_as_nnictl_loads_it(tmp_path, home):
    from nni.experiment import ExperimentConfig

    from proxynas.engine import Protocol
    from proxynas.nni.experiment import HpoSettings, experiment_config, write_yaml

    data_root = tmp_path / "data#1"  # '#' in the trial command is fine: NNI runs it with bash
    settings = HpoSettings(proxy=PROXY, space=get_space("dc_convnet"), max_trials=3, concurrency=2,
                           protocol=Protocol(epochs=2, seed=1), data_root=str(data_root),
                           experiment_dir=str(tmp_path / "exp"))
    config = experiment_config(settings)
    argv = shlex.split(config.trial_command)
    assert argv[0] == f"PROXYNAS_HOME={home.resolve()}"
    assert argv[1:6] == [sys.executable, "-m", "proxynas", "nni", "trial"]
    assert argv[argv.index("--data-root") + 1] == str(data_root.resolve())
    assert argv[argv.index("--epochs") + 1] == "2" and argv[argv.index("--seed") + 1] == "1"
    path = write_yaml(config, tmp_path / "nnictl.yml", 8080)
    assert ExperimentConfig.load(path).json() == config.json()


# --- trials ---------------------------------------------------------------------------------------

def test_standalone_trial_trains_like_search_and_stores_the_result(home, digits, capsys):
    from condensed.make import make_proxy
    from proxynas.engine import Protocol
    from proxynas.plans import Plan, TrainingData, train_into_store
    from proxynas.proxies import ProxyLibrary

    proxy = make_proxy(ProxyLibrary(home / "proxies"), "random", digits, 5)
    arch = "d2_w32_relu_batchnorm_avgpool"  # batch norm: scoring between epochs must not change training
    assert main(["nni", "trial", "--proxy", PROXY, "--arch", arch, "--epochs", "3", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert f"{arch} on {PROXY}: val" in out
    epoch_lines = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    with ResultsStore(home / "results.sqlite") as store:
        (row,) = store.rows(trainset=PROXY, candidate=arch)
    assert row.status == "done" and row.epochs == 3
    assert epoch_lines[-1].endswith(f"val {100 * row.val_acc:.2f}%")  # the last epoch's score is the result

    space = get_space("dc_convnet")
    with ResultsStore(home / "plain.sqlite") as plain:
        plan = Plan(space, [space.parse(arch)], Protocol(epochs=3), 1, trainset=PROXY, dataset="digits")
        train_into_store(plan, plain, TrainingData(proxy.data, digits.val, digits.test))
        (reference,) = plain.rows()
    assert (row.val_acc, row.test_acc, row.train_loss) == (reference.val_acc, reference.test_acc,
                                                           reference.train_loss)


def test_trial_outside_nni_needs_an_arch(home, capsys):
    assert main(["nni", "trial", "--proxy", PROXY, "--epochs", "1"]) == 2
    assert "not running inside an NNI experiment" in capsys.readouterr().err


def test_missing_synthetic_proxy_is_a_clear_error(home, capsys):
    port = str(free_port())
    assert main(["nni", "run", "--proxy", "dc_digits_ipc10", "--port", port, "--epochs", "1"]) == 2
    assert "proxynas condense dc --dataset digits --ipc 10" in capsys.readouterr().err
    assert main(["nni", "nas", "--proxy", "nonsense", "--epochs", "1"]) == 2
    assert "unknown proxy 'nonsense'" in capsys.readouterr().err


def test_busy_port_is_a_clear_error(home, capsys):
    with socket.socket() as listener:
        listener.bind(("localhost", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert main(["nni", "run", "--proxy", PROXY, "--port", str(port), "--max-trials", "1"]) == 2
    err = capsys.readouterr().err
    assert f"port {port} is in use" in err and "--port" in err


def test_without_nni_the_bridge_says_how_to_install_it(home, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "nni" or m.startswith(("nni.", "proxynas.nni."))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "nni", None)  # what a missing package looks like to import
    assert main(["nni", "trial", "--proxy", PROXY, "--arch", "d1_w32_relu_none_none"]) == 2
    assert "pip install proxynas[nni]" in capsys.readouterr().err
    assert main(["nni", "space"]) == 0  # the JSON export does not need NNI


# --- the report -----------------------------------------------------------------------------------

def test_pick_is_placed_in_the_exhaustive_search_and_the_truth(tmp_path):
    from proxynas.nni import report

    space = get_space("dc_convnet")
    ids = [c.id for c in space.candidates()]

    def row(candidate: str, trainset: str, val: float, protocol: str = "p1", seed: int = 0) -> ResultRow:
        return ResultRow("dc_convnet", candidate, trainset, protocol, seed, "digits", "done", val, val / 2,
                         0.1, 1.0, 5)

    with ResultsStore(tmp_path / "r.sqlite") as store:
        for i, cid in enumerate(ids[:719]):
            store.put(row(cid, PROXY, i / 1000))
        pick = ids[5]
        assert report.exhaustive_standing(store, "dc_convnet", len(space), PROXY, "p1", pick, f"name:{PROXY}") is None
        store.put(row(ids[719], PROXY, 0.9))
        store.put(row(pick, PROXY, 0.2, seed=1))  # a second seed: its mean counts in the search's ranking
        found = report.exhaustive_standing(store, "dc_convnet", len(space), PROXY, "p1", pick, f"name:{PROXY}")
        # above the pick's mean 0.1025: ids[103..718] and ids[719]
        assert (found.rank, found.total, found.best.candidate) == (618, 720, ids[719])
        assert found.pick.val_acc == pytest.approx((0.005 + 0.2) / 2) and found.pick.seeds == 2
        seed_1 = report.tried(store, "dc_convnet", f"name:{PROXY}", "p1", 1, [pick, ids[0]])
        assert [s.candidate for s in seed_1] == [pick]

        truth = truth_trainset("digits")
        assert report.truth_standing(store, "dc_convnet", "digits", pick) is None
        store.put(row(ids[0], truth, 0.8, protocol="short"))  # a smaller truth under another protocol
        for cid, val in [(ids[1], 0.95), (pick, 0.9), (ids[2], 0.85)]:
            store.put(row(cid, truth, val, protocol="long"))
        found = report.truth_standing(store, "dc_convnet", "digits", pick)
        assert (found.rank, found.total, found.best.candidate) == (2, 3, ids[1])
        assert "3 candidates" in found.reference


CRASHED_DISPATCHER = """\
[2026-11-22 06:30:28] INFO (nni.tuner.tpe/MainThread) Using random seed 0
[2026-11-22 06:30:28] INFO (nni.runtime.msg_dispatcher_base/MainThread) Dispatcher started
[2026-11-22 06:30:37] ERROR (nni.runtime.msg_dispatcher_base/Thread-1 (command_queue_worker)) 0
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/nni/runtime/msg_dispatcher_base.py", line 108, in command_queue_worker
    self.process_command(command, data)
  File "/venv/lib/python3.11/site-packages/nni/algorithms/hpo/tpe_tuner.py", line 197, in receive_trial_result
    params = self._running_params.pop(parameter_id)
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
KeyError: 0
[2026-11-22 06:30:39] INFO (nni.runtime.msg_dispatcher_base/MainThread) Dispatcher exiting...
[2026-11-22 06:30:42] INFO (nni.runtime.msg_dispatcher_base/MainThread) Dispatcher terminiated
"""


def test_a_crashed_tuner_is_read_from_nni_dispatcher_log(tmp_path):
    """NNI's own lines (a real crash with two concurrent trials, paths shortened): the error is found;
    a running dispatcher, one that stopped cleanly, or no log yet is no failure."""
    from proxynas.nni.experiment import tuner_failure

    log = tmp_path / "log" / "dispatcher.log"
    assert tuner_failure(tmp_path) is None
    log.parent.mkdir()
    log.write_text(CRASHED_DISPATCHER)
    assert tuner_failure(tmp_path) == "KeyError: 0"
    lines = CRASHED_DISPATCHER.splitlines()
    log.write_text("\n".join(lines[:3] + lines[-2:]))  # a clean stop
    assert tuner_failure(tmp_path) is None
    log.write_text("\n".join(lines[:-2]))  # the traceback is logged, the dispatcher not gone yet
    assert tuner_failure(tmp_path) is None


# --- experiments ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_hpo_experiment_runs_four_trials_into_the_store(tmp_path):
    port, exp_dir = free_port(), tmp_path / "experiments"
    # one trial at a time: with two, NNI 3.0 may pair a trial with the other's parameters and TPE then
    # crashes (microsoft/nni#5689; test_a_crashed_tuner_is_read_from_nni_dispatcher_log)
    result = run_isolated(["-m", "proxynas", "nni", "run", "--proxy", PROXY, "--tuner", "TPE",
                           "--max-trials", "4", "--concurrency", "1", "--epochs", "1", "--device", "cpu",
                           "--port", str(port), "--experiment-dir", str(exp_dir)], tmp_path, timeout=400)
    assert result.returncode == 0, result.stderr
    assert " DONE: 4 trials" in result.stdout and "0 not succeeded" in result.stdout
    with ResultsStore(tmp_path / "home" / "results.sqlite") as store:
        rows = store.rows(trainset=PROXY)
    assert len({r.candidate for r in rows}) == 4 and all(r.status == "done" and r.epochs == 1 for r in rows)
    finished = [line for line in result.stderr.splitlines() if " SUCCEEDED " in line]
    assert len(finished) == 4  # each trial's final report names its candidate and its score
    for r in rows:
        assert any(r.candidate in line and f"val {100 * r.val_acc:.2f}%" in line for line in finished)
    (yaml_file,) = (p for p in exp_dir.glob("*/nnictl.yml") if not p.parent.is_symlink())  # not _latest
    assert "nnictl create --config" in yaml_file.read_text()
    assert (tmp_path / "user" / "nni-experiments" / ".experiment").exists()  # NNI's manifest, under HOME
    with socket.socket() as sock:
        assert sock.connect_ex(("localhost", port)) != 0  # the NNI manager was stopped


@pytest.mark.slow
def test_nas_experiments_with_each_strategy(tmp_path):
    script = f"""
from proxynas.cli import main
for seed, strategy in enumerate(["TPE", "Random", "GridSearch", "RegularizedEvolution"]):
    trials = "3" if strategy == "TPE" else "2"
    assert main(["nni", "nas", "--proxy", {PROXY!r}, "--strategy", strategy, "--max-trials", trials,
                 "--epochs", "1", "--device", "cpu", "--seed", str(seed),
                 "--experiment-dir", {str(tmp_path / "experiments")!r}]) == 0
"""
    result = run_isolated(["-c", script], tmp_path, timeout=400)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("NAS experiment done") == 4
    with ResultsStore(tmp_path / "home" / "results.sqlite") as store:
        counts = [len({r.candidate for r in store.rows(trainset=PROXY, seed=seed)}) for seed in range(4)]
    assert counts == [3, 2, 2, 2]
