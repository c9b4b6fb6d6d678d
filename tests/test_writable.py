"""A folder proxynas cannot make or write (PROXYNAS_HOME, the data root, an output folder) is a one-line
error naming it and the setting that moves it, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from proxynas.cli import main

STUDY = """\
[study]
name = "w"
dataset = "digits"
[space]
archs = ["d1_w32_relu_none_avgpool"]
[[proxies]]
method = "random"
ipc = 1
[search]
epochs = 1
[truth]
epochs = 1
"""


@pytest.fixture
def blocker(tmp_path):
    """A regular file: nothing can be made under it, whoever runs the test (root included)."""
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


def one_line_error(capsys, *parts: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("proxynas: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in err, err


@pytest.mark.parametrize(("home_under", "problem"), [("sub", "cannot be created"), ("", "is a file, not a folder")])
def test_a_home_that_cannot_be_made(blocker, monkeypatch, capsys, home_under, problem):
    monkeypatch.setenv("PROXYNAS_HOME", str(blocker / home_under if home_under else blocker))
    assert main(["proxies"]) == 2
    one_line_error(capsys, "PROXYNAS_HOME", problem, "set PROXYNAS_HOME to a folder you can write")


def test_a_data_root_and_output_folders_that_cannot_be_made(home, blocker, tmp_path, capsys):
    assert main(["data", "download", "mnist", "--data-root", str(blocker / "data")]) == 2
    one_line_error(capsys, "the data root", "cannot be created", "--data-root DIR or set PROXYNAS_DATA")
    study = tmp_path / "w.toml"
    study.write_text(STUDY)
    assert main(["study", "run", str(study), "--out", str(blocker / "out")]) == 2
    one_line_error(capsys, "the output folder", "cannot be created", "pass --out DIR")
    assert main(["report", "--truth", "digits", "--proxy", "x", "--out", str(blocker / "r.html")]) == 2
    one_line_error(capsys, "the output folder", "pass --out")
    assert main(["correlate", "--truth", "digits", "--proxy", "x", "--csv", str(blocker / "m.csv")]) == 2
    one_line_error(capsys, "the output folder", "pass --csv")
    assert main(["demo", "--out", str(blocker / "demo")]) == 2
    one_line_error(capsys, "the output folder")


def _unprivileged() -> list[str] | None:
    """A prefix that runs a command without the right to write root's folders, or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None


# Run by a user without the right to write the read-only folder: each case calls the CLI in one process.
SCRIPT = """
import contextlib, io, json, os, sys
from proxynas.cli import main
ro, home, study = sys.argv[1:4]
cases = {"home": (ro, ["proxies"]), "data": (home, ["data", "download", "mnist", "--data-root", ro]),
         "out": (home, ["study", "run", study, "--out", ro])}
out = {}
for name, (proxynas_home, argv) in cases.items():
    os.environ["PROXYNAS_HOME"] = proxynas_home
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    out[name] = [code, err.getvalue()]
print(json.dumps(out))
"""

EXPECTED = {"home": ("PROXYNAS_HOME", "is not writable", "set PROXYNAS_HOME"),
            "data": ("the data root", "is not writable", "--data-root DIR"),
            "out": ("the output folder", "is not writable", "--out DIR")}


@pytest.mark.slow
def test_a_read_only_home_data_root_and_output_folder_are_one_line():
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: no user lacks the permission")
    top = Path(tempfile.mkdtemp(prefix="proxynas-ro-"))
    ro, home, study = top / "read-only", top / "home", top / "w.toml"
    try:
        top.chmod(0o755)
        ro.mkdir()
        ro.chmod(0o555 if not prefix else 0o755)  # root owns it: the unprivileged user cannot write it
        home.mkdir()
        home.chmod(0o777)
        study.write_text(STUDY)
        study.chmod(0o644)
        env = {**os.environ, "HOME": str(home), "MPLCONFIGDIR": str(home)}
        done = subprocess.run([*prefix, sys.executable, "-c", SCRIPT, str(ro), str(home), str(study)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        ro.chmod(0o755)
        shutil.rmtree(top, ignore_errors=True)
    for case, parts in EXPECTED.items():
        code, err = results[case]
        assert code == 2 and err.startswith("proxynas: error: ") and err.count("\n") == 1, (case, err)
        assert all(part in err for part in parts), (case, err)
