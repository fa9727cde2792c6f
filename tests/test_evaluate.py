import json

import pytest

from helpers import write_csv
from newsclf import DataError, compute_metrics, evaluate
from newsclf.evaluate import format_report


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
    metrics = evaluate(tiny_run.run_dir, output=out, quiet=True)
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
