"""The ``proxynas`` command. Each sub-command lives in its own module of this package.

Errors raised anywhere below are :class:`~proxynas.errors.ProxynasError`; only here do they become a
one-line message and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from proxynas import __version__
from proxynas.errors import ProxynasError

# Modules of proxynas.cli; each has ``add_parser(subparsers)`` setting ``run=`` on its parser.
COMMANDS = ("demo", "condense", "proxies", "search", "evaluate", "truth", "data", "space", "correlate", "report", "nni")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxynas", description=__doc__.splitlines()[0].rstrip("."))
    parser.add_argument("--version", action="version", version=f"proxynas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"proxynas.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ProxynasError as err:
        print(f"proxynas: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("proxynas: interrupted; every finished result is saved, rerun the command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
