"""Saying "not sure": answers at known confidences, accuracy against coverage, and the
confidence that reaches a target accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from newsclf import Classifier, Prediction
from newsclf.cli import main
from newsclf.errors import ConfigError
from newsclf.evaluation.coverage import (
    accuracy_coverage,
    answered_at,
    confidence_for_accuracy,
)
from newsclf.evaluation.evaluate import target_accuracy_table
from newsclf.inference.abstention import confidence

NAMES = ["a", "b", "c"]


def test_a_single_label_answer_abstains_below_min_confidence():
    row = np.array([0.7, 0.2, 0.1])
    assert Prediction.from_probabilities(row, NAMES).abstained is None
    sure = Prediction.from_probabilities(row, NAMES, min_confidence=0.7)
    assert (sure.label, sure.abstained) == ("a", False)  # at the bar answers
    unsure = Prediction.from_probabilities(row, NAMES, min_confidence=0.75)
    assert unsure.label is None and unsure.abstained is True and unsure.score == 0.7
    assert unsure.to_dict() == {
        "label": None,
        "score": 0.7,
        "probabilities": {"a": 0.7, "b": 0.2, "c": 0.1},
        "abstained": True,
    }


def test_a_tag_set_is_as_sure_as_its_least_certain_tag():
    row, thresholds = np.array([0.95, 0.3, 0.02]), [0.5, 0.25, 0.5]
    # Tag a given (0.95), b given at threshold 0.25 (right with 0.3), c left out (0.98).
    assert confidence(row[None], np.array(thresholds))[0] == pytest.approx(0.3)
    given = Prediction.from_probabilities(row, NAMES, thresholds, min_confidence=0.3)
    assert given.labels == ["a", "b"] and given.abstained is False
    unsure = Prediction.from_probabilities(row, NAMES, thresholds, min_confidence=0.31)
    assert unsure.labels is None and unsure.label is None and unsure.abstained is True
    # No tag at or above its threshold is an answer ("no tag"), as sure as its closest call.
    none = Prediction.from_probabilities(np.array([0.1, 0.2, 0.05]), NAMES, [0.5] * 3)
    assert none.labels == [] and confidence(np.array([[0.1, 0.2, 0.05]]), np.full(3, 0.5)) == 0.8


def test_min_confidence_is_a_probability():
    from newsclf.inference.abstention import check_min_confidence

    for bad in (-0.1, 1.5, float("nan"), "high", True):
        with pytest.raises(ConfigError, match="min_confidence="):
            check_min_confidence(bad)
    assert check_min_confidence(None) is None and check_min_confidence(1) == 1.0


def test_accuracy_against_coverage_of_known_rows():
    conf = np.array([0.6, 0.9, 0.7, 0.8])
    correct = np.array([1, 1, 0, 1])
    table = {row["coverage"]: row for row in accuracy_coverage(conf, correct, (1.0, 0.5, 0.75))}
    assert table[1.0] == {"coverage": 1.0, "answered": 4, "accuracy": 0.75, "min_confidence": 0.6}
    assert table[0.5] == {"coverage": 0.5, "answered": 2, "accuracy": 1.0, "min_confidence": 0.8}
    assert table[0.75]["accuracy"] == pytest.approx(2 / 3, abs=1e-5)
    assert confidence_for_accuracy(conf, correct, 1.0) == 0.8  # the 2 most confident
    assert confidence_for_accuracy(conf, correct, 0.75) == 0.6  # every row
    assert confidence_for_accuracy(np.array([0.9]), np.array([0]), 0.5) is None
    # Rows tied at a confidence are answered together: no cut between them.
    tied = confidence_for_accuracy(np.array([0.9, 0.9, 0.5]), np.array([1, 0, 0]), 1.0)
    assert tied is None
    assert answered_at(conf, correct, 0.8) == {
        "min_confidence": 0.8, "coverage": 0.5, "answered": 2, "accuracy": 1.0,
    }  # fmt: skip


def test_the_target_accuracy_is_chosen_on_validation_and_reported_on_test():
    validation = (np.array([0.95, 0.9, 0.8, 0.6]), np.array([1, 1, 1, 0]))
    test = (np.array([0.99, 0.85, 0.82, 0.5]), np.array([1, 0, 1, 1]))
    table = target_accuracy_table(0.97, validation, test)
    assert table["min_confidence"] == 0.8
    assert table["validation"]["coverage"] == 0.75 and table["validation"]["accuracy"] == 1.0
    assert table["scored"]["answered"] == 3 and table["scored"]["accuracy"] == pytest.approx(
        2 / 3, abs=1e-5
    )


def test_classifier_and_cli_say_not_sure(tiny_run, capsys):
    model = tiny_run.run_dir / "best_model"
    preds = Classifier.from_pretrained(model).predict(["Stocks rally"], min_confidence=1.0)
    assert preds[0].label is None and preds[0].abstained is True
    with pytest.raises(ConfigError, match="min_confidence=2"):
        Classifier.from_pretrained(model).predict(["x"], min_confidence=2)
    assert main(["predict", "--min-confidence", "1", str(model), "Stocks rally"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("(not sure)\t") and line.endswith("Stocks rally")
    assert main(["predict", "--min-confidence", "0", "--json", str(model), "Stocks rally"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["abstained"] is False and answer["label"] is not None
    assert main(["predict", "--min-confidence", "7", str(model), "x"]) == 2
    assert "--min-confidence=7.0: expected a probability" in capsys.readouterr().err


def test_evaluate_names_the_confidence_for_a_target_accuracy(tiny_run, tmp_path, capsys):
    out = tmp_path / "m.json"
    code = main(["evaluate", str(tiny_run.run_dir), "--output", str(out), "--quiet",
                 "--target-accuracy", "0.01"])  # fmt: skip
    assert code == 0
    metrics = json.loads(out.read_text())
    target = metrics["target_accuracy"]
    assert target["target"] == 0.01 and target["min_confidence"] is not None
    assert target["validation"]["accuracy"] >= 0.01
    printed = capsys.readouterr().out
    assert "reaches accuracy 1.00% on validation" in printed and "calibration: ECE" in printed
    assert main(["evaluate", str(tiny_run.run_dir), "--target-accuracy", "1.5"]) == 2
