"""Ground truth from elsewhere: the accuracies NAS-Bench-201 / NATS-Bench publish, or a CSV table, stored
as the rows ``proxynas truth`` would have trained (``proxynas truth import``)."""

from proxynas.truth.nats import read_nats
from proxynas.truth.published import PublishedRun, PublishedTruth, save_truth
from proxynas.truth.table import read_csv

__all__ = ["PublishedRun", "PublishedTruth", "read_csv", "read_nats", "save_truth"]
