"""A ground truth from a CSV table: a header row, then one row per (candidate, seed).

Columns: ``arch`` (a candidate id of the space) and ``accuracy`` (what the truth ranks by) are required;
``test_accuracy`` (default: ``accuracy``), ``seed`` (default 0) and ``seconds`` (training time, for the
cost tables; default 0) are optional, others are ignored.
Accuracies are fractions in [0, 1], or percentages when any of them is above 1.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from proxynas.errors import DataError, ProxynasError
from proxynas.spaces import SearchSpace
from proxynas.truth.published import PublishedRun, PublishedTruth

REQUIRED = ("arch", "accuracy")


def _number(text: str | None, column: str, line: int, path: Path) -> float:
    try:
        return float(text)  # type: ignore[arg-type]  # None is caught below
    except (TypeError, ValueError):
        raise DataError(f"{path.name} line {line}: {column} '{text}' is not a number",
                        f"write {column} as a number") from None


def read_csv(path: Path, space: SearchSpace, dataset: str, *, epochs: int,
             source: str | None = None) -> PublishedTruth:
    """The table's accuracies as a truth of ``space`` on ``dataset`` trained ``epochs`` epochs."""
    path = Path(path)
    if not path.is_file():
        raise ProxynasError(f"{path} does not exist", "pass the CSV file to import")
    if epochs < 1:
        raise ProxynasError(f"--epochs must be at least 1, got {epochs}",
                            "pass how many epochs the networks of the table trained")
    raw = path.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    header = set(rows[0]) if rows else set()
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataError(f"{path.name} has no column {', '.join(missing)} (found: {', '.join(sorted(header))})",
                        "write a header row: arch,accuracy[,test_accuracy][,seed][,seconds]")
    values = []
    for line, row in enumerate(rows, 2):
        acc = _number(row["accuracy"], "accuracy", line, path)
        test = _number(row["test_accuracy"], "test_accuracy", line, path) if row.get("test_accuracy") else acc
        seed = _number(row["seed"], "seed", line, path) if row.get("seed") else 0.0
        if not row["arch"] or not seed.is_integer():
            raise DataError(f"{path.name} line {line}: " + ("no arch" if not row["arch"] else f"seed {seed}"),
                            "give every row an arch id and, if any, an integer seed")
        seconds = _number(row["seconds"], "seconds", line, path) if row.get("seconds") else 0.0
        values.append((row["arch"].strip(), int(seed), acc, test, seconds))
    scale = 100.0 if any(max(acc, test) > 1 for _, _, acc, test, _ in values) else 1.0
    runs = [PublishedRun(space.parse(arch).id, seed, acc / scale, test / scale, seconds=seconds)
            for arch, seed, acc, test, seconds in values]
    name = source or path.stem
    settings = {"source": name, "layout": "csv", "file": path.name, "sha256": hashlib.sha256(raw).hexdigest(),
                "epochs": epochs, "units": "percent" if scale == 100 else "fraction"}
    return PublishedTruth(space.name, dataset, f"csv:{space.name}:{dataset}:{name}", settings, tuple(runs),
                          device=f"imported ({path.name})")
