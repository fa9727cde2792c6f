"""`newsclf tune`: a two-trial search on a tiny model writes its study, best config, trials
table and page, scores only the best trial on test, continues with --resume, and records a
pruned trial as pruned. Nothing here asserts which trial wins: tiny models learn little."""

from __future__ import annotations

import csv
import json

import pytest

from helpers import tiny_config
from newsclf import ConfigError, TrainConfig
from newsclf.cli import main
from newsclf.search import tune

optuna = pytest.importorskip("optuna")

# One epoch each, the learning rate searched: each trial takes seconds.
SPACE = {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}}


@pytest.fixture(scope="module")
def search(tmp_path_factory, tiny_bert_dir):
    out = tmp_path_factory.mktemp("search")
    base = tiny_config(tiny_bert_dir, out, name="study")
    return tune(base, trials=2, space=SPACE), base


def test_a_search_writes_its_study_and_keeps_the_best_run(search):
    result, base = search
    study_dir = base.run_dir
    assert {"study.db", "best.yaml", "trials.csv", "study.html", "trials"} <= {
        p.name for p in study_dir.iterdir()
    }
    assert result.trials == 2 and result.best_run.parent == study_dir / "trials"
    best = TrainConfig.from_yaml(study_dir / "best.yaml")
    assert best.learning_rate == pytest.approx(result.best_params["learning_rate"])
    assert best.name == "study-best" and best.epochs == base.epochs
    with (study_dir / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    assert {"params_learning_rate", "value", "duration"} <= set(rows[0])
    page = (study_dir / "study.html").read_text()
    for title in ("Optimisation history", "Parameter importances", "Parallel coordinates"):
        assert f"<h2>{title}</h2>" in page
    assert "<script src=" not in page  # plotly.js inlined: the page opens offline


def test_only_the_best_trial_is_scored_on_test_and_keeps_its_model(search):
    result, base = search
    trials = sorted((base.run_dir / "trials").iterdir())
    for run in trials:
        history = json.loads((run / "history.json").read_text())
        assert history["epochs"]  # every trial trained and validated
        is_best = run == result.best_run
        assert (run / "best_model").is_dir() == is_best
        assert (run / "test_metrics.json").is_file() == is_best
    report = (result.best_run / "report.html").read_text()
    assert 'href="../../study.html"' in report


def test_resume_continues_the_study_and_a_pruned_trial_is_recorded(search):
    result, base = search
    with pytest.raises(ConfigError, match="already holds study 'study'.*--resume"):
        tune(base, trials=1, space=SPACE)
    # A pruner that prunes any trial scoring under 2 (every one): the third trial is pruned.
    always = optuna.pruners.ThresholdPruner(lower=2.0)
    again = tune(base, trials=1, space=SPACE, resume=True, pruner=always)
    assert again.trials == 3
    study = optuna.load_study(study_name="study", storage=f"sqlite:///{base.run_dir / 'study.db'}")
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    pruned = base.run_dir / "trials" / "trial-0002"
    assert json.loads((pruned / "history.json").read_text())["epochs"]
    assert not (pruned / "best_model").exists()


def test_a_bad_search_space_is_one_line(tmp_path, tiny_bert_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["tune", "--model", str(tiny_bert_dir), "--trials", "1", "--space", "space.yaml"]
    for text, fragment in [
        (
            "learning_rate: {type: float, low: 1.0e-3, high: 1.0e-4}",
            "expected two numbers with low < high",
        ),
        (
            "lerning_rate: {type: float, low: 1.0e-5, high: 1.0e-4}",
            "'lerning_rate' is not a config field",
        ),
        (
            "learning_rate: {type: float, low: 1.0e-5, high: 2.0}",
            "learning_rate=2.0 makes a bad config",
        ),
        ("batch_size: {type: categorical, choices: []}", "needs a non-empty list of choices"),
        ("epochs: 3", "is not a distribution"),
    ]:
        (tmp_path / "space.yaml").write_text(text)
        assert main(base) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("trial-*"))
