"""What plugin discovery costs a command's start: the CLI parser built in a fresh process, this tree against
an earlier revision (before the registries looked for plugins), alternating, CPU seconds (user + system) of
the whole process, which a shared CPU moves far less than wall time.

    python benchmarks/bench_plugins.py --base 51d6896 --repeat 5 --name plugins_startup_cpu

The earlier revision is exported with ``git archive`` into a temporary folder and put first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from benchlib import environment, save, table

ROOT = Path(__file__).resolve().parent.parent
BUILD = "from proxynas.cli import build_parser; build_parser()"


def cpu_seconds(tree: Path, home: str) -> float:
    """User + system CPU seconds of a fresh Python that builds the CLI parser from ``tree``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", BUILD], check=True, cwd=tree,
                   env=os.environ | {"PYTHONPATH": str(tree), "PROXYNAS_HOME": home})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="51d6896", help="the revision to compare with (default: 51d6896)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--name", default="plugins_startup_cpu")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        times: dict[str, list[float]] = {args.base: [], "this tree": []}
        for _ in range(args.repeat):
            times[args.base].append(cpu_seconds(base, tmp))
            times["this tree"].append(cpu_seconds(ROOT, tmp))
    ratio = statistics.median(times["this tree"]) / statistics.median(times[args.base])
    record = {"environment": environment(torch.device("cpu")), "command": " ".join(sys.argv),
              "cpu_seconds": times, "median_ratio": ratio,
              "load_average": os.getloadavg()}
    print(table([(k, " ".join(f"{t:.2f}" for t in v)) for k, v in times.items()]
                + [("median ratio", f"{ratio:.3f}")]))
    print(f"saved {save(args.name, record)}")


if __name__ == "__main__":
    main()
