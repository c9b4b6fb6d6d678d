"""``proxynas correlate`` and ``proxynas report`` end to end: real training on digits, then the analysis."""

from __future__ import annotations

import csv
import json

import pytest

from proxynas.cli import COMMANDS, main

# six small candidates keep the real training to seconds on a CPU
FIGURES = ("accuracy_scatter", "rank_scatter", "metric_heatmap", "precision_curves", "dimension_effects")
CANDIDATES = ["--sample", "6", "--where", "width=32", "--where", "depth=1,2"]


def test_correlate_without_ground_truth_names_the_truth_command(home, capsys):
    assert main(["correlate", "--truth", "digits", "--proxy", "random_digits_ipc5"]) == 2
    err = capsys.readouterr().err
    assert "no ground truth for digits" in err and "`proxynas truth --dataset digits --space dc_convnet`" in err


@pytest.mark.slow
@pytest.mark.skipif(not {"search", "truth"} <= set(COMMANDS), reason="needs the search and truth commands")
def test_search_truth_correlate_report(home, tmp_path, capsys):
    assert main(["search", "--proxy", "random_digits_ipc5", *CANDIDATES, "--epochs", "2", "--json"]) == 0
    assert main(["truth", "--dataset", "digits", *CANDIDATES, "--epochs", "2", "--json"]) == 0
    capsys.readouterr()

    study = ["--truth", "digits", "--proxy", "random_digits_ipc5", "--resamples", "100"]
    plots, table_file = tmp_path / "plots", tmp_path / "m.csv"
    assert main(["correlate", *study, "--csv", str(table_file), "--plots", str(plots)]) == 0
    table = capsys.readouterr().out
    assert "Spearman ρ" in table and "random_digits_ipc5" in table
    assert "undefined (only 6 candidates for k=10)" in table  # six candidates: top-10 metrics are n/a

    assert main(["correlate", *study, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (proxy,) = result["comparisons"]
    assert proxy["label"] == "random_digits_ipc5" and proxy["candidates"] == 6 and proxy["epochs"] == 2
    assert result["truth"]["epochs"] == 2 and result["noise_ceiling"] is None
    assert proxy["metrics"]["precision@10"] == {"value": None, "interval": None,
                                                "reason": "only 6 candidates for k=10"}
    assert proxy["cost"]["condense_seconds"] is not None  # the random proxy was made and its card read
    assert proxy["cost"]["search_seconds"] > 0

    rows = list(csv.DictReader(table_file.open()))
    assert len(rows) == len(result["metrics"]) and {r["compared"] for r in rows} == {"random_digits_ipc5"}
    for name in FIGURES:
        png, pdf = (plots / f"{name}.png").read_bytes(), (plots / f"{name}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        assert pdf.startswith(b"%PDF") and len(pdf) > 5_000

    out = tmp_path / "report.html"
    assert main(["report", *study, "--out", str(out)]) == 0
    page = out.read_text()
    assert page.count('src="data:image/png;base64,') == 5
    for text in ("Spearman ρ", "Kendall τ", "Precision@5", "Regret", "random_digits_ipc5",
                 "Spearman ρ per minute", "undefined (only 6 candidates for k=10)"):
        assert text in page
    assert "http://" not in page and "https://" not in page  # self-contained
