"""newsclf.visualize and newsclf.report: unit tests on synthetic runs, one on a tiny real run."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from newsclf import report, visualize
from newsclf.config import TrainConfig
from newsclf.data import LoadedData
from newsclf.errors import NewsclfError
from newsclf.evaluate import compute_metrics, sample_predictions
from newsclf.predict import Inference

LABELS = ["World", "Sports", "Business", "Sci/Tech"]
# Words that mark each class, so the TF-IDF baseline has something real to learn.
TOPIC_WORDS = [
    ["minister", "election", "embassy", "treaty", "rebels", "parliament"],
    ["goal", "coach", "season", "striker", "tournament", "medal"],
    ["shares", "profit", "merger", "investors", "quarterly", "bank"],
    ["software", "chip", "internet", "laptop", "researchers", "satellite"],
]
# "<b>&" checks that texts are escaped on the pages.
COMMON_WORDS = ["the", "a", "today", "said", "new", "report", "week", "after", "on", "<b>&"]
HISTORY = {
    "best_epoch": 2,
    "epochs": [
        {"epoch": 1, "train_loss": 1.2, "val_loss": 0.9, "val_accuracy": 0.7, "val_f1": 0.68,
         "learning_rate": 1e-4, "seconds": 12.5},
        {"epoch": 2, "train_loss": 0.6, "val_loss": 0.5, "val_accuracy": 0.85, "val_f1": 0.84,
         "learning_rate": 5e-5, "seconds": 11.5},
        {"epoch": 3, "train_loss": 0.4, "val_loss": 0.55, "val_accuracy": 0.83, "val_f1": 0.82,
         "learning_rate": 0.0, "seconds": 11.0},
    ],
}  # fmt: skip


def make_texts(labels: list[int], seed: int, topic_share: float = 0.5) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        " ".join(
            rng.choice(TOPIC_WORDS[y]) if rng.random() < topic_share else rng.choice(COMMON_WORDS)
            for _ in range(12)
        )
        for y in labels
    ]


def make_data(n_train: int = 80, n_test: int = 60, seed: int = 0, **kw) -> LoadedData:
    from datasets import Dataset, DatasetDict

    def split(n: int, offset: int) -> Dataset:
        labels = [i % len(LABELS) for i in range(n)]
        return Dataset.from_dict({"text": make_texts(labels, seed + offset, **kw), "label": labels})

    splits = DatasetDict(train=split(n_train, 0), validation=split(20, 1), test=split(n_test, 2))
    return LoadedData(splits=splits, label_names=list(LABELS), source="synthetic")


def make_inference(labels: list[int], seed: int = 0, hidden: int = 16) -> Inference:
    """Clustered embeddings, one cluster per class; every 7th prediction is wrong."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    centres = rng.normal(scale=4.0, size=(len(LABELS), hidden))
    embeddings = centres[labels] + rng.normal(size=(len(labels), hidden))
    predicted = labels.copy()
    predicted[::7] = (predicted[::7] + 1) % len(LABELS)
    probabilities = np.full((len(labels), len(LABELS)), 0.1)
    probabilities[np.arange(len(labels)), predicted] = 0.7
    return Inference(probabilities=probabilities, embeddings=embeddings)


def write_run(run_dir: Path, data: LoadedData, inference: Inference) -> TrainConfig:
    """A run directory as train leaves it before write_visuals: config, history, test metrics."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(name=run_dir.name, output_dir=str(run_dir.parent))
    config.save_yaml(run_dir / "config.yaml")
    (run_dir / "history.json").write_text(json.dumps(HISTORY))
    test = data.splits["test"]
    metrics = compute_metrics(test["label"], inference.predicted, LABELS)
    metrics["samples"] = sample_predictions(test["text"], test["label"], inference, LABELS)
    metrics.update(split="test", seconds=1.5)
    (run_dir / "test_metrics.json").write_text(json.dumps(metrics))
    return config


def synthetic_run(run_dir: Path, **kw) -> tuple[LoadedData, Inference, TrainConfig]:
    data = make_data(**kw)
    inference = make_inference(data.splits["test"]["label"])
    return data, inference, write_run(run_dir, data, inference)


def assert_png(path: Path, title: str, min_size: tuple[int, int] = (500, 300)) -> None:
    image = Image.open(path)
    image.verify()  # raises on a truncated or corrupt file
    image = Image.open(path)
    assert image.format == "PNG"
    assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1], image.size
    assert path.stat().st_size > 20_000
    assert image.text.get("Title") == title
    # Not a blank canvas: a real plot has many distinct colours.
    assert len(image.convert("RGB").getcolors(maxcolors=1_000_000)) > 50


# ----------------------------------------------------------------------------- the PNGs


def test_training_progress_png_has_title_curves_and_best_epoch(tmp_path):
    fig = visualize.training_progress_figure(HISTORY)
    assert fig.get_suptitle() == "Model Training Progress"
    loss_ax, acc_ax = fig.axes
    assert list(loss_ax.lines[0].get_ydata()) == [1.2, 0.6, 0.4]  # average train loss per epoch
    assert list(acc_ax.lines[0].get_ydata()) == [0.7, 0.85, 0.83]  # validation accuracy
    legend = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert "best epoch 2 (0.850)" in legend

    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    assert visualize.plot_run(tmp_path) == [tmp_path / "training_progress.png"]  # no test yet
    assert_png(tmp_path / "training_progress.png", "Model Training Progress")


def test_confusion_matrix_png_shows_counts_rates_and_class_names(tmp_path):
    synthetic_run(tmp_path)
    written = visualize.plot_run(tmp_path)
    assert [p.name for p in written] == ["training_progress.png", "confusion_matrix.png"]
    assert_png(tmp_path / "confusion_matrix.png", "Confusion Matrix")

    fig = visualize.confusion_matrix_figure([[8, 2], [1, 9]], ["Sports", "Business"])
    ax = fig.axes[0]
    assert ax.get_title().startswith("Confusion Matrix (test, 20 texts, accuracy 85.0%)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Sports", "Business"]
    cells = [t.get_text() for t in ax.texts]
    assert cells == ["8\n80%", "2\n20%", "1\n10%", "9\n90%"]


def test_plot_errors_say_what_is_wrong_and_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*newsclf train"):
        visualize.plot_run(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="has no history.json.*newsclf train"):
        visualize.plot_run(tmp_path)
    (tmp_path / "history.json").write_text(json.dumps({"best_epoch": None, "epochs": []}))
    with pytest.raises(NewsclfError, match="lists no epochs"):
        visualize.plot_run(tmp_path)
    with pytest.raises(NewsclfError, match="shape"):
        visualize.confusion_matrix_figure([[1, 2]], ["a", "b"])


# ----------------------------------------------------------------------------- t-SNE


def test_stratified_sample_keeps_class_shares_and_is_seeded():
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)
    rows = visualize.stratified_indices(labels, 100, seed=1)
    assert len(rows) == 100 and len(set(rows)) == 100
    assert np.bincount(labels[rows]).tolist() == [60, 30, 10]
    assert rows.tolist() == visualize.stratified_indices(labels, 100, seed=1).tolist()
    assert rows.tolist() != visualize.stratified_indices(labels, 100, seed=2).tolist()
    assert len(visualize.stratified_indices([0, 1, 1], 2)) == 2  # rounding still gives max_points
    assert visualize.stratified_indices(labels[:50], 100).tolist() == list(range(50))


def test_perplexity_suits_the_point_count():
    assert visualize.perplexity_for(2000) == 30.0
    assert visualize.perplexity_for(40) == 10.0
    assert 2.0 <= visualize.perplexity_for(5) < 5


def test_tsne_is_seeded_and_three_dimensional():
    x = np.random.default_rng(0).normal(size=(40, 8))
    a, b = visualize.tsne_3d(x, seed=3), visualize.tsne_3d(x, seed=3)
    assert a.shape == (40, 3)
    np.testing.assert_allclose(a, b)
    with pytest.raises(NewsclfError, match="at least 5"):
        visualize.tsne_3d(x[:3])


def test_tsne_figure_colours_classes_and_marks_mistakes():
    records = [
        {"x": i, "y": i, "z": i, "label": LABELS[i % 2], "predicted": LABELS[0], "correct": i % 2 == 0,
         "text": "a <b>bold</b> claim " * 20}
        for i in range(10)
    ]  # fmt: skip
    fig = visualize.tsne_figure(records, LABELS)
    assert fig.layout.title.text.startswith("3D t-SNE Visualization of Embeddings")
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == ["World", "Sports"]  # one legend entry per class present
    wrong = [t for t in fig.data if t.marker.symbol == "diamond"]
    assert [t.name for t in wrong] == ["Sports"] and len(wrong[0].x) == 5
    assert wrong[0].marker.color != fig.data[0].marker.color  # each class its own colour
    hover = wrong[0].customdata[0]
    assert list(hover[:2]) == ["Sports", "World"] and "&lt;b&gt;" in hover[2] and "…" in hover[2]


def test_write_visuals_writes_every_file(tmp_path):
    data, inference, config = synthetic_run(tmp_path)
    written = visualize.write_visuals(tmp_path, data, inference, config)
    names = sorted(p.name for p in written)
    assert names == sorted([
        "training_progress.png", "confusion_matrix.png", "embeddings_tsne3d.html",
        "embeddings_tsne3d.csv", "baseline_metrics.json", "report.html",
    ])  # fmt: skip
    assert all(p.is_file() for p in written)

    with open(tmp_path / "embeddings_tsne3d.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:8] == ["split", "row", "x", "y", "z", "label", "predicted", "correct"]
    assert {r["split"] for r in rows} == {"test"}
    assert len(rows) == 60
    wrong = {int(r["row"]) for r in rows if r["correct"] == "False"}
    assert wrong == set(range(0, 60, 7))

    page = (tmp_path / "embeddings_tsne3d.html").read_text()
    assert "3D t-SNE Visualization of Embeddings" in page
    assert len(page) > 3_000_000  # plotly.js is inside the file ...
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)  # ... not loaded from a CDN


def test_a_failing_picture_does_not_fail_the_run(tmp_path, monkeypatch, caplog):
    data, inference, config = synthetic_run(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("t-SNE exploded")

    monkeypatch.setattr(visualize, "tsne_3d", broken)
    written = visualize.write_visuals(tmp_path, data, inference, config)
    assert "embeddings_tsne3d.html" not in {p.name for p in written}
    assert {"training_progress.png", "report.html"} <= {p.name for p in written}
    assert "t-SNE exploded" in caplog.text and "newsclf embed" in caplog.text


def test_report_holds_every_section_in_one_file(tmp_path):
    data, inference, config = synthetic_run(tmp_path)
    visualize.write_visuals(tmp_path, data, inference, config)
    page = (tmp_path / "report.html").read_text()
    for heading in ["Transformer vs TF-IDF baseline", "Training", "Test metrics", "3D t-SNE",
                    "Sample predictions", "Data: rows and class counts", "Resolved config"]:  # fmt: skip
        assert heading in page, heading
    assert page.count('<img src="data:image/png;base64,') == 2  # curves and confusion matrix
    assert 'id="tsne3d"' in page and not re.search(r"<script[^>]+src=", page)
    assert "&lt;b&gt;&amp;" in page and "<b>&" not in page  # texts from the data are escaped
    assert "TF-IDF (word 1-2 grams) + LinearSVC" in page
    assert "35.0 s" in page  # transformer training time: the sum of the epoch times


def baseline_accuracy(run_dir: Path, data: LoadedData, config: TrainConfig) -> float:
    report.write_report(run_dir, data, config)
    return json.loads((run_dir / "baseline_metrics.json").read_text())["accuracy"]


def test_baseline_numbers_are_computed_from_the_data(tmp_path):
    data, _, config = synthetic_run(tmp_path / "clean", n_train=200, topic_share=0.6)
    clean = baseline_accuracy(tmp_path / "clean", data, config)
    metrics = json.loads((tmp_path / "clean" / "baseline_metrics.json").read_text())
    assert metrics["train_rows"] == 200 and metrics["test_rows"] == 60
    assert metrics["features"] > 20 and metrics["train_seconds"] > 0

    # Same test rows, but the training labels are shuffled: nothing left to learn.
    noisy, _, config = synthetic_run(tmp_path / "noisy", n_train=200, topic_share=0.6)
    shuffled = np.random.default_rng(0).permutation(noisy.splits["train"]["label"]).tolist()
    noisy.splits["train"] = (
        noisy.splits["train"].remove_columns("label").add_column("label", shuffled)
    )
    shuffled_acc = baseline_accuracy(tmp_path / "noisy", noisy, config)

    assert clean > 0.8 and shuffled_acc < 0.6, (clean, shuffled_acc)
    assert f"{clean:.2%}" in (tmp_path / "clean" / "report.html").read_text()
    assert f"{shuffled_acc:.2%}" in (tmp_path / "noisy" / "report.html").read_text()


def test_report_without_test_metrics_or_tsne_says_what_to_run(tmp_path):
    data, _, config = synthetic_run(tmp_path)
    (tmp_path / "test_metrics.json").unlink()
    visualize.plot_run(tmp_path)
    report.write_report(tmp_path, data, config)
    page = (tmp_path / "report.html").read_text()
    assert "newsclf evaluate RUN" in page and "newsclf embed RUN" in page


# ----------------------------------------------------------------------------- a real tiny run


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path) -> Path:
    """The shared tiny run (visuals off), copied so these tests may add files to it."""
    return Path(shutil.copytree(tiny_run.run_dir, tmp_path / "run"))


def test_plot_embed_and_report_commands_on_a_real_run(tiny_run_copy):
    run = tiny_run_copy
    assert [p.name for p in visualize.plot_run(run)] == [
        "training_progress.png",
        "confusion_matrix.png",
    ]
    html_path = visualize.embed_run(run, split="validation", max_points=20)
    with open(run / "embeddings_tsne3d.csv", newline="") as f:
        assert {r["split"] for r in csv.DictReader(f)} == {"validation"}
    assert " validation texts" in html_path.read_text()[-20_000:]
    html_path = visualize.embed_run(run, split="test", max_points=40)
    assert html_path == run / "embeddings_tsne3d.html"
    with open(run / "embeddings_tsne3d.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40
    test_size = json.loads((run / "test_metrics.json").read_text())["num_samples"]
    assert {r["label"] for r in rows} == set(LABELS) and max(
        int(r["row"]) for r in rows
    ) < test_size

    assert visualize.report_run(run) == run / "report.html"
    baseline = json.loads((run / "baseline_metrics.json").read_text())
    data = json.loads((run / "data.json").read_text())
    assert baseline["train_rows"] == data["splits"]["train"]["rows"]
    assert baseline["test_rows"] == data["splits"]["test"]["rows"] == test_size


def test_commands_refuse_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.yaml.*newsclf train"):
        visualize.embed_run(tmp_path)
    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    with pytest.raises(FileNotFoundError, match="no config.yaml.*newsclf train"):
        visualize.report_run(tmp_path)
