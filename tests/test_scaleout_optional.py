"""Ray is an optional extra: without it, ``--executor ray`` is a one-line error naming the extra."""

from __future__ import annotations

import sys

import pytest

from proxynas.cli import main
from proxynas.engine.executors import ExecutorOptions, make_executor
from proxynas.errors import ProxynasError


@pytest.fixture
def no_ray(monkeypatch):
    """This process as if ray were not installed: ``import ray`` fails (a None entry in sys.modules
    blocks the import), and proxynas.scaleout's modules are imported afresh."""
    monkeypatch.setitem(sys.modules, "ray", None)
    for name in [m for m in sys.modules if m.startswith("proxynas.scaleout.")]:
        monkeypatch.delitem(sys.modules, name)


def test_the_ray_executor_without_ray_names_the_extra(no_ray):
    with pytest.raises(ProxynasError) as err:
        make_executor(ExecutorOptions(name="ray"))
    assert "pip install 'proxynas[ray]'" in str(err.value) and "ray is missing" in str(err.value)


def test_the_cli_without_ray_is_a_one_line_error_and_exit_2(no_ray, home, capsys):
    argv = ["search", "--proxy", "random_digits_ipc5", "--arch", "d1_w32_relu_none_avgpool", "--epochs", "1",
            "--device", "cpu", "--executor", "ray"]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "error" in line] == err[-1:] and not any("Traceback" in e for e in err)
    assert "--executor ray needs Ray" in err[-1] and "pip install 'proxynas[ray]'" in err[-1]


def test_the_local_executors_never_import_ray(no_ray):
    for name in ("local", "threads", "serial"):
        make_executor(ExecutorOptions(name=name))
    assert sys.modules["ray"] is None
