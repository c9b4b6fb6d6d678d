"""``proxynas score SCORER``: score candidates with a scorer that does not train (a zero-cost measure, ``vote``).

Data-dependent measures see a seeded minibatch of the dataset's training split, the same for every
candidate; data-free ones (``params``, ``flops``, ``synflow``, ``zen``) need only the dataset's name.
Scores and seconds land in the results store (table ``scores``); a rerun scores only what is missing.
``correlate --baseline SCORER`` and study files then compare them with the ground truth.
"""

from __future__ import annotations

import argparse
import json
import time

from proxynas import paths
from proxynas.cli.progress import bar
from proxynas.errors import ProxynasError
from proxynas.scoring import ScoreStore, get_scorer, list_scorers


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score candidates without training (zero-cost measures)",
                       description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("scorer", nargs="?", help="a scorer that does not train; --list shows them")
    p.add_argument("--list", action="store_true", help="list the scorers and what each costs")
    p.add_argument("--space", default="dc_convnet", help="search space (default: dc_convnet)")
    p.add_argument("--dataset", default="cifar10", help="dataset: its training split (or shape) is scored on")
    p.add_argument("--data-root", help="dataset folder (torchvision layout); data-free scorers read no files")
    p.add_argument("--sample", type=int, metavar="N", help="score N candidates drawn with --sample-seed")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--unique", action="store_true", help="one candidate per isomorphism class (nb201: 6,466)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch of data-dependent measures (default 64)")
    p.add_argument("--seed", type=int, default=0, help="draws the minibatch and the initial weights (default 0)")
    p.add_argument("--top", type=int, default=5, help="best-scored candidates to print")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.list or not args.scorer:
        for name in list_scorers():
            print(get_scorer(name).describe())
        return 0
    from proxynas.scoring.stored import stored
    from proxynas.zerocost.score import ScoringSettings, score
    from search_spaces import get_space

    scorer, space = get_scorer(args.scorer), get_space(args.space)
    if not scorer.measures():  # its numbers are training runs, an imported table or its own
        made = "imported" if scorer.imported else "trained" if scorer.trains else "computed by the scorer itself"
        raise ProxynasError(f"{scorer.name} is {made}, not scored by this command (its cost: {scorer.cost})",
                            f"make its numbers so, then pass --baseline {scorer.name}"
                            f"{':' + scorer.argument if scorer.argument else ''} to correlate")
    if args.sample is not None and args.sample < 1:
        raise ProxynasError(f"--sample must be at least 1, got {args.sample}", "pass --sample 1 or more")
    candidates = (space.sample(args.sample, args.sample_seed, unique=args.unique) if args.sample is not None
                  else space.candidates(unique=args.unique))
    settings = ScoringSettings(batch_size=args.batch_size, seed=args.seed)
    start = time.perf_counter()
    with ScoreStore(paths.results_db()) as store:
        for name in scorer.measures():
            with bar(total=len(candidates), desc=name, unit="cand") as progress:
                score(store, name, space, candidates, args.dataset, settings, root=args.data_root,
                      progress=progress.update)
        found = stored(store, space.name, args.dataset, scorer)
        where = store.path
    wanted = {c.id for c in candidates}
    values = {c: v for c, v in found.scores.items() if c in wanted}
    if args.json:
        print(json.dumps({"scorer": scorer.name, "space": space.name, "dataset": args.dataset, "scores": values,
                          "seconds": sum(found.seconds.get(c, 0.0) for c in values)}, indent=2))
        return 0
    undefined = sum(v is None for v in values.values())
    print(f"{scorer.name} · {space.name} on {args.dataset}: {len(values)} candidates "
          f"({undefined} undefined), {sum(found.seconds.get(c, 0.0) for c in values):.1f} s of scoring "
          f"({time.perf_counter() - start:.1f} s now), stored in {where}")
    best = sorted(((v, c) for c, v in values.items() if v is not None), reverse=True)[:args.top]
    for v, c in best:
        print(f"  {v:12.6g}  {c}")
    print(f"  compare with the ground truth: proxynas correlate --truth {args.dataset} --space {space.name} "
          f"--baseline {scorer.name}")
    return 0
