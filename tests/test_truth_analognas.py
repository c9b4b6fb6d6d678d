"""``proxynas truth import analognas``: AnalogNAS-Bench's pickle, read without its package, as the nb201 truth."""

from __future__ import annotations

import importlib.metadata
import pickle
import sqlite3
import sys
import types
from collections import defaultdict

import pytest

from proxynas.cli import main
from proxynas.errors import DataError
from proxynas.truth.analognas import arch_string, installed_file, load, read_analognas
from search_spaces import get_space

SPACE = get_space("nb201")
BEST = (2, 2, 0, 2, 3, 2)  # the package's best cell, 94.0664%


def write_anb(path, cells: dict[tuple[int, ...], float]) -> None:
    """A data.anb as the package writes it: protocol-4 pickle of {key: analognasbench.data.Architecture}."""
    module = types.ModuleType("analognasbench.data")

    class Architecture:
        pass

    class DriftMeasurement:
        pass

    for cls in (Architecture, DriftMeasurement):
        cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
        setattr(module, cls.__name__, cls)
    parent = types.ModuleType("analognasbench")  # stands in for the package: its code never runs here
    parent.data = module
    saved = {name: sys.modules.pop(name, None) for name in (parent.__name__, module.__name__)}
    sys.modules.update({parent.__name__: parent, module.__name__: module})
    try:
        data = {}
        for key, acc in cells.items():
            arch = Architecture()
            drift = DriftMeasurement()
            drift.__dict__.update(value=acc - 1.0, uncertainty=0.5)
            arch.__dict__.update(architecture=key, baseline_accuracy=acc, ptq_accuracy=acc - 2,
                                 analog_accuracy=acc - 3, baseline_drift_60=drift)
            data[key] = arch
        path.write_bytes(pickle.dumps(data, protocol=4))
    finally:
        for name, old in saved.items():
            sys.modules.pop(name)
            if old is not None:
                sys.modules[name] = old


def test_key_encoding_is_naslibs_op_indices():
    assert arch_string((1,) * 6) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert arch_string(BEST) == ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
                                 "|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    assert arch_string((0, 1, 2, 3, 4, 0)) == ("|skip_connect~0|+|none~0|nor_conv_1x1~1|+"
                                               "|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|")
    with pytest.raises(DataError):
        arch_string((5, 0, 0, 0, 0, 0))


def test_small_pickle_in_the_packages_format_imports_as_the_cifar10_truth(home, tmp_path, capsys):
    cells = {(1,) * 6: 10.0, BEST: 94.0664, (0, 0, 0, 0, 0, 0): 60.7836, (3, 3, 3, 3, 3, 3): 89.532}
    write_anb(tmp_path / "data.anb", cells)
    assert main(["truth", "import", "analognas", str(tmp_path / "data.anb")]) == 0
    assert "4 candidates, 4 rows (seeds 0), 200 epochs, from AnalogNAS-Bench" in capsys.readouterr().out
    db = sqlite3.connect(home / "results.sqlite")
    rows = db.execute("SELECT candidate, val_acc, test_acc, trainset, protocol, space FROM results").fetchall()
    got = {c: (v, t) for c, v, t, *_ in rows}
    assert {r[3:] for r in rows} == {("full_cifar10", "analognas:nb201:cifar10:baseline", "nb201")}
    for key, acc in cells.items():
        assert got[arch_string(key)] == (pytest.approx(acc / 100), pytest.approx(acc / 100))


def test_any_other_class_in_the_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (eval, ("1",))  # not print: Ray, once imported, puts its own function in its place

    (tmp_path / "data.anb").write_bytes(pickle.dumps({(1,) * 6: Evil()}))
    with pytest.raises(DataError, match=r"refusing to load builtins\.eval"):
        load(tmp_path / "data.anb")
    assert main(["truth", "import", "analognas", str(tmp_path / "missing.anb")]) == 2


def _installed() -> bool:
    try:
        importlib.metadata.distribution("analog-nasbench")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _connected(candidate) -> bool:
    reached = {0}
    for i in range(1, 4):
        if any(j in reached and candidate[f"e{i}_{j}"] != "none" for j in range(i)):
            reached.add(i)
    return 3 in reached


@pytest.mark.skipif(not _installed(), reason="analog-nasbench is not installed (pip install -e '.[dev]')")
def test_mapping_on_the_real_file_cut_off_cells_10_percent_and_isomorphic_cells_alike():
    truth = read_analognas(installed_file())
    acc = {r.candidate: r.val_acc for r in truth.runs}
    assert len(acc) == 15625 and set(acc) == {c.id for c in SPACE.candidates()}
    assert max(acc.values()) == pytest.approx(0.940664)
    classes = defaultdict(list)
    for c in SPACE.candidates():
        classes[SPACE.canonical(c)].append(acc[c.id])
    cut_off = classes[SPACE.canonical(SPACE.parse(arch_string((1,) * 6)))]
    assert len(cut_off) == 225 and set(cut_off) == {0.1}
    # exactly the 341 cells with no path from input to output score chance (10%)
    chance = {c.id for c in SPACE.candidates() if acc[c.id] == 0.1}
    assert chance == {c.id for c in SPACE.candidates() if not _connected(c)} and len(chance) == 341
    # isomorphic cells differ by training noise only: measured mean spread 0.6 points under this encoding
    # (within-class variance 0.067 points^2; skip and pooling swapped: 2.1; any other edge order: 25 or more)
    spreads = [max(vs) - min(vs) for vs in classes.values() if len(vs) > 1]
    assert sum(spreads) / len(spreads) < 0.01
