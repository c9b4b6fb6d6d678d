"""``proxynas report``: one self-contained HTML page for a study (metrics, cost, plots)."""

from __future__ import annotations

import argparse

from proxynas import paths
from proxynas.cli.correlate import add_study_options, study_from


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write an HTML report comparing proxies with the ground truth",
                       description="Write one HTML page (plots embedded) with what was compared, every "
                                   "metric with its interval, the plots and the cost of each proxy.")
    add_study_options(p)
    p.add_argument("--out", default="report.html", metavar="FILE",
                   help="the page to write (default: report.html)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from analysis import write_report

    out = paths.output_file(args.out)
    path = write_report(study_from(args), out)
    print(f"wrote {path}")
    return 0
