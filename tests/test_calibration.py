"""Calibration: the fits recover a miscalibration made on purpose, folding it into the output
layer changes no argmax, and plain transformers then returns newsclf's probabilities."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from helpers import synthetic_rows, tiny_config
from newsclf import Classifier, TrainConfig, train
from newsclf.errors import ConfigError, ModelError
from newsclf.evaluation.calibration import (
    calibration_scores,
    expected_calibration_error,
    fit_platt,
    fit_temperature,
    reliability,
)
from newsclf.inference.classifier import sigmoid, softmax
from newsclf.training.calibrate import calibrate_best_model, fold_into_saved_model
from newsclf.training.model import output_layer
from newsclf.training.run import calibrate_run
from serve_helpers import build_spread_model


def _sampled(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One class per row, drawn from that row's probabilities."""
    cdf = probabilities.cumsum(axis=1)
    return (rng.random((len(cdf), 1)) > cdf).sum(axis=1).clip(max=cdf.shape[1] - 1)


def test_the_fitted_temperature_undoes_logits_scaled_up_on_purpose():
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 2.0, (20_000, 4))
    labels = _sampled(softmax(logits), rng)  # the true model: softmax(logits) is calibrated
    assert fit_temperature(logits, labels) == pytest.approx(1.0, rel=0.05)
    assert fit_temperature(3.0 * logits, labels) == pytest.approx(3.0, rel=0.05)
    assert fit_temperature(0.5 * logits, labels) == pytest.approx(0.5, rel=0.05)


def test_platt_recovers_a_known_scale_and_offset_per_tag():
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 3.0, (20_000, 2))
    truth = sigmoid(np.column_stack([0.5 * logits[:, 0] - 1.0, 2.0 * logits[:, 1] + 0.5]))
    labels = (rng.random(truth.shape) < truth).astype(np.uint8)
    scale, offset = fit_platt(logits, labels)
    np.testing.assert_allclose(scale, [0.5, 2.0], rtol=0.06)
    np.testing.assert_allclose(offset, [-1.0, 0.5], atol=0.08)
    # A tag never true here has nothing to fit: it keeps (1, 0).
    scale, offset = fit_platt(logits, np.column_stack([labels[:, 0], np.zeros(len(labels))]))
    assert (scale[1], offset[1]) == (1.0, 0.0)


def test_ece_of_known_confidences():
    # 100 answers at 0.9 of which 80 right, 100 at 0.55 of which 55 right: |0.9-0.8| / 2.
    conf = np.r_[np.full(100, 0.9), np.full(100, 0.55)]
    correct = np.r_[np.ones(80), np.zeros(20), np.ones(55), np.zeros(45)]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.05)
    table = reliability(conf, correct)
    assert table["count"][13] == 100 and table["count"][8] == 100  # (13/15, 14/15], (8/15, 9/15]
    assert table["accuracy"][13] == pytest.approx(0.8) and sum(table["count"]) == 200
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    scores = calibration_scores(probs, np.array([0, 0]))
    assert scores["log_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.2)) / 2, abs=1e-5)


@pytest.fixture(scope="module")
def spread_dir(tmp_path_factory, tiny_bert_dir):
    return build_spread_model(tiny_bert_dir, tmp_path_factory.mktemp("spread") / "model")


def _copy(model_dir, tmp_path, name="model"):
    return shutil.copytree(model_dir, tmp_path / name)


def _texts(n: int) -> list[str]:
    return [text for text, _ in synthetic_rows(n, seed=3)]


def test_folding_a_temperature_keeps_the_argmax_and_pipeline_agrees(spread_dir, tmp_path):
    from transformers import pipeline

    texts = _texts(40)
    before = Classifier.from_pretrained(spread_dir).infer(texts).logits
    model = _copy(spread_dir, tmp_path)
    fold_into_saved_model(model, np.full(4, 1 / 2.5), np.zeros(4), {"newsclf_calibration": {}})
    ours = Classifier.from_pretrained(model).infer(texts)
    np.testing.assert_allclose(ours.logits, before / 2.5, atol=1e-5)
    np.testing.assert_array_equal(ours.logits.argmax(1), before.argmax(1))
    pipe = pipeline("text-classification", model=str(model), device="cpu", top_k=None)
    for row, answer in zip(ours.probabilities, pipe(texts), strict=True):
        theirs = {a["label"]: a["score"] for a in answer}
        np.testing.assert_allclose([theirs[n] for n in ours_names(model)], row, atol=1e-6)


def ours_names(model_dir) -> list[str]:
    return Classifier.from_pretrained(model_dir).label_names


def test_the_output_layer_of_bert_and_distilbert_heads(spread_dir, tiny_distilbert_dir):
    from transformers import AutoModelForSequenceClassification

    bert = AutoModelForSequenceClassification.from_pretrained(spread_dir)
    assert output_layer(bert) is bert.classifier
    distil = AutoModelForSequenceClassification.from_pretrained(tiny_distilbert_dir, num_labels=3)
    assert output_layer(distil) is distil.classifier  # not pre_classifier


def test_an_overconfident_model_gets_its_known_temperature_back(spread_dir, tmp_path):
    """Labels drawn from the spread model's own softmax make it calibrated; the same model
    with its output layer scaled up 4 times is over-confident by a temperature of 4."""
    texts = _texts(3000)
    probs = Classifier.from_pretrained(spread_dir).infer(texts).probabilities
    labels = _sampled(probs, np.random.default_rng(2))
    model = _copy(spread_dir, tmp_path)
    fold_into_saved_model(model, np.full(4, 4.0), np.zeros(4), {})
    cfg = TrainConfig(precision="fp32", eval_batch_size=64)
    data = SimpleNamespace(
        label_matrix=lambda split: labels, splits={"validation": {"text": texts}}
    )
    info = calibrate_best_model(cfg, data, model, "accuracy")
    assert info["temperature"] == pytest.approx(4.0, rel=0.15)
    assert info["validation"]["after"]["log_loss"] < info["validation"]["before"]["log_loss"]
    config = json.loads((model / "config.json").read_text())
    assert config["newsclf_calibration"] == info
    calibrated = Classifier.from_pretrained(model).infer(texts).probabilities
    np.testing.assert_array_equal(calibrated.argmax(1), probs.argmax(1))
    np.testing.assert_allclose(calibrated, probs, atol=0.15 * probs.max())
    assert calibrate_best_model(cfg, data, model, "accuracy") == info  # not fitted twice


def test_a_run_is_calibrated_and_reports_before_and_after(tiny_run):
    run = tiny_run.run_dir
    info = json.loads((run / "best_model" / "config.json").read_text())["newsclf_calibration"]
    assert info["method"] == "temperature" and info["temperature"] > 0
    metrics = json.loads((run / "test_metrics.json").read_text())
    effect = metrics["calibration"]
    assert effect["temperature"] == info["temperature"]
    assert effect["after"] == {"ece": metrics["ece"], "log_loss": metrics["log_loss"]}
    assert set(effect["before"]) == {"ece", "log_loss"}
    assert [row["coverage"] for row in metrics["accuracy_coverage"]] == [1, 0.95, 0.9, 0.8, 0.5]
    assert sum(metrics["reliability"]["count"]) == metrics["num_samples"]


def test_calibration_none_keeps_the_raw_model_and_calibrate_run_fits_it_later(
    tiny_bert_dir, tmp_path
):
    with pytest.raises(ConfigError, match="calibration='sometimes'"):
        TrainConfig(calibration="sometimes").validate()
    run = train(tiny_config(tiny_bert_dir, tmp_path, calibration="none")).run_dir
    config = json.loads((run / "best_model" / "config.json").read_text())
    assert "newsclf_calibration" not in config
    assert "calibration" not in json.loads((run / "test_metrics.json").read_text())
    raw = Classifier.from_pretrained(run).infer(_texts(20)).logits
    result = calibrate_run(run, visuals=False)
    temperature = result.test_metrics["calibration"]["temperature"]
    np.testing.assert_allclose(
        Classifier.from_pretrained(run).infer(_texts(20)).logits, raw / temperature, atol=1e-5
    )
    assert "Calibration" in (run / "best_model" / "README.md").read_text()
    with pytest.raises(ModelError, match="already calibrated"):
        calibrate_run(run, visuals=False)


def test_multi_label_thresholds_are_tuned_on_the_calibrated_probabilities(tiny_bert_dir, tmp_path):
    from newsclf.evaluation.thresholds import tune_thresholds
    from serve_helpers import build_tag_model

    model = build_tag_model(tiny_bert_dir, tmp_path / "tags", dict.fromkeys(AG, 0.5))
    texts = _texts(400)
    raw = Classifier.from_pretrained(model).infer(texts).logits
    # Tags that follow a known Platt map of the raw logits: sigmoid(2 z - 1).
    labels = (np.random.default_rng(4).random(raw.shape) < sigmoid(2 * raw - 1)).astype(np.uint8)
    cfg = TrainConfig(precision="fp32", eval_batch_size=64, thresholds="per-class")
    data = SimpleNamespace(
        label_matrix=lambda split: labels, splits={"validation": {"text": texts}}
    )
    info = calibrate_best_model(cfg, data, model, "micro_f1")
    assert info["method"] == "platt"
    calibrated = Classifier.from_pretrained(model)
    probs = calibrated.infer(texts).probabilities
    scale, offset = np.array(list(info["scale"].values())), np.array(list(info["offset"].values()))
    np.testing.assert_allclose(probs, sigmoid(raw * scale + offset), atol=1e-5)
    expected = tune_thresholds(probs, labels, "per-class", "micro_f1")
    np.testing.assert_allclose(calibrated.thresholds, expected)
    config = json.loads((model / "config.json").read_text())
    assert config["newsclf_threshold_mode"] == "per-class"


AG = ["World", "Sports", "Business", "Sci/Tech"]


def test_few_validation_rows_never_sharpen_but_may_soften():
    from newsclf.training.calibrate import FEW_ROWS, fit

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 150)
    true = rng.normal(size=(150, 3))
    true[np.arange(150), labels] += 2.0
    names = ["a", "b", "c"]
    # Logits scaled down by 2 (under-confident): the fit asks for T < 1, kept at 1 on 150 rows.
    assert len(labels) < FEW_ROWS
    scale, _, info = fit(0.5 * true, labels, names)
    assert info["temperature"] == 1.0 and info["fitted_temperature"] < 1.0
    np.testing.assert_array_equal(scale, np.ones(3))
    # Scaled up by 3 (over-confident): the temperature is fitted as ever.
    _, _, info = fit(3.0 * true, labels, names)
    assert info["temperature"] > 1.5 and "fitted_temperature" not in info
