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
from proxynas.atomic import DISK_ERRORS, disk_error
from proxynas.engine.stopping import Interrupted
from proxynas.errors import ProxynasError

DESCRIPTION = ("Rank neural architectures by training them on condensed proxy datasets, and measure how "
               "well the proxy's ranking matches full-data training.")

# Modules of proxynas.cli, in the order ``--help`` lists them; each has ``add_parser(subparsers)``
# setting ``run=`` on its parser.
COMMANDS = ("demo", "study", "experts", "condense", "proxies", "search", "truth", "score", "evaluate", "transfer",
            "correlate", "report", "nni", "data", "space")
# Two-word commands whose second word has a module of its own: ``proxynas truth import ...``.
NESTED = {("truth", "import"): "truth_import"}


def build_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxynas", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"proxynas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in commands:
        importlib.import_module(f"proxynas.cli.{name}").add_parser(sub)
    return parser


def commands_for(argv: Sequence[str]) -> Sequence[str]:
    """Only the named command's module when there is one: the others' imports cost seconds per call."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return (first,) if first in COMMANDS else COMMANDS


def build_nested_parser(command: str, module: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"proxynas {command}")
    importlib.import_module(f"proxynas.cli.{module}").add_parser(
        parser.add_subparsers(dest="action", metavar="ACTION", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    nested = NESTED.get(tuple(argv[:2]))
    try:
        if nested is not None:
            args = build_nested_parser(argv[0], nested).parse_args(argv[1:])
        else:
            args = build_parser(commands_for(argv)).parse_args(argv)
        return int(args.run(args) or 0)
    except ProxynasError as err:
        print(f"proxynas: error: {err}", file=sys.stderr)
        return 2
    except PermissionError as err:  # a write the specific checks (proxynas.paths) did not foresee
        print(f"proxynas: error: cannot write {err.filename or 'a file'}: {err.strerror} (point PROXYNAS_HOME, "
              "--data-root or --out at a folder you can write)", file=sys.stderr)
        return 2
    except OSError as err:  # a full or failing disk under a write no specific check covered
        if err.errno not in DISK_ERRORS:
            raise
        print(f"proxynas: error: {disk_error(err)}", file=sys.stderr)
        return 2
    except Interrupted as stopped:  # a training run stopped by SIGINT/SIGTERM, its finished results stored
        print(f"proxynas: {stopped}", file=sys.stderr)
        return stopped.exit_code
    except KeyboardInterrupt:
        print("proxynas: interrupted; the results stored before it are kept, rerun the command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
