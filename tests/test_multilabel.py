"""Multi-label classification, end to end: the three input shapes, the checks, iterative
stratification, the metrics and thresholds against known answers, a tiny run's files, and
every way of asking a saved multi-label model (Python, CLI, file, HTTP, ONNX, pipeline).

Nothing here asserts what a tiny model learns: the data has tags decided by planted words so
that the right answers are known, and the assertions are about structure and arithmetic."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from helpers import crash_at_batch, history_without_times, tiny_config, write_csv
from newsclf import Classifier, ConfigError, DataError, TrainConfig, load_data, train
from newsclf.cli import main
from newsclf.evaluation import compute_metrics
from newsclf.evaluation.thresholds import grid, threshold_curve, tune_thresholds
from serve_helpers import PROBE_TEXTS, build_tag_model, reference_logits

TAG_WORDS = {
    "economy": "inflation rates budget deficit",
    "energy": "oil pipeline solar barrels",
    "sport": "match striker league coach",
    "tech": "chip software browser linux",
    "trade": "tariff exports imports customs",
}
TAGS = sorted(TAG_WORDS)


def tagged_rows(n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """Texts whose tags are the planted words they hold: zero, one or several per row."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        tags = [t for t in TAGS if rng.random() < 0.3]
        if i % 10 == 0:
            tags = []  # some rows carry no tag at all
        words = [w for t in tags for w in rng.sample(TAG_WORDS[t].split(), 2)]
        rows.append((" ".join(words) or "nothing of note happened today", tags))
    return rows


def write_shapes(folder: Path, rows: list[tuple[str, list[str]]]) -> dict[str, dict]:
    """The same rows in the three shapes; the TrainConfig values that read each."""
    import pandas as pd

    write_csv(folder / "joined.csv", [(t, "|".join(tags)) for t, tags in rows], ("text", "labels"))
    with (folder / "lists.jsonl").open("w") as fh:
        fh.writelines(json.dumps({"text": t, "labels": tags}) + "\n" for t, tags in rows)
    pd.DataFrame({"text": [t for t, _ in rows], "labels": [tags for _, tags in rows]}).to_parquet(
        folder / "lists.parquet"
    )
    columns = [(t, *(int(name in tags) for name in TAGS)) for t, tags in rows]
    write_csv(folder / "columns.csv", columns, ("text", *(f"is_{n}" for n in TAGS)))
    return {
        "joined": {"data": str(folder / "joined.csv")},
        "jsonl": {"data": str(folder / "lists.jsonl")},
        "parquet": {"data": str(folder / "lists.parquet")},
        "columns": {"data": str(folder / "columns.csv"), "label_columns": ["is_*"]},
    }


def expected_matrix(rows: list[tuple[str, list[str]]], names: list[str]) -> np.ndarray:
    return np.array([[int(n in tags) for n in names] for _, tags in rows], dtype=np.uint8)


# --- data ---------------------------------------------------------------------------------


def test_the_three_shapes_give_the_same_tags(tmp_path):
    rows = tagged_rows(120)
    seen = {}
    for shape, values in write_shapes(tmp_path, rows).items():
        data = load_data(TrainConfig(**values, seed=3).validate())
        assert data.task == "multi-label", shape
        names = [n.removeprefix("is_") for n in data.label_names]
        assert names == TAGS, shape
        seen[shape] = {s: data.label_matrix(s).tolist() for s in data.splits}
        texts = {s: list(data.splits[s]["text"]) for s in data.splits}
        by_text = {t: tags for t, tags in rows}
        for split, matrix in seen[shape].items():  # every row's tags are the planted ones
            truth = expected_matrix([(t, by_text[t]) for t in texts[split]], TAGS)
            assert matrix == truth.tolist(), (shape, split)
    assert seen["joined"] == seen["jsonl"] == seen["parquet"] == seen["columns"]


def test_auto_says_what_it_decided_and_why(tmp_path):
    shapes = write_shapes(tmp_path, tagged_rows(60))
    notes = load_data(TrainConfig(**shapes["joined"]).validate()).notes
    assert any(n.startswith("task: multi-label, as label cells such as") for n in notes)
    notes = load_data(TrainConfig(**shapes["jsonl"]).validate()).notes
    assert "task: multi-label, as the 'labels' cells are lists of labels" in " ".join(notes)
    single = load_data(TrainConfig(max_train_samples=40).validate())
    assert single.task == "single-label"
    assert any(n.startswith("task: single-label, as each 'label' cell") for n in single.notes)


def test_task_multi_label_reads_one_name_per_cell_as_a_tag_set(tmp_path):
    rows = [(f"{w} text {i}", tag) for i in range(30) for tag, w in (("a", "x"), ("b", "y"))]
    write_csv(tmp_path / "one.csv", rows)
    data = load_data(TrainConfig(data=str(tmp_path / "one.csv"), task="multi-label").validate())
    assert data.task == "multi-label" and data.label_names == ["a", "b"]
    assert (data.label_matrix("train").sum(axis=1) == 1).all()


def test_rows_without_tags_are_kept_and_counted(tmp_path):
    rows = tagged_rows(100)
    shapes = write_shapes(tmp_path, rows)
    data = load_data(TrainConfig(**shapes["joined"]).validate())
    summary = data.summary()
    total = sum(s["rows_without_labels"] for s in summary["splits"].values())
    assert total == sum(1 for _, tags in rows if not tags)
    train = data.label_matrix("train")
    assert summary["splits"]["train"]["label_cardinality"] == round(train.sum(1).mean(), 4)
    assert summary["cooccurrence"] == (train.T.astype(int) @ train.astype(int)).tolist()
    assert summary["carved"]["test"]["method"] == "iterative stratification"


def test_iterative_stratification_keeps_every_tag_in_every_split(tmp_path):
    """12 tags, three of them rare (20 rows of 900 each): every tag lands in train, validation
    and test, the rare ones 2 each in the 10% test split; the same seed gives the same rows,
    another seed others."""
    rng = random.Random(1)
    names = [f"t{i:02d}" for i in range(12)]
    rows = []
    for i in range(900):
        tags = [n for n in names[:9] if rng.random() < 0.3]
        tags += [names[9 + i // 15 % 3]] if i % 15 == 0 else []  # t09-t11: 20 rows each
        rows.append((f"row {i} " + " ".join(tags), "|".join(tags)))
    write_csv(tmp_path / "tags.csv", rows)
    cfg = TrainConfig(data=str(tmp_path / "tags.csv"), seed=5).validate()
    data = load_data(cfg)
    assert data.label_names == names
    for split in ("train", "validation", "test"):
        counts = data.label_matrix(split).sum(axis=0)
        assert (counts > 0).all(), (split, counts)
    assert data.label_matrix("test").sum(axis=0)[9:].tolist() == [2, 2, 2]
    again = load_data(cfg).splits["test"]["text"]
    assert again == data.splits["test"]["text"]
    other = load_data(TrainConfig(data=str(tmp_path / "tags.csv"), seed=6).validate())
    assert other.splits["test"]["text"] != data.splits["test"]["text"]


@pytest.mark.parametrize(
    ("rows", "values", "message"),
    [
        ([("a", "x|x")] * 4, {}, "names ['x'] more than once"),
        ([("a", "x|y")] * 4, {"label_names": ["x", "z"]}, "Labels ['y'] in the train split"),
        ([("a", "x|y")] * 4, {"label_names": ["x", "y", "z"]}, "Class(es) ['z'] never occur"),
    ],
)
def test_bad_tags_are_refused_with_the_fix(tmp_path, rows, values, message):
    write_csv(tmp_path / "bad.csv", rows * 10)
    with pytest.raises(DataError, match=re.escape(message)):
        load_data(TrainConfig(data=str(tmp_path / "bad.csv"), **values).validate())


def test_class_columns_hold_only_0_or_1(tmp_path):
    write_csv(tmp_path / "cols.csv", [("a", 1, 0)] * 20 + [("b", 2, 1)], ("text", "x", "y"))
    with pytest.raises(DataError, match="Column 'x' holds '2' at data row 21"):
        load_data(TrainConfig(data=str(tmp_path / "cols.csv"), label_columns=["x", "y"]))
    with pytest.raises(DataError, match="matches no column"):
        load_data(TrainConfig(data=str(tmp_path / "cols.csv"), label_columns=["tag_*"]))


def test_config_refuses_columns_for_a_single_label_task():
    with pytest.raises(ConfigError, match="0/1 columns are multi-label data"):
        TrainConfig(label_columns=["a", "b"], task="single-label").validate()
    with pytest.raises(ConfigError, match="metric='micro_f1': for a single-label run"):
        TrainConfig(task="single-label", metric="micro_f1").validate()
    with pytest.raises(ConfigError, match="thresholds='each'"):
        TrainConfig(thresholds="each").validate()


# --- metrics and thresholds ----------------------------------------------------------------


def test_metrics_equal_scikit_learns_on_known_predictions():
    from sklearn.metrics import f1_score, hamming_loss, multilabel_confusion_matrix

    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 1]])
    guess = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 0], [1, 0, 1]])
    m = compute_metrics(truth, guess, ["a", "b", "c"], [0.3, 0.4, 0.5])
    assert m["task"] == "multi-label"
    assert m["micro_f1"] == pytest.approx(f1_score(truth, guess, average="micro"))
    assert m["macro_f1"] == pytest.approx(f1_score(truth, guess, average="macro"))
    # The row with no true and no predicted tag is right: F1 1 in the samples average.
    assert m["samples_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 1 + 2 / 3) / 5)  # not 0.6
    assert m["subset_accuracy"] == pytest.approx(2 / 5)  # rows 3 and 4 exactly right
    assert m["hamming_loss"] == pytest.approx(hamming_loss(truth, guess))
    assert m["confusion_matrices"]["c"] == multilabel_confusion_matrix(truth, guess)[2].tolist()
    assert m["per_class"]["a"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    assert m["thresholds"] == {"a": 0.3, "b": 0.4, "c": 0.5}


def test_global_threshold_is_the_best_on_validation():
    """Positives score 0.62-0.70 and negatives 0.10-0.58: every threshold in (0.58, 0.62]
    is perfect; of those the one closest to 0.5 is chosen."""
    truth = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    probs = np.array([[0.62, 0.58], [0.10, 0.66], [0.70, 0.64], [0.20, 0.58]])
    chosen = tune_thresholds(probs, truth, "global")
    assert chosen.tolist() == [0.59, 0.59]
    curve = threshold_curve(probs, truth, "micro_f1")
    assert curve[grid().tolist().index(0.59)] == 1.0
    assert curve.max() == 1.0 and curve[0] < 1.0


def test_per_class_thresholds_follow_each_class():
    """Class a separates at 0.2-0.3, class b at 0.8-0.9: one global threshold cannot serve both."""
    truth = np.array([[1, 1], [0, 0], [1, 0], [0, 1]])
    probs = np.array([[0.3, 0.9], [0.2, 0.8], [0.35, 0.75], [0.1, 0.95]])
    per_class = tune_thresholds(probs, truth, "per-class")
    assert per_class.tolist() == [0.3, 0.81]  # perfect in (0.2, 0.3] and (0.8, 0.9]
    predicted = (probs >= per_class).astype(int)
    assert (predicted == truth).all()
    assert not ((probs >= tune_thresholds(probs, truth, "global")) == truth).all()


def test_balanced_weights_for_tags_are_negatives_over_positives():
    from newsclf.training.optim import batch_loss, positive_weights

    labels = [[1, 0], [1, 0], [0, 1], [0, 0]]
    assert positive_weights(labels) == [1.0, 3.0]

    import torch

    class Model:
        def __call__(self, **batch):
            return type("Out", (), {"logits": torch.tensor([[0.5, -1.0], [2.0, 0.0]])})()

    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    weights = torch.tensor([1.0, 3.0])
    loss = batch_loss(Model(), {"labels": target.clone()}, weights)
    x, y = torch.tensor([[0.5, -1.0], [2.0, 0.0]]), target
    terms = -(
        torch.tensor([1.0, 3.0]) * y * torch.log(torch.sigmoid(x))
        + (1 - y) * torch.log(1 - torch.sigmoid(x))
    )
    by_hand = terms.mean()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-6)


# --- a tiny run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tag_run(tmp_path_factory, tiny_bert_dir):
    folder = tmp_path_factory.mktemp("tags")
    write_shapes(folder, tagged_rows(240))
    cfg = tiny_config(
        tiny_bert_dir, folder / "runs", data=str(folder / "joined.csv"), epochs=2,
        max_train_samples=None, max_eval_samples=None, max_test_samples=None, visuals=True,
    )  # fmt: skip
    return train(cfg), folder


def test_a_tiny_run_writes_the_multi_label_files(tag_run):
    result, _ = tag_run
    run = result.run_dir
    names = {p.name for p in run.iterdir()}
    assert {"thresholds.json", "label_cooccurrence.png", "threshold_curve.png"} <= names
    assert {"training_progress.png", "report.html", "embeddings_tsne3d.csv"} <= names
    assert "confusion_matrix.png" not in names
    config = json.loads((run / "best_model" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"] == {str(i): n for i, n in enumerate(TAGS)}
    assert set(config["newsclf_thresholds"]) == set(TAGS)
    saved = json.loads((run / "thresholds.json").read_text())
    assert saved["thresholds"] == config["newsclf_thresholds"] and saved["metric"] == "micro_f1"
    assert len(saved["validation_curve"]["micro_f1"]) == len(grid())
    assert "| tech |" in (run / "best_model" / "README.md").read_text()
    # Calibrated per tag (Platt) before the thresholds were tuned, on the calibrated numbers.
    calibration = config["newsclf_calibration"]
    assert calibration["method"] == "platt" and set(calibration["scale"]) == set(TAGS)
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["calibration"]["method"] == "platt" and "ece" in metrics["calibration"]["after"]
    history = json.loads((run / "history.json").read_text())
    assert (history["task"], history["metric"]) == ("multi-label", "micro_f1")
    best = history["epochs"][history["best_epoch"] - 1]["val_metrics"]
    assert best["micro_f1"] == max(e["val_metrics"]["micro_f1"] for e in history["epochs"])
    metrics = result.test_metrics
    assert metrics["task"] == "multi-label" and metrics["thresholds"] == saved["thresholds"]
    assert {"micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"} <= set(metrics)
    baseline = json.loads((run / "baseline_metrics.json").read_text())
    assert baseline["model"].endswith("one-vs-rest LinearSVC") and "micro_f1" in baseline
    with (run / "embeddings_tsne3d.csv").open() as fh:
        records = list(csv.DictReader(fh))
    for record in records:  # coloured by one of its true tags, or (none) without any
        tags = record["tags"].split("|")
        assert record["label"] in tags and (tags == ["(none)"] or set(tags) <= set(TAGS))


def test_pipeline_loads_the_model_and_returns_named_sigmoids(tag_run):
    from transformers import pipeline

    run = tag_run[0].run_dir / "best_model"
    texts = ["oil pipeline tariff", "striker chip"]
    scores = pipeline("text-classification", model=str(run), top_k=None)(texts)
    logits = np.array(reference_logits(run, texts))
    ours = Classifier.from_pretrained(run, precision="fp32").infer(texts).probabilities
    for row, logit, mine in zip(scores, logits, ours, strict=True):
        by_name = {s["label"]: s["score"] for s in row}
        assert set(by_name) == set(TAGS)
        sig = 1 / (1 + np.exp(-logit))
        assert [by_name[n] for n in TAGS] == pytest.approx(sig.tolist(), abs=1e-5)
        assert mine.tolist() == pytest.approx(sig.tolist(), abs=1e-5)


# --- asking a saved multi-label model --------------------------------------------------------


@pytest.fixture(scope="module")
def tag_model(tmp_path_factory, tiny_bert_dir):
    """A 4-tag model with known thresholds: 'Sports' always applies (0), 'World' never (1.01)."""
    thresholds = {"World": 1.01, "Sports": 0.0, "Business": 0.5, "Sci/Tech": 0.3}
    return build_tag_model(tiny_bert_dir, tmp_path_factory.mktemp("tagmodel") / "m", thresholds)


def _expected_tags(model_dir, texts):
    thresholds = json.loads((model_dir / "config.json").read_text())["newsclf_thresholds"]
    names = ["World", "Sports", "Business", "Sci/Tech"]
    out = []
    for logit in reference_logits(model_dir, texts):
        probs = 1 / (1 + np.exp(-logit))
        out.append([n for n, p in zip(names, probs, strict=True) if p >= thresholds[n]])
    return out


def test_predict_answers_the_tags_at_or_above_their_thresholds(tag_model):
    clf = Classifier.from_pretrained(tag_model)
    assert clf.multi_label and clf.thresholds.tolist() == [1.01, 0.0, 0.5, 0.3]
    predictions = clf.predict(PROBE_TEXTS)
    expected = _expected_tags(tag_model, PROBE_TEXTS)
    assert [p.labels for p in predictions] == expected
    assert all("Sports" in p.labels and "World" not in p.labels for p in predictions)
    assert {"labels", "label", "score", "probabilities"} == set(predictions[0].to_dict())


def test_cli_and_file_output_carry_the_tag_sets(tag_model, tmp_path, capsys):
    assert main(["predict", str(tag_model), *PROBE_TEXTS[:2], "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["labels"] for x in lines] == _expected_tags(tag_model, PROBE_TEXTS[:2])
    write_csv(tmp_path / "in.csv", [(t,) for t in PROBE_TEXTS], ("text",))
    out = tmp_path / "out.csv"
    assert (
        main(["predict", str(tag_model), "--file", str(tmp_path / "in.csv"), "--output", str(out)])
        == 0
    )
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:2] == ["row", "labels"] and "p_Sports" in rows[0]
    expected = _expected_tags(tag_model, PROBE_TEXTS)
    assert [r["labels"].split("|") if r["labels"] else [] for r in rows] == expected


def test_server_answers_with_tag_sets(tag_model):
    from fastapi.testclient import TestClient

    from newsclf.serve.app import create_app
    from newsclf.serve.options import ServeOptions

    app = create_app(
        Classifier.from_pretrained(tag_model), tag_model, ServeOptions(precision="fp32")
    )
    with TestClient(app) as client:
        body = client.post("/predict", json={"texts": PROBE_TEXTS[:3]}).json()
        assert [b["labels"] for b in body] == _expected_tags(tag_model, PROBE_TEXTS[:3])
        tei = client.post("/predict", json={"inputs": PROBE_TEXTS[0]}).json()
        assert {x["label"] for x in tei} == {"World", "Sports", "Business", "Sci/Tech"}
        health = client.get("/health").json()
        assert health["task"] == "multi-label" and health["thresholds"]["Sports"] == 0.0
        page = client.get("/").text
        assert "answer.labels" in page  # the page shows every tag above its threshold


def test_onnx_export_keeps_the_sigmoids_and_thresholds(tag_model, tmp_path):
    from newsclf import export

    info = export(tag_model, tmp_path / "onnx")
    assert info["max_abs_prob_diff_vs_pytorch"] < 1e-4
    onnx = Classifier.from_pretrained(tmp_path / "onnx")
    assert onnx.multi_label and onnx.thresholds.tolist() == [1.01, 0.0, 0.5, 0.3]
    torch_probs = Classifier.from_pretrained(tag_model).infer(PROBE_TEXTS).probabilities
    np.testing.assert_allclose(onnx.infer(PROBE_TEXTS).probabilities, torch_probs, atol=1e-4)
    assert [p.labels for p in onnx.predict(PROBE_TEXTS)] == _expected_tags(tag_model, PROBE_TEXTS)
    assert "1 / (1 + np.exp(-logits))" in (tmp_path / "onnx" / "README.md").read_text()


def test_evaluate_scores_tags_with_the_models_thresholds(tag_model, tmp_path):
    from newsclf import evaluate

    names = ["World", "Sports", "Business", "Sci/Tech"]
    rows = [(t, "Sports|Business" if i % 2 else "Sports") for i, t in enumerate(PROBE_TEXTS)]
    write_csv(tmp_path / "eval.csv", rows)
    metrics = evaluate(tag_model, data=str(tmp_path / "eval.csv"), output=tmp_path / "m.json")
    truth = np.array([[int(n in tags.split("|")) for n in names] for _, tags in rows])
    guess = np.array(
        [[int(n in tags) for n in names] for tags in _expected_tags(tag_model, PROBE_TEXTS)]
    )
    assert metrics["task"] == "multi-label"
    assert metrics["micro_f1"] == pytest.approx(compute_metrics(truth, guess, names)["micro_f1"])
    assert metrics["per_class"]["Sports"]["recall"] == 1.0  # threshold 0: always predicted


def test_single_label_history_keeps_its_keys(tiny_run):
    history = json.loads((tiny_run.run_dir / "history.json").read_text())
    assert set(history) == {"best_epoch", "num_processes", "epochs"}
    assert "val_metrics" not in history["epochs"][0]


def test_the_head_starts_at_the_tags_log_odds(tiny_bert_dir):
    from newsclf.training.model import build_model, start_at_tag_priors

    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])  # shares 3/4, 1/4, none
    model = build_model(str(tiny_bert_dir), ["a", "b", "c"], multi_label=True)
    start_at_tag_priors(model, labels)
    expected = [np.log(3), np.log(1 / 3), np.log(1e-4 / (1 - 1e-4))]
    assert model.classifier.bias.detach().numpy() == pytest.approx(expected, rel=1e-5)


def test_a_multi_label_run_resumes_to_the_uninterrupted_history(
    tmp_path, tiny_bert_dir, monkeypatch
):
    """Crash mid-epoch 2 (checkpoints every 3 steps), resume: the same history.json, val_metrics
    and thresholds included, as a run never interrupted."""

    from newsclf import resume

    write_shapes(tmp_path, tagged_rows(160))
    values = dict(data=str(tmp_path / "joined.csv"), epochs=2, max_train_samples=None,
                  max_eval_samples=None, max_test_samples=None)  # fmt: skip

    whole = train(tiny_config(tiny_bert_dir, tmp_path / "whole", **values))
    crash_at_batch(monkeypatch, 11)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tiny_bert_dir, tmp_path / "cut", save_every=3, **values))
    monkeypatch.undo()
    resumed = resume(tmp_path / "cut" / "tiny")
    assert history_without_times(resumed.run_dir) == history_without_times(whole.run_dir)
    assert history_without_times(whole.run_dir)["epochs"][0]["val_metrics"]


def test_loss_options_are_refused_for_multi_label_and_averages_accepted(tmp_path, tiny_bert_dir):
    """Label smoothing, R-Drop and multi-sample dropout are softmax cross-entropy options: one
    line, before training, whether --task names multi-label or auto finds it; an EMA of the
    weights applies to both tasks and leaves a multi-label model."""
    write_shapes(tmp_path, tagged_rows(120))
    with pytest.raises(ConfigError, match="^label_smoothing=0.1 with multi-label data"):
        TrainConfig(task="multi-label", label_smoothing=0.1).validate()
    values = dict(data=str(tmp_path / "joined.csv"), epochs=1, max_train_samples=None,
                  max_eval_samples=None, max_test_samples=None)  # fmt: skip
    with pytest.raises(ConfigError, match="^multi_sample_dropout=3 with multi-label data"):
        train(tiny_config(tiny_bert_dir, tmp_path / "msd", multi_sample_dropout=3, **values))
    assert not (tmp_path / "msd" / "tiny" / "best_model").exists()
    result = train(tiny_config(tiny_bert_dir, tmp_path / "ema", ema_decay=0.9, **values))
    config = json.loads((result.run_dir / "best_model" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
