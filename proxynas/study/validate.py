"""Read a study file and check every key, name and value before anything runs.

The file is TOML (read with the standard library's ``tomllib``)::

    [study]      name, dataset, title, source, output, baselines = ["early_stopping:10"]
    [space]      name, sample, sample_seed, where = { dim = [values] }, unique, archs = [ids]
    [[proxies]]  method, ipc, seed, settings = { key = value }   or   imported = "proxy_name"
    [search]     epochs, seeds, seed, augment, batch_size, lr, momentum, weight_decay, decay_at
    [truth]      the same keys as [search]: the ground-truth protocol; or imported = "PROTOCOL" and its
                 epochs, for a truth brought in with `proxynas truth import` (every seed it holds counts)
    [metrics]    top_k = [5, 10, 20], top_fraction, resamples, bootstrap_seed
    [transfer]   archs = ["dc_eval:resnet18", ...], runs, protocol, epochs: every proxy on other networks

A problem is one :class:`~proxynas.errors.ProxynasError` naming ``FILE:LINE`` and, for a name, the
closest valid one.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from proxynas.datasets import list_datasets
from proxynas.engine import Protocol
from proxynas.engine.protocol import AUGMENTS
from proxynas.errors import ProxynasError
from proxynas.proxies.names import check_name
from proxynas.study.reader import KeyPath, Reader
from proxynas.study.spec import MetricsSpec, ProxySpec, PublishedSpec, SpaceSpec, StudySpec, TrainingSpec
from proxynas.study.transfer_steps import read_transfer

SECTIONS = ("study", "space", "proxies", "search", "truth", "metrics", "published", "transfer")
STUDY_KEYS = ("name", "title", "source", "dataset", "output", "baselines")
SPACE_KEYS = ("name", "sample", "sample_seed", "where", "archs", "unique")
PROXY_KEYS = ("method", "ipc", "seed", "settings", "imported")
PROTOCOL_KEYS = ("epochs", "seeds", "seed", "augment", "batch_size", "lr", "momentum", "weight_decay", "decay_at")
METRICS_KEYS = ("top_k", "top_fraction", "resamples", "bootstrap_seed")
_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def read_study(path: Path, *, label: str | None = None) -> StudySpec:
    """The study in ``path``, checked. ``label`` is how errors name the file (default: its path)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ProxynasError(f"cannot read study file {path} ({err.strerror})",
                            "give the path of a .toml study file, or a recipe name (proxynas study list)") from None
    return parse_study(text, label=label or str(path), path=path)


def parse_study(text: str, *, label: str, path: Path | None = None) -> StudySpec:
    reader = Reader(text, label)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        m = _LINE.search(message)
        where = f"{label}:{m[1]}" if m else label
        raise ProxynasError(f"{where}: not valid TOML: {_LINE.sub('', message).strip()}",
                            "see https://toml.io for the syntax") from None
    top = reader.table(data, [], SECTIONS, required=("study",))
    study = reader.table(top["study"], ["study"], STUDY_KEYS, required=("name", "dataset"))
    dataset = reader.choice(study["dataset"], ["study", "dataset"], "dataset", list_datasets())
    name = reader.string(study["name"], ["study", "name"])
    truth = _training(reader, top.get("truth", {}), "truth")
    proxies = tuple(_proxy(reader, item, i, dataset) for i, item in enumerate(_array(reader, top, "proxies")))
    # without proxies nothing is searched: a study of baselines alone may leave [search] out
    search = _training(reader, top["search"], "search") if proxies or "search" in top else truth
    baselines = tuple(_baseline(reader, spec, truth) for spec in reader.strings(study.get("baselines", []),
                                                                                 ["study", "baselines"]))
    if not proxies and not baselines:
        raise reader.error(["study"], "the study compares nothing with the ground truth",
                           "add a [[proxies]] table or study.baselines = [\"early_stopping:E\"]")
    _no_duplicates(reader, [p.name(dataset) for p in proxies], "proxies", "proxy")
    _no_duplicates(reader, list(baselines), "baselines", "baseline")
    output = Path(reader.string(study.get("output", f"proxynas-studies/{name}"), ["study", "output"]))
    return StudySpec(name=name, dataset=dataset, space=_space(reader, top.get("space", {})), proxies=proxies,
                     baselines=baselines, search=search, truth=truth,
                     metrics=_metrics(reader, top.get("metrics", {})), output=output.expanduser(),
                     title=str(study.get("title", "")), source=str(study.get("source", "")), path=path,
                     published=_published(reader, top.get("published", {})),
                     transfer=read_transfer(reader, top["transfer"], proxies) if "transfer" in top else None)


def _published(reader: Reader, data: Any) -> PublishedSpec:
    """``[published]``: the figures a recipe's source reports, printed beside the study's (``spearman``:
    compared label -> Spearman's rho, ``source``: where they were read)."""
    table = reader.table(data, ["published"], ("source", "spearman"))
    raw = table.get("spearman", {})
    spearman = reader.table(raw, ["published", "spearman"], list(raw) if isinstance(raw, dict) else [])
    values = {str(k): reader.number(v, ["published", "spearman", str(k)]) for k, v in spearman.items()}
    return PublishedSpec(str(table.get("source", "")), values)


def _array(reader: Reader, top: dict, key: str) -> list[Any]:
    value = top.get(key, [])
    if not isinstance(value, list):
        raise reader.error([key], f"{key} must be an array of tables", f"write each as [[{key}]]")
    return value


def _no_duplicates(reader: Reader, names: list[str], section: str, kind: str) -> None:
    seen = set()
    for i, name in enumerate(names):
        if name in seen:
            raise reader.error([section, i] if section == "proxies" else ["study", section],
                               f"the {kind} {name} is named twice", f"keep one {kind} of each name")
        seen.add(name)


def _training(reader: Reader, data: Any, section: str) -> TrainingSpec:
    keys = (*PROTOCOL_KEYS, "imported") if section == "truth" else PROTOCOL_KEYS
    table = reader.table(data, [section], keys, required=("epochs",))
    imported = reader.string(table.pop("imported"), [section, "imported"]) if "imported" in table else None
    if imported is not None and set(table) - {"epochs"}:
        extra = sorted(set(table) - {"epochs"})[0]
        raise reader.error([section, extra], f"an imported truth was trained by its source: {section}.{extra} "
                           "has no say", f"keep imported and epochs in [{section}]")
    values: dict[str, Any] = {}
    for key, value in table.items():
        path: KeyPath = [section, key]
        if key in ("epochs", "seeds", "batch_size"):
            values[key] = reader.integer(value, path, 1)
        elif key == "seed":
            values[key] = reader.integer(value, path, 0)
        elif key == "augment":
            values[key] = reader.choice(value, path, "augmentation", AUGMENTS)
        elif key in ("lr",):
            values[key] = reader.number(value, path, positive=True)
        elif key == "decay_at":
            values[key] = reader.number(value, path, positive=True, at_most=1.0)
        else:
            values[key] = reader.number(value, path)
            if values[key] < 0:
                raise reader.error(path, f"{section}.{key} must not be negative, got {value}", "use 0 or more")
    seeds = values.pop("seeds", 1)
    return TrainingSpec(Protocol.from_dict(values), seeds, imported)  # from_dict reads decay_at as the one milestone


def _space(reader: Reader, data: Any) -> SpaceSpec:
    from search_spaces import get_space, list_spaces

    table = reader.table(data, ["space"], SPACE_KEYS)
    name = reader.choice(table.get("name", "dc_convnet"), ["space", "name"], "search space", list_spaces())
    space = get_space(name)
    archs = reader.strings(table.get("archs", []), ["space", "archs"])
    if archs and ({"sample", "where", "unique"} & set(table)):
        raise reader.error(["space", "archs"], "space.archs names the candidates: sample, where and unique do "
                           "not apply", "keep either archs, or sample, where and unique")
    unique = table.get("unique", False)
    if not isinstance(unique, bool):
        raise reader.error(["space", "unique"], f"space.unique must be true or false, not {unique!r}",
                           "write unique = true")
    ids = None
    for arch in archs:
        try:
            space.parse(arch)
        except ProxynasError:
            ids = ids or [c.id for c in space.candidates()]
            raise reader.unknown(["space", "archs"], f"{name} candidate", arch, ids) from None
    sample = None if "sample" not in table else reader.integer(table["sample"], ["space", "sample"], 1)
    seed = reader.integer(table.get("sample_seed", 0), ["space", "sample_seed"], 0)
    where = reader.table(table.get("where", {}), ["space", "where"], list(space.dimensions))
    filters = {}
    for dim, values in where.items():
        choices = list(space.dimensions[dim])
        kept = []
        for value in reader.items(values, ["space", "where", dim]):
            if value not in choices and str(value) in map(str, choices):
                raise reader.error(["space", "where", dim], f"space.where.{dim}: write {value} without quotes",
                                   f"{dim} takes numbers: {', '.join(map(str, choices))}")
            if value not in choices:
                raise reader.unknown(["space", "where", dim], f"{dim} of {name}", str(value), map(str, choices))
            kept.append(value)
        filters[dim] = tuple(kept)
    if not archs and not space.candidates(**{d: list(v) for d, v in filters.items()}):
        raise reader.error(["space", "where"], "space.where keeps no candidate", "loosen the filters")
    return SpaceSpec(name, sample, seed, filters, archs, unique)


def _proxy(reader: Reader, data: Any, index: int, dataset: str) -> ProxySpec:
    from condensed import get_method, list_methods

    base: KeyPath = ["proxies", index]
    table = reader.table(data, base, PROXY_KEYS)
    if "imported" in table:
        extra = [k for k in table if k != "imported"]
        if extra:
            raise reader.error([*base, extra[0]], f"an imported proxy takes only its name, not '{extra[0]}'",
                               "its settings are on its card: proxynas proxies show NAME")
        name = reader.string(table["imported"], [*base, "imported"])
        try:
            check_name(name)
        except ProxynasError as err:
            raise reader.located([*base, "imported"], err) from None
        return ProxySpec(imported=name)
    for key in ("method", "ipc"):
        if key not in table:
            raise reader.error(base, f"proxies[{index + 1}] needs '{key}'",
                               "e.g. method = \"random\" and ipc = 10, or imported = \"name\"")
    method = get_method(reader.choice(table["method"], [*base, "method"], "condensation method", list_methods()))
    ipc = reader.integer(table["ipc"], [*base, "ipc"], 1)
    seed = reader.integer(table.get("seed", 0), [*base, "seed"], 0)
    known = {f.name: f for f in fields(method.settings_type)}
    settings = _settings_table(reader, table.get("settings", {}), [*base, "settings"], method.name, list(known))
    for key, value in settings.items():
        _check_setting(reader, [*base, "settings", key], known[key].default, value)
    try:
        method.settings(**settings)
    except (ProxynasError, TypeError, ValueError) as err:
        problem = err if isinstance(err, ProxynasError) else ProxynasError(str(err), "check the values' types")
        raise reader.located([*base, "settings"], problem) from None
    return ProxySpec(method.name, ipc, seed, settings)


def _settings_table(reader: Reader, data: Any, path: KeyPath, method: str, known: list[str]) -> dict:
    if isinstance(data, dict):
        for key in data:
            if key not in known:
                raise reader.unknown([*path, key], f"setting of {method}", key, known)
    return reader.table(data, path, known)


def _check_setting(reader: Reader, path: KeyPath, default: Any, value: Any) -> None:
    """A setting's value has the type of its default (an int, a float, a string); None takes any."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise reader.error(path, f"{path[-1]} must be true or false, not {value!r}", "write true or false")
    elif isinstance(default, int):
        reader.integer(value, path)
    elif isinstance(default, float):
        reader.number(value, path)
    elif isinstance(default, str):
        reader.string(value, path)


def _baseline(reader: Reader, spec: str, truth: TrainingSpec) -> str:
    path: KeyPath = ["study", "baselines"]
    from proxynas.scoring import get_scorer, list_scorers

    name = spec.partition(":")[0]
    if name not in list_scorers():
        raise reader.unknown(path, "baseline", name, list_scorers())
    scorer = get_scorer(name)
    try:
        arg = scorer.parse(spec)
        if scorer.trains:
            scorer.training(arg, truth)  # a scorer that trains: the study plans its training
    except ProxynasError as err:
        raise reader.located(path, err) from None
    return spec  # a scorer that does not train: scored by the run (proxynas score), or an imported table


def _metrics(reader: Reader, data: Any) -> MetricsSpec:
    table = reader.table(data, ["metrics"], METRICS_KEYS)
    default = MetricsSpec()
    top_k = reader.integers(table.get("top_k", list(default.top_k)), ["metrics", "top_k"], 2)
    fraction = reader.number(table.get("top_fraction", default.top_fraction), ["metrics", "top_fraction"],
                             positive=True, at_most=1.0)
    resamples = reader.integer(table.get("resamples", default.resamples), ["metrics", "resamples"], 0)
    seed = reader.integer(table.get("bootstrap_seed", 0), ["metrics", "bootstrap_seed"], 0)
    return MetricsSpec(tuple(sorted(set(top_k))), fraction, resamples, seed)
