"""What the synthetic methods (DC, DSA, DM) share: settings, the optimisation loop, resume and progress.

A :class:`SyntheticMethod` learns ``ipc`` images per class with SGD on the images. Subclasses write one
iteration (:meth:`SyntheticMethod.iteration`); the loop here reports progress, records the loss of every
iteration on the device, checkpoints every ``iterations // 20`` iterations (and at the end) to
``ctx.checkpoint`` and resumes from it. :meth:`SyntheticMethod.learn` returns the images with the loss
history; :meth:`~SyntheticMethod.condense` returns just the images.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from condensed.base import Context, Method, Settings
from condensed.checkpoint import load_checkpoint, save_checkpoint
from condensed.sampling import INITS, RealSampler, class_labels, initial_images
from proxynas.augment import DSA, dsa_for
from proxynas.datasets.base import TensorSet
from proxynas.engine.stack import seeded
from proxynas.errors import ProxynasError
from proxynas.spaces import SearchSpace
from search_spaces import get_space, resolve_candidate

DEFAULT_SPACE = "dc_convnet"  # a ``net`` without ``space:`` names a candidate of this space
DEFAULT_NET = "dc_convnet:d3_w128_relu_instancenorm_avgpool"  # the reference ConvNet
AUGMENTS = ("none", "dsa")
CHECKPOINTS_PER_RUN = 20


@dataclass(frozen=True)
class SyntheticSettings(Settings):
    """Settings every synthetic method has; subclasses set the reference defaults."""

    iterations: int = 1000
    lr_img: float = 0.1  # SGD on the images
    momentum_img: float = 0.5
    batch_real: int = 256  # real images per class in each step
    init: str = "real"  # "real": random real images; "noise": standard normal (DC's default)
    augment: str = "none"  # "dsa": siamese augmentation of the real and synthetic batches
    net: str = DEFAULT_NET  # the candidate (space:id) drawn afresh every iteration

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_real"):
            if getattr(self, name) < 1:
                raise ProxynasError(f"setting {name} must be at least 1, got {getattr(self, name)}",
                                    f"--set {name}=1 or more")
        if self.init not in INITS:
            raise ProxynasError(f"unknown init '{self.init}'", f"choose one of {', '.join(INITS)}")
        if self.augment not in AUGMENTS:
            raise ProxynasError(f"unknown augment '{self.augment}'", f"choose one of {', '.join(AUGMENTS)}")
        resolve_candidate(self.net, DEFAULT_SPACE)


@dataclass(frozen=True)
class Synthesis:
    """A learned set and the mean loss of every iteration (resumed runs include the earlier ones)."""

    data: TensorSet
    losses: list[float]


def network_builder(net: str, train: TensorSet) -> tuple[SearchSpace, Callable[[], nn.Module]]:
    """The space of ``net`` (``space:id``, or a bare dc_convnet id) and a maker of fresh networks of it."""
    candidate = resolve_candidate(net, DEFAULT_SPACE)
    space = get_space(candidate.space)
    return space, lambda: space.build(candidate, train.shape, train.num_classes)


def net_seed(seed: int, iteration: int) -> int:
    """The seed of the network drawn in ``iteration`` of a run with ``seed``."""
    return int(np.random.SeedSequence([seed, iteration]).generate_state(1)[0])


@dataclass
class Workspace:
    """What an iteration works on. ``images`` is the learned leaf tensor, sorted by class like ``labels``."""

    images: Tensor
    labels: Tensor
    optimizer: torch.optim.Optimizer
    real: RealSampler
    generator: torch.Generator  # on the device: every random draw of the run but the networks
    augment: DSA | None
    ipc: int
    seed: int
    build_net: Callable[[], nn.Module]
    space: SearchSpace  # the space of ``build_net``'s network: its ``embed`` gives the features

    @property
    def num_classes(self) -> int:
        return self.real.num_classes

    def fresh_net(self, iteration: int) -> nn.Module:
        """A randomly initialised network, the same for the same seed and iteration."""
        return seeded(self.build_net, net_seed(self.seed, iteration)).to(self.images.device)

    def state(self) -> dict[str, Any]:
        return {"images": self.images.detach().cpu(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state()}

    def restore(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.images.copy_(state["images"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())


class SyntheticMethod(Method):
    kind = "synthetic"
    settings_type: ClassVar[type[Settings]] = SyntheticSettings

    @abstractmethod
    def iteration(self, work: Workspace, iteration: int, settings: Any) -> Tensor:
        """Update ``work.images`` once; return the iteration's mean loss per class (0-d, on the device)."""

    def condense(self, train: TensorSet, ipc: int, settings: Settings, ctx: Context) -> TensorSet:
        return self.learn(train, ipc, settings, ctx).data

    def learn(self, train: TensorSet, ipc: int, settings: Any, ctx: Context) -> Synthesis:
        """Run (or resume) the optimisation; the learned set with the loss of every iteration."""
        work = self.workspace(train.to(ctx.device), ipc, settings, ctx)
        total = settings.iterations
        key = self.run_key(train, ipc, settings, ctx.seed)
        history = torch.zeros(total, device=ctx.device)
        start = 0
        saved = load_checkpoint(ctx.checkpoint, key, ctx.device)
        if saved is not None and saved["iteration"] <= total:
            work.restore(saved)
            start = int(saved["iteration"])
            history[:start] = saved["losses"]
        every = max(1, total // CHECKPOINTS_PER_RUN)
        ctx.report(start, total)
        for it in range(start, total):
            history[it] = self.iteration(work, it, settings).detach()
            done = it + 1
            if ctx.checkpoint is not None and (done % every == 0 or done == total):
                save_checkpoint(ctx.checkpoint, work.state() | {
                    "key": key, "iteration": done, "losses": history[:done].cpu()})
            ctx.report(done, total)
        data = TensorSet(self.result(work), work.labels, train.num_classes)
        return Synthesis(data, history.cpu().tolist())

    def result(self, work: Workspace) -> Tensor:
        """The learned images a run returns (FTD: their moving average)."""
        return work.images.detach().clone()

    def workspace(self, train: TensorSet, ipc: int, settings: Any, ctx: Context) -> Workspace:
        generator = torch.Generator(device=ctx.device).manual_seed(ctx.seed)
        real = RealSampler(train)
        images = initial_images(real, ipc, settings.init, generator).requires_grad_(True)
        optimizer = torch.optim.SGD([images], lr=settings.lr_img, momentum=settings.momentum_img)
        space, build = network_builder(settings.net, train)
        augment = dsa_for(ctx.dataset) if settings.augment == "dsa" else None
        return Workspace(images, class_labels(train.num_classes, ipc, ctx.device), optimizer, real, generator,
                         augment, ipc, ctx.seed, build, space)

    def run_key(self, train: TensorSet, ipc: int, settings: Any, seed: int) -> str:
        """Names a run for its checkpoint; ``iterations`` is left out, so a resumed run may go further."""
        described = asdict(settings)
        del described["iterations"]
        return json.dumps({"method": self.name, "ipc": ipc, "seed": seed, "settings": described,
                           "data": [len(train), *train.shape, train.num_classes]}, sort_keys=True)
