"""The command lines users type: options anywhere among the arguments, `--resume` with one
meaning in `train` and `tune`, run names that do not collide. Parsing only, unless a test says
otherwise."""

import argparse

import pytest

from newsclf.cli import build_parser, main
from newsclf.training.staging import data_name, free_run_name, with_run_name

# Per command, the forms a user types, and what the parse must hold.
FORMS = {
    "train": [
        (["train", "--data", "mine.csv", "--epochs", "3"], {"data": "mine.csv", "epochs": 3}),
        (
            ["train", "--name", "demo", "--overwrite"],
            {"name": "demo", "overwrite": True},
        ),  # make demo
        (["train", "--resume", "runs/mine"], {"resume": "runs/mine"}),
        (["train", "--resume", "--name", "mine"], {"resume": True, "name": "mine"}),
    ],
    "tune": [
        (["tune", "--resume", "runs/search", "--trials", "4"], {"resume": "runs/search"}),
        (["tune", "--trials", "4", "--resume"], {"resume": True, "trials": 4}),
        (["tune", "--learning-rate", "3e-4"], {"learning_rate": 3e-4}),
    ],
    "calibrate": [
        (["calibrate", "--no-visuals", "runs/x"], {"run": "runs/x", "no_visuals": True}),
        (["calibrate", "runs/x", "--no-visuals"], {"run": "runs/x", "no_visuals": True}),
    ],
    "distill": [
        (["distill", "runs/demo", "--layers", "3"], {"run": "runs/demo", "student_layers": 3}),
        (
            ["distill", "--name", "small", "runs/demo", "--unlabeled-data", "more.txt"],
            {"run": "runs/demo", "name": "small", "unlabeled_data": "more.txt"},
        ),
    ],
    "evaluate": [
        (
            ["evaluate", "--split", "validation", "runs/x"],
            {"path": "runs/x", "split": "validation"},
        ),
        (["evaluate", "runs/x", "--data", "b.csv"], {"path": "runs/x", "data": "b.csv"}),
    ],
    "predict": [
        (["predict", "M", "--json", "Federer wins"], {"texts": ["Federer wins"], "json": True}),
        (["predict", "--json", "M", "a", "b"], {"model": "M", "texts": ["a", "b"]}),
        (["predict", "M", "a", "--min-confidence", "0.9", "b"], {"texts": ["a", "b"]}),
        (["predict", "M", "--file", "f.csv", "--output", "o.csv"], {"texts": []}),
    ],
    "plot": [(["plot", "runs/x"], {"run": "runs/x"})],
    "embed": [
        (["embed", "--split", "train", "runs/x"], {"run": "runs/x", "split": "train"}),
        (["embed", "runs/x", "--max-points", "50"], {"run": "runs/x", "max_points": 50}),
    ],
    "report": [(["report", "runs/x"], {"run": "runs/x"})],
    "serve": [
        (["serve", "--port", "9000", "M"], {"model": "M", "port": 9000}),
        (["serve", "M", "--api-key", "k"], {"model": "M", "api_key": "k"}),
    ],
    "export": [
        (["export", "--int8", "M", "out"], {"model": "M", "out": "out", "int8": True}),
        (["export", "M", "--overwrite", "out"], {"model": "M", "out": "out", "overwrite": True}),
    ],
    "audit": [(["audit", "--method", "both", "--data", "a.csv"], {"method": "both"})],
    "explain": [
        (["explain", "M", "--label", "World", "a", "--json", "b"], {"texts": ["a", "b"]}),
    ],
}


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def commands() -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_every_command_has_its_forms():
    assert commands() == set(FORMS)


@pytest.mark.parametrize(
    "argv,expected", [form for forms in FORMS.values() for form in forms], ids=lambda v: str(v)
)
def test_options_anywhere(argv, expected):
    args = parse(argv)
    for key, value in expected.items():
        got = getattr(args, key)
        assert (str(got) if key in ("run", "out") else got) == value, key


def test_an_unknown_option_is_still_refused(capsys):
    assert main(["predict", "M", "--jsn", "text"]) == 2
    assert "unrecognized arguments: --jsn" in capsys.readouterr().err


def test_train_resume_says_what_it_got(tmp_path, capsys):
    run = str(tmp_path / "gone")
    assert main(["train", "--resume", run, "--epochs", "3"]) == 2
    assert "got --epochs too" in capsys.readouterr().err
    assert main(["train", "--resume"]) == 2
    assert "--resume runs/NAME" in capsys.readouterr().err
    # Without RUN, the run is <output-dir>/<name>: named in the error when there is none.
    assert main(["train", "--resume", "--name", "gone", "--output-dir", str(tmp_path)]) == 2
    assert f"No interrupted run to resume at {run}" in capsys.readouterr().err


def test_tune_resume_takes_the_search_directory(tmp_path, capsys):
    search = tmp_path / "search"
    assert main(["tune", "--resume", str(search)]) == 2
    err = capsys.readouterr().err
    assert f"--resume {search}: no search there" in err and "study.db" in err
    search.mkdir()
    (search / "study.db").write_bytes(b"")
    assert main(["tune", "--resume", str(search), "--name", "other"]) == 2
    assert "--name other: they name two searches" in capsys.readouterr().err


@pytest.mark.parametrize(
    "data,name",
    [
        ("ag_news", "ag_news"),
        ("fancyzhx/ag_news", "ag_news"),
        ("data/mine.csv", "mine"),
        ("data/mine.csv.gz", "mine"),
        ("/tmp/my data (v2).jsonl", "my_data_v2"),
        ("data/banking77/", "banking77"),
        ("data/.csv", "run"),
    ],
)
def test_run_name_from_the_data(data, name):
    assert data_name(data) == name


def test_run_names_are_numbered_when_taken(tmp_path):
    assert free_run_name(tmp_path, "mine") == "mine"
    (tmp_path / "mine").mkdir()
    (tmp_path / ".mine-2.incomplete").mkdir()  # an interrupted run holds its name too
    (tmp_path / "mine-3").write_text("a file")
    assert free_run_name(tmp_path, "mine") == "mine-4"


def test_a_chosen_name_is_kept_and_a_default_one_printed(tmp_path, capsys):
    from newsclf.config import TrainConfig

    named = TrainConfig(name="demo", output_dir=str(tmp_path))
    assert with_run_name(named) is named
    (tmp_path / "mine").mkdir()
    cfg = with_run_name(TrainConfig(data="x/mine.csv", output_dir=str(tmp_path)))
    assert cfg.name == "mine-2" and cfg.run_dir == tmp_path / "mine-2"
    assert f"Run name: mine-2 (writing {tmp_path / 'mine-2'}/" in capsys.readouterr().out


def test_a_second_run_on_the_same_data_gets_its_own_directory(tiny_bert_dir, tmp_path, capsys):
    """The default name does not collide with the first run: the second is numbered."""
    from helpers import synthetic_rows, write_csv

    data = write_csv(tmp_path / "mine.csv", synthetic_rows(60))
    args = ["train", "--data", str(data), "--model", str(tiny_bert_dir), "--epochs", "1",
            "--max-length", "32", "--output-dir", str(tmp_path / "runs"), "--no-visuals",
            "--quiet", "--precision", "fp32"]  # fmt: skip
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    (tmp_path / "runs" / "mine" / "config.yaml").write_text("an earlier run\n")
    assert main(args) == 0
    assert "Run name: mine-2" in capsys.readouterr().out
    assert (tmp_path / "runs" / "mine-2" / "best_model" / "config.json").is_file()
