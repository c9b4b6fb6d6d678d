"""Expert trajectories for trajectory matching (MTT, FTD): networks trained on the whole training split,
their parameters saved at every epoch.

As the references' buffer scripts train them (GeorgeCazenavette/mtt-distillation ``buffer.py``;
AngusDujw/FTD-distillation ``buffer/buffer_FTD.py`` with ``run_buffer.sh``): the DC ConvNet (or any
candidate), plain SGD with ``lr_teacher`` 0.01, momentum 0, weight decay 0, no decay (``--decay`` off),
batches of 256 in a fresh shuffle each epoch (the last one partial), each batch through DSA (one family
per batch, parameters per image), optionally on ZCA-whitened images (``--zca``); FTD's experts step
with GSAM (rho 0.01, alpha 0.4, adaptive; :mod:`condensed.gsam`). Epoch 0 is the initialisation.

Layout under the home: ``experts/{dataset}/{set}/card.json``, ``seed{S}/epoch{E:03d}.safetensors`` (one
file per expert and epoch, :mod:`condensed.expert_files`) and ``seed{S}/result.json`` (the engine's outcome
of the expert: its test accuracy when a test split was given, final training loss, device-seconds of the
run that finished it). ``{set}`` names the settings and the training split's fingerprint, so experts of
another split or setting never mix.

Experts train through the engine (:func:`train_experts`): each expert is a job (the network, its seed),
trained in stacks by any executor (``serial``, ``local``, ``ray``), with the optimizer as an engine step
(``sgd``; ``gsam`` for FTD, :mod:`proxynas.engine.steps`) and every epoch's state kept by the engine's
snapshots. So an expert is a function of (set, seed) alone, as the engine's invariant has it: its network
and random streams are drawn from its seed, whatever its stack, executor or interruptions; a killed run
resumes every expert at its last finished epoch, bitwise as if never stopped (on the same device).
:func:`expert_epoch` is one epoch of one network as the references write it: the golden comparisons'.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import Tensor, nn

from condensed.expert_files import ExpertSnapshots
from condensed.gsam import gsam_step
from condensed.synthetic import DEFAULT_NET, DEFAULT_SPACE, network_builder
from proxynas.atomic import atomic_write_text
from proxynas.augment import DSA, dsa_for
from proxynas.datasets.base import TensorSet
from proxynas.engine import Accel, EpochEnd, Job, Outcome, Protocol, run_jobs
from proxynas.engine.executors import Executor, ExecutorOptions, make_executor
from proxynas.errors import ProxynasError
from proxynas.spaces.base import PlainStacks
from search_spaces import get_space, resolve_candidate

log = logging.getLogger(__name__)
OPTIMIZERS = ("sgd", "gsam")
FORMAT = 2  # 2: trained through the engine (its random streams); 1 (no field): one at a time, now gone


@dataclass(frozen=True)
class ExpertSettings:
    """How experts train; the defaults are MTT's ``buffer.py``; ``optimizer="gsam"`` gives FTD's."""

    net: str = DEFAULT_NET
    lr: float = 0.01  # --lr_teacher
    momentum: float = 0.0  # --mom
    weight_decay: float = 0.0  # --l2
    batch: int = 256  # --batch_train
    augment: str = "dsa"  # --dsa True
    zca: bool = False  # --zca
    zca_eps: float = 0.1
    optimizer: str = "sgd"  # "gsam": buffer_FTD.py
    rho: float = 0.01  # run_buffer.sh --rho_max=--rho_min=0.01
    alpha: float = 0.4  # buffer_FTD.py --alpha
    adaptive: bool = True  # buffer_FTD.py --adaptive

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ProxynasError(f"unknown expert optimizer '{self.optimizer}'",
                                f"choose one of {', '.join(OPTIMIZERS)}")
        if self.augment not in ("none", "dsa"):
            raise ProxynasError(f"unknown expert augment '{self.augment}'", "choose none or dsa")
        if self.batch < 1 or self.lr <= 0:
            raise ProxynasError("expert batch and lr must be positive", "--batch 256 --lr 0.01")

    @classmethod
    def ftd(cls, **changes: Any) -> ExpertSettings:
        return cls(**({"optimizer": "gsam"} | changes))


def set_name(settings: ExpertSettings, dataset: str, fingerprint: str) -> str:
    """The folder of an expert set: optimizer, ZCA, and a hash of everything that changes an expert."""
    blob = json.dumps({"settings": asdict(settings), "dataset": dataset, "data": fingerprint, "format": FORMAT},
                      sort_keys=True)
    zca = "zca" if settings.zca else "nozca"
    return f"{settings.optimizer}_{zca}_{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class ExpertSet:
    """A folder of expert trajectories, one per seed."""

    root: Path
    card: dict[str, Any]

    @property
    def names(self) -> list[str]:
        return list(self.card["param_names"])

    def seeds(self, min_epochs: int = 0) -> list[int]:
        """Seeds whose trajectory has at least ``min_epochs`` epochs after the initialisation."""
        out = []
        for path in sorted(self.root.glob("seed*")):
            if path.name[4:].isdigit() and self.epochs_done(int(path.name[4:])) >= min_epochs:
                out.append(int(path.name[4:]))
        return sorted(out)

    def epoch_path(self, seed: int, epoch: int) -> Path:
        return self.root / f"seed{seed}" / f"epoch{epoch:03d}.safetensors"

    def epochs_done(self, seed: int) -> int:
        """Epochs trained of expert ``seed`` (files 0..k present: k), -1 when none."""
        epoch = -1
        while self.epoch_path(seed, epoch + 1).exists():
            epoch += 1
        return epoch

    def params(self, seed: int, epoch: int, device: torch.device | str = "cpu") -> list[Tensor]:
        """The expert's parameters at ``epoch`` (0: initialisation), in the network's parameter order."""
        path = self.epoch_path(seed, epoch)
        if not path.exists():
            raise ProxynasError(f"expert seed {seed} has no epoch {epoch} in {self.root}",
                                "train it longer with proxynas experts --epochs")
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            return [f.get_tensor(f"param.{name}") for name in self.names]

    def flat(self, seed: int, epoch: int, device: torch.device | str = "cpu") -> Tensor:
        return torch.cat([p.reshape(-1) for p in self.params(seed, epoch, device)])


def experts_root(home: Path, dataset: str) -> Path:
    return home / "experts" / dataset


def open_set(home: Path, dataset: str, train: TensorSet, settings: ExpertSettings, *, create: bool) -> ExpertSet:
    root = experts_root(home, dataset) / set_name(settings, dataset, train.fingerprint())
    card_path = root / "card.json"
    if card_path.exists():
        return ExpertSet(root, json.loads(card_path.read_text()))
    if not create:
        raise ProxynasError(f"no {settings.optimizer} experts of {settings.net} for this {dataset} split"
                            f"{' (ZCA)' if settings.zca else ''} under {experts_root(home, dataset)}",
                            f"train them first: proxynas experts --dataset {dataset} --net {settings.net} "
                            f"--optimizer {settings.optimizer}{' --zca' if settings.zca else ''} "
                            "--experts N --epochs E")
    _, build = network_builder(settings.net, train)
    names = [name for name, _ in build().named_parameters()]
    card = {"kind": "experts", "dataset": dataset, "source_fingerprint": train.fingerprint(),
            "settings": asdict(settings), "param_names": names, "format": FORMAT,
            "protocol": {k: v for k, v in expert_protocol(settings, 1).describe().items() if k != "epochs"}}
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(card_path, json.dumps(card, indent=2, sort_keys=True), what="the expert card")
    return ExpertSet(root, card)


def batch_dsa(dsa: DSA) -> Callable[[Tensor, torch.Generator], Tensor]:
    """DSA on a training batch (one family, parameters per image) drawn from a CPU generator."""
    return lambda x, g: dsa.apply(x, dsa.draw_batch(x.shape[0], x.shape[-2:], g).to(x.device))


def expert_epoch(net: nn.Module, optimizer: torch.optim.Optimizer, data: TensorSet, settings: ExpertSettings,
                 augment: Callable[[Tensor, torch.Generator], Tensor] | None, generator: torch.Generator,
                 order: Tensor | None = None) -> float:
    """One epoch of an expert (the references' ``epoch("train", ...)``); its mean training loss.
    ``order``: the epoch's shuffle (drawn from ``generator`` when not given)."""
    net.train()
    n = len(data)
    if order is None:
        order = torch.randperm(n, generator=generator)
    order = order.to(data.device)
    total = torch.zeros((), device=data.device)
    for start in range(0, n, settings.batch):
        index = order[start:start + settings.batch]
        x, y = data.images[index], data.labels[index]
        if augment is not None:
            x = augment(x, generator)
        if settings.optimizer == "gsam":
            loss = gsam_step(net, lambda x=x, y=y: F.cross_entropy(net(x), y), optimizer, rho=settings.rho,
                             alpha=settings.alpha, adaptive=settings.adaptive)
        else:
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        total += loss.detach() * len(index)
    return float(total) / n


def expert_protocol(settings: ExpertSettings, epochs: int) -> Protocol:
    """The engine's protocol of experts: the settings' SGD (or GSAM), constant learning rate."""
    return Protocol(epochs=epochs, batch_size=settings.batch, lr=settings.lr, momentum=settings.momentum,
                    weight_decay=settings.weight_decay, milestones=(), augment=settings.augment,
                    optimizer=settings.optimizer, rho=settings.rho, alpha=settings.alpha,
                    adaptive=settings.adaptive, name="experts")


def train_experts(experts: ExpertSet, data: TensorSet, dataset_info: Any, settings: ExpertSettings,
                  seeds: list[int], epochs: int, *, device: torch.device | str = "cpu",
                  progress: Callable[[int, int], None] | None = None, test: TensorSet | None = None,
                  executor: Executor | ExecutorOptions | None = None, stack: int | None = None) -> None:
    """Train (or resume) the experts ``seeds`` to ``epochs`` epochs on ``data`` (already whitened when
    the settings ask ZCA) through the engine, saving every epoch; ``test`` (whitened alike) scores each
    finished expert. ``executor`` (default: the local one) trains stacks of ``stack`` experts (default:
    the device's), fp32 (no bf16 autocast: the references train fp32)."""
    if epochs < 1:
        raise ProxynasError(f"--epochs must be at least 1, got {epochs}", "the references train 50")
    device = torch.device(device)
    if not isinstance(executor, Executor):
        executor = make_executor(executor or ExecutorOptions())
    candidate = resolve_candidate(settings.net, DEFAULT_SPACE)
    space = PlainStacks(get_space(candidate.space))  # models apart: GSAM's norms are each model's own
    data = data.to(device)
    scored = test is not None
    test = test.to(device) if test is not None else data.subset(torch.arange(0, device=device))
    accel = replace(Accel.for_device(device), bf16=False)
    protocol = expert_protocol(settings, epochs)
    augment = dsa_for(dataset_info) if settings.augment == "dsa" else None
    trained = {seed: max(experts.epochs_done(seed), 0) for seed in seeds}
    waves: dict[int, list[Job]] = {}  # experts standing at the same epoch share stacks
    for seed in seeds:
        if experts.epochs_done(seed) < epochs:
            waves.setdefault(experts.epochs_done(seed), []).append(Job(candidate, seed))
    total = len(seeds) * epochs

    def report() -> None:
        if progress is not None:
            progress(sum(min(e, epochs) for e in trained.values()), total)

    def on_epoch(end: EpochEnd) -> None:
        for job in end.jobs:
            trained[job.seed] = end.epoch + 1
        report()

    report()
    for _, jobs in sorted(waves.items()):
        size = stack or executor.default_stack_size(device)
        for outcome in run_jobs(jobs, space, data, test, test, protocol, max_models=size, augment=augment,
                                on_epoch=None if progress is None else on_epoch, accel=accel, executor=executor,
                                snapshots=ExpertSnapshots(experts)):
            seed = outcome.job.seed
            trained[seed] = epochs
            report()
            write_result(experts, outcome, scored)
            if outcome.status != "done":
                log.warning("expert seed %d: %s", seed, outcome.reason)


def write_result(experts: ExpertSet, outcome: Outcome, scored: bool) -> None:
    """``seed{S}/result.json``: the engine's one outcome of an expert."""
    o = outcome
    result = {"seed": o.job.seed, "net": o.job.candidate.qualified_id, "status": o.status, "epochs": o.epochs,
              "test_acc": o.test_acc if scored else None, "train_loss": o.train_loss, "reason": o.reason,
              "seconds": o.seconds, "cost_method": o.cost_method, "device": o.device, "regime": o.regime}
    path = experts.root / f"seed{o.job.seed}" / "result.json"
    atomic_write_text(path, json.dumps(result, indent=2, sort_keys=True), what="the expert result")
