"""Study files: every key, name and value checked up front, each problem one line naming FILE:LINE and the
closest valid name; the shipped recipes load; the key-to-line finder."""

from __future__ import annotations

import pytest

from proxynas.cli import main
from proxynas.errors import ProxynasError
from proxynas.study import load_study, parse_study, recipe_names
from proxynas.study.lines import find_line

BASE = """\
# a tiny study
[study]
name = "tiny"
dataset = "digits"
output = "out"
baselines = ["early_stopping:1"]

[space]
name = "dc_convnet"
sample = 4
where = { width = [32], depth = [1, 2] }

[[proxies]]
method = "random"
ipc = 2

[[proxies]]
method = "dm"
ipc = 1
settings = { iterations = 2 }

[search]
epochs = 2

[truth]
epochs = 2

[metrics]
top_k = [2, 3]
resamples = 0
"""


def test_the_base_file_is_valid():
    spec = parse_study(BASE, label="tiny.toml")
    assert spec.name == "tiny" and spec.dataset == "digits" and spec.baselines == ("early_stopping:1",)
    assert spec.proxy_names() == ["random_digits_ipc2", "dm_digits_ipc1"]
    assert spec.proxies[1].settings == {"iterations": 2}
    assert spec.space.sample == 4 and spec.space.where == {"width": (32,), "depth": (1, 2)}
    assert spec.search.protocol.epochs == 2 and spec.truth.seeds == 1 and spec.metrics.top_k == (2, 3)


# (text replaced, its replacement, the text of the line the error must name, the expected message)
CASES = [
    ('dataset = "digits"', 'dataset = "digit"', 'dataset = "digit"', "unknown dataset 'digit' (did you mean 'digits'?"),
    ("[search]", "[serch]", "[serch]", "unknown section 'serch' (did you mean 'search'?"),
    ("epochs = 2\n\n[truth]", "epoch = 2\n\n[truth]", "epoch = 2",
     "unknown key 'epoch' in [search] (did you mean 'epochs'?"),
    ("epochs = 2\n\n[truth]", 'epochs = "ten"\n\n[truth]', 'epochs = "ten"',
     "search.epochs must be an integer, not 'ten'"),
    ("epochs = 2\n\n[metrics]", "epochs = 0\n\n[metrics]", "epochs = 0", "truth.epochs must be at least 1, got 0"),
    ('method = "random"', 'method = "randon"', 'method = "randon"',
     "unknown condensation method 'randon' (did you mean 'random'?"),
    ("ipc = 2", "ipc = 0", "ipc = 0", "proxies[1].ipc must be at least 1, got 0"),
    ("ipc = 2", "ipcs = 2", "ipcs = 2", "unknown key 'ipcs' in proxies[1] (did you mean 'ipc'?"),
    ("settings = { iterations = 2 }", "settings = { iteration = 2 }", "settings = { iteration",
     "unknown setting of dm 'iteration' (did you mean 'iterations'?"),
    ("settings = { iterations = 2 }", 'settings = { iterations = "x" }', "settings = {",
     "iterations must be an integer"),
    ("settings = { iterations = 2 }", "settings = { iterations = 0 }", "settings = {",
     "setting iterations must be at least 1"),
    ('name = "dc_convnet"', 'name = "dc_convnett"', 'name = "dc_convnett"',
     "unknown search space 'dc_convnett' (did you mean 'dc_convnet'?"),
    ("where = { width", "where = { widht", "where = { widht",
     "unknown key 'widht' in [space.where] (did you mean 'width'?"),
    ("depth = [1, 2] }", 'depth = [1, 2], act = ["relus"] }', "relus",
     "unknown act of dc_convnet 'relus' (did you mean 'relu'?"),
    ("depth = [1, 2] }", 'depth = ["1"] }', 'depth = ["1"]', "space.where.depth: write 1 without quotes"),
    ("sample = 4\nwhere = { width = [32], depth = [1, 2] }", 'archs = ["d3_w128_relu_instancenorm_avgpol"]',
     "archs =", "unknown dc_convnet candidate 'd3_w128_relu_instancenorm_avgpol' "
     "(did you mean 'd3_w128_relu_instancenorm_avgpool'?"),
    ("sample = 4", 'sample = 4\narchs = ["d1_w32_relu_none_none"]', "archs =", "sample, where and unique do not apply"),
    ('baselines = ["early_stopping:1"]', 'baselines = ["early_stoping:1"]', "baselines",
     "unknown baseline 'early_stoping' (did you mean 'early_stopping'?"),
    ('baselines = ["early_stopping:1"]', 'baselines = ["early_stopping:5"]', "baselines",
     "early_stopping:5 must train fewer epochs than the ground truth (2)"),
    ('baselines = ["early_stopping:1"]', 'baselines = ["early_stopping"]', "baselines",
     "early_stopping needs its epochs"),
    ("epochs = 2\n\n[truth]", 'epochs = 2\naugment = "dsaa"\n\n[truth]', "augment",
     "unknown augmentation 'dsaa' (did you mean 'dsa'?"),
    ("epochs = 2\n\n[truth]", "epochs = 2\nlr = -1\n\n[truth]", "lr = -1", "search.lr must be positive, got -1"),
    ("top_k = [2, 3]", "top_k = [1, 3]", "top_k", "metrics.top_k must be at least 2, got 1"),
    ("resamples = 0", "resamples = 0\ntop_fraction = 2", "top_fraction",
     "metrics.top_fraction must be at most 1.0, got 2"),
    ('method = "dm"\nipc = 1\nsettings = { iterations = 2 }', 'method = "random"\nipc = 2',
     '[[proxies]]\nmethod = "random"\nipc = 2\n\n[search]', "the proxy random_digits_ipc2 is named twice"),
    ('name = "tiny"\n', "", "[study]", "[study] needs 'name'"),
    ("[truth]\nepochs = 2", "[truth]\nseeds = 2", "[truth]", "[truth] needs 'epochs'"),
    ('method = "dm"\nipc = 1', 'imported = "mtt_digits_ipc1"\nipc = 1', "ipc = 1",
     "an imported proxy takes only its name"),
    ('method = "dm"\nipc = 1\nsettings = { iterations = 2 }', 'imported = "Bad Name"', "Bad Name",
     "'Bad Name' is not a usable proxy name"),
    ('method = "dm"\nipc = 1', 'method = "dm"', "[[proxies]]\nmethod = \"dm\"", "proxies[2] needs 'ipc'"),
    ('output = "out"', 'output = "out', 'output = "out', "not valid TOML"),
    ("sample = 4", "sample = true", "sample = true", "space.sample must be an integer, not True"),
    ("sample = 4", 'sample = 4\nunique = "yes"', "unique", "space.unique must be true or false, not 'yes'"),
]


def line_of(text: str, marker: str) -> int:
    """1-based line where ``marker`` (which may span lines: its first line counts) starts."""
    return text[:text.index(marker)].count("\n") + 1


@pytest.mark.parametrize(("old", "new", "marker", "message"), CASES, ids=[c[3][:40] for c in CASES])
def test_every_problem_is_one_line_naming_the_line_and_the_closest_match(old, new, marker, message):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(ProxynasError) as caught:
        parse_study(text, label="tiny.toml")
    err = str(caught.value)
    assert message in err and "\n" not in err, err
    assert err.startswith(f"tiny.toml:{line_of(text, marker)}: "), err


def test_nothing_to_compare_is_an_error():
    text = BASE.replace('baselines = ["early_stopping:1"]\n', "").split("[[proxies]]")[0] + BASE.split(
        'settings = { iterations = 2 }\n')[1]
    with pytest.raises(ProxynasError, match="compares nothing with the ground truth"):
        parse_study(text, label="tiny.toml")


def test_the_command_line_shows_the_error_in_one_line(tmp_path, home, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(BASE.replace("ipc = 2", "ipc = 0"))
    assert main(["study", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"proxynas: error: {path}:15: proxies[1].ipc must be at least 1") and err.count("\n") == 1
    assert main(["study", "plan", "dc2021-cifar1"]) == 2
    assert "unknown study recipe 'dc2021-cifar1' (did you mean 'dc2021-cifar10'?" in capsys.readouterr().err
    assert main(["study", "plan", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_every_recipe_loads_and_cites_its_source(capsys):
    names = recipe_names()
    assert {"dc2021-cifar10", "ftd2023-cifar10", "fashion-mnist-1gpu", "demo-digits"} <= set(names)
    for name in names:
        spec = load_study(name)
        assert spec.source and spec.title and (spec.proxies or spec.baselines)  # zero-cost-nb201: scorers only
    dc = load_study("dc2021-cifar10")
    assert dc.dataset == "cifar10" and [p.method for p in dc.proxies] == ["random", "herding", "dc"]
    assert {p.ipc for p in dc.proxies} == {10} and dc.search.protocol.epochs == 100
    assert dc.baselines == ("early_stopping:1",) and dc.space.sample is None
    ftd = load_study("ftd2023-cifar10")
    assert {p.ipc for p in ftd.proxies} == {50} and ftd.truth.protocol.epochs == 200
    assert [p.method for p in ftd.proxies] == ["random", "mtt", "ftd"]  # made here, experts first
    assert all(p.settings["train_experts"] == 100 for p in ftd.proxies[1:])
    assert ftd.metrics.top_k == (5, 10, 20)
    assert main(["study", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in names)
    assert main(["study", "show", "ftd2023-cifar10"]) == 0
    assert "Table 5" in capsys.readouterr().out


@pytest.mark.parametrize(("path", "line"), [
    (("study", "name"), 3), (("search", "epochs"), 23), (("truth", "epochs"), 26), (("proxies", 1, "ipc"), 19),
    (("proxies", 0, "method"), 14), (("proxies", 1, "settings", "iterations"), 20), (("space", "where", "depth"), 11),
    (("metrics",), 28), (("proxies", 1, "nope"), 17), (("nothing",), None),
])
def test_find_line(path, line):
    assert find_line(BASE, path) == line


def test_find_line_skips_comments_and_follows_dotted_keys():
    text = '[search]\n# epochs = 1\nseeds = 1 # epochs\nepochs = 3\n[space]\nwhere.act = ["relu"]\n'
    assert find_line(text, ("search", "epochs")) == 4
    assert find_line(text, ("space", "where", "act")) == 6
