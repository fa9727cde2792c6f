"""The model card in best_model/README.md: Hub metadata that huggingface_hub parses back, the
sections of its body, and `newsclf export` carrying it."""

from __future__ import annotations

import json

import pytest

from newsclf import TrainConfig, export
from newsclf.report.model_card import SECTIONS, CardContent, build_model_card


def _load(path):
    from huggingface_hub import ModelCard

    return ModelCard.load(path)


def test_the_card_of_a_run_parses_back_with_its_test_metrics(tiny_run):
    model = tiny_run.run_dir / "best_model"
    card = _load(model / "README.md")
    metrics = json.loads((tiny_run.run_dir / "test_metrics.json").read_text())
    data = card.data
    assert data.pipeline_tag == "text-classification" and data.library_name == "transformers"
    assert data.datasets == ["fancyzhx/ag_news"] and "newsclf" in data.tags
    assert data.base_model is None  # a local directory is no Hub id
    results = {r.metric_type: r for r in data.eval_results}
    assert results["accuracy"].metric_value == round(metrics["accuracy"], 4)
    assert results["macro_f1"].metric_value == round(metrics["macro_f1"], 4)
    assert {r.dataset_split for r in data.eval_results} == {"test"}
    assert "texts read up to 48 tokens" in card.text  # the tiny run truncates at 48
    assert "enc = tok(text, max_length=48, truncation=True" in card.text
    for heading in ("## Data", "## Training recipe", "## How it reads long texts",
                    "## Test results", "## Calibration",
                    "## Answering only when sure", "## Limitations", "## How to use it"):  # fmt: skip
        assert heading in card.text, heading
    for name, row in metrics["per_class"].items():
        assert f"| {name} | {row['precision']:.4f} |" in card.text
    temperature = metrics["calibration"]["temperature"]
    assert f"T = {temperature:.4f}" in card.text
    assert 'pipeline("text-classification", model="THIS_DIR")' in card.text


def test_packaged_defaults_get_their_hub_ids_and_a_card_without_a_test():
    summary = {
        "task": "single-label",
        "label_names": ["x", "y"],
        "splits": {"train": {"rows": 3, "class_counts": {"x": 2, "y": 1}}},
        "source": "somewhere",
    }
    history = {"best_epoch": 2, "epochs": []}
    card = build_model_card(CardContent(TrainConfig(epochs=3), summary, history))
    data = card.data
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert data.eval_results is None and "## Test results" not in card.text
    assert "None: the probabilities are the model's raw" in card.text  # not calibrated
    assert "from epoch 2" in card.text
    assert len(SECTIONS) >= 8


def test_export_carries_the_card_with_how_to_run_the_export(tiny_run, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "onnx"
    export(tiny_run.run_dir, out)
    card = _load(out / "README.md")
    assert card.data.pipeline_tag == "text-classification" and card.data.eval_results
    assert "## Calibration" in card.text and "onnxruntime" in card.text
    assert "## ONNX text classifier" in card.text and "### Run it with onnxruntime" in card.text
