"""A local NNI HPO experiment whose trials train candidates on a proxy (``proxynas nni run``).

The experiment is started with ``Experiment.start()`` and watched with our own short polling
(``Experiment.run()`` polls only every 10 s), then stopped, also when interrupted. The same config is
written as YAML, for ``nnictl create --config``.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from nni.experiment import AlgorithmConfig, Experiment, ExperimentConfig
from nni.runtime.log import silence_stdout

from proxynas import paths
from proxynas.atomic import atomic_write_text
from proxynas.engine import Protocol
from proxynas.errors import ProxynasError
from proxynas.nni.messages import check_passable
from proxynas.nni.space import nni_search_space
from proxynas.nni.tuners import tuner_class_args
from proxynas.spaces import SearchSpace

ENDED = ("DONE", "STOPPED", "ERROR")
ACTIVE_TRIALS = ("WAITING", "RUNNING", "UNKNOWN")


@dataclass(frozen=True)
class HpoSettings:
    """One HPO experiment: which proxy, space and tuner, how many trials, how each trial trains."""

    proxy: str
    space: SearchSpace
    tuner: str = "TPE"
    max_trials: int = 10
    concurrency: int = 1
    port: int = 8080
    protocol: Protocol = field(default_factory=Protocol)
    data_root: str | None = None
    device: str = "auto"
    experiment_dir: str | None = None  # NNI's experiment_working_directory (default ~/nni-experiments)
    seed: int = 0  # the tuner's seed, where it takes one
    poll_seconds: float = 0.5

    def __post_init__(self) -> None:
        if self.max_trials < 1 or self.concurrency < 1:
            raise ProxynasError(f"max trials {self.max_trials} and concurrency {self.concurrency} must be "
                                "at least 1", "pass --max-trials 1 or more and --concurrency 1 or more")


@dataclass(frozen=True)
class TrialState:
    trial_id: str
    status: str  # NNI's: WAITING, RUNNING, SUCCEEDED, FAILED, USER_CANCELED, ...
    candidate: str | None  # from the trial's final result
    score: float | None  # its validation accuracy, as reported to the tuner


@dataclass(frozen=True)
class Progress:
    experiment_id: str
    status: str  # NNI's experiment status
    trials: list[TrialState]
    seconds: float
    folder: Path  # the experiment's folder: its logs, the trials' output, nnictl.yml

    def trial_log(self, trial_id: str) -> Path:
        """Where NNI 3.0's local training service keeps a trial's stderr."""
        return self.folder / "environments" / "local-env" / "trials" / trial_id / "trial.stderr"

    def ended(self) -> bool:
        if self.status in ENDED:
            return True
        idle = not any(t.status in ACTIVE_TRIALS for t in self.trials)
        return self.status == "TUNER_NO_MORE_TRIAL" and idle  # the tuner ran out of candidates


def trial_threads(concurrency: int) -> int:
    """CPU threads per trial, so that concurrent trials share the cores instead of fighting over them."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // concurrency)


def trial_command(settings: HpoSettings) -> str:
    """The shell command NNI runs per trial: this Python, this proxynas home, the same training settings."""
    p = settings.protocol
    if p != Protocol(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, augment=p.augment, seed=p.seed):
        raise ProxynasError("the trial command line carries epochs, batch size, lr, augment and seed only",
                            "keep the protocol's other settings at their defaults")
    argv = [sys.executable, "-m", "proxynas", "nni", "trial", "--proxy", settings.proxy,
            "--space", settings.space.name, "--epochs", str(p.epochs), "--batch-size", str(p.batch_size),
            "--lr", repr(p.lr), "--aug", p.augment, "--seed", str(p.seed), "--device", settings.device,
            "--data-root", str(paths.data_root(settings.data_root).resolve()),
            "--threads", str(trial_threads(settings.concurrency))]
    home = f"PROXYNAS_HOME={shlex.quote(str(paths.home().resolve()))}"
    return " ".join([home, *map(shlex.quote, argv)])


def experiment_config(settings: HpoSettings) -> ExperimentConfig:
    """The NNI config of the experiment (local training service, tuner maximizing validation accuracy)."""
    config = ExperimentConfig("local")
    config.experiment_name = f"proxynas {settings.space.name} on {settings.proxy} ({settings.tuner})"
    config.trial_command = trial_command(settings)
    config.trial_code_directory = str(paths.home().resolve())
    config.search_space = nni_search_space(settings.space)
    config.tuner = AlgorithmConfig(name=settings.tuner, class_args=tuner_class_args(
        settings.tuner, settings.seed, settings.max_trials, settings.concurrency))
    config.max_trial_number = settings.max_trials
    config.trial_concurrency = settings.concurrency
    if settings.experiment_dir is not None:
        config.experiment_working_directory = str(Path(settings.experiment_dir).expanduser().resolve())
    check_passable(config.tuner.class_args, f"the {settings.tuner} tuner's arguments")
    return config


def write_yaml(config: ExperimentConfig, path: Path, port: int) -> Path:
    """Write ``config`` as the YAML file ``nnictl create --config`` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# written by proxynas; the same experiment: nnictl create --config {path} --port {port}\n"
    body = yaml.safe_dump(config.json(), sort_keys=False, default_flow_style=None, width=1000)
    atomic_write_text(path, header + body, what="the experiment config")
    return path


def check_port_free(port: int) -> None:
    with socket.socket() as sock:
        busy = sock.connect_ex(("localhost", port)) == 0
    if busy:
        raise ProxynasError(f"port {port} is in use (another NNI experiment or server listens there)",
                            f"pass --port with a free port, e.g. --port {free_port()}")


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def final_results(experiment: Experiment) -> dict[str, dict[str, Any]]:
    """Each finished trial's final result, as the trial reported it (a dict with 'default')."""
    out = {}
    for trial_id, metrics in experiment.get_job_metrics().items():
        for metric in metrics:
            if metric.type == "FINAL":
                data = metric.data
                out[trial_id] = data if isinstance(data, dict) else {"default": data}
    return out


def snapshot(experiment: Experiment, folder: Path, start: float) -> Progress:
    status = experiment.get_status()
    results = final_results(experiment)
    trials = []
    for job in sorted(experiment.list_trial_jobs(), key=lambda j: j.sequenceId):
        result = results.get(job.trialJobId, {})
        trials.append(TrialState(job.trialJobId, job.status, result.get("candidate"), result.get("default")))
    return Progress(experiment.id, status, trials, time.monotonic() - start, folder)


def tuner_failure(folder: Path) -> str | None:
    """The error that stopped NNI's dispatcher (the tuner's process), if it stopped on one.

    NNI 3.0's manager then goes on saying RUNNING with no tuner behind it and never starts another
    trial. A known cause: with ``trial_concurrency`` above 1, trials that start in another order than
    they were submitted are credited to the wrong parameters, and TPE fails on a ``KeyError``
    (microsoft/nni#5689, #5798).
    """
    try:
        text = (folder / "log" / "dispatcher.log").read_text(errors="replace")
    except OSError:
        return None
    if "Traceback" not in text or "Dispatcher exiting" not in text:
        return None
    errors = [line for line in text.splitlines() if line and not line.startswith(("[", " ", "Traceback"))]
    return errors[-1] if errors else "see the traceback"


def run_hpo(settings: HpoSettings, on_progress: Callable[[Progress], None] | None = None,
            yaml_path: Path | None = None) -> Progress:
    """Run the experiment to its end and return its last progress; the experiment is always stopped.

    ``yaml_path`` (default: ``<experiment dir>/<id>/nnictl.yml``) receives the equivalent nnictl config.
    NNI's console log is switched off; NNI keeps it in ``<experiment dir>/<id>/log``.
    """
    check_port_free(settings.port)
    silence_stdout()
    config = experiment_config(settings)
    experiment = Experiment(config)
    folder = Path(config.canonical_copy().experiment_working_directory) / experiment.id
    write_yaml(config, yaml_path or folder / "nnictl.yml", settings.port)
    start = time.monotonic()
    try:
        try:
            experiment.start(settings.port)
        except RuntimeError as err:  # NNI's own port check, or the manager failed to come up
            raise ProxynasError(f"NNI could not start the experiment: {err}",
                                f"see the logs in {folder / 'log'}") from None
        while True:
            progress = snapshot(experiment, folder, start)
            if on_progress is not None:
                on_progress(progress)
            if progress.ended():
                break
            failure = tuner_failure(folder)
            if failure is not None:
                raise ProxynasError(
                    f"NNI's tuner stopped mid-experiment ({failure}) and NNI would wait for it forever",
                    "rerun it: finished trials are in the store (NNI 3.0's dispatcher can crash with "
                    f"concurrent trials, microsoft/nni#5689); the log: {folder / 'log' / 'dispatcher.log'}")
            time.sleep(settings.poll_seconds)
    finally:
        experiment.stop()
    if progress.status == "ERROR":
        raise ProxynasError(f"NNI experiment {experiment.id} ended with an error",
                            f"see {folder / 'log' / 'nnimanager.log'} and dispatcher.log")
    return progress

