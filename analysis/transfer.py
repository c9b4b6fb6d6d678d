"""A cross-architecture matrix (``proxynas.transfer``) as text, CSV, JSON, a seaborn heatmap and HTML.

Rows are proxies, columns networks; a cell is the test accuracy mean ± std (%) over runs. The network a
proxy was made with is marked ``*``. Where a row's dataset and ipc match a published table, the
published figure is shown beside the measured one (:data:`PUBLISHED`).
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from analysis.plots import _figure
from proxynas.transfer import Row, TransferMatrix

# FTD (Du et al., CVPR 2023) Table 3: CIFAR-10, ipc 50, cross-architecture test accuracy (%); the
# figures as DESIGN.md records them, read from the paper's text by an earlier session (not re-read here).
FTD_TABLE3 = "FTD (Du et al., CVPR 2023), Table 3"
PUBLISHED: dict[tuple[str, int], dict[str, dict[str, float]]] = {
    ("cifar10", 50): {
        "dc": {"ConvNet": 53.9, "ResNet18": 20.8, "VGG11": 38.8, "AlexNet": 28.7},
        "mtt": {"ConvNet": 71.6, "ResNet18": 61.9, "VGG11": 55.4, "AlexNet": 48.2},
    },
}
PUBLISHED_COLUMNS = {  # the published tables' network names of the matrix's columns
    "dc_eval:convnet": "ConvNet", "dc_convnet:d3_w128_relu_instancenorm_avgpool": "ConvNet",
    "dc_eval:resnet18": "ResNet18", "dc_eval:vgg11": "VGG11", "dc_eval:alexnet": "AlexNet",
}


def published(row: Row, arch: str) -> float | None:
    """The published figure for this proxy's method, dataset and ipc on this network, if there is one."""
    table = PUBLISHED.get((row.dataset, row.ipc), {}).get(row.method, {})
    name = PUBLISHED_COLUMNS.get(arch)
    return table.get(name) if name else None


def short(arch: str) -> str:
    """A column header: the id without ``dc_eval:``."""
    return arch.removeprefix("dc_eval:")


def cell_text(matrix: TransferMatrix, row: Row, arch: str) -> str:
    c = matrix.cell(row.proxy, arch)
    text = "-" if c.mean is None else f"{c.mean:.2f} ± {c.std:.2f}"
    if c.failed:
        text += f" ({c.failed} failed)"
    if len(c.accs) + c.failed < c.runs:
        text += f" ({len(c.accs) + c.failed}/{c.runs} runs)"
    if arch == row.made_with:
        text += " *"
    paper = published(row, arch)
    if paper is not None:
        text += f" [paper {paper:.1f}]"
    return text


def text_table(matrix: TransferMatrix) -> str:
    header = ["proxy (protocol)", *(short(a) for a in matrix.archs)]
    lines = [[f"{r.proxy} ({r.protocol})", *(cell_text(matrix, r, a) for a in matrix.archs)] for r in matrix.rows]
    widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    notes = ["test accuracy %, mean ± std over runs; * the network the proxy was made with"]
    if any(published(r, a) is not None for r in matrix.rows for a in matrix.archs):
        notes.append(f"[paper x]: {FTD_TABLE3}")
    return "\n".join([*out, *notes])


def records(matrix: TransferMatrix) -> list[dict[str, Any]]:
    """One record per cell (long format): what CSV and JSON hold."""
    out = []
    for r in matrix.rows:
        for a in matrix.archs:
            c = matrix.cell(r.proxy, a)
            out.append({"proxy": r.proxy, "method": r.method, "dataset": r.dataset, "ipc": r.ipc,
                        "protocol": r.protocol, "protocol_key": r.protocol_key, "arch": a,
                        "made_with": a == r.made_with, "test_acc_mean": c.mean, "test_acc_std": c.std,
                        "runs": c.runs, "done": len(c.accs), "failed": c.failed,
                        "test_accs": list(c.accs), "published": published(r, a)})
    return out


def to_json(matrix: TransferMatrix) -> str:
    return json.dumps({"archs": matrix.archs, "cells": records(matrix),
                       "published_source": FTD_TABLE3}, indent=2)


def to_csv(matrix: TransferMatrix) -> str:
    buffer = io.StringIO()
    fields = [k for k in records(matrix)[0] if k != "test_accs"] if matrix.rows else ["proxy"]
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records(matrix))
    return buffer.getvalue()


def heatmap(matrix: TransferMatrix) -> Figure:
    """Proxies x networks, coloured by mean test accuracy, annotated mean ± std; the proxy's own network's
    cell outlined."""
    means = pd.DataFrame([[np.nan if matrix.cell(r.proxy, a).mean is None else matrix.cell(r.proxy, a).mean
                           for a in matrix.archs] for r in matrix.rows],
                         index=[r.proxy for r in matrix.rows], columns=[short(a) for a in matrix.archs])
    labels = np.array([[("-" if (c := matrix.cell(r.proxy, a)).mean is None else f"{c.mean:.1f}\n±{c.std:.1f}")
                        for a in matrix.archs] for r in matrix.rows])
    fig = _figure(1.3 * len(matrix.archs) + 3.0, 0.7 * len(matrix.rows) + 2.2)
    ax = fig.subplots()
    with sns.axes_style("white"):
        sns.heatmap(means, ax=ax, annot=labels, fmt="", cmap="viridis", linewidths=0.5,
                    cbar_kws={"label": "test accuracy (%)"})
    for i, r in enumerate(matrix.rows):
        if r.made_with in matrix.archs:
            j = matrix.archs.index(r.made_with)
            ax.add_patch(_outline(j, i))
    ax.set(title="Test accuracy by network\n(outlined: the network the proxy was made with)",
           xlabel="network", ylabel="")
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    return fig


def _outline(x: int, y: int) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, fill=False, edgecolor="red", linewidth=2.5)


def save(matrix: TransferMatrix, folder: str | Path) -> list[Path]:
    """``transfer.csv``, ``transfer.json``, ``transfer.png`` in ``folder``; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "transfer.csv", folder / "transfer.json", folder / "transfer.png"]
    paths[0].write_text(to_csv(matrix), encoding="utf-8")
    paths[1].write_text(to_json(matrix), encoding="utf-8")
    heatmap(matrix).savefig(paths[2], dpi=150)
    return paths


def transfer_html(matrix: TransferMatrix) -> str:
    """The matrix as an HTML section: the table and the heatmap (embedded PNG)."""
    import base64

    buffer = io.BytesIO()
    heatmap(matrix).savefig(buffer, format="png", dpi=110)
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    head = "".join(f"<th>{html.escape(short(a))}</th>" for a in matrix.archs)
    body = "".join(f"<tr><td>{html.escape(r.proxy)} ({html.escape(r.protocol)})</td>"
                   + "".join(f"<td>{html.escape(cell_text(matrix, r, a))}</td>" for a in matrix.archs) + "</tr>"
                   for r in matrix.rows)
    note = "Test accuracy (%), mean ± std over runs; * the network the proxy was made with."
    if any(published(r, a) is not None for r in matrix.rows for a in matrix.archs):
        note += f" [paper x]: {FTD_TABLE3}."
    return (f"<h2>Across architectures</h2><p class=\"note\">{html.escape(note)}</p>"
            f"<table><thead><tr><th>proxy (protocol)</th>{head}</tr></thead><tbody>{body}</tbody></table>"
            f'<figure><img alt="transfer" src="data:image/png;base64,{png}"></figure>')
