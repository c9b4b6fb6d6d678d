"""benchmarks/parity.py: its CPU form runs end to end on digits, resumes, and refuses the GPU form here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "parity.py"


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PROXYNAS_HOME": str(home)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=900)


@pytest.mark.slow
def test_the_shrunk_form_condenses_evaluates_tabulates_and_resumes(tmp_path):
    out = tmp_path / "out"
    first = run(tmp_path / "home", "--shrunk", "--out", str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    rows = sorted(out.glob("parity_digits_cpu_*.json"))
    assert len(rows) == 10  # dc, dsa, dm, idc, idc-i at ipc 1 and 2
    records = {(r["method"], r["ipc"]): r for r in (json.loads(p.read_text()) for p in rows)}
    for (method, _ipc), r in records.items():
        expected = {"dc": "dc", "dsa": "dsa", "dm": "dm", "idc": "idc", "idc-i": "idc"}[method]
        assert r["protocol"]["name"] == expected and r["protocol"]["epochs"] == 3
        assert len(r["test_accs"]) == 2 and r["failed"] == 0 and r["environment"]["device"].startswith("cpu")
        assert r["condense"]["settings"]["net"] == "d1_w32_relu_instancenorm_avgpool"
    assert records["dc", 1]["condense"]["settings"]["init"] == "noise"
    assert records["dsa", 1]["protocol"]["augment"] == "dsa"
    assert records["idc", 2]["images"] == 10 * 2 * 4  # decoded: factor 2
    table = (out / "parity_digits_cpu.md").read_text()
    assert table.count("\n| ") == 12 and "| idc-i | 2 |" in table
    again = run(tmp_path / "home", "--shrunk", "--out", str(out))
    assert again.returncode == 0 and again.stderr.count("done before") == 10 and "condensing" not in again.stderr
    assert again.stdout == first.stdout  # the same table, from the stored rows


@pytest.mark.slow
def test_the_shrunk_trajectory_form_trains_experts_then_mtt_and_ftd(tmp_path):
    out = tmp_path / "out"
    proc = run(tmp_path / "home", "--trajectory", "--shrunk", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {r["method"]: r for r in (json.loads(p.read_text()) for p in out.glob("parity_digits_cpu_*.json"))}
    assert set(records) == {"mtt", "ftd"}
    for method, r in records.items():
        learned = r["condense"]["settings"]["learned"]["syn_lr"]
        assert r["protocol"]["name"] == method and r["protocol"]["lr"] == learned and r["failed"] == 0
        assert r["condense"]["settings"]["resolved"]["zca"] is True
    assert (tmp_path / "home" / "experts" / "digits").is_dir()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_the_papers_settings_need_a_gpu(tmp_path):
    proc = run(tmp_path / "home", "--quick", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "no CUDA GPU" in proc.stderr and "--shrunk" in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_published_figures_are_the_repositories():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import parity
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert [parity.PUBLISHED["dc", i] for i in (1, 10, 50)] == [70.5, 82.3, 83.6]
    assert [parity.PUBLISHED["dsa", i] for i in (1, 10, 50)] == [70.6, 84.6, 88.7]
    assert [parity.PUBLISHED["idc", i] for i in (1, 10, 50)] == [81.0, 86.0, 86.2]
    assert [parity.PUBLISHED["idc-i", i] for i in (1, 10, 50)] == [70.7, 85.3, 89.1]
    assert ("dm", 1) not in parity.PUBLISHED  # DM's repository publishes no FashionMNIST figure
    assert parity.TRAJECTORY_PUBLISHED == {("mtt", 10): 65.3, ("mtt", 50): 71.6, ("ftd", 10): 66.6, ("ftd", 50): 73.8}
    assert parity.QUICK.rows == (("dc", 1), ("dsa", 1)) and parity.QUICK.overrides == {}  # papers' iterations
