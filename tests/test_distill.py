"""`newsclf distill`: which teacher layers a student keeps, the loss on known logits, a student
run's directory, unlabeled texts, resume, multi-label, the command line.

Nothing here asserts what a tiny model learns: the layers are compared weight for weight, the
loss against sums worked by hand, and the runs by the files and counts they must write."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from helpers import crash_at_batch, history_without_times, model_weights, save_tiny, tiny_config
from newsclf import ConfigError, TrainConfig, distill, resume, train
from newsclf.distillation import student_layer_ids

SMALL = dict(epochs=2, max_train_samples=96, max_eval_samples=24, max_test_samples=16)


@pytest.fixture(scope="module")
def tiny_bert4_dir(tmp_path_factory, tokenizer) -> Path:
    from transformers import BertModel

    from helpers import tiny_bert_config

    config = tiny_bert_config(tokenizer, num_hidden_layers=4)
    return save_tiny(BertModel, config, tokenizer, tmp_path_factory.mktemp("tiny-bert4"))


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory, tiny_bert4_dir):
    out = tmp_path_factory.mktemp("teacher")
    return train(tiny_config(tiny_bert4_dir, out, name="teacher", **SMALL)).run_dir


# --- which layers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("teacher", "student", "kept"),
    [
        (6, 3, [0, 3, 5]),
        (12, 6, [0, 2, 4, 7, 9, 11]),
        (12, 3, [0, 6, 11]),
        (6, 2, [0, 5]),
        (6, 1, [5]),
        (4, 4, [0, 1, 2, 3]),
    ],
)
def test_student_layers_are_evenly_spaced_with_first_and_last(teacher, student, kept):
    assert student_layer_ids(teacher, student) == kept


@pytest.mark.parametrize("student", [0, 7])
def test_a_student_with_no_or_too_many_layers_is_refused(student):
    with pytest.raises(ConfigError, match="expected 1 to 6"):
        student_layer_ids(6, student)


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_the_student_copies_the_named_teacher_layers(kind, tiny_bert4_dir, tokenizer):
    """Every tensor of student layer k is teacher layer kept[k]'s; everything outside the
    layers (embeddings, pooler, head) is the teacher's."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    from newsclf.training.student import encoder_layers, student_of

    def make():
        torch.manual_seed(0)
        if kind == "bert":
            return AutoModelForSequenceClassification.from_pretrained(tiny_bert4_dir, num_labels=3)
        config = DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, n_layers=5, n_heads=2,
                                  hidden_dim=64, max_position_embeddings=64, num_labels=3)  # fmt: skip
        return DistilBertForSequenceClassification(config)

    teacher, student = make(), student_of(make(), 2)
    kept = student_layer_ids(len(encoder_layers(teacher)), 2)
    assert kept == [0, len(encoder_layers(teacher)) - 1]
    assert student.config.num_hidden_layers == 2 and len(encoder_layers(student)) == 2
    for k, t in enumerate(kept):
        theirs = encoder_layers(teacher)[t].state_dict()
        ours = encoder_layers(student)[k].state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[name], theirs[name]) for name in ours)
    outside = {n: p for n, p in teacher.state_dict().items() if ".layer." not in n}
    student_state = student.state_dict()
    assert all(torch.equal(student_state[n], p) for n, p in outside.items())


# --- the loss ------------------------------------------------------------------------------


def _loss(logits, teacher, labels, labeled=None, alpha=0.5, temperature=2.0):
    import torch

    from newsclf.training.objectives import distillation_loss

    labels = torch.tensor(labels)
    labeled = torch.ones(len(logits)) if labeled is None else torch.tensor(labeled)
    return float(distillation_loss(torch.tensor(logits), torch.tensor(teacher), labels,
                                   labeled, alpha, temperature))  # fmt: skip


def test_the_soft_term_is_t_squared_kl_at_temperature_t():
    """Student [0, 0], teacher [ln 3, 0] at T = 2: p = softmax([ln 3 / 2, 0]), q = (1/2, 1/2),
    KL = sum p ln(p / q), times T^2 = 4."""
    p1 = math.sqrt(3) / (math.sqrt(3) + 1)
    kl = p1 * math.log(p1 / 0.5) + (1 - p1) * math.log((1 - p1) / 0.5)
    got = _loss([[0.0, 0.0]], [[math.log(3), 0.0]], [0], alpha=1.0)
    assert got == pytest.approx(4 * kl, rel=1e-5)


def test_the_hard_term_is_the_labels_cross_entropy_and_skips_unlabeled_rows():
    """alpha 0: the cross-entropy of the labeled rows only. Row 2's label would cost -ln(1e-9)
    if it counted."""
    logits = [[math.log(3), 0.0], [20.0, 0.0]]
    got = _loss(logits, [[0.0, 0.0]] * 2, [0, 1], labeled=[1, 0], alpha=0.0)
    assert got == pytest.approx(-math.log(0.75), rel=1e-5)


def test_a_student_equal_to_its_teacher_pays_only_for_the_labels():
    logits = [[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]
    assert _loss(logits, logits, [0, 1], alpha=1.0) == pytest.approx(0.0, abs=1e-6)
    mixed = _loss(logits, logits, [0, 1], alpha=0.25)
    assert mixed == pytest.approx(0.75 * _loss(logits, logits, [0, 1], alpha=0.0), rel=1e-5)


def test_multi_label_soft_term_is_the_binary_kl_per_tag():
    """One row, two tags. Tag 1: teacher sigmoid 0.75 (logit ln 3), student 0.5; tag 2: both
    0.5. At T = 1: (KL(0.75 || 0.5) + 0) / 2."""
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    got = _loss([[0.0, 0.0]], [[math.log(3), 0.0]], [[1.0, 0.0]], alpha=1.0, temperature=1.0)
    assert got == pytest.approx(kl / 2, rel=1e-5)


# --- the config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"student_layers": 3}, "without distill_from"),
        ({"unlabeled_data": "more.txt"}, "without distill_from"),
        ({"distill_from": "runs/x", "distill_alpha": 1.5}, "from 0 .labels only."),
        ({"distill_from": "runs/x", "distill_temperature": 0.0}, "expected a positive number"),
        ({"distill_from": "runs/x", "rdrop_alpha": 1.0}, "Leave them off when distilling"),
        ({"distill_from": "runs/x", "soup": 2}, "Leave them off when distilling"),
    ],
)
def test_distillation_settings_are_checked(values, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**values).validate()


def test_distill_wants_a_run_directory(tiny_bert4_dir):
    with pytest.raises(ConfigError, match="expected a run directory"):
        distill(tiny_bert4_dir)


# --- runs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student_run(teacher_run):
    return distill(teacher_run, student_layers=2, name="student", quiet=True)


def test_a_student_run_is_complete_and_loads_with_plain_pipeline(student_run, teacher_run):
    from transformers import pipeline

    run_dir = student_run.run_dir
    assert run_dir == teacher_run.parent / "student"
    for name in ("config.yaml", "data.json", "history.json", "test_metrics.json"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "best_model" / "config.json").read_text())
    teacher_config = json.loads((teacher_run / "best_model" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and teacher_config["num_hidden_layers"] == 4
    assert config["id2label"] == teacher_config["id2label"]
    assert "newsclf_calibration" in config  # calibrated like any run
    saved = TrainConfig.from_yaml(run_dir / "config.yaml")
    assert (saved.student_layers, saved.distill_from) == (2, str(teacher_run / "best_model"))
    assert saved.model == str(teacher_run / "best_model")
    weights = model_weights(run_dir / "best_model")
    assert not any(".layer.2." in n or ".layer.3." in n for n in weights)
    answer = pipeline("text-classification", model=str(run_dir / "best_model"))("Stocks rally")
    assert answer[0]["label"] in teacher_config["id2label"].values()
    card = (run_dir / "best_model" / "README.md").read_text()
    assert "Distilled with `newsclf distill`" in card


def test_the_default_name_says_how_many_layers(teacher_run):
    cfg_name = f"{teacher_run.name}-2-layers"
    result = distill(teacher_run, epochs=1, max_test_samples=8)
    assert result.run_dir.name == cfg_name


def test_unlabeled_texts_add_training_rows(teacher_run, tmp_path):
    """96 labeled rows in batches of 16 are 6 steps an epoch; 64 more texts make 10."""
    from helpers import synthetic_rows

    texts = tmp_path / "more.txt"
    texts.write_text("\n\n".join(t for t, _ in synthetic_rows(64)) + "\n", encoding="utf-8")
    result = distill(teacher_run, student_layers=2, name="more", output_dir=str(tmp_path),
                     unlabeled_data=str(texts), epochs=1)  # fmt: skip
    assert [row["steps"] for row in result.history] == [10]
    plain = distill(teacher_run, student_layers=2, name="plain", output_dir=str(tmp_path), epochs=1)
    assert [row["steps"] for row in plain.history] == [6]


def test_a_distillation_resumes_to_the_uninterrupted_history(teacher_run, tmp_path, monkeypatch):
    values = dict(student_layers=2, output_dir=str(tmp_path), name="s")
    whole = distill(teacher_run, **{**values, "output_dir": str(tmp_path / "whole")})
    crash_at_batch(monkeypatch, 9)
    with pytest.raises(KeyboardInterrupt):
        distill(teacher_run, **values)
    monkeypatch.undo()
    resumed = resume(tmp_path / "s")
    assert history_without_times(resumed.run_dir) == history_without_times(whole.run_dir)


def test_a_multi_label_teacher_distils(tmp_path, tiny_bert4_dir):
    from test_multilabel import tagged_rows, write_shapes

    write_shapes(tmp_path, tagged_rows(160))
    values = dict(data=str(tmp_path / "joined.csv"), epochs=1, max_train_samples=None,
                  max_eval_samples=None, max_test_samples=None)  # fmt: skip
    teacher = train(tiny_config(tiny_bert4_dir, tmp_path / "runs", name="tags", **values))
    student = distill(teacher.run_dir, student_layers=1)
    config = json.loads((student.run_dir / "best_model" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["num_hidden_layers"] == 1
    assert "micro_f1" in student.test_metrics


def test_the_command_line_distils(teacher_run, tmp_path, capsys):
    from newsclf.cli import main

    code = main(["distill", str(teacher_run), "--layers", "1", "--name", "cli",
                 "--output-dir", str(tmp_path), "--epochs", "1", "--quiet"])  # fmt: skip
    assert code == 0
    assert f"student: {tmp_path / 'cli'}" in capsys.readouterr().out
    config = json.loads((tmp_path / "cli" / "best_model" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1


def test_a_student_and_a_retrained_model_forget_what_the_teacher_fitted(teacher_run):
    """The teacher's config.json holds its calibration and reading; a student (or a model
    fine-tuned again from it) must fit its own, so it starts without them."""
    from types import SimpleNamespace

    from newsclf.training.model import build_model
    from newsclf.training.student import prepare_student

    best = teacher_run / "best_model"
    fitted = json.loads((best / "config.json").read_text())
    assert {"newsclf_calibration", "newsclf_reading"} <= fitted.keys()
    names = list(fitted["id2label"].values())
    cfg = TrainConfig(distill_from=str(best), student_layers=2)
    _, student = prepare_student(cfg, SimpleNamespace(label_names=names))
    again = build_model(str(best), names)
    for model in (student, again):
        assert not [k for k in model.config.to_dict() if k.startswith("newsclf_")]


def test_a_student_exports_to_onnx_like_any_model(student_run, tmp_path):
    """The export's own parity check compares ONNX Runtime with PyTorch on the student."""
    from newsclf import Classifier, export

    info = export(student_run.run_dir / "best_model", tmp_path / "onnx")
    assert info["max_abs_prob_diff_vs_pytorch"] < 1e-4
    clf = Classifier.from_onnx(tmp_path / "onnx")
    assert clf.predict(["Stocks rally"])[0].label in clf.label_names


def test_the_teacher_logits_are_each_rows_own_in_row_order(teacher_run, tokenizer):
    """Scored in length-sorted padded batches, each row gets the logits of its own unpadded
    forward pass, in the rows' order."""
    import datasets
    import torch

    from newsclf.data import tokenize
    from newsclf.precision import TrainingPrecision
    from newsclf.training.student import load_teacher, teacher_logits

    texts = ["a short one", "a much longer text about stocks, markets and the earnings of banks",
             "mid length text on football", "x"]  # fmt: skip
    rows = tokenize(datasets.Dataset.from_dict({"text": texts, "label": [0, 1, 2, 3]}),
                    tokenizer, 48)  # fmt: skip
    teacher = load_teacher(teacher_run / "best_model")
    cfg = TrainConfig(eval_batch_size=3)
    got = teacher_logits(teacher, rows, tokenizer, cfg, TrainingPrecision("cpu"))
    with torch.inference_mode():
        for i, ids in enumerate(rows["input_ids"]):
            own = teacher(input_ids=torch.tensor([ids])).logits[0].numpy()
            assert got[i] == pytest.approx(own, abs=1e-5)
