"""Stack checkpoints: nothing trained is thrown away.

A stack in training saves, at the end of every ``every_epochs``-th epoch or once ``every_minutes``
have passed since its last save (:class:`CheckpointSettings`), everything its next epoch depends on
(:class:`TrainState`): the models' tensors (parameters and buffers such as batch-norm statistics), the
optimizer's state by parameter name, each model's random generators (batch order, augmentation draws,
CutMix: the per-model CPU generators of ``engine.fit``), the global torch CPU/CUDA generators, the
last epoch's losses and failures and the device-seconds spent so far. The file goes through
:func:`proxynas.atomic.atomic_write`, so a reader sees a whole checkpoint or the one before.

**Keyed by content, found by whoever trains the stack next.** A checkpoint's file name is a hash of
the stack's content (:meth:`Checkpoints.content`: space, candidates, seeds, training set fingerprint,
protocol key, numeric regime), under ``$PROXYNAS_HOME/checkpoints``. Any process that trains the same
stack (a rerun after a kill or a preemption, a Ray retry of a dead task or actor) finds and resumes it
with no bookkeeping: build a :class:`Checkpoints` for the task (``runs.train_into_store`` does, from
``ExecutorOptions.checkpoint``) and put it on ``TrainingTask.checkpoints``; ``StackTrainer`` does the
rest. The file also holds a fingerprint of the code that wrote it (proxynas and torch versions,
device kind, accelerator settings) and its tensors' names and shapes: a checkpoint that does not
match the stack about to train is ignored with a log line, never mixed in.

**Out-of-memory splits.** When a stack of plain models (a ``ListStack``, also inside a wrapper) runs
out of memory, each half takes its models' slices of the parent's last checkpoint
(:meth:`TrainState.slice`) and continues from that epoch. A fused stack (grouped convolutions,
``search_spaces.dc_convnet_stack``/``nb201_stack``: one parameter holds many models) cannot be sliced
generically: its halves start from epoch 0 (or from their own checkpoints), saying so.

**Removed when stored.** Each outcome carries its stack's checkpoint (:attr:`Outcome.checkpoint`);
the driver removes the file once every outcome of the stack is in the results store
(:class:`Cleanup`). A stack stopped, killed or failed keeps its file for the next run.

The invariant holds: the resumed training equals the uninterrupted one bit for bit on the CPU
(``tests/test_checkpoint.py``: a real ``proxynas search`` killed with SIGKILL, an injected OOM split).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import torch
from torch import Tensor, nn

from proxynas.atomic import atomic_write
from proxynas.engine.train_state import TrainState, models_prefix, restore_global_rng, structure_mismatch, unwrapped
from proxynas.errors import ProxynasError
from proxynas.paths import HOME_FIX, home, writable_dir

if TYPE_CHECKING:
    from proxynas.engine.accel import Accel
    from proxynas.engine.cost import StackClock
    from proxynas.engine.run import Job

log = logging.getLogger(__name__)

FORMAT = 1  # the file layout; another is ignored
Generators = dict[str, list[torch.Generator]]  # stream name -> one generator per model (engine.fit)


@dataclass(frozen=True)
class CheckpointSettings:
    """When a stack saves: every ``every_epochs`` epochs and/or every ``every_minutes`` (0 turns one off,
    both 0 turns checkpoints off). ``folder``: where (default ``$PROXYNAS_HOME/checkpoints``)."""

    every_epochs: int = 0
    every_minutes: float = 5.0
    folder: str | None = None

    def __post_init__(self) -> None:
        if self.every_epochs < 0:
            raise ProxynasError(f"--checkpoint-epochs must not be negative, got {self.every_epochs}",
                                "pass 0 (not by epochs) or a number of epochs")
        if not self.every_minutes >= 0:  # NaN too
            raise ProxynasError(f"--checkpoint-minutes must not be negative, got {self.every_minutes}",
                                "pass 0 (not by time) or a number of minutes")

    @property
    def enabled(self) -> bool:
        return self.every_epochs > 0 or self.every_minutes > 0

    def directory(self) -> Path:
        folder = Path(self.folder).expanduser() if self.folder else home() / "checkpoints"
        return writable_dir(folder, "the checkpoint folder", HOME_FIX)


@dataclass(frozen=True)
class Checkpoints:
    """A task's checkpointing: its settings and what names its stacks besides their jobs. It pickles."""

    settings: CheckpointSettings
    space: str
    trainset: str  # the training set's content identity (Plan.identity())
    protocol: str  # Protocol.key()
    regime: str  # the numeric regime of the rows (fp32, tf32, bf16)

    def content(self, jobs: Sequence[Job]) -> dict[str, Any]:
        """What a stack is: two stacks with equal content train to equal models."""
        return {"space": self.space, "candidates": [job.candidate.id for job in jobs],
                "seeds": [int(job.seed) for job in jobs], "trainset": self.trainset,
                "protocol": self.protocol, "regime": self.regime}

    def path(self, jobs: Sequence[Job]) -> Path:
        blob = json.dumps(self.content(jobs), sort_keys=True).encode()
        return self.settings.directory() / f"{hashlib.sha256(blob).hexdigest()[:32]}.pt"

    def replan(self, stacks: Sequence[list[Job]]) -> list[list[Job]]:
        """``stacks`` with the jobs of this task's saved checkpoints grouped as they were saved, first.

        A rerun may plan other stacks than the run that saved (stacks sized by the free memory of the
        moment): a saved stack whose jobs are all still to train is kept whole, so it resumes."""
        todo = {(job.candidate.id, job.seed): job for stack in stacks for job in stack}
        saved: list[list[Job]] = []
        folder = self.settings.directory()
        for card in newest_first(folder.glob("*.json")):  # after a split: the halves' before their parent's
            try:
                content = json.loads(card.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(content, dict):
                continue
            keys = list(zip(content.get("candidates", []), content.get("seeds", []), strict=False))
            mine = all(content.get(k) == v for k, v in self.content([]).items() if k not in ("candidates", "seeds"))
            if mine and keys and all(key in todo for key in keys):
                saved.append([todo.pop(key) for key in keys])
        if not saved:
            return list(stacks)
        log.info("%d stack(s) planned as their checkpoints were saved, to resume them", len(saved))
        rest = [[job for job in stack if (job.candidate.id, job.seed) in todo] for stack in stacks]
        return saved + [stack for stack in rest if stack]

    def stack(self, jobs: Sequence[Job], device: torch.device, accel: Accel, clock: StackClock | None = None,
              inherited: TrainState | None = None) -> StackCheckpoint:
        """The checkpointing of one training of ``jobs`` (what ``engine.fit`` talks to)."""
        return StackCheckpoint(self, list(jobs), device, accel, clock, inherited)


def newest_first(cards: Iterable[Path]) -> list[Path]:
    """The cards whose checkpoint exists, the most recently saved first."""
    found = []
    for card in cards:
        with contextlib.suppress(OSError):
            found.append((card.with_suffix(".pt").stat().st_mtime_ns, card.name, card))
    return [card for *_, card in sorted(found, key=lambda item: (-item[0], item[1]))]


def code_fingerprint(device: torch.device, accel: Accel) -> dict[str, Any]:
    """What besides the content changes the bits of a training: a checkpoint written otherwise is ignored."""
    from proxynas import __version__

    return {"proxynas": __version__, "torch": torch.__version__, "device": device.type,
            "bf16": accel.bf16, "channels_last": accel.channels_last, "fused_sgd": accel.fused_sgd,
            "compile": accel.compile}


@dataclass
class StackCheckpoint:
    """One stack's checkpointing in one training: :meth:`resume` before the first epoch, :meth:`after_epoch`
    after each. ``inherited``: the parent's slice after an out-of-memory split."""

    checkpoints: Checkpoints
    jobs: list[Job]
    device: torch.device
    accel: Accel
    clock: StackClock | None = None
    inherited: TrainState | None = None
    seconds_before: float = field(default=0.0, init=False)  # device-seconds of earlier trainings resumed
    _saved_at: float = field(default_factory=time.monotonic, init=False)

    @property
    def path(self) -> Path:
        return self.checkpoints.path(self.jobs)

    def latest(self) -> TrainState | None:
        """The furthest of this stack's own file and the inherited state (or None)."""
        own = self.load()
        if own is None or (self.inherited is not None and self.inherited.epoch > own.epoch):
            return self.inherited
        return own

    def load(self) -> TrainState | None:
        """This stack's own checkpoint, if there is one written by this code for this content."""
        path = self.path
        if not path.exists():
            return None
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged or foreign file: ignored, never fatal
            log.warning("checkpoint %s cannot be read (%s); training from the start", path.name,
                        " ".join(str(err).split())[:200])
            return None
        expected = {"format": FORMAT, "content": self.checkpoints.content(self.jobs),
                    "code": code_fingerprint(self.device, self.accel)}
        found = {k: (json.loads(blob[k]) if k != "format" else blob.get(k))
                 for k in expected if isinstance(blob, dict) and k in blob}
        if found != expected:
            differs = sorted(k for k in expected if found.get(k) != expected[k]) or ["format"]
            log.warning("checkpoint %s was written by another %s (%s); ignored", path.name,
                        " and ".join(differs), describe_difference(found, expected))
            return None
        try:
            return TrainState(**blob["state"])
        except (KeyError, TypeError) as err:
            log.warning("checkpoint %s is incomplete (%s); ignored", path.name, err)
            return None

    def resume(self, stack: nn.Module, optimizer: torch.optim.Optimizer,
               generators: Generators) -> tuple[int, Tensor, Tensor] | None:
        """Load the latest state into ``stack``, ``optimizer`` and ``generators``: (epochs done, last
        losses, failures), on the stack's device; None when there is nothing to resume."""
        state = self.latest()
        if state is None:
            return None
        stack = unwrapped(stack)
        mismatch = structure_mismatch(stack, state)
        if mismatch:
            log.warning("checkpoint of %s does not fit the stack built (%s); training from the start",
                        names(self.jobs), mismatch)
            return None
        stack.load_state_dict(state.model)
        params = dict(stack.named_parameters())
        optimizer.state.clear()
        for name, values in state.optimizer.items():
            param = params[name]
            optimizer.state[param] = {k: torch.empty_like(param).copy_(v) if isinstance(v, Tensor) else v
                                      for k, v in values.items()}
        for stream, gens in generators.items():
            for gen, saved in zip(gens, state.generators[stream], strict=True):
                gen.set_state(saved)
        restore_global_rng(state.global_rng, self.device)
        self.seconds_before = state.seconds
        log.warning("resuming %s from epoch %d (checkpoint %s)", names(self.jobs), state.epoch,
                 "inherited from the stack that ran out of memory" if state is self.inherited else self.path.name)
        return state.epoch, state.epoch_loss.to(self.device), state.failed_epoch.to(self.device)

    def due(self, epochs_done: int) -> bool:
        settings = self.checkpoints.settings
        if settings.every_epochs and epochs_done % settings.every_epochs == 0:
            return True
        return bool(settings.every_minutes) and time.monotonic() - self._saved_at >= 60 * settings.every_minutes

    def after_epoch(self, epoch: int, stack: nn.Module, optimizer: torch.optim.Optimizer, generators: Generators,
                    epoch_loss: Tensor, failed_epoch: Tensor) -> None:
        """Save after epoch ``epoch`` (from 0) when due."""
        if self.due(epoch + 1):
            self.save(self.state(epoch + 1, stack, optimizer, generators, epoch_loss, failed_epoch))

    def state(self, epochs_done: int, stack: nn.Module, optimizer: torch.optim.Optimizer, generators: Generators,
              epoch_loss: Tensor, failed_epoch: Tensor) -> TrainState:
        stack = unwrapped(stack)
        by_param = {param: name for name, param in stack.named_parameters()}
        opt = {by_param[p]: {k: v.detach().cpu().clone() if isinstance(v, Tensor) else v for k, v in s.items()}
               for p, s in optimizer.state.items() if p in by_param}
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        seconds = self.seconds_before + (self.clock.stop()[0] if self.clock is not None else 0.0)
        return TrainState(epochs_done, {k: v.detach().cpu().clone() for k, v in stack.state_dict().items()}, opt,
                          {k: [g.get_state() for g in gens] for k, gens in generators.items()},
                          epoch_loss.detach().cpu().clone(), failed_epoch.detach().cpu().clone(), seconds, rng,
                          models_prefix(stack))

    def save(self, state: TrainState) -> None:
        blob = {"format": FORMAT, "content": json.dumps(self.checkpoints.content(self.jobs)),
                "code": json.dumps(code_fingerprint(self.device, self.accel)), "state": vars(state)}
        path = self.path
        try:
            if not path.with_suffix(".json").exists():  # its content, read by Checkpoints.replan
                atomic_write(path.with_suffix(".json"), lambda f: f.write(blob["content"].encode()),
                             what="the stack checkpoint's card")
            atomic_write(path, lambda f: save_to(blob, f), what="the stack checkpoint")
        except ProxynasError as err:  # a checkpoint is insurance: the training goes on without it
            log.warning("%s; %s trains on, saving again when next due", err, names(self.jobs))
        self._saved_at = time.monotonic()
        log.debug("checkpoint of %s after epoch %d", names(self.jobs), state.epoch)

    def remove(self) -> None:
        remove(self.path)


def save_to(blob: dict[str, Any], f: BinaryIO) -> None:
    """``torch.save`` into ``f``, a failed write raised as its OSError (torch's zip writer raises a
    RuntimeError of its own when closing after one, which would hide the disk's reason)."""
    try:
        torch.save(blob, f)
    except RuntimeError as err:
        if isinstance(err.__context__, OSError):
            raise err.__context__ from None
        raise


def remove(path: Path | str) -> None:
    """Remove a checkpoint file, its card and what a killed writer left of them (``atomic_write``'s
    hidden temporaries); one already gone is fine."""
    path = Path(path)
    for name in (path, path.with_suffix(".json")):
        for leftover in (name, *path.parent.glob(f".{name.name}.*.tmp")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def describe_difference(found: dict[str, Any], expected: dict[str, Any]) -> str:
    parts = []
    for key in ("content", "code"):
        a, b = found.get(key) or {}, expected[key]
        if isinstance(a, dict) and a != b:
            parts += [f"{k} {a.get(k)!r} in the file, {b.get(k)!r} here"
                      for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return "; ".join(parts)[:300] or "format"


def names(jobs: Sequence[Job]) -> str:
    ids = [job.candidate.id for job in jobs]
    return ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


@dataclass
class Cleanup:
    """The driver's side: remove a stack's checkpoint once all its outcomes are stored."""

    stored: dict[str, int] = field(default_factory=dict)

    def outcome_stored(self, checkpoint: tuple[str, int] | None) -> None:
        if checkpoint is None:
            return
        path, size = checkpoint
        self.stored[path] = self.stored.get(path, 0) + 1
        if self.stored[path] >= size:
            remove(path)
            del self.stored[path]


__all__ = ["CheckpointSettings", "Checkpoints", "Cleanup", "StackCheckpoint", "TrainState", "models_prefix", "remove"]
