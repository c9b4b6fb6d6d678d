"""NNI 3 NAS on a proxy: a ``ModelSpace`` for a proxynas search space and a ``FunctionalEvaluator`` function.

>>> space = SpaceModel("dc_convnet", (1, 28, 28), 10)
>>> evaluator = FunctionalEvaluator(evaluate_on_proxy, proxy="random_fashion_mnist_ipc10", epochs=50)
>>> experiment = NasExperiment(space, evaluator, strategy.TPE(optimize_mode="maximize"),
...                            NasExperimentConfig("sequential", "simplified"))
>>> experiment.run()

Each dimension of the space is one ``nni.choice`` (labelled by the dimension's name); a sampled model
is the space's own network for that candidate. The evaluator trains the candidate on the proxy through
the engine (weights drawn from the protocol's seed, as ``proxynas search`` draws them), reports the
validation accuracy per epoch and at the end, and stores the result. The sequential execution engine
runs every model in this process: no NNI manager, no port. NNI's NAS needs pytorch-lightning.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nni
from nni.mutable import ensure_frozen
from nni.runtime.log import silence_stdout
from torch import Tensor

from proxynas.engine import Protocol
from proxynas.errors import ProxynasError
from proxynas.nni.evaluate import ProxyTraining, train_candidate
from proxynas.nni.messages import check_passable
from proxynas.registry import Registry
from search_spaces import get_space

with warnings.catch_warnings():  # NNI 3.0 does not know the newest torch.nn classes; harmless
    warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module", category=RuntimeWarning)
    from nni.nas import strategy
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.experiment import NasExperiment, NasExperimentConfig
    from nni.nas.nn.pytorch import ModelSpace


class SpaceModel(ModelSpace):
    """A proxynas search space as an NNI model space; a frozen sample is that candidate's network."""

    def __init__(self, space: str, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        search_space = get_space(space)
        config = {dim: ensure_frozen(self.add_mutable(nni.choice(dim, list(choices))))
                  for dim, choices in search_space.dimensions.items()}
        self.candidate = search_space.candidate(config)
        self.network = search_space.build(self.candidate, tuple(input_shape), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)


def evaluate_on_proxy(model: SpaceModel, proxy: str, space: str = "dc_convnet", epochs: int = 200,
                      batch_size: int = 256, lr: float = 0.01, augment: str = "none", seed: int = 0,
                      data_root: str | None = None, device: str = "auto") -> float:
    """The ``FunctionalEvaluator`` function: train ``model``'s candidate on ``proxy``, report, return val acc.

    Every argument but ``model`` is a plain value, so NNI can record the evaluator.
    """
    protocol = Protocol(epochs=epochs, batch_size=batch_size, lr=lr, augment=augment, seed=seed)
    setup = ProxyTraining(proxy, protocol, data_root, device)
    start = time.perf_counter()
    row = train_candidate(model.candidate, get_space(space), setup,
                          on_epoch=lambda epoch, acc: nni.report_intermediate_result(acc))
    score = row.val_acc if row.status == "done" and row.val_acc is not None else 0.0
    nni.report_final_result(score)
    print(f"{model.candidate.id}: val {100 * score:.2f}% ({row.status}, {time.perf_counter() - start:.1f}s)",
          file=sys.stderr)
    return score


# name -> (seed, max_trials) -> a multi-trial strategy that maximizes the reported accuracy
STRATEGIES: Registry[Callable[[int, int], Any]] = Registry("NAS strategy")


@STRATEGIES.register("Random")
def random_strategy(seed: int, trials: int) -> Any:
    return strategy.Random(seed=seed)


@STRATEGIES.register("GridSearch")
def grid_strategy(seed: int, trials: int) -> Any:
    return strategy.GridSearch(seed=seed)


@STRATEGIES.register("RegularizedEvolution")
def evolution_strategy(seed: int, trials: int) -> Any:
    return strategy.RegularizedEvolution(population_size=max(2, min(100, trials // 2)),
                                         sample_size=max(1, min(25, trials // 8)), seed=seed)


@STRATEGIES.register("TPE")
def tpe_strategy(seed: int, trials: int) -> Any:
    return strategy.TPE(optimize_mode="maximize", seed=seed)


@dataclass(frozen=True)
class NasSettings:
    proxy: str
    input_shape: tuple[int, int, int]  # the proxy's (C, H, W)
    num_classes: int
    space: str = "dc_convnet"
    strategy: str = "TPE"
    max_trials: int = 10
    protocol: Protocol = field(default_factory=Protocol)
    data_root: str | None = None
    device: str = "auto"
    experiment_dir: str | None = None  # NNI's experiment_working_directory (default ~/nni-experiments)
    seed: int = 0  # the strategy's seed


def evaluator_for(settings: NasSettings) -> FunctionalEvaluator:
    p = settings.protocol
    arguments = dict(proxy=settings.proxy, space=settings.space, epochs=p.epochs, batch_size=p.batch_size,
                     lr=p.lr, augment=p.augment, seed=p.seed, data_root=settings.data_root,
                     device=settings.device)
    check_passable(arguments, "the NAS evaluator's arguments")
    return FunctionalEvaluator(evaluate_on_proxy, **arguments)


def run_nas(settings: NasSettings) -> list[tuple[str, float]]:
    """Run a sequential NAS experiment; (candidate id, validation accuracy) of its models, best first."""
    if settings.max_trials < 1:
        raise ProxynasError(f"max trials must be at least 1, got {settings.max_trials}",
                            "pass --max-trials 1 or more")
    silence_stdout()
    search = STRATEGIES.get(settings.strategy)(settings.seed, settings.max_trials)
    space = SpaceModel(settings.space, settings.input_shape, settings.num_classes)
    config = NasExperimentConfig("sequential", "simplified")
    config.max_trial_number = settings.max_trials
    if settings.experiment_dir is not None:
        config.experiment_working_directory = str(Path(settings.experiment_dir).expanduser().resolve())
    experiment = NasExperiment(space, evaluator_for(settings), search, config)
    try:
        experiment.start()  # the sequential engine runs the whole search here, in this process
        models = list(experiment.strategy.list_models())
    finally:
        experiment.stop()
    search_space = get_space(settings.space)
    return [(search_space.candidate(model.sample).id, float(model.metric)) for model in models]
