"""The 3D t-SNE of a split's [CLS] embeddings: sample the points, run t-SNE, keep one record per
point (embeddings_tsne3d.csv) and the self-contained page (embeddings_tsne3d.html).

`embed_run` (`newsclf embed RUN`) embeds a split with the run's best model; after training, the
embeddings come from the test inference instead (`newsclf.report.outputs`).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from newsclf import rundir
from newsclf.errors import ConfigError, DataError
from newsclf.evaluation.metrics import NO_TAG, tag_names
from newsclf.report.figures import shorten, tsne_figure

if TYPE_CHECKING:
    from plotly.graph_objects import Figure as PlotlyFigure

TSNE_COLUMNS = ("split", "row", "x", "y", "z", "label", "predicted", "correct", "text")
DEFAULT_MAX_POINTS = 2000


def perplexity_for(n_points: int) -> float:
    """About n/4, within [2, 30]: sklearn needs perplexity < n, and 30 suits 120+ points."""
    return float(min(30.0, max(2.0, n_points / 4)))


def tsne_3d(embeddings: np.ndarray, seed: int = 42) -> np.ndarray:
    """[N, H] embeddings -> [N, 3] t-SNE coordinates (PCA to 50 dims first, for speed)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or len(x) < 5:
        raise DataError(
            f"t-SNE needs a 2-D array of at least 5 embeddings, got shape {x.shape}. "
            "Use a split with more rows."
        )
    if x.shape[1] > 50 and len(x) > 50:
        x = PCA(n_components=50, random_state=seed).fit_transform(x)
    # One thread: sklearn's OpenMP t-SNE spins badly when the cores are shared (seen: 40 s
    # instead of 0.1 s for 40 points beside a training job on 2 cores).
    with threadpool_limits(limits=1):
        tsne = TSNE(
            n_components=3,
            perplexity=perplexity_for(len(x)),
            init="pca",
            learning_rate="auto",
            random_state=seed,
        )
        return tsne.fit_transform(x)


def point_labels(
    true: np.ndarray, predicted: np.ndarray, names: Sequence[str], train_counts: np.ndarray
) -> dict[str, list[str]]:
    """What each point shows: `labels` (its colour: the true class; for multi-label, of its
    true tags the one most frequent in training) and `predicted`; for multi-label also `tags`,
    the true tag set."""
    if true.ndim == 1:
        return {"labels": [names[i] for i in true], "predicted": [names[i] for i in predicted]}
    ranked = np.where(
        true.astype(bool), np.asarray(train_counts, np.int64), -1
    )  # [points, classes]
    colour = [names[int(row.argmax())] if row.max() >= 0 else NO_TAG for row in ranked]
    return {
        "labels": colour,
        "predicted": [tag_names(row, names) for row in predicted],
        "tags": [tag_names(row, names) for row in true],
    }


def tsne_records(
    embeddings: np.ndarray,
    rows: Sequence[int],
    labels: Sequence[str],
    predicted: Sequence[str],
    texts: Sequence[str],
    split: str = "test",
    seed: int = 42,
    tags: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """t-SNE of already-sampled points; one record per point, `row` indexing the split. With
    `tags` (multi-label), a point is correct when its predicted tags are its true ones."""
    coords = tsne_3d(embeddings, seed=seed)
    truth = tags if tags is not None else labels
    records = [
        {
            "split": split,
            "row": int(r),
            "x": float(c[0]),
            "y": float(c[1]),
            "z": float(c[2]),
            "label": t,
            "predicted": p,
            "correct": true == p,
            "text": shorten(s, 300),
        }
        for r, c, t, p, s, true in zip(rows, coords, labels, predicted, texts, truth, strict=True)
    ]
    if tags is not None:
        for record, tag_set in zip(records, tags, strict=True):
            record["tags"] = tag_set
    return records


def read_tsne_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    for r in records:
        r.update(x=float(r["x"]), y=float(r["y"]), z=float(r["z"]), correct=r["correct"] == "True")
    return records


def write_tsne(
    run_dir: Path, records: list[dict[str, Any]], label_names: Sequence[str]
) -> tuple[PlotlyFigure, list[Path]]:
    """Write embeddings_tsne3d.csv and the self-contained page; return the figure and paths."""
    run_dir = Path(run_dir)
    csv_path = run_dir / rundir.TSNE_CSV
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        extra = ("tags",) if records and "tags" in records[0] else ()
        writer = csv.DictWriter(f, fieldnames=(*TSNE_COLUMNS, *extra))
        writer.writeheader()
        writer.writerows(records)
    fig = tsne_figure(records, label_names)
    html_path = run_dir / rundir.TSNE_HTML
    # include_plotlyjs=True inlines plotly.js (~4.7 MB): the page must work with no network.
    fig.write_html(html_path, include_plotlyjs=True, full_html=True)
    return fig, [html_path, csv_path]


def embed_run(run_dir: Path, split: str = "test", max_points: int = DEFAULT_MAX_POINTS) -> Path:
    """`newsclf embed RUN`: embed a (stratified sample of a) split with best_model; t-SNE it."""
    from newsclf.config import TrainConfig
    from newsclf.data import load_data, stratified_sample
    from newsclf.inference import Classifier

    if max_points < 1:
        raise ConfigError(f"max_points={max_points!r}: expected a whole number >= 1, e.g. 2000.")
    config_path = rundir.require(run_dir, rundir.CONFIG_YAML)
    model_dir = rundir.require(run_dir, rundir.BEST_MODEL)
    cfg = TrainConfig.from_yaml(config_path)
    data = load_data(cfg)
    if split not in data.splits:
        raise DataError(f"split={split!r}: expected one of {', '.join(data.splits)}.")
    true = data.label_matrix(split)
    rows = stratified_sample(true, max_points, seed=cfg.seed)
    texts = data.splits[split].select(rows.tolist())["text"]
    classifier = Classifier.from_pretrained(model_dir)
    inference = classifier.infer(texts, return_embeddings=True)
    shown = point_labels(
        true[rows], inference.predicted, data.label_names, data.label_matrix("train").sum(axis=0)
    )
    records = tsne_records(
        inference.embeddings, rows, texts=texts, split=split, seed=cfg.seed, **shown
    )
    return write_tsne(run_dir, records, data.label_names)[1][0]
