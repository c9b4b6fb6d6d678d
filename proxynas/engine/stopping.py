"""Stopping a training run on request (Ctrl-C, SIGTERM) without losing anything finished.

A :class:`StopRequest` has two levels:

- **finish**: start no more stacks; the stacks training now run to their end and their outcomes are
  stored (on Ray: no more tasks are submitted, the running ones are waited for);
- **now**: every stack stops at its next training step (:class:`Halted`, raised by ``check`` inside the
  training loop; on Ray: the running tasks are cancelled); what is unfinished is discarded, what has
  finished is already stored.

:func:`on_signals` maps them to signals: the first SIGINT or SIGTERM asks ``finish``, the second
``now``, a third raises ``KeyboardInterrupt``. The pipeline (``runs.train_into_store``) raises
:class:`Interrupted` once the executor has returned every finished outcome and they are stored.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

NAMED = 6  # candidates named in a message, at most


class Halted(Exception):
    """Raised inside a stack's training loop when a stop ``now`` was asked: its outcomes are discarded."""


class Interrupted(Exception):
    """The run stopped on request; every outcome finished before the stop is stored."""

    def __init__(self, signal_name: str, stored: int, unfinished: int) -> None:
        self.signal_name, self.stored, self.unfinished = signal_name, stored, unfinished
        super().__init__(f"stopped by {signal_name}: {stored} result(s) of this run stored, {unfinished} not "
                         "trained (rerun the same command to train only those)")

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the signal: 128 + its number."""
        number = getattr(signal, self.signal_name, None) if self.signal_name.startswith("SIG") else None
        return 128 + int(number) if number is not None else 130


class StopRequest:
    """Shared by the caller (who asks) and the executor and training loops (who honour it)."""

    def __init__(self, notify: Callable[[str], None] | None = None) -> None:
        self.notify = notify or log.warning
        self.finishing = threading.Event()  # start nothing new
        self.now = threading.Event()  # stop at the next training step
        self.reason = "a stop request"  # the signal's name, once one came
        self._running: dict[int, Sequence[str]] = {}  # id of a stack in training: its candidates
        self._lock = threading.Lock()

    @property
    def asked(self) -> bool:
        return self.finishing.is_set()

    def finish(self, reason: str = "a stop request") -> None:
        self.reason = reason
        self.finishing.set()
        names = self.running_names()
        self.notify(f"{reason}: finishing the {len(self._running)} stack(s) training now and storing them "
                    f"({describe(names)}), starting no more; {reason} again stops at once and discards them")

    def stop_now(self, reason: str = "a stop request") -> None:
        self.reason = reason
        self.finishing.set()
        self.now.set()
        self.notify(f"{reason} again: stopping now; discarding the unfinished stack(s) "
                    f"({describe(self.running_names())}); every finished result is stored")

    def check(self) -> None:
        """Called by the training loop between steps: raises :class:`Halted` once a stop ``now`` was asked."""
        if self.now.is_set():
            raise Halted

    def running_names(self) -> list[str]:
        with self._lock:
            return [name for names in self._running.values() for name in names]

    def started(self, key: int, names: Sequence[str]) -> None:
        """The stack ``key`` (of candidates ``names``) is training (the messages name them)."""
        with self._lock:
            self._running[key] = names

    def ended(self, key: int) -> None:
        with self._lock:
            self._running.pop(key, None)

    @contextlib.contextmanager
    def running(self, names: Sequence[str]) -> Iterator[bool]:
        """Around one stack's training: yields False (train nothing) once a stop was asked, else True
        with ``names`` counted as training until the block ends."""
        if self.asked:
            yield False
            return
        self.started(id(names), names)
        try:
            yield True
        finally:
            self.ended(id(names))


def describe(names: Sequence[str]) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
    return ", ".join(names[:NAMED]) + more


def stoppable(work: Callable[[Item], list[Result]], stop: StopRequest | None,
              names: Callable[[Item], Sequence[str]]) -> Callable[[Item], list[Result]]:
    """``work`` that returns no results for an item started after a stop was asked, or halted by one."""
    if stop is None:
        return work

    def run(item: Item) -> list[Result]:
        with stop.running(names(item)) as go:
            if not go:
                return []
            try:
                return work(item)
            except Halted:
                return []

    return run


@contextlib.contextmanager
def on_signals(stop: StopRequest, signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[StopRequest]:
    """While the block runs, the first of ``signals`` asks ``stop`` to finish, the second to stop now, a
    third raises KeyboardInterrupt. Only the main thread can handle signals: elsewhere this does nothing;
    a signal this process ignores is left ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    count = {"signals": 0}

    def handle(number: int, frame: FrameType | None) -> None:
        count["signals"] += 1
        name = signal.Signals(number).name
        if count["signals"] == 1:
            stop.finish(name)
        elif count["signals"] == 2:
            stop.stop_now(name)
        else:
            raise KeyboardInterrupt

    # a signal ignored by whoever started this process (``nohup``, a shell's background job) stays ignored
    before = {number: signal.signal(number, handle) for number in signals
              if signal.getsignal(number) is not signal.SIG_IGN}
    try:
        yield stop
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
