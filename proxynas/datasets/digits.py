"""The 8x8 digits embedded in proxynas (scikit-learn's copy of UCI optdigits): no download, no test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from proxynas.datasets.files import reading
from proxynas.datasets.registry import DIGIT_CLASSES, DatasetInfo, RawData, register_dataset

DIGITS_FILE = Path(__file__).with_name("data") / "digits.csv.gz"
NUM_DIGITS = 1797
# Pixels / 16 over all 1797 images: mean 0.30526, std 0.37605.
DIGITS_MEAN, DIGITS_STD = (0.3053,), (0.3760,)


@register_dataset(DatasetInfo("digits", (1, 8, 8), 10, DIGIT_CLASSES, DIGITS_MEAN, DIGITS_STD, flip_ok=False))
def read_digits(root: Path) -> RawData:
    """1797 rows of 64 pixel values in 0..16 then the label. ``root`` is not used."""
    with reading("digits", root, DIGITS_FILE, [DIGITS_FILE]):
        table = np.loadtxt(DIGITS_FILE, delimiter=",", dtype=np.int64, ndmin=2)
        if table.shape != (NUM_DIGITS, 65) or table.min() < 0 or table[:, :64].max() > 16:
            raise ValueError(f"table {table.shape} with values {table.min()}..{table.max()}, "
                             f"expected {NUM_DIGITS} x 65 in 0..16")
    images = table[:, :64].astype(np.uint8).reshape(-1, 1, 8, 8)
    return RawData(images, table[:, 64], max_value=16.0, source=DIGITS_FILE.parent)
