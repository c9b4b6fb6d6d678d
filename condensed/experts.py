"""Expert trajectories for trajectory matching (MTT, FTD): networks trained on the whole training split,
their parameters saved at every epoch.

As the references' buffer scripts train them (GeorgeCazenavette/mtt-distillation ``buffer.py``;
AngusDujw/FTD-distillation ``buffer/buffer_FTD.py`` with ``run_buffer.sh``): the DC ConvNet (or any
candidate), plain SGD with ``lr_teacher`` 0.01, momentum 0, weight decay 0, no decay (``--decay`` off),
batches of 256 in a fresh shuffle each epoch (the last one partial), each batch through DSA (one family
per batch, parameters per image), optionally on ZCA-whitened images (``--zca``); FTD's experts step
with GSAM (rho 0.01, alpha 0.4, adaptive; :mod:`condensed.gsam`). Epoch 0 is the initialisation.

Layout under the home: ``experts/{dataset}/{set}/card.json`` and ``seed{S}/epoch{E:03d}.safetensors`` (one
file per expert and epoch; safetensors: loading never runs code). ``{set}`` names the settings and the
training split's fingerprint, so experts of another split or setting never mix. An expert is a function
of (set, seed): its network is drawn from the seed, its batch order and augmentation of epoch ``e`` from
``SeedSequence([seed, e])``. Each epoch's file is written atomically as it ends, so a killed run resumes at
the last finished epoch of each expert.

The engine (:mod:`proxynas.engine`) does not train them: its loop steps one torch optimizer over a stack
of models, and GSAM's two-pass step (gradient, perturb, gradient again, decompose) does not fit it; so
both optimizers run here, one expert at a time, with the engine's seeding (:func:`~proxynas.engine.stack.seeded`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from condensed.gsam import gsam_step
from condensed.synthetic import DEFAULT_NET, network_builder
from proxynas.augment import DSA, dsa_for
from proxynas.datasets.base import TensorSet
from proxynas.engine.stack import seeded
from proxynas.errors import ProxynasError

log = logging.getLogger(__name__)
OPTIMIZERS = ("sgd", "gsam")


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
    blob = json.dumps({"settings": asdict(settings), "dataset": dataset, "data": fingerprint}, sort_keys=True)
    zca = "zca" if settings.zca else "nozca"
    return f"{settings.optimizer}_{zca}_{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


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
            "settings": asdict(settings), "param_names": names}
    root.mkdir(parents=True, exist_ok=True)
    tmp = card_path.with_name("card.json.tmp")
    tmp.write_text(json.dumps(card, indent=2, sort_keys=True))
    os.replace(tmp, card_path)
    return ExpertSet(root, card)


def _save_epoch(experts: ExpertSet, seed: int, epoch: int, net: nn.Module,
                optimizer: torch.optim.Optimizer, loss: float) -> None:
    path = experts.epoch_path(seed, epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"param.{n}": p.detach().cpu().contiguous() for n, p in net.named_parameters()}
    for n, p in net.named_parameters():
        buf = optimizer.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            tensors[f"momentum.{n}"] = buf.detach().cpu().contiguous()
    meta = {"card": json.dumps(experts.card, sort_keys=True), "seed": str(seed), "epoch": str(epoch),
            "train_loss": repr(loss)}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def _restore(experts: ExpertSet, seed: int, epoch: int, net: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    device = next(net.parameters()).device
    with safe_open(str(experts.epoch_path(seed, epoch)), framework="pt", device=str(device)) as f:
        keys = set(f.keys())
        with torch.no_grad():
            for n, p in net.named_parameters():
                p.copy_(f.get_tensor(f"param.{n}"))
                if f"momentum.{n}" in keys:
                    optimizer.state[p]["momentum_buffer"] = f.get_tensor(f"momentum.{n}").clone()


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


def train_experts(experts: ExpertSet, data: TensorSet, dataset_info: Any, settings: ExpertSettings,
                  seeds: list[int], epochs: int, *, device: torch.device | str = "cpu",
                  progress: Callable[[int, int], None] | None = None) -> None:
    """Train (or resume) the experts ``seeds`` to ``epochs`` epochs on ``data`` (already whitened when
    the settings ask ZCA), saving every epoch."""
    if epochs < 1:
        raise ProxynasError(f"--epochs must be at least 1, got {epochs}", "the references train 50")
    device = torch.device(device)
    data = data.to(device)
    _, build = network_builder(settings.net, data)
    augment = batch_dsa(dsa_for(dataset_info)) if settings.augment == "dsa" else None
    total, done = len(seeds) * epochs, 0
    for seed in seeds:
        net = seeded(build, seed).to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum,
                                    weight_decay=settings.weight_decay)
        have = experts.epochs_done(seed)
        if have >= 0:
            _restore(experts, seed, have, net, optimizer)
        else:
            _save_epoch(experts, seed, 0, net, optimizer, float("nan"))
            have = 0
        done += min(have, epochs)
        for epoch in range(have, epochs):
            generator = torch.Generator().manual_seed(epoch_seed(seed, epoch + 1))
            loss = expert_epoch(net, optimizer, data, settings, augment, generator)
            _save_epoch(experts, seed, epoch + 1, net, optimizer, loss)
            log.info("expert seed %d epoch %d: train loss %.4f", seed, epoch + 1, loss)
            done += 1
            if progress is not None:
                progress(done, total)
