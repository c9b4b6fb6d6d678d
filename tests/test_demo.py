from proxynas.cli import main


def test_demo_runs_a_whole_small_study(home, tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--sample", "5", "--proxy-epochs", "3", "--truth-epochs", "1", "--ipc", "3",
            "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Spearman rho, proxy vs ground truth, over 5 candidates" in text
    assert (out / "report.html").stat().st_size > 10_000
    assert any(p.suffix == ".png" and p.stat().st_size > 1000 for p in out.iterdir())
    assert main(argv) == 0  # a rerun trains nothing: everything is in the store
    assert "0 to train" in capsys.readouterr().err
