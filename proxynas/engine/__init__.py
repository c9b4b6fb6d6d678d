"""The training engine: protocols, model stacks, the fit loop and the job runner."""

from proxynas.engine.accel import Accel
from proxynas.engine.batching import default_stack_size, default_workers
from proxynas.engine.device import describe, resolve_device
from proxynas.engine.fit import FitReport, accuracy, fit
from proxynas.engine.jobs import run_jobs
from proxynas.engine.protocol import Protocol
from proxynas.engine.run import EpochEnd, Job, Outcome, StackTrainer, TrainingTask, plan_stacks
from proxynas.engine.stack import ListStack, seeded

__all__ = ["Accel", "EpochEnd", "FitReport", "Job", "ListStack", "Outcome", "Protocol", "StackTrainer",
           "TrainingTask", "accuracy", "default_stack_size", "default_workers", "describe", "fit", "plan_stacks",
           "resolve_device", "run_jobs", "seeded"]
