"""Keep freed CPU memory for reuse instead of returning it to the kernel after every tensor (glibc).

glibc's malloc serves any block of 32 MiB or more (and smaller ones past its dynamic threshold) with a
fresh ``mmap`` and gives it back with ``munmap`` when it is freed. A training step of a dc_convnet
candidate at batch 256 allocates dozens of such blocks (one 64-channel 32x32 activation is 64 MiB),
so every step page-faults and zeroes gigabytes afresh: measured on the 2-core CPU
(``benchmarks/profile_cpu.py``), 525,000 page faults and 1.5 s of kernel time per step of
``d3_w64_leakyrelu_batchnorm_none`` (2.3 s of compute), nearly none once freed memory is kept.

:func:`keep_freed_memory` tells glibc (``mallopt``) to serve every block from its main heap (one arena,
no ``mmap``) and never to trim the heap, so a freed activation's pages are reused by the next step's.
This is what jemalloc or tcmalloc under ``LD_PRELOAD`` give, without a preload. It changes no
computed value (it is only where tensors live). The cost: the process keeps its peak heap until it
exits. The setting is the process's, not the caller's: call it where the process is known to be a
training one (the CLI, the engine on the CPU). Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
NEVER_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse (see the module); True when it took effect."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        done = (libc.mallopt(M_ARENA_MAX, 1), libc.mallopt(M_MMAP_MAX, 0), libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
    except (OSError, AttributeError):
        return False
    if not all(done):
        log.debug("mallopt refused a setting: %s", done)
    return all(done)
