"""A proxy as a picture: one row per class, its first images left to right, written as a PNG."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from proxynas.atomic import atomic_write
from proxynas.datasets.base import TensorSet

GAP = 1  # pixels of white between images


def pixel_images(data: TensorSet, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Normalized images back to [0, 1] with the dataset's mean and std, N x H x W x C on the CPU."""
    images = data.images.detach().float().cpu()
    images = images * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    return images.clamp(0, 1).permute(0, 2, 3, 1)


def mosaic(data: TensorSet, mean: tuple[float, ...], std: tuple[float, ...], per_class: int) -> np.ndarray:
    """One (rows * H) x (columns * W) x C array: row c holds the first ``per_class`` images of class c."""
    images = pixel_images(data, mean, std)
    _, h, w, c = images.shape
    labels = data.labels.cpu()
    columns = max(1, min(per_class, int(torch.bincount(labels, minlength=data.num_classes).max())))
    canvas = np.ones((data.num_classes * (h + GAP) - GAP, columns * (w + GAP) - GAP, c), dtype=np.float32)
    for label in range(data.num_classes):
        index = torch.nonzero(labels == label).flatten()[:columns]
        for j, i in enumerate(index.tolist()):
            top, left = label * (h + GAP), j * (w + GAP)
            canvas[top:top + h, left:left + w] = images[i].numpy()
    return canvas


def write_grid(data: TensorSet, path: Path, *, mean: tuple[float, ...], std: tuple[float, ...],
               classes: tuple[str, ...] | None = None, per_class: int = 10, title: str | None = None) -> Path:
    """Write the images of ``data`` (normalized with ``mean``/``std``) as a PNG grid at ``path``."""
    canvas = mosaic(data, mean, std, per_class)
    height, width = canvas.shape[:2]
    scale = max(1.0, 400 / max(height, width))  # small images (8x8 digits) drawn larger
    figure = Figure(figsize=(max(3.5, width * scale / 100 + 1.2), max(2.0, height * scale / 100 + 0.6)),
                    dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    shown: Any = canvas[:, :, 0] if canvas.shape[2] == 1 else canvas
    axes.imshow(shown, cmap="gray" if canvas.shape[2] == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    h = (height + GAP) / data.num_classes
    axes.set_yticks([h * k + (h - GAP) / 2 for k in range(data.num_classes)])
    axes.set_yticklabels(classes if classes and len(classes) == data.num_classes else range(data.num_classes),
                         fontsize=7)
    axes.set_xticks([])
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, partial(figure.savefig, format="png"), what="the image grid")
    return path
