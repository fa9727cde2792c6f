import json
import subprocess
import sys

import pytest

from newsclf.cli import main

COMMANDS = ["train", "evaluate", "predict", "plot", "embed", "report", "serve"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_imports_no_torch(command):
    """`--help` stays instant because it imports no heavy library; how long it takes is
    measured by benchmarks/bench_cli.py, not asserted here (a busy machine would flake)."""
    args = [command] if command else []
    code = (
        "import sys\n"
        "from newsclf.cli import main\n"
        f"assert main({args!r} + ['--help']) == 0\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'pandas', 'sklearn') "
        "if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: newsclf" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "heavy: []"


def test_predict_arguments_json_and_stdin(tiny_run, capsys, monkeypatch):
    import io

    best = str(tiny_run.run_dir / "best_model")
    assert main(["predict", best, "Federer wins his fifth Wimbledon title", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["text"].startswith("Federer") and row["label"] in row["probabilities"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("first text\n\nsecond text\n"))
    assert main(["predict", best]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[-1] for line in lines] == ["first text", "second text"]


def test_train_evaluate_through_the_cli(tiny_bert_dir, tmp_path, capsys):
    args = [
        "train",
        "--model",
        str(tiny_bert_dir),
        "--output-dir",
        str(tmp_path),
        "--name",
        "cli",
        "--epochs",
        "1",
        "--max-train-samples",
        "48",
        "--max-eval-samples",
        "16",
        "--max-test-samples",
        "24",
        "--max-length",
        "32",
        "--no-visuals",
        "--quiet",
    ]
    assert main(args) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "cli"), "--quiet"]) == 0
    assert (tmp_path / "cli" / "test_metrics.json").is_file()


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "hello"]) == 2
    err = capsys.readouterr().err
    assert "not a complete model directory" in err and "Traceback" not in err
