"""ZCA whitening as the MTT reference applies it: kornia's ``ZCAWhitening(eps=0.1, compute_inv=True)``
fitted on the whole training split, in torch (no kornia dependency).

MTT (``utils.get_dataset`` with ``--zca``) whitens the raw pixels in [0, 1], not the mean/std-normalized
ones, so a proxynas set (normalized with the dataset's mean and std) is first mapped back to pixels.
kornia's ``zca_mean``: ``cov = Xc^T Xc / (N - 1)`` (unbiased), ``U, S = svd(cov)``,
``T = U diag((S + eps)^-1/2) U^T``, the inverse ``U diag((S + eps)^1/2) U^T``; a batch is whitened as
``(x - mean) @ T``. The fit is computed in float64 (a D x D covariance of N images), stored in float32.

A proxy made on whitened images says so on its card (``zca`` and ``zca_eps`` in its settings); whoever
trains on it whitens the validation and test images with the same transform (:func:`whiten_splits`),
fitted again on the same training split (the card's fingerprint) or read from the home's cache. A set
made by the MTT/FTD references with ``--zca`` and imported (``proxynas proxies import --zca``) is whitened
with a ZCA fitted on the whole training set (training + validation splits), as the references fit theirs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from proxynas.datasets.base import DatasetSplits, TensorSet
from proxynas.errors import ProxynasError

log = logging.getLogger(__name__)

REFERENCE_EPS = 0.1  # MTT utils.get_dataset: K.enhance.ZCAWhitening(eps=0.1, compute_inv=True)
# A card's ``resolved.zca_fit`` for a set made elsewhere (``proxies import --zca``): MTT's get_dataset fits its ZCA
# on the whole training set (``dst_train``), i.e. proxynas's training and validation splits together.
WHOLE_TRAINING_SET = "train+val"


@dataclass(frozen=True)
class ZCA:
    """A fitted whitening of flattened images: ``(x - mean) @ matrix``; ``inverse`` undoes it."""

    mean: Tensor  # (D,)
    matrix: Tensor  # (D, D)
    inverse: Tensor  # (D, D)
    eps: float

    def apply(self, pixels: Tensor) -> Tensor:
        """Whitened images, same shape as ``pixels`` (N, C, H, W)."""
        flat = pixels.flatten(1).to(self.matrix.dtype)
        return ((flat - self.mean) @ self.matrix).view_as(pixels).to(pixels.dtype)

    def invert(self, white: Tensor) -> Tensor:
        """Pixels back from whitened images (kornia's ``inverse_transform``)."""
        flat = white.flatten(1).to(self.inverse.dtype)
        return (flat @ self.inverse + self.mean).view_as(white).to(white.dtype)

    def to(self, device: torch.device | str) -> ZCA:
        return replace(self, mean=self.mean.to(device), matrix=self.matrix.to(device),
                       inverse=self.inverse.to(device))


def fit_zca(pixels: Tensor, eps: float = REFERENCE_EPS, dtype: torch.dtype = torch.float32) -> ZCA:
    """kornia's ZCA fitted on ``pixels`` (N, C, H, W), computed in float64, kept in ``dtype``."""
    if pixels.shape[0] < 2:
        raise ProxynasError(f"ZCA needs at least 2 training images, got {pixels.shape[0]}", "use a larger split")
    if eps <= 0:
        raise ProxynasError(f"ZCA eps must be positive, got {eps}", f"use the reference's {REFERENCE_EPS}")
    x = pixels.flatten(1).double()
    mean = x.mean(0)
    centred = x - mean
    cov = centred.T @ centred / (x.shape[0] - 1)
    u, s, _ = torch.linalg.svd(cov)
    s = s.view(-1, 1)
    matrix = u @ (torch.rsqrt(s + eps) * u.T)
    inverse = u @ (torch.sqrt(s + eps) * u.T)
    return ZCA(mean.to(dtype), matrix.to(dtype), inverse.to(dtype), float(eps))


def to_pixels(images: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Normalized images back to pixels in [0, 1]."""
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return images * s + m


def zca_for(train: TensorSet, info: Any, eps: float = REFERENCE_EPS, cache: Path | None = None) -> ZCA:
    """The ZCA of a normalized training split (``info``: its DatasetInfo), cached under ``cache`` by the
    split's fingerprint and ``eps`` when given."""
    path = None if cache is None else cache / f"{train.fingerprint()}_eps{eps:g}.safetensors"
    if path is not None and path.exists():
        t = load_file(str(path))
        return ZCA(t["mean"], t["matrix"], t["inverse"], eps)
    log.info("fitting ZCA (eps %g) on %d training images", eps, len(train))
    zca = fit_zca(to_pixels(train.images.cpu(), info.mean, info.std), eps)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file({"mean": zca.mean, "matrix": zca.matrix, "inverse": zca.inverse}, str(tmp))
        tmp.replace(path)
    return zca


def whiten(data: TensorSet, info: Any, zca: ZCA) -> TensorSet:
    """A normalized set whitened by ``zca`` (pixels first, as the reference)."""
    z = zca.to(data.device)
    return TensorSet(z.apply(to_pixels(data.images, info.mean, info.std)), data.labels, data.num_classes)


def whiten_like(card: Any, splits: DatasetSplits, cache: Path | None = None) -> DatasetSplits:
    """The splits ZCA-whitened as a proxy's images are (its card's ``resolved.zca``), else as they are.

    The transform is fitted on ``splits.train``, which must be the split the proxy was made from; for an
    imported set (``resolved.zca_fit`` = ``"train+val"``) on the whole training set, as the reference did."""
    resolved = card.settings.get("resolved") or {}
    if not resolved.get("zca"):
        return splits
    if resolved.get("zca_fit") == WHOLE_TRAINING_SET:  # an imported set: the reference fit its ZCA on all of it
        whole = TensorSet(torch.cat([splits.train.images, splits.val.images]),
                          torch.cat([splits.train.labels, splits.val.labels]), splits.train.num_classes)
        zca = zca_for(whole, splits, resolved.get("zca_eps", REFERENCE_EPS), cache)
        return whiten_splits(splits, splits, zca)
    if splits.train.fingerprint() != card.source_fingerprint:
        raise ProxynasError(f"the {splits.name} training split differs from the one this {card.method} proxy was "
                            "made from, so its ZCA whitening cannot be fitted alike",
                            "use the same --data-root, or make the proxy again")
    zca = zca_for(splits.train, splits, resolved.get("zca_eps", REFERENCE_EPS), cache)
    return whiten_splits(splits, splits, zca)


def whiten_splits(splits: DatasetSplits, info: Any, zca: ZCA) -> DatasetSplits:
    """Train, validation and test splits all whitened by ``zca``."""
    return replace(splits, train=whiten(splits.train, info, zca), val=whiten(splits.val, info, zca),
                   test=whiten(splits.test, info, zca))
