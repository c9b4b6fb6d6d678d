"""Expert epoch files: the engine's per-epoch snapshots (:mod:`proxynas.engine.snapshots`) of expert
stacks, kept as ``seed{S}/epoch{E:03d}.safetensors`` in an expert set (:mod:`condensed.experts`).

A file holds one expert's state after epoch ``E`` (0: the initialisation): ``param.{name}`` (what MTT and
FTD read, in the network's parameter names), ``buffer.{name}``, ``optim.{key}.{name}`` (the optimizer's
tensors, such as SGD's momentum) and ``rng.{order,augment,mix}`` (the expert's random generators), with
the set's card, the seed, the epoch and the epoch's mean training loss as metadata. Nothing else (no
time, no host), and the metadata in sorted order (safetensors writes it in a random order, from a hash
map: :func:`canonical`), so an expert's files are a function of its set and seed alone: a resumed run,
or another executor, writes the same bytes as an uninterrupted one. Each file is written atomically
(``proxynas.atomic``) as its epoch ends; safetensors loading never runs code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safetensors.torch import load_file, save
from torch import Tensor

from proxynas.atomic import atomic_write_bytes
from proxynas.engine.snapshots import LiveState

if TYPE_CHECKING:
    from condensed.experts import ExpertSet
    from proxynas.engine.run import Job


@dataclass(frozen=True)
class ExpertSnapshots:
    """The engine's ``Snapshots`` of an expert set: a job's seed is the expert's (it pickles: Ray workers
    write the files themselves, into the same home)."""

    experts: ExpertSet

    def restore(self, jobs: list[Job], state: LiveState) -> int:
        done = [self.experts.epochs_done(job.seed) for job in jobs]
        if len(set(done)) != 1:
            raise ValueError(f"experts {[job.seed for job in jobs]} stand at epochs {done}: plan them apart")
        if done[0] < 0:
            self.save(jobs, 0, None, state)
            return 0
        for g, job in enumerate(jobs):
            state.load_model(g, load_file(str(self.experts.epoch_path(job.seed, done[0]))))
        return done[0]

    def save(self, jobs: list[Job], epoch: int, losses: Tensor | None, state: LiveState) -> None:
        card = json.dumps(self.experts.card, sort_keys=True)
        values = [float("nan")] * len(jobs) if losses is None else losses.tolist()
        for g, job in enumerate(jobs):
            path = self.experts.epoch_path(job.seed, epoch)
            path.parent.mkdir(parents=True, exist_ok=True)
            meta = {"card": card, "seed": str(job.seed), "epoch": str(epoch), "train_loss": repr(values[g])}
            atomic_write_bytes(path, canonical(save(state.model_tensors(g), metadata=meta)),
                               what="the expert epoch file")


def canonical(blob: bytes) -> bytes:
    """A safetensors file with its metadata's keys sorted; the tensors' entries and bytes as they were (the
    header is 8-byte length, JSON padded with spaces to a multiple of 8, then the data)."""
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + size])
    if "__metadata__" in header:
        header = {"__metadata__": dict(sorted(header.pop("__metadata__").items()))} | header
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + blob[8 + size:]
