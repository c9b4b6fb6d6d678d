"""The accuracies NAS-Bench-201 / NATS-Bench publish for its 15,625 cells, read as ground truth.

Files, as downloaded (D-X-Y/NATS-Bench ``api_topology.py``, ``api_utils.py``; NAS-Bench-201 ``api_201.py``):

- the NATS topology "simple" folder (``NATS-tss-v1_0-3ffb9-simple``): ``meta.pickle.pbz2`` (``meta_archs``,
  the arch strings by index) and one ``{index:06d}.pickle.pbz2`` per architecture, each a bz2 pickle of
  ``{"12": results, "200": results}`` (the training budgets in epochs);
- the single NATS file (``NATS-tss-v1_0-3ffb9.pickle.pbz2``): ``{"meta_archs", "arch2infos": {index: {hp:
  results}}, ...}``;
- the NB201 ``.pth`` (v1.0 ``NAS-Bench-201-v1_0-e61699.pth``, v1.1): the same, torch-saved, with
  ``"less"`` for 12 epochs and ``"full"`` for 200.

``results`` holds ``dataset_seed`` (benchmark dataset -> seeds) and ``all_results[(dataset, seed)]`` with
``eval_acc1es["{set}@{epoch}"]`` in percent, ``train_losses`` and ``train_times`` per epoch. Every seed
becomes one row, so correlate averages the seeds and its noise ceiling is made of them (docs/metrics.md).

What a proxynas dataset maps to (``rank_on`` picks the accuracy the truth ranks by, the ``val_acc``):

- cifar10, test (DC-Bench's choice): benchmark set ``cifar10`` (trained on all 50,000 training images),
  ranked and tested on the 10,000 test images (``ori-test``);
- cifar10, valid: ``cifar10-valid`` (trained on 25,000), ranked on the other 25,000 (``x-valid``), tested
  on ``ori-test``;
- cifar100, test / valid: ``cifar100`` ranked on ``x-test`` / ``x-valid`` (halves of the test set),
  tested on ``x-test``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxynas.errors import DataError, ProxynasError
from proxynas.truth.published import PublishedRun, PublishedTruth
from proxynas.truth.unpickle import load_bz2_pickle, load_torch_pickle

SPACE = "nb201"
SUFFIX = ".pickle.pbz2"
NB201_BUDGETS = {"12": "less", "200": "full"}  # the .pth's keys for the budgets


@dataclass(frozen=True)
class Pick:
    bench: str  # the benchmark's dataset name
    rank_set: str  # evaluation set whose accuracy ranks (val_acc)
    test_set: str
    trained_on: str


PICKS = {
    ("cifar10", "test"): Pick("cifar10", "ori-test", "ori-test", "the 50,000 CIFAR-10 training images"),
    ("cifar10", "valid"): Pick("cifar10-valid", "x-valid", "ori-test", "25,000 CIFAR-10 training images"),
    ("cifar100", "test"): Pick("cifar100", "x-test", "x-test", "the 50,000 CIFAR-100 training images"),
    ("cifar100", "valid"): Pick("cifar100", "x-valid", "x-test", "the 50,000 CIFAR-100 training images"),
}
Progress = Callable[[int, int], None]


def source_name(path: Path) -> str:
    """The benchmark's name from its file or folder: ``NATS-tss-v1_0-3ffb9`` (suffixes dropped)."""
    name = path.name
    for suffix in ("-simple", SUFFIX, ".pth"):
        name = name.removesuffix(suffix)
    return name


def records(path: Path, progress: Progress | None = None) -> tuple[str, Iterator[tuple[str, Mapping]]]:
    """The file's layout and its (arch string, {epochs: results}) pairs, read lazily."""
    if path.is_dir():
        if not (path / f"meta{SUFFIX}").is_file():
            raise DataError(f"{path} has no meta{SUFFIX}", "pass the NATS-tss-v1_0-3ffb9-simple folder")
        return "nats-simple", _simple(path, progress)
    if path.name.endswith(SUFFIX):
        return "nats", _indexed(_dict(load_bz2_pickle(path), path), path, progress, {})
    if path.suffix == ".pth":
        return "nb201-pth", _indexed(_dict(load_torch_pickle(path), path), path, progress, NB201_BUDGETS)
    if not path.exists():
        raise ProxynasError(f"{path} does not exist", "pass the downloaded benchmark file or folder")
    raise ProxynasError(f"{path} is not a benchmark file this reads",
                        f"pass a NATS '-simple' folder, a NATS '{SUFFIX}' file or an NB201 '.pth' file")


def _dict(obj: object, path: Path) -> dict:
    if not isinstance(obj, dict):
        raise DataError(f"{path} holds a {type(obj).__name__}, expected a dict", "pass the benchmark file")
    return obj


def _simple(folder: Path, progress: Progress | None) -> Iterator[tuple[str, Mapping]]:
    meta = _dict(load_bz2_pickle(folder / f"meta{SUFFIX}"), folder)
    archs = meta.get("meta_archs")
    files = sorted(f for f in folder.glob(f"*{SUFFIX}") if f.name != f"meta{SUFFIX}")
    if not isinstance(archs, list) or not files:
        raise DataError(f"{folder} holds no architectures", "pass the complete -simple folder")
    for done, file in enumerate(files, 1):
        try:
            index = int(file.name.removesuffix(SUFFIX))
            arch = archs[index]
        except (ValueError, IndexError):
            raise DataError(f"{file.name} is not an architecture file of {folder.name}",
                            "leave only the benchmark's files in the folder") from None
        yield arch, _dict(load_bz2_pickle(file), file)
        if progress is not None:
            progress(done, len(files))


def _indexed(data: dict, path: Path, progress: Progress | None,
             budgets: Mapping[str, str]) -> Iterator[tuple[str, Mapping]]:
    archs, infos = data.get("meta_archs"), data.get("arch2infos")
    if not isinstance(archs, list) or not isinstance(infos, dict):
        raise DataError(f"{path} has no meta_archs / arch2infos", "pass the benchmark file as downloaded")
    for done, (index, by_budget) in enumerate(sorted(infos.items()), 1):
        if budgets:  # NB201's 'less' / 'full' as the epochs they stand for
            by_budget = {hp: by_budget[key] for hp, key in budgets.items() if key in by_budget}
        yield archs[index], by_budget
        if progress is not None:
            progress(done, len(infos))


def runs_of(arch: str, by_budget: Mapping, epochs: int, pick: Pick) -> list[PublishedRun]:
    results = by_budget.get(str(epochs))
    if results is None:
        held = ", ".join(sorted(map(str, by_budget)))
        raise ProxynasError(f"the benchmark has no {epochs}-epoch results for {arch} (it holds: {held})",
                            f"pass --epochs with one of {held}")
    seeds = results["dataset_seed"].get(pick.bench)
    if seeds is None:
        held = ", ".join(results["dataset_seed"])
        raise ProxynasError(f"the {epochs}-epoch results of {arch} hold no '{pick.bench}' (only {held})",
                            "pick another --rank-on or --epochs")
    runs = []
    for seed in seeds:
        result: dict[str, Any] = results["all_results"][(pick.bench, seed)]
        last = int(result["epochs"]) - 1
        accs = result["eval_acc1es"]
        times = result.get("train_times") or {}
        runs.append(PublishedRun(arch, int(seed), accs[f"{pick.rank_set}@{last}"] / 100,
                                 accs[f"{pick.test_set}@{last}"] / 100, float(result["train_losses"][last]),
                                 float(sum(times.values()))))
    return runs


def read_nats(path: Path, dataset: str, *, epochs: int = 200, rank_on: str = "test",
              progress: Progress | None = None) -> PublishedTruth:
    """Every architecture's published runs on ``dataset`` after ``epochs`` epochs, as a truth to store."""
    pick = PICKS.get((dataset, rank_on))
    if pick is None:
        choices = ", ".join(f"--dataset {d} --rank-on {r}" for d, r in PICKS)
        raise ProxynasError(f"NAS-Bench-201 publishes no {dataset} results ranked on '{rank_on}'",
                            f"choose one of: {choices}")
    layout, pairs = records(Path(path), progress)
    try:
        runs = tuple(run for arch, by_budget in pairs for run in runs_of(arch, by_budget, epochs, pick))
    except (KeyError, TypeError, AttributeError) as err:
        raise DataError(f"{path} is not laid out as NATS-Bench / NAS-Bench-201 results: missing {err}",
                        "pass the benchmark file as downloaded") from None
    source = source_name(Path(path))
    settings = {"source": source, "layout": layout, "epochs": epochs, "rank_on": rank_on,
                "benchmark_dataset": pick.bench, "val_acc": pick.rank_set, "test_acc": pick.test_set,
                "trained_on": pick.trained_on, "seeds": "one row per benchmark seed"}
    return PublishedTruth(SPACE, dataset, f"{source}:{dataset}:{epochs}ep:{rank_on}", settings, runs,
                          device=f"published ({source})")
