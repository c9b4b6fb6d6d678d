"""The saved state of a long-running method, so that a killed run resumes where it stopped.

A checkpoint is a dict of tensors and plain values written with ``torch.save`` and put in place by
``proxynas.atomic`` (a kill or a full disk never leaves half a file; a full disk is a one-line error),
and read back with ``weights_only=True`` (loading never runs code). Its ``key`` names the run it
belongs to; a checkpoint of another run is ignored.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from proxynas.atomic import atomic_write_bytes, io_error
from proxynas.errors import ProxynasError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (it must hold a ``key``) atomically to ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise io_error(err, path, "the checkpoint") from None
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getbuffer(), what="the checkpoint")


def load_checkpoint(path: Path | None, key: str, device: torch.device | str = "cpu") -> dict[str, Any] | None:
    """The state saved at ``path`` for the run ``key``; None when there is none or it is another run's."""
    if path is None or not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise ProxynasError(f"checkpoint {path} cannot be read ({type(err).__name__})",
                            "delete it to start the run from the beginning") from None
    if not isinstance(state, dict) or state.get("key") != key:
        return None
    return state
