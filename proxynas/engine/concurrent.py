"""Stacks of different shapes side by side: worker threads, each on a CUDA stream of its own.

A stack of small models cannot fill a GPU alone, and stacks of different shapes cannot be fused. With
``workers`` threads, while one thread is busy in Python (building a stack, launching kernels) the
kernels of the others keep the GPU busy; on a stream of its own, each thread's kernels may also run
concurrently with theirs. Threads (not processes) share the data already on the device and one CUDA
context. Each item's results come back as soon as it finishes (not in the order of the items), so a
caller that commits them loses only the items still running when it is killed.

Each worker thread makes ONE stream, on its first item, and keeps it for its lifetime: the CUDA
caching allocator reuses a freed block only on the stream that allocated it, so a stream per item
would leave every stack's cache useless to the next, and reserved memory would grow until the
allocator flushes with a device-wide sync that stalls the other workers.

On the CPU the same threads share the cores: each worker gets ``threads // workers`` intra-op threads
(torch's setting is lowered while the workers run and restored after). Independent stacks on their
own cores never wait on each other, where one stack's small ops split over two threads wait at every
op -- and wait far longer when another process holds a core.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


class WorkerStreams:
    """One stream per worker thread for the thread's lifetime (on the CPU, where there are no streams,
    the same bookkeeping with ``None`` in place of a stream)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._local = threading.local()
        self._lock = threading.Lock()
        self.made: list[torch.cuda.Stream | None] = []  # every stream made, one per thread that asked

    def stream(self) -> torch.cuda.Stream | None:
        """This thread's stream, made on its first call."""
        if not hasattr(self._local, "stream"):
            self._local.stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
            with self._lock:
                self.made.append(self._local.stream)
        return self._local.stream

    def current(self) -> contextlib.AbstractContextManager:
        """Make this thread's stream current, after what is already queued on the default stream
        (the data placed on the device by the caller)."""
        stream = self.stream()
        if stream is None:
            return contextlib.nullcontext()
        stream.wait_stream(torch.cuda.default_stream(self.device))
        return torch.cuda.stream(stream)


def side_by_side(make_work: Callable[[], Callable[[Item], list[Result]]], items: Sequence[Item], workers: int,
                 device: torch.device, streams: WorkerStreams | None = None) -> Iterator[Result]:
    """``work(item)`` for every item, ``workers`` threads at a time, started in item order; yields
    each item's results when the item finishes.

    Each thread calls ``make_work()`` once and uses what it returns for all its items (a trainer that
    keeps state across stacks, say). Closing the iterator early (an error, Ctrl-C) cancels the items
    not started and waits for the rest.
    """
    if workers <= 1 or len(items) <= 1:
        work = make_work()
        for item in items:
            yield from work(item)
        return
    streams = WorkerStreams(device) if streams is None else streams
    local = threading.local()

    def on_own_stream(item: Item) -> list[Result]:
        if not hasattr(local, "work"):
            local.work = make_work()
        with streams.current():
            return local.work(item)

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // workers))  # threads started from now on take this setting
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="proxynas-stack") as pool:
            futures = [pool.submit(on_own_stream, item) for item in items]
            try:
                for future in as_completed(futures):
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
