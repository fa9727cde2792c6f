"""The pictures, the t-SNE, the baseline and the report: unit tests on synthetic runs whose
content the tests control (tests/synthetic.py), and one check of the commands on a real tiny run
that asserts nothing about what its model learned."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import tiny_config
from newsclf.data import stratified_sample
from newsclf.errors import NewsclfError
from newsclf.report import (
    BASELINE_NAME,
    ReportContent,
    figures,
    fit_baseline,
    outputs,
    render_report,
    tsne,
)
from synthetic import HISTORY, LABELS, WRONG_EVERY, make_data, synthetic_run

VISUAL_FILES = [
    "training_progress.png", "confusion_matrix.png", "embeddings_tsne3d.html",
    "embeddings_tsne3d.csv", "baseline_metrics.json", "report.html",
]  # fmt: skip


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
    fig = figures.training_progress_figure(HISTORY)
    assert fig.get_suptitle() == "Model Training Progress"
    loss_ax, acc_ax = fig.axes
    assert list(loss_ax.lines[0].get_ydata()) == [1.2, 0.6, 0.4]  # average train loss per epoch
    assert list(acc_ax.lines[0].get_ydata()) == [0.7, 0.85, 0.83]  # validation accuracy
    legend = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert "best epoch 2 (0.850)" in legend

    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    assert figures.plot_run(tmp_path) == [tmp_path / "training_progress.png"]  # no test yet
    assert_png(tmp_path / "training_progress.png", "Model Training Progress")


def test_training_progress_draws_every_evaluation_inside_epochs():
    rows = [
        {**HISTORY["epochs"][0], "epoch": epoch, "val_accuracy": accuracy}
        for epoch, accuracy in [(0.5, 0.6), (1, 0.8), (1.5, 0.9), (2, 0.85)]
    ]
    fig = figures.training_progress_figure({**HISTORY, "epochs": rows, "best_epoch": 1.5})
    acc_ax = fig.axes[1]
    assert list(acc_ax.lines[0].get_xdata()) == [0.5, 1, 1.5, 2]
    assert list(acc_ax.lines[0].get_ydata()) == [0.6, 0.8, 0.9, 0.85]
    assert "best epoch 1.5 (0.900)" in [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert list(acc_ax.get_xticks()) == [0, 1, 2]  # whole epochs: the labels stay apart


def test_confusion_matrix_png_shows_counts_rates_and_class_names(tmp_path):
    synthetic_run(tmp_path)
    written = figures.plot_run(tmp_path)
    assert [p.name for p in written] == ["training_progress.png", "confusion_matrix.png"]
    assert_png(tmp_path / "confusion_matrix.png", "Confusion Matrix")

    fig = figures.confusion_matrix_figure([[8, 2], [1, 9]], ["Sports", "Business"])
    ax = fig.axes[0]
    assert ax.get_title().startswith("Confusion Matrix (test, 20 texts, accuracy 85.0%)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Sports", "Business"]
    cells = [t.get_text() for t in ax.texts]
    assert cells == ["8\n80%", "2\n20%", "1\n10%", "9\n90%"]


def test_plot_errors_say_what_is_wrong_and_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*newsclf train"):
        figures.plot_run(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="has no history.json.*newsclf train"):
        figures.plot_run(tmp_path)
    (tmp_path / "history.json").write_text(json.dumps({"best_epoch": None, "epochs": []}))
    with pytest.raises(NewsclfError, match="lists no epochs"):
        figures.plot_run(tmp_path)
    with pytest.raises(NewsclfError, match="shape"):
        figures.confusion_matrix_figure([[1, 2]], ["a", "b"])


# ----------------------------------------------------------------------------- sampling, t-SNE


def test_stratified_sample_keeps_class_shares_and_is_seeded():
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)
    rows = stratified_sample(labels, 100, seed=1)
    assert len(rows) == 100 and len(set(rows)) == 100 and list(rows) == sorted(rows)
    assert np.bincount(labels[rows]).tolist() == [60, 30, 10]
    assert rows.tolist() == stratified_sample(labels, 100, seed=1).tolist()
    assert rows.tolist() != stratified_sample(labels, 100, seed=2).tolist()
    assert stratified_sample(labels[:50], 100, seed=0).tolist() == list(range(50))
    # Too rare to stratify (a class of one; fewer rows left out than classes): still `limit`.
    assert len(stratified_sample([0, 1, 1], 2, seed=0)) == 2
    assert len(stratified_sample(labels, 998, seed=0)) == 998


def test_perplexity_suits_the_point_count():
    assert tsne.perplexity_for(2000) == 30.0
    assert tsne.perplexity_for(40) == 10.0
    assert 2.0 <= tsne.perplexity_for(5) < 5


def test_tsne_is_seeded_and_three_dimensional():
    x = np.random.default_rng(0).normal(size=(40, 8))
    a, b = tsne.tsne_3d(x, seed=3), tsne.tsne_3d(x, seed=3)
    assert a.shape == (40, 3)
    np.testing.assert_allclose(a, b)
    with pytest.raises(NewsclfError, match="at least 5"):
        tsne.tsne_3d(x[:3])


def test_tsne_figure_colours_classes_and_marks_mistakes():
    records = [
        {"x": i, "y": i, "z": i, "label": LABELS[i % 2], "predicted": LABELS[0], "correct": i % 2 == 0,
         "text": "a <b>bold</b> claim " * 20}
        for i in range(10)
    ]  # fmt: skip
    fig = figures.tsne_figure(records, LABELS)
    assert fig.layout.title.text.startswith("3D t-SNE Visualization of Embeddings")
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == ["World", "Sports"]  # one legend entry per class present
    wrong = [t for t in fig.data if t.marker.symbol == "diamond"]
    assert [t.name for t in wrong] == ["Sports"] and len(wrong[0].x) == 5
    assert wrong[0].marker.color != fig.data[0].marker.color  # each class its own colour
    hover = wrong[0].customdata[0]
    assert list(hover[:2]) == ["Sports", "World"] and "&lt;b&gt;" in hover[2] and "…" in hover[2]


# ----------------------------------------------------------------------------- after training


def test_write_visuals_writes_every_file(tmp_path):
    written = synthetic_run(tmp_path).write_visuals()
    assert sorted(p.name for p in written) == sorted(VISUAL_FILES)
    assert all(p.is_file() for p in written)

    with open(tmp_path / "embeddings_tsne3d.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:8] == ["split", "row", "x", "y", "z", "label", "predicted", "correct"]
    assert {r["split"] for r in rows} == {"test"}
    assert len(rows) == 60
    wrong = {int(r["row"]) for r in rows if r["correct"] == "False"}
    assert wrong == set(range(0, 60, WRONG_EVERY))

    page = (tmp_path / "embeddings_tsne3d.html").read_text()
    assert "3D t-SNE Visualization of Embeddings" in page
    assert len(page) > 3_000_000  # plotly.js is inside the file ...
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)  # ... not loaded from a CDN


def test_the_report_is_drawn_from_what_train_passes_not_from_the_files(tmp_path):
    run = synthetic_run(tmp_path)
    (tmp_path / "history.json").write_text("not read")
    (tmp_path / "test_metrics.json").write_text("not read")
    run.write_visuals()
    page = (tmp_path / "report.html").read_text()
    assert "35.0 s" in page  # transformer training time: the sum of the epoch times passed in
    assert f"accuracy <b>{run.metrics['accuracy']:.2%}</b>" in page


def test_a_failing_picture_does_not_fail_the_run(tmp_path, monkeypatch, caplog):
    run = synthetic_run(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("t-SNE exploded")

    monkeypatch.setattr(tsne, "tsne_3d", broken)
    written = run.write_visuals()
    assert "embeddings_tsne3d.html" not in {p.name for p in written}
    assert {"training_progress.png", "report.html"} <= {p.name for p in written}
    assert "t-SNE exploded" in caplog.text and "newsclf embed" in caplog.text
    assert "newsclf embed RUN" in (tmp_path / "report.html").read_text()


def test_report_holds_every_section_in_one_file(tmp_path):
    synthetic_run(tmp_path).write_visuals()
    page = (tmp_path / "report.html").read_text()
    for heading in ["Transformer vs TF-IDF baseline", "Training", "Test metrics", "3D t-SNE",
                    "Sample predictions", "Data: rows and class counts", "Resolved config"]:  # fmt: skip
        assert heading in page, heading
    assert page.count('<img src="data:image/png;base64,') == 2  # curves and confusion matrix
    assert 'id="tsne3d"' in page and not re.search(r"<script[^>]+src=", page)
    assert "&lt;b&gt;&amp;" in page and "<b>&" not in page  # texts from the data are escaped
    assert "&lt;/script&gt;" in page  # ... and cannot close Plotly's script either
    assert BASELINE_NAME in page
    assert "35.0 s" in page  # transformer training time: the sum of the epoch times
    assert "The transformer is <b>" in page and "accuracy points" in page


def test_report_escapes_every_value_from_data_and_config(tmp_path):
    run = synthetic_run(tmp_path)
    summary = run.data.summary()
    summary["source"] = '<img src=x onerror="alert(1)">'
    run.config.model = "<i>model</i>"
    page = render_report(ReportContent(run.config, summary, HISTORY, run.metrics))
    assert "<img src=x" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "<i>model</i>" not in page and "&lt;i&gt;model&lt;/i&gt;" in page


def test_report_without_test_metrics_or_tsne_says_what_to_run(tmp_path):
    run = synthetic_run(tmp_path)
    page = render_report(ReportContent(run.config, run.data.summary(), HISTORY))
    assert "newsclf evaluate RUN" in page and "newsclf embed RUN" in page
    assert "training_progress.png is missing" in page  # no PNGs passed in


def test_baseline_numbers_are_computed_from_the_data():
    def fit(data):
        train, test = data.splits["train"], data.splits["test"]
        return fit_baseline(train["text"], train["label"], test["text"], test["label"], LABELS)

    # Each class has its own topic words in most of its texts: separable by construction.
    data = make_data(n_train=200, topic_share=0.6)
    clean = fit(data)
    assert clean.metrics["train_rows"] == 200 and clean.metrics["test_rows"] == 60
    assert clean.metrics["features"] > 20 and clean.metrics["model"] == BASELINE_NAME
    assert clean.predict(["the minister and parliament", "striker goal coach"]) == [
        "World",
        "Sports",
    ]
    # Same test rows, but the training labels are shuffled: nothing left to learn.
    shuffled = np.random.default_rng(0).permutation(data.splits["train"]["label"]).tolist()
    data.splits["train"] = (
        data.splits["train"].remove_columns("label").add_column("label", shuffled)
    )
    noisy = fit(data)
    assert clean.metrics["accuracy"] > 0.8 and noisy.metrics["accuracy"] < 0.6


# ----------------------------------------------------------------------------- a real tiny run


def test_training_with_visuals_writes_the_pictures_and_the_report(tiny_bert_dir, tmp_path):
    from newsclf import train

    cfg = tiny_config(
        tiny_bert_dir, tmp_path, name="visual", visuals=True,
        max_train_samples=48, max_eval_samples=16, max_test_samples=32,
    )  # fmt: skip
    run_dir = train(cfg).run_dir
    assert all((run_dir / name).is_file() for name in [*VISUAL_FILES, "reliability_diagram.png"])
    assert (run_dir / "embeddings_tsne3d.csv").read_text().count("\n") == 32 + 1
    page = (run_dir / "report.html").read_text()
    assert "Run report: visual" in page and 'id="tsne3d"' in page
    # The curves, the confusion matrix and the reliability diagram.
    assert page.count('<img src="data:image/png;base64,') == 3
    assert 'id="trust"' in page and "before calibration" in page
    # Up to 3 misclassified test texts explained, however many the tiny model got wrong.
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    wrong = round((1 - metrics["accuracy"]) * metrics["num_samples"])
    explained = json.loads((run_dir / "explanations.json").read_text()) if wrong else []
    assert len(explained) == min(3, wrong)
    assert ('id="why"' in page) == bool(wrong)


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path) -> Path:
    """The shared tiny run (visuals off), copied so these tests may add files to it."""
    return Path(shutil.copytree(tiny_run.run_dir, tmp_path / "run"))


def test_plot_embed_and_report_commands_on_a_real_run(tiny_run_copy):
    run = tiny_run_copy
    assert [p.name for p in figures.plot_run(run)] == [
        "training_progress.png",
        "confusion_matrix.png",
        "reliability_diagram.png",
    ]
    html_path = tsne.embed_run(run, split="validation", max_points=20)
    with open(run / "embeddings_tsne3d.csv", newline="") as f:
        assert {r["split"] for r in csv.DictReader(f)} == {"validation"}
    assert " validation texts" in html_path.read_text()[-20_000:]
    html_path = tsne.embed_run(run, split="test", max_points=40)
    assert html_path == run / "embeddings_tsne3d.html"
    with open(run / "embeddings_tsne3d.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40
    test_size = json.loads((run / "test_metrics.json").read_text())["num_samples"]
    assert {r["label"] for r in rows} == set(LABELS)  # true labels: a stratified sample
    assert max(int(r["row"]) for r in rows) < test_size

    assert outputs.report_run(run) == run / "report.html"
    assert 'id="tsne3d"' in (run / "report.html").read_text()  # from embeddings_tsne3d.csv
    baseline = json.loads((run / "baseline_metrics.json").read_text())
    data = json.loads((run / "data.json").read_text())
    assert baseline["train_rows"] == data["splits"]["train"]["rows"]
    assert baseline["test_rows"] == data["splits"]["test"]["rows"] == test_size


def test_commands_refuse_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.yaml.*newsclf train"):
        tsne.embed_run(tmp_path)
    with pytest.raises(NewsclfError, match="max_points=0"):
        tsne.embed_run(tmp_path, max_points=0)
    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    with pytest.raises(FileNotFoundError, match="no config.yaml.*newsclf train"):
        outputs.report_run(tmp_path)
