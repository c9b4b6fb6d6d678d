"""2x2 average pooling that gives torch's exact result faster on contiguous (NCHW) CPU tensors.

torch's CPU ``avg_pool2d`` walks NCHW tensors window by window; on the 2-core development CPU its
forward and backward take a large share of a pooled dc_convnet candidate's step when the candidate
trains in the contiguous layout (``benchmarks/profile_cpu.py``). Four strided views added in the
kernel's own order, ``((x00 + x01) + x10) + x11``, divided by 4, are the same floats (bit for bit,
``tests/test_search_space.py``), in a few whole-tensor passes; the gradient is the output's gradient
divided by 4, spread over each window, as torch's backward computes it. Other layouts (channels_last,
whose torch kernel is already vectorised over channels) and devices use ``avg_pool2d`` itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _Quarters(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        return (x[..., 0::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 4

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        n, c, h, w = grad.shape
        return (grad / 4)[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


class AvgPool2x2(nn.AvgPool2d):
    """``nn.AvgPool2d(2, 2)`` (same module type, same results), faster on contiguous CPU tensors."""

    def __init__(self) -> None:
        super().__init__(2, 2)

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or not x.is_contiguous():  # channels_last is not
            return F.avg_pool2d(x, 2, 2)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # floor mode: an odd last row or column is left out
        return _Quarters.apply(x[..., :h, :w])
