"""``proxynas space``: what a search space holds."""

from __future__ import annotations

import argparse

from proxynas.cli.options import parse_where
from search_spaces import get_space, list_spaces


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="show a search space and its candidate ids")
    p.add_argument("name", nargs="?", default="dc_convnet", help=f"one of: {', '.join(list_spaces())}")
    p.add_argument("--where", action="append", default=[], metavar="DIM=V[,V]")
    p.add_argument("--unique", action="store_true",
                   help="keep one candidate of each isomorphism class (nb201: 6,466 of 15,625)")
    p.add_argument("--ids", action="store_true", help="print every candidate id")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    space = get_space(args.name)
    candidates = space.candidates(unique=args.unique, **parse_where(args.where, space))
    if args.ids:
        print("\n".join(c.id for c in candidates))
        return 0
    unique = " non-isomorphic" if args.unique else ""
    print(f"{space.name}: {len(candidates)}{unique} of {len(space)} candidates")
    for dim, choices in space.dimensions.items():
        print(f"  {dim:<6} {', '.join(map(str, choices))}")
    print(f"  e.g.   {candidates[0].id if candidates else space.example_id()}")
    return 0
