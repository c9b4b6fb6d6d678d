"""Small NAS-Bench-201 / NATS-Bench files in the real layouts, for the importer tests.

The layout follows the benchmark's files (D-X-Y/NATS-Bench ``fake_torch_dir/NATS-tss-v1_0-3ffb9-simple``):
a bz2 pickle (protocol 4) per architecture of ``{"12": results, "200": results}``, ``results`` being
``{"arch_index", "arch_str", "all_results": {(dataset, seed): run}, "dataset_seed", "clear_net_done"}``,
each run with per-epoch ``train_losses``, ``train_times`` (an OrderedDict), ``eval_acc1es`` in percent
keyed ``"{set}@{epoch}"``, ``params`` as a ``numpy.float64``. Accuracies here are made up per arch.
"""

from __future__ import annotations

import bz2
import collections
import pickle
import zlib
from pathlib import Path

import numpy as np
import torch

SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
        "cifar100": ("ori-test", "x-valid", "x-test"), "ImageNet16-120": ("ori-test", "x-valid", "x-test")}
SEEDS = {"12": [111], "200": [777, 888, 999]}


def accuracy(arch: str, dataset: str, evalset: str, seed: int, epochs: int) -> float:
    """A made-up accuracy in percent, different per architecture, set, seed and budget."""
    return 40 + (zlib.crc32(f"{arch}|{dataset}|{evalset}|{seed}|{epochs}".encode()) % 5000) / 100


def run(arch: str, dataset: str, seed: int, epochs: int) -> dict:
    evals = {f"{s}@{e}": accuracy(arch, dataset, s, seed, epochs) for s in SETS[dataset] for e in range(epochs)}
    return {"name": dataset, "train_acc1es": {e: 50.0 for e in range(epochs)}, "train_acc5es": None,
            "train_losses": {e: 2.0 - e / epochs for e in range(epochs)},
            "train_times": collections.OrderedDict((e, 12.5) for e in range(epochs)),
            "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": 10},
            "params": np.float64(0.5), "flop": 100.0, "seed": f"{seed:04d}", "epochs": epochs,
            "latency": [np.float64(0.01)], "eval_names": list(SETS[dataset]), "eval_acc1es": evals,
            "eval_times": dict.fromkeys(evals, 1.0), "eval_losses": dict.fromkeys(evals, 1.0),
            "net_state_dict": None}


def record(index: int, arch: str) -> dict:
    out = {}
    for hp, seeds in SEEDS.items():
        epochs = int(hp)
        out[hp] = {"arch_index": index, "arch_str": arch,
                   "all_results": {(d, s): run(arch, d, s, epochs) for d in SETS for s in seeds},
                   "dataset_seed": {d: list(seeds) for d in SETS}, "clear_net_done": True}
    return out


def save_bz2(obj: object, path: Path) -> None:
    path.write_bytes(bz2.compress(pickle.dumps(obj, protocol=4)))


def write_simple(folder: Path, meta_archs: list[str], indexes: list[int]) -> Path:
    """A NATS-tss '-simple' folder: the meta file and the files of the architectures at ``indexes``."""
    folder.mkdir(parents=True)
    save_bz2({"meta_archs": meta_archs, "total_archs": len(meta_archs), "arch2infos": None,
              "evaluated_indexes": set()}, folder / "meta.pickle.pbz2")
    for i in indexes:
        save_bz2(record(i, meta_archs[i]), folder / f"{i:06d}.pickle.pbz2")
    return folder


def whole(meta_archs: list[str], indexes: list[int], budgets: dict[str, str] | None = None) -> dict:
    infos = {}
    for i in indexes:
        by_hp = record(i, meta_archs[i])
        infos[i] = {budgets[hp]: r for hp, r in by_hp.items()} if budgets else by_hp
    return {"meta_archs": meta_archs, "arch2infos": infos, "evaluated_indexes": set(indexes)}


def write_single(path: Path, meta_archs: list[str], indexes: list[int]) -> Path:
    """The single NATS-tss file: one bz2 pickle of everything."""
    save_bz2(whole(meta_archs, indexes), path)
    return path


def write_pth(path: Path, meta_archs: list[str], indexes: list[int], legacy: bool) -> Path:
    """An NB201 ``.pth`` (``less`` = 12 epochs, ``full`` = 200), torch-saved, with a tensor in it."""
    data = whole(meta_archs, indexes, {"12": "less", "200": "full"})
    first = next(iter(data["arch2infos"].values()))["full"]["all_results"]
    next(iter(first.values()))["net_state_dict"] = collections.OrderedDict(w=torch.ones(3))
    torch.save(data, path, _use_new_zipfile_serialization=not legacy)
    return path
