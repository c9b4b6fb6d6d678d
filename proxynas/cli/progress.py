"""Progress bars on stderr (hidden when stderr is not a terminal)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: int, desc: str, unit: str = "it") -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=None if sys.stderr.isatty() else True, leave=False)
