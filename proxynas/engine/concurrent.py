"""Stacks of different shapes side by side: worker threads, each on its own CUDA stream.

A stack of small models cannot fill a GPU alone, and stacks of different shapes cannot be fused. With
``workers`` threads, while one thread is busy in Python (building a stack, launching kernels) the
kernels of the others keep the GPU busy; on a stream of its own, each thread's kernels may also run
concurrently with theirs. Threads (not processes) share the data already on the device and one CUDA
context. Results come back in the order of the items, whatever order they finish in.

On the CPU the same threads share the cores: each worker gets ``threads // workers`` intra-op threads
(torch's setting is lowered while the workers run and restored after). Independent stacks on their
own cores never wait on each other, where one stack's small ops split over two threads wait at every
op -- and wait far longer when another process holds a core.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


def own_stream(device: torch.device) -> contextlib.AbstractContextManager:
    """On CUDA: make a new stream current (after the work already queued on the default stream)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.default_stream(device))
    return torch.cuda.stream(stream)


def side_by_side(work: Callable[[Item], list[Result]], items: Sequence[Item], workers: int,
                 device: torch.device) -> Iterator[Result]:
    """``work(item)`` for every item, ``workers`` at a time; yields the results in item order.

    Closing the iterator early (an error, Ctrl-C) cancels the items not started and waits for the rest.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield from work(item)
        return

    def on_stream(item: Item) -> list[Result]:
        with own_stream(device):
            return work(item)

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // workers))  # threads started from now on take this setting
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="proxynas-stack") as pool:
            futures = [pool.submit(on_stream, item) for item in items]
            try:
                for future in futures:
                    yield from future.result()
            finally:
                for future in futures:
                    future.cancel()
    finally:
        torch.set_num_threads(threads)


def serialized(hook: Callable[..., None] | None) -> Callable[..., None] | None:
    """``hook`` made safe to call from several worker threads (one call at a time)."""
    if hook is None:
        return None
    lock = threading.Lock()

    def call(*args: object) -> None:
        with lock:
            hook(*args)

    return call
