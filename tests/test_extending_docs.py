"""docs/extending.md's examples, run: a third-party package installed in a temporary folder.

The document's ``file=`` code blocks are written out as the package ``theirs`` beside a real
``theirs-0.1.dist-info`` (METADATA and the ``entry_points.txt`` its ``pyproject.toml`` block declares),
and that folder is put on the ``PYTHONPATH`` of subprocesses: every kind's plugin is then found through its
entry-point group alone, passes its contract test (the contract files run unedited, ``-k theirs``), and
works from the command line. A broken plugin is one line naming its distribution, and exit 2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from proxynas.errors import ProxynasError
from proxynas.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "extending.md"
BLOCK = re.compile(r"^```(\w+) file=(\S+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
GROUPS = {"proxynas.methods", "proxynas.executors", "proxynas.spaces", "proxynas.datasets",
          "proxynas.augmentations", "proxynas.presets", "proxynas.scorers"}


def blocks() -> dict[str, str]:
    return {path: text for _, path, text in BLOCK.findall(DOC.read_text())}


def install(site: Path, name: str, version: str, entry_points: dict[str, dict[str, str]]) -> None:
    """A distribution's metadata as pip writes it: ``site/NAME-VERSION.dist-info/{METADATA,entry_points.txt}``."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
        for group, points in entry_points.items()))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The documented package, installed into a folder of its own."""
    site = tmp_path_factory.mktemp("site")
    files = blocks()
    project = tomllib.loads(files.pop("pyproject.toml"))["project"]
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    install(site, project["name"], project["version"], project["entry-points"])
    return site


def run(site: Path, *argv: str, home: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "PROXYNAS_HOME": str(home)}
    return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def test_the_document_has_an_example_of_every_kind_and_declares_each_group():
    files = blocks()
    groups = tomllib.loads(files["pyproject.toml"])["project"]["entry-points"]
    assert set(groups) == GROUPS
    for points in groups.values():
        for module in points.values():
            assert f"{module.replace('.', '/')}.py" in files, module


@pytest.mark.slow
def test_every_documented_plugin_passes_its_contract_unedited(site, tmp_path):
    done = run(site, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "theirs",
               *(str(p) for p in sorted((ROOT / "tests").glob("test_*_contract.py"))), home=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    # 30 when written: augmentations 12 (theirs on every dataset, every augmentation on theirs), spaces 9,
    # methods 3, executors 2, scorers 2, datasets 1, protocols 1
    assert passed is not None and int(passed[1]) >= 30, done.stdout[-2000:]
    assert "failed" not in done.stdout and "error" not in done.stdout.lower().split("passed")[-1]


@pytest.mark.slow
def test_the_documented_plugins_work_from_the_command_line(site, tmp_path):
    script = """
import sys
from proxynas.cli import main
commands = [
    ["condense", "theirs", "--dataset", "digits", "--ipc", "2", "--device", "cpu"],
    ["search", "--proxy", "theirs_digits_ipc2", "--space", "theirs", "--executor", "theirs", "--shout",
     "--epochs", "1", "--device", "cpu"],
    ["score", "theirs", "--space", "theirs", "--dataset", "digits", "--json"],
    ["search", "--proxy", "theirs_digits_ipc2", "--space", "theirs", "--executor", "nope", "--device", "cpu"],
    ["search", "--proxy", "theirs_digits_ipc2", "--space", "theirs", "--shout", "--device", "cpu"],
]
for argv in commands:
    print("exit", main(argv), flush=True)
"""
    done = run(site, "-c", script, home=tmp_path)
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, out + err
    assert re.findall(r"^exit (\d)", out, re.MULTILINE) == ["0", "0", "0", "2", "2"], out + err
    assert "theirs_digits_ipc2: 20 images (1, 8, 8) of 10 classes" in out
    trained = re.findall(r"^theirs: training (w\d+)$", out, re.MULTILINE)
    assert trained == ["w128", "w64", "w32", "w16", "w8"], out  # the executor ran, last stack first
    assert '"scorer": "theirs"' in out and '"w8"' in out
    assert "unknown executor 'nope'" in err and "valid executors: local, ray, serial, theirs, threads" in err
    assert "--shout is an option of --executor theirs, not of --executor local" in err  # its flag is its own


@pytest.mark.slow
def test_a_broken_plugin_is_one_line_naming_its_distribution(tmp_path):
    site = tmp_path / "site"
    install(site, "broken", "0.2", {"proxynas.executors": {"broken": "broken_plugin"}})  # no such module
    done = run(site, "-m", "proxynas", "search", "--proxy", "random_digits_ipc1", "--device", "cpu",
               home=tmp_path / "home")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert ("the executor plugin 'broken' (broken_plugin) of broken 0.2 failed to load: ModuleNotFoundError"
            in done.stderr), done.stderr


def test_a_registry_loads_its_group_once_on_first_lookup_and_names_a_broken_distribution(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "their_things.py").parent.mkdir(parents=True)
    (site / "their_things.py").write_text("from test_registry_things import THINGS\nTHINGS.register('a')(1)\n")
    (site / "test_registry_things.py").write_text(
        "from proxynas.registry import Registry\nTHINGS = Registry('thing', group='proxynas.test_things')\n")
    install(site, "things", "1.0", {"proxynas.test_things": {"a": "their_things"}})
    monkeypatch.syspath_prepend(str(site))
    from test_registry_things import THINGS  # type: ignore[import-not-found]

    assert "their_things" not in sys.modules  # nothing loaded before the first lookup
    assert THINGS.get("a") == 1 and THINGS.names() == ["a"]
    install(tmp_path / "other", "broken", "0.2", {"proxynas.test_broken": {"b": "their_missing_module"}})
    monkeypatch.syspath_prepend(str(tmp_path / "other"))  # installed where this process has not looked yet
    broken: Registry[int] = Registry("thing", group="proxynas.test_broken")
    with pytest.raises(ProxynasError) as err:
        broken.names()
    assert str(err.value).startswith("the thing plugin 'b' (their_missing_module) of broken 0.2 failed to load: "
                                     "ModuleNotFoundError") and "pip uninstall broken" in str(err.value)
