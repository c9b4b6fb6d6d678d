"""Files are written whole or not at all, under unique temporary names, with the usual mode; two
commands making the same proxy make it once; a full disk is a one-line error that loses nothing.

A full disk is made real by the file size limit (``RLIMIT_FSIZE``, with SIGXFSZ ignored as a shell
with ``ulimit -f`` does): every write past it fails with EFBIG, as one past a full disk fails with
ENOSPC. It needs no root and no mount, so it runs anywhere.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from condensed.checkpoint import save_checkpoint
from proxynas.atomic import atomic_write_text, io_error
from proxynas.datasets.base import TensorSet
from proxynas.proxies import ProxyCard
from proxynas.proxies.library import ProxyLibrary
from proxynas.store import ResultRow, ResultsStore

LIMIT = 16 * 1024  # bytes a limited child may write into one file


def limited(limit: int = LIMIT):
    """A ``preexec_fn`` capping the size of any file the child writes (writes past it fail: EFBIG)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    return apply


def run_limited(argv: list[str], home: Path, limit: int = LIMIT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROXYNAS_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, preexec_fn=limited(limit))


def card(n: int = 20) -> ProxyCard:
    return ProxyCard(method="random", dataset="digits", ipc=2, seed=0, num_classes=10, shape=(1, 8, 8),
                     source_fingerprint="x", seconds=0.0, settings={})


def small_set(n: int = 20) -> TensorSet:
    return TensorSet(torch.randn(n, 1, 8, 8), torch.arange(n) % 10, 10)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_files_get_the_usual_mode_under_the_umask(tmp_path, mask, mode):
    before = os.umask(mask)
    try:
        store = ProxyLibrary(tmp_path)
        path = store.save("random_digits_ipc2", small_set(), card())
        text = atomic_write_text(tmp_path / "table.csv", "a,b\n")
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(text.stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["random_digits_ipc2.safetensors", "table.csv"]


def test_two_commands_needing_the_same_proxy_make_it_once(home):
    env = {**os.environ, "PROXYNAS_HOME": str(home)}
    argv = [sys.executable, "-m", "proxynas", "search", "--proxy", "random_digits_ipc10", "--sample", "1",
            "--epochs", "1", "--device", "cpu"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
    for code, _, err in results:
        assert code == 0, err
    made = sum(err.count("making proxy random_digits_ipc10 (proxynas condense") for _, _, err in results)
    assert made == 1, [err for _, _, err in results]  # the other found it made, or waited and reused it
    proxies = home / "proxies"
    files = sorted(p.name for p in proxies.iterdir())
    assert files == [".random_digits_ipc10.lock", "random_digits_ipc10.safetensors"]  # no temporary left
    assert stat.S_IMODE((proxies / "random_digits_ipc10.safetensors").stat().st_mode) == 0o666 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_full_disk_making_a_proxy_is_one_line_and_leaves_nothing(home):
    result = run_limited([sys.executable, "-m", "proxynas", "condense", "herding", "--dataset", "digits",
                          "--ipc", "50"], home)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr
    path = home / "proxies" / "herding_digits_ipc50.safetensors"
    assert lines[0].startswith(f"proxynas: error: cannot write the proxy file {path}: File too large [EFBIG]")
    assert "ulimit -f" in lines[0]
    assert sorted(p.name for p in path.parent.iterdir()) == [".herding_digits_ipc50.lock"]  # no partial file


def test_a_full_disk_writing_a_checkpoint_keeps_the_old_one(tmp_path):
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, {"key": "old", "x": torch.zeros(4)})
    before = path.read_bytes()
    code = textwrap.dedent(f"""
        import torch
        from pathlib import Path
        from condensed.checkpoint import save_checkpoint
        from proxynas.errors import ProxynasError
        try:
            save_checkpoint(Path({str(path)!r}), {{"key": "new", "x": torch.zeros(100_000)}})
        except ProxynasError as err:
            print(err)
    """)
    result = run_limited([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"cannot write the checkpoint {path}: File too large [EFBIG]"), result.stdout
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]


def row(candidate: str, reason: str | None = None) -> ResultRow:
    return ResultRow(space="s", candidate=candidate, trainset="t", protocol="p", seed=0, dataset="digits",
                     status="done", val_acc=0.5, test_acc=0.5, train_loss=1.0, seconds=1.0, epochs=1, reason=reason)


def test_a_full_disk_under_the_results_store_loses_nothing_stored(tmp_path):
    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as store:
        store.put(row("a"))
        store.put(row("b"))
    code = textwrap.dedent(f"""
        from proxynas.errors import ProxynasError
        from proxynas.store import ResultRow, ResultsStore
        store = ResultsStore({str(db)!r})
        try:
            store.put(ResultRow(space="s", candidate="big", trainset="t", protocol="p", seed=0, dataset="digits",
                                status="done", val_acc=0.5, test_acc=0.5, train_loss=1.0, seconds=1.0, epochs=1,
                                reason="x" * 200_000))
        except ProxynasError as err:
            print(err)
    """)
    result = run_limited([sys.executable, "-c", code], tmp_path, limit=64 * 1024)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"results store {db} cannot be written: "), result.stdout
    assert "what the store held is kept; this change was rolled back" in result.stdout
    assert "\n" not in result.stdout.strip()
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r[0] for r in check.execute("SELECT candidate FROM results ORDER BY 1")] == ["a", "b"]


@pytest.mark.parametrize("message, expected", [
    ('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })',
     "No space left on device [ENOSPC]"),
    ("something else went wrong", "something else went wrong"),
])
def test_io_errors_of_libraries_name_the_os_cause(message, expected):
    err = io_error(RuntimeError(message), Path("/x/y.safetensors"), "the proxy file")
    assert str(err).startswith(f"cannot write the proxy file /x/y.safetensors: {expected}")
