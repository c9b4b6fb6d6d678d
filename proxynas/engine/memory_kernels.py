"""What a CPU convolution kernel allocates for itself, for the memory model (``engine.memory``) to add.

oneDNN's convolutions keep their scratch space outside torch's allocator (neither the trace nor the
profiler sees it). Where oneDNN has no bf16 convolutions (below AVX-512, or ``ONEDNN_MAX_CPU_ISA=AVX2``),
ATen runs bf16 convolutions on its im2col kernel (``thnn_conv2d``), whose column buffers come from torch's
allocator: twice the bf16 prediction for a batch-normed d2_w128 stack before they were modelled.
"""

from __future__ import annotations

from typing import Any

import torch

aten = torch.ops.aten


def im2col_bf16_convolutions() -> bool:
    """Whether this process's bf16 convolutions on the CPU run ATen's im2col kernel (``thnn_conv2d``):
    oneDNN is off or cannot run bf16 on this CPU's instruction set (``ONEDNN_MAX_CPU_ISA`` counts), as
    ATen's own choice of convolution backend (``use_mkldnn``) decides it."""
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return True
    try:
        return not torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):  # a build without the query: assume the kernel that needs more
        return True


def im2col_scratch(func: Any, args: Any, out: Any) -> int:
    """Bytes ATen's im2col convolution (``thnn_conv2d``, see :func:`im2col_bf16_convolutions`) allocates
    from torch's allocator for a bf16 convolution beyond its outputs, at the peak inside the call: the
    column buffer ``(batch, in/groups x kh x kw, out_h x out_w)`` (none for a 1x1 convolution without
    stride or padding), in the backward pass that buffer again (for the weights' gradient) or the bias
    gradient's fp32 copy of the output's gradient, whichever is larger. Groups run one at a time on
    contiguous copies of their slices, then are concatenated (``at::native::_convolution``). Measured
    against the profiler on single convolutions of one to four groups: equal to the byte without a bias,
    within 0.1% with one (``tests/test_memory_model.py``)."""
    if func is aten.convolution.default:
        x, weight, bias, stride, padding, dilation, transposed, _, groups = args[:9]
        grad_output, mask = out, (False, False, False)
    elif func is aten.convolution_backward.default:
        grad_output, x, weight, bias, stride, padding, dilation, transposed, _, groups, mask = args[:11]
    else:
        return 0
    if x.dtype != torch.bfloat16 or x.dim() != 4 or transposed or any(d != 1 for d in dilation):
        return 0
    size = x.element_size()
    kh, kw = weight.shape[-2:]
    direct = (kh, kw) == (1, 1) and all(s == 1 for s in stride) and all(p == 0 for p in padding)
    columns = 0 if direct else x.shape[0] * (x.shape[1] // groups) * kh * kw * grad_output[0].numel() // \
        grad_output.shape[1] * size
    if func is aten.convolution.default:  # out: the output
        return columns if groups == 1 else max(x.nbytes // groups + columns, out.nbytes)
    inner = max(columns if mask[1] else 0, 2 * grad_output.nbytes // groups if bias is not None and mask[2] else 0)
    if groups == 1:
        return inner
    grads = (x.nbytes if mask[0] else 0) + (weight.nbytes if mask[1] else 0)
    return max((grad_output.nbytes + x.nbytes) // groups + inner, grads)
