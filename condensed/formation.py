"""IDC's multi-formation: one stored image holds ``factor x factor`` tiles, each a smaller training image.

Decoding cuts a stored image into its tiles and upsamples each (bilinear) back to the full size, so
``n`` stored images give ``n * factor**2`` training images. Encoding is the way in: real images shrunk
into the tiles (IDC's "mix" initialisation). Factor 1 is the identity (IDC-I).
Layout as in snu-mllab/Efficient-Dataset-Condensation (``condense.py``: ``decode_zoom``,
``Synthesizer.init('mix')``): tiles row by row; the decoded images of one tile position come together.
When the side is no multiple of the factor the two differ, in the reference as here: the decoder cuts
tiles of ``ceil(side / factor)`` from the image padded with grey, the initialisation fills tiles of
``side // factor`` pixels, one more for the first ``side % factor`` of them (28 by 3: 10, 9, 9).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

PAD_VALUE = 0.5  # grey, in pixel space [0, 1]: fills the border when the size is not a multiple of factor


def tile_size(size: int, factor: int) -> int:
    return math.ceil(size / factor)


def decode(images: Tensor, factor: int) -> Tensor:
    """``n`` stored images (pixel space) -> ``n * factor**2`` training images, tile position major.

    Output ``k * n + i`` is tile ``k = row * factor + col`` of stored image ``i``.
    """
    if factor == 1:
        return images
    height, width = images.shape[-2:]
    th, tw = tile_size(height, factor), tile_size(width, factor)
    padded = F.pad(images, (0, tw * factor - width, 0, th * factor - height), value=PAD_VALUE)
    tiles = [padded[:, :, r * th:(r + 1) * th, c * tw:(c + 1) * tw]
             for r in range(factor) for c in range(factor)]
    return F.interpolate(torch.cat(tiles), size=(height, width), mode="bilinear", align_corners=False)


def decode_labels(labels: Tensor, factor: int) -> Tensor:
    """The labels of :func:`decode`'s output."""
    return labels.repeat(factor * factor)


def decode_by_class(images: Tensor, labels: Tensor, factor: int) -> tuple[Tensor, Tensor]:
    """Decode a whole set and order it by class (stable: tile position major within a class)."""
    decoded, decoded_labels = decode(images, factor), decode_labels(labels, factor)
    order = torch.sort(decoded_labels, stable=True).indices
    return decoded[order], decoded_labels[order]


def encode(images: Tensor, factor: int) -> Tensor:
    """``n * factor**2`` images (pixel space) -> ``n`` stored images; image ``k * n + i`` fills tile ``k``
    of stored image ``i``. Tiles are shrunk with nearest-neighbour sampling, as the reference does, to
    the reference's tile sizes (:func:`init_tiles`).
    """
    if factor == 1:
        return images.clone()
    count, channels, height, width = images.shape
    n = count // (factor * factor)
    if n * factor * factor != count:
        raise ValueError(f"{count} images do not fill {factor}x{factor} tiles")
    rows, cols = init_tiles(height, factor), init_tiles(width, factor)
    out = torch.empty((n, channels, height, width), dtype=images.dtype, device=images.device)
    for k in range(factor * factor):
        (top, h), (left, w) = rows[k // factor], cols[k % factor]
        out[:, :, top:top + h, left:left + w] = F.interpolate(images[k * n:(k + 1) * n], size=(h, w),
                                                              mode="nearest")
    return out


def init_tiles(size: int, factor: int) -> list[tuple[int, int]]:
    """(start, length) of the ``factor`` tiles along a side, as ``Synthesizer.init('mix')`` lays them out:
    ``size // factor`` pixels each, one more for the first ``size % factor`` tiles."""
    base, extra = divmod(size, factor)
    tiles, start = [], 0
    for i in range(factor):
        length = base + 1 if i < extra else base
        tiles.append((start, length))
        start += length
    return tiles
