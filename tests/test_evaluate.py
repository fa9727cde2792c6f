import json
import sys

import pytest

from helpers import write_csv
from newsclf import DataError, compute_metrics, evaluate
from newsclf.evaluation import format_report


def test_compute_metrics_known_values():
    m = compute_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }
    assert m["per_class"]["c"]["f1"] == 0.0
    assert m["per_class"]["a"]["f1"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_evaluate_run_writes_metrics(tiny_run, tmp_path):
    out = tmp_path / "m.json"
    # The batch size training scored with: the same batches give the same numbers, where
    # other padding could break a near tie the other way.
    metrics = evaluate(tiny_run.run_dir, output=out, quiet=True, batch_size=64)
    saved = json.loads(out.read_text())
    assert (
        saved["accuracy"] == metrics["accuracy"] == pytest.approx(tiny_run.test_metrics["accuracy"])
    )
    assert "Sci/Tech" in format_report(metrics)


def test_evaluate_model_dir_on_a_file(tiny_run, tmp_path):
    rows = [
        ("Stocks fall on Wall Street", "Business"),
        ("Champions league final tonight", "Sports"),
    ]
    write_csv(tmp_path / "eval.csv", rows)
    metrics = evaluate(
        tiny_run.run_dir / "best_model",
        data=str(tmp_path / "eval.csv"),
        output=tmp_path / "out.json",
        quiet=True,
    )
    assert metrics["num_samples"] == 2


def test_evaluate_model_dir_needs_data(tiny_run, tmp_path):
    import shutil

    model = shutil.copytree(tiny_run.run_dir / "best_model", tmp_path / "model")
    with pytest.raises(DataError, match="--data"):
        evaluate(model)


def test_labels_match_loosely_and_through_a_label_map(tiny_run, tmp_path):
    """'world' is World and 'sci_tech' is Sci/Tech (case and punctuation aside); --label-map
    renames the rest. Supports count the true labels, so they are known whatever is predicted."""
    rows = [("a", "world"), ("b", "SPORTS"), ("c", "sci_tech"), ("d", "money"), ("e", "money")]
    write_csv(tmp_path / "other.csv", rows)
    metrics = evaluate(
        tiny_run.run_dir / "best_model",
        data=str(tmp_path / "other.csv"),
        output=tmp_path / "out.json",
        quiet=True,
        label_map="money=Business",
    )
    supports = {name: row["support"] for name, row in metrics["per_class"].items()}
    assert supports == {"World": 1, "Sports": 1, "Business": 2, "Sci/Tech": 1}
    with pytest.raises(
        DataError, match=r"\['money'\].*\['World', 'Sports', 'Business', 'Sci/Tech'\]"
    ):
        evaluate(tiny_run.run_dir, data=str(tmp_path / "other.csv"), output=tmp_path / "o.json")


def test_evaluate_draws_no_progress_bar_when_stderr_is_not_a_terminal(tiny_run, tmp_path, capsys):
    from newsclf.cli import main

    assert main(["evaluate", str(tiny_run.run_dir), "--output", str(tmp_path / "m.json")]) == 0
    assert "Predicting" not in capsys.readouterr().err


def test_progress_only_for_a_terminal(monkeypatch):
    from newsclf.quiet import show_progress

    for tty, quiet, expected in [(True, False, True), (True, True, False), (False, False, False)]:
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty)
        assert show_progress(quiet) is expected


def test_scores_on_other_data_do_not_replace_the_runs_own(tiny_run, tmp_path):
    import shutil

    run = shutil.copytree(tiny_run.run_dir, tmp_path / "run")
    own = (run / "test_metrics.json").read_text()
    write_csv(tmp_path / "news-2025.csv", [("Stocks fall", "Business"), ("Cup final", "Sports")])
    metrics = evaluate(run, data=str(tmp_path / "news-2025.csv"), quiet=True)
    assert metrics["written_to"] == str(run / "test_metrics.news-2025.json")
    assert json.loads((run / "test_metrics.news-2025.json").read_text())["num_samples"] == 2
    assert (run / "test_metrics.json").read_text() == own
