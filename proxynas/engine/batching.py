"""How many models the engine trains at once on a device."""

from __future__ import annotations

import torch


def default_stack_size(device: torch.device) -> int:
    """Models per stack when the user does not say (``--stack``)."""
    return 1
