"""``proxynas study``: a whole NAS study from one file (or a shipped recipe), resumable at any point.

    proxynas study list                       the shipped recipes
    proxynas study show RECIPE                a recipe's file, to copy and edit
    proxynas study plan FILE|RECIPE           the steps, what each trains, what the store holds, an estimate
    proxynas study run FILE|RECIPE            run every missing step, then print and write the table
    proxynas study table FILE|RECIPE          the table again (--json), from the store
    proxynas study report FILE|RECIPE         the HTML report with the plots
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from proxynas import paths
from proxynas.atomic import atomic_write_text
from proxynas.cli.options import add_data_options, add_executor_options, executor_from, open_results
from proxynas.cli.resolve import proxy_library
from proxynas.cli.study_text import ConsoleReporter, render_plan, say
from proxynas.engine import describe, resolve_device
from proxynas.errors import DataError
from proxynas.study import (
    RunOptions,
    StudyResults,
    StudySpec,
    analyse,
    build_steps,
    load_splits,
    load_study,
    recipe_names,
    recipe_text,
    run_study,
    study_status,
)
from proxynas.study.steps import needs_data


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="a whole study from one file: proxies, search, truth, baselines, table",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the shipped recipes").set_defaults(run=run_list)
    show = actions.add_parser("show", help="print a recipe's file (copy it to make your own)")
    show.add_argument("recipe")
    show.set_defaults(run=run_show)
    plan = _study_parser(actions, "plan", "the steps, what each trains, what is stored, an estimated cost")
    add_data_options(plan)
    plan.set_defaults(run=run_plan)
    run = _study_parser(actions, "run", "run every missing step in dependency order (resumable)")
    add_data_options(run)
    add_executor_options(run)
    run.add_argument("--fresh", action="store_true", help="remake the study's proxies and retrain every step")
    run.add_argument("--json", action="store_true", help="print the table as JSON")
    run.set_defaults(run=run_run)
    table = _study_parser(actions, "table", "print the table of a finished study (and write its CSV/JSON)")
    table.add_argument("--data-root", help="dataset folder (default $PROXYNAS_DATA or the user data dir)")
    table.add_argument("--json", action="store_true", help="print the table as JSON")
    table.set_defaults(run=run_table)
    report = _study_parser(actions, "report", "write the HTML report and the plots of a finished study")
    report.add_argument("--data-root", help="dataset folder (default $PROXYNAS_DATA or the user data dir)")
    report.set_defaults(run=run_report)


def _study_parser(actions: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    p = actions.add_parser(name, help=text, description=text)
    p.add_argument("study", metavar="FILE|RECIPE", help="a study file (.toml) or a recipe (proxynas study list)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: the file's study.output)")
    return p


def run_list(args: argparse.Namespace) -> int:
    for name in recipe_names():
        spec = load_study(name)
        print(f"{name:<22} {spec.title}")
        print(f"{'':<22} source: {spec.source}")
    print("\nrun one: proxynas study plan NAME, then proxynas study run NAME; "
          "proxynas study show NAME prints it to copy and edit")
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(recipe_text(args.recipe), end="")
    return 0


def spec_from(args: argparse.Namespace) -> StudySpec:
    spec = load_study(args.study)
    return dataclasses.replace(spec, output=Path(args.out)) if args.out else spec


def run_plan(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    steps = build_steps(spec)
    splits, problem = load_splits(steps, args.data_root)
    with open_results() as results:
        proxies = proxy_library()
        status = study_status(steps, results, proxies, splits, problem)
        rate = None
        if any(t.todo for t in status.training):
            from proxynas.study.status import throughput

            device = resolve_device(args.device)
            rate = throughput(status, results, describe(device), args.device, proxies)
        print(render_plan(status, rate))
    return 0


def run_run(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    out = paths.output_dir(spec.output, "set study.output in the file, or pass --out DIR, to a folder you can write")
    study = execute_study(spec, args.data_root, RunOptions(executor_from(args), args.stack, args.fresh,
                                                           args.data_root))
    write_table(study, out, as_json=args.json)
    print_published(spec, study, as_json=args.json)
    return 0


def execute_study(spec: StudySpec, data_root: str | None, options: RunOptions) -> StudyResults:
    """Run the study's missing steps with progress on stderr, then analyse it."""
    steps = build_steps(spec)
    splits, problem = load_splits(steps, data_root)
    if splits is None and needs_data(steps):
        raise DataError(f"the study's dataset cannot be read: {problem}",
                        f"proxynas data download {spec.dataset}, or pass --data-root")
    with open_results() as results:
        proxies = proxy_library()
        reporter = ConsoleReporter()
        try:
            run_study(steps, results, proxies, splits, options, reporter)
        finally:
            reporter.close()
        return analyse(study_status(steps, results, proxies, splits), results, proxies)


def finished(spec: StudySpec, data_root: str | None) -> StudyResults:
    """A study's results from the stores (an error naming the missing steps if it is not complete)."""
    steps = build_steps(spec)
    splits, problem = load_splits(steps, data_root)
    with open_results() as results:
        proxies = proxy_library()
        return analyse(study_status(steps, results, proxies, splits, problem), results, proxies)


def write_table(study: StudyResults, out: Path, *, as_json: bool) -> list[Path]:
    from analysis.paper import paper_json, render_paper, write_paper_csv

    table_json: dict[str, Any] = paper_json(study.table)
    json_path = out / "table.json"
    atomic_write_text(json_path, json.dumps(table_json, indent=2) + "\n", what="the table")
    csv_path = write_paper_csv(study.table, out / "table.csv")
    print(json.dumps(table_json, indent=2) if as_json else render_paper(study.table))
    say(f"wrote {csv_path} and {json_path}")
    written = [csv_path, json_path]
    if study.transfer is not None:
        from analysis import transfer

        if not as_json:
            print("\n" + transfer.text_table(study.transfer))
        written += transfer.save(study.transfer, out)
        say(f"wrote {', '.join(str(p) for p in written[2:])}")
    return written


def print_published(spec: StudySpec, study: StudyResults, *, as_json: bool) -> None:
    """The source's published Spearman beside the study's, for the rows it publishes."""
    if not spec.published.spearman or as_json:
        return
    here = {r.label: r.values.get("spearman") for r in study.table.rows}
    print(f"\npublished: {spec.published.source}")
    for label, value in spec.published.spearman.items():
        ours = here.get(label)
        print(f"  {label:<12} published {value:5.2f}   here {'n/a' if ours is None else f'{ours:5.2f}'}")


def run_table(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    out = paths.output_dir(spec.output, "set study.output in the file, or pass --out DIR, to a folder you can write")
    study = finished(spec, args.data_root)
    write_table(study, out, as_json=args.json)
    print_published(spec, study, as_json=args.json)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from analysis import plots, write_report

    spec = spec_from(args)
    out = paths.output_dir(spec.output, "set study.output in the file, or pass --out DIR, to a folder you can write")
    study = finished(spec, args.data_root)
    written = plots.save_all(study.study, out)
    extra = ""
    if study.transfer is not None:
        from analysis import transfer

        transfer.save(study.transfer, out)
        extra = transfer.transfer_html(study.transfer)
    report = write_report(study.study, out / "report.html", table=study.table, extra=extra)
    print(f"report: {report}")
    print(f"plots: {', '.join(str(p) for p in written if p.suffix == '.png')}", file=sys.stderr)
    return 0
