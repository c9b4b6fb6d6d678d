"""The trial of an HPO experiment: NNI's parameters name a candidate; train it on the proxy and report.

Run by NNI as ``python -m proxynas nni trial --proxy NAME ...``. Validation accuracy goes to NNI after
every epoch (intermediate results) and at the end (the final result, with the candidate id, because
NNI 3.0's job list may pair a trial with another trial's parameters). The result is also written to
the results store, exactly as ``proxynas search`` would write it.
"""

from __future__ import annotations

from dataclasses import dataclass

import nni

from proxynas.errors import ProxynasError
from proxynas.nni.evaluate import EpochScore, ProxyTraining, train_candidate
from proxynas.nni.space import candidate_from
from proxynas.spaces import Candidate, SearchSpace
from proxynas.store import ResultRow

STANDALONE = "STANDALONE"  # nni.get_experiment_id() outside an experiment


@dataclass(frozen=True)
class TrialOutcome:
    candidate: str
    row: ResultRow
    inside_nni: bool

    @property
    def score(self) -> float:
        """What the tuner maximizes: validation accuracy, 0 for a candidate whose training diverged."""
        return self.row.val_acc if self.row.status == "done" and self.row.val_acc is not None else 0.0


def inside_experiment() -> bool:
    return nni.get_experiment_id() != STANDALONE


def trial_candidate(space: SearchSpace, arch: str | None) -> Candidate:
    """The candidate to train: NNI's next parameters inside an experiment, else ``arch``."""
    if not inside_experiment():
        if arch is None:
            raise ProxynasError("not running inside an NNI experiment, so no tuner chooses a candidate",
                                "pass --arch ID to train one, or start trials with `proxynas nni run`")
        return space.parse(arch)
    if arch is not None:
        raise ProxynasError("--arch was given to a trial inside an NNI experiment",
                            "leave --arch out: the tuner chooses the candidate")
    parameters = nni.get_next_parameter()
    if not parameters:
        raise ProxynasError("the NNI tuner sent no parameters", "check the experiment's search space")
    return candidate_from(space, parameters)


def run_trial(space: SearchSpace, setup: ProxyTraining, arch: str | None = None,
              on_epoch: EpochScore | None = None) -> TrialOutcome:
    """Train the trial's candidate, report to NNI (inside an experiment) and return the stored row."""
    candidate = trial_candidate(space, arch)
    inside = inside_experiment()

    def report_epoch(epoch: int, val_acc: float) -> None:
        if inside:
            nni.report_intermediate_result(val_acc)
        if on_epoch is not None:
            on_epoch(epoch, val_acc)

    row = train_candidate(candidate, space, setup, on_epoch=report_epoch)
    outcome = TrialOutcome(candidate.id, row, inside)
    if inside:
        nni.report_final_result({"default": outcome.score, "candidate": candidate.id, "status": row.status})
    return outcome
