"""Pictures of a run: training curves, confusion matrix, and a 3D t-SNE of the [CLS] embeddings.

Everything here reads or writes files in a run directory (docs/run-directory.md). matplotlib,
plotly and scikit-learn are imported inside the functions so `newsclf --help` stays instant.
The one-page HTML report and the TF-IDF baseline live in `newsclf.report`.
"""

from __future__ import annotations

import csv
import html
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from newsclf.errors import ConfigError, DataError, NewsclfError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from plotly.graph_objects import Figure as PlotlyFigure

    from newsclf.config import TrainConfig

log = logging.getLogger(__name__)

PROGRESS_PNG = "training_progress.png"
CONFUSION_PNG = "confusion_matrix.png"
TSNE_HTML = "embeddings_tsne3d.html"
TSNE_CSV = "embeddings_tsne3d.csv"
PROGRESS_TITLE = "Model Training Progress"
CONFUSION_TITLE = "Confusion Matrix"
TSNE_TITLE = "3D t-SNE Visualization of Embeddings"
TSNE_COLUMNS = ("split", "row", "x", "y", "z", "label", "predicted", "correct", "text")
DEFAULT_MAX_POINTS = 2000


# ----------------------------------------------------------------------------- reading runs


def read_json(run_dir: Path, name: str) -> dict[str, Any]:
    """Read `run_dir/name`, or say what is missing and how to get it."""
    path = Path(run_dir) / name
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(
            f"Run directory {run_dir} does not exist. Train one with `newsclf train --name NAME`, "
            "then pass runs/NAME."
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} has no {name}: is it a newsclf run directory? "
            f"Train one with `newsclf train --name {Path(run_dir).name}`"
            + (" or score it with `newsclf evaluate`." if name == "test_metrics.json" else ".")
        )
    return json.loads(path.read_text(encoding="utf-8"))


def read_history(run_dir: Path) -> dict[str, Any]:
    history = read_json(run_dir, "history.json")
    if not history.get("epochs"):
        raise NewsclfError(
            f"{Path(run_dir) / 'history.json'} lists no epochs: the run stopped before its first "
            "epoch ended. Train it again."
        )
    return history


# ----------------------------------------------------------------------------- matplotlib


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A Figure on the Agg canvas, without pyplot: no display needed, no global state touched
    (so a notebook's own matplotlib backend is left alone), nothing to close afterwards."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path, title: str) -> Path:
    """Save as PNG, with the title also in the PNG metadata."""
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Title": title})
    return Path(path)


def training_progress_figure(history: dict[str, Any]) -> Figure:
    """Loss per epoch (left) and validation accuracy/F1 per epoch (right), best epoch marked."""
    epochs = history["epochs"]
    x = [e["epoch"] for e in epochs]
    best = history.get("best_epoch") or max(epochs, key=lambda e: e["val_accuracy"])["epoch"]
    best_row = next((e for e in epochs if e["epoch"] == best), epochs[-1])

    fig = new_figure((11, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    fig.suptitle(PROGRESS_TITLE, fontsize=14, fontweight="bold")
    ax_loss.plot(x, [e["train_loss"] for e in epochs], "o-", label="train loss (average)")
    if all(e.get("val_loss") is not None for e in epochs):
        ax_loss.plot(x, [e["val_loss"] for e in epochs], "s--", label="validation loss")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")

    accuracy = [e["val_accuracy"] for e in epochs]
    ax_acc.plot(x, accuracy, "o-", color="tab:green", label="val accuracy")
    if all(e.get("val_f1") is not None for e in epochs):
        f1 = [e["val_f1"] for e in epochs]
        ax_acc.plot(x, f1, "s--", color="tab:olive", label="val macro F1")
    ax_acc.plot(
        [best],
        [best_row["val_accuracy"]],
        "*",
        color="crimson",
        markersize=16,
        label=f"best epoch {best} ({best_row['val_accuracy']:.3f})",
    )
    ax_acc.set(xlabel="epoch", ylabel="score", title="Validation")
    for ax in (ax_loss, ax_acc):
        ax.margins(x=0.05, y=0.12)  # room for the best-epoch star at the top edge
        ax.axvline(best, color="crimson", linestyle=":", linewidth=1)
        ax.set_xticks(x)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def confusion_matrix_figure(matrix: Sequence[Sequence[int]], label_names: Sequence[str]) -> Figure:
    """Heatmap of row-normalised rates (recall per true class), each cell also giving its count."""
    counts = np.asarray(matrix, dtype=np.int64)
    n = len(label_names)
    if counts.shape != (n, n):
        raise DataError(
            f"Confusion matrix has shape {counts.shape} but there are {n} label names; "
            "expected a square matrix with one row and column per class."
        )
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    accuracy = np.trace(counts) / max(counts.sum(), 1)

    side = max(5.0, 1.1 * n + 2.5)
    fig = new_figure((side + 1.5, side))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fontsize = max(5, 11 - n // 3)  # many classes: smaller cell labels so they still fit
    for i in range(n):
        for j in range(n):
            color = "white" if rates[i, j] > 0.5 else "black"
            text = f"{counts[i, j]}\n{rates[i, j]:.0%}"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)
    many = n > 4  # long class lists: slanted tick labels so they do not overlap
    ax.set_xticks(
        range(n), labels=label_names, rotation=45 if many else 0, ha="right" if many else "center"
    )
    ax.set_yticks(range(n), labels=label_names)
    ax.set(xlabel="predicted label", ylabel="true label")
    ax.set_title(
        f"{CONFUSION_TITLE} (test, {counts.sum()} texts, accuracy {accuracy:.1%})", fontsize=12
    )
    fig.tight_layout()
    return fig


def plot_training_progress(run_dir: Path) -> Path:
    """Write `training_progress.png` from `history.json`."""
    fig = training_progress_figure(read_history(run_dir))
    return save_figure(fig, Path(run_dir) / PROGRESS_PNG, PROGRESS_TITLE)


def plot_confusion_matrix(
    run_dir: Path, matrix: Sequence[Sequence[int]], label_names: Sequence[str]
) -> Path:
    fig = confusion_matrix_figure(matrix, label_names)
    return save_figure(fig, Path(run_dir) / CONFUSION_PNG, CONFUSION_TITLE)


def plot_run(run_dir: Path) -> list[Path]:
    """`newsclf plot RUN`: training_progress.png, plus confusion_matrix.png once tested."""
    run_dir = Path(run_dir)
    written = [plot_training_progress(run_dir)]
    if (run_dir / "test_metrics.json").is_file():
        metrics = read_json(run_dir, "test_metrics.json")
        written.append(
            plot_confusion_matrix(run_dir, metrics["confusion_matrix"], metrics["label_names"])
        )
    else:
        log.info("%s has no test_metrics.json: skipped the confusion matrix.", run_dir)
    return written


# ----------------------------------------------------------------------------- t-SNE


def stratified_indices(labels: Sequence[int], max_points: int, seed: int = 42) -> np.ndarray:
    """Sorted row indices, at most `max_points`, keeping each class's share (seeded)."""
    labels = np.asarray(labels)
    if max_points < 1:
        raise ConfigError(f"max_points={max_points!r}: expected a whole number >= 1, e.g. 2000.")
    if len(labels) <= max_points:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * max_points / len(labels)
    quota = np.floor(exact).astype(int)
    # Hand the points lost to rounding down to the classes that lost the most.
    for k in np.argsort(quota - exact)[: max_points - quota.sum()]:
        quota[k] += 1
    picked = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False)
        for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(picked))


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


def shorten(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def tsne_rows(
    coords: np.ndarray,
    rows: Sequence[int],
    labels: Sequence[str],
    predicted: Sequence[str],
    texts: Sequence[str],
    split: str = "test",
) -> list[dict[str, Any]]:
    """The records of embeddings_tsne3d.csv, one per point; `row` indexes the split."""
    return [
        {
            "split": split,
            "row": int(r),
            "x": float(c[0]),
            "y": float(c[1]),
            "z": float(c[2]),
            "label": t,
            "predicted": p,
            "correct": t == p,
            "text": shorten(s, 300),
        }
        for r, c, t, p, s in zip(rows, coords, labels, predicted, texts, strict=True)
    ]


def write_tsne_csv(path: Path, records: list[dict[str, Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=TSNE_COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    return Path(path)


def read_tsne_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    for r in records:
        r.update(x=float(r["x"]), y=float(r["y"]), z=float(r["z"]), correct=r["correct"] == "True")
    return records


def _hover_text(text: str) -> str:
    # Plotly hover labels understand <br> but not CSS wrapping; break lines by hand.
    words, lines, line = html.escape(shorten(text, 160), quote=False).split(), [], ""
    for word in words:
        if line and len(line) + len(word) > 60:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return "<br>".join([*lines, line])


def split_of(records: list[dict[str, Any]]) -> str:
    """The split the points come from ("test" for CSVs written before the column existed)."""
    return (records[0].get("split") or "test") if records else "test"


def tsne_figure(records: list[dict[str, Any]], label_names: Sequence[str]) -> PlotlyFigure:
    """One colour per true class; misclassified points drawn as larger outlined diamonds."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    palette = qualitative.Plotly if len(label_names) <= 10 else qualitative.Alphabet
    wrong = sum(not r["correct"] for r in records)
    fig = go.Figure()
    for k, name in enumerate(label_names):
        color = palette[k % len(palette)]
        shown = False  # one legend entry per class, which toggles both of its traces
        for correct in (True, False):
            points = [r for r in records if r["label"] == name and r["correct"] == correct]
            if points:
                fig.add_trace(_tsne_trace(points, name, color, correct, showlegend=not shown))
                shown = True
    fig.update_layout(
        title={
            "text": f"{TSNE_TITLE}<br><sup>{len(records)} {split_of(records)} texts · ● correct · "
            f"◆ misclassified ({wrong}) · hover a point for its text</sup>"
        },
        scene={"xaxis_title": "t-SNE 1", "yaxis_title": "t-SNE 2", "zaxis_title": "t-SNE 3"},
        legend={"title": {"text": "true label"}, "itemsizing": "constant"},
        height=720,
        margin={"l": 0, "r": 0, "b": 0, "t": 70},
    )
    return fig


def _tsne_trace(
    points: list[dict[str, Any]], name: str, color: str, correct: bool, showlegend: bool
) -> Any:
    import plotly.graph_objects as go

    # gl3d draws markers as font glyphs: circle and diamond render everywhere, "x" is an emoji
    # that shows as an empty box without an emoji font (as in headless Chromium).
    marker = {"size": 4, "symbol": "circle", "color": color, "opacity": 0.8}
    if not correct:
        marker.update(size=6, symbol="diamond", opacity=1.0, line={"color": "black", "width": 1})
    return go.Scatter3d(
        x=[r["x"] for r in points],
        y=[r["y"] for r in points],
        z=[r["z"] for r in points],
        mode="markers",
        marker=marker,
        legendgroup=name,
        showlegend=showlegend,
        name=name,
        customdata=[[r["label"], r["predicted"], _hover_text(r["text"])] for r in points],
        hovertemplate=(
            "<b>true: %{customdata[0]}</b><br>predicted: %{customdata[1]}<br>"
            "%{customdata[2]}<extra></extra>"
        ),
    )


def write_tsne(
    run_dir: Path,
    embeddings: np.ndarray,
    labels: Sequence[str],
    predicted: Sequence[str],
    texts: Sequence[str],
    label_names: Sequence[str],
    rows: Sequence[int] | None = None,
    seed: int = 42,
    split: str = "test",
) -> list[Path]:
    """Run t-SNE on already-sampled points; write the self-contained page and the CSV."""
    run_dir = Path(run_dir)
    rows = range(len(texts)) if rows is None else rows
    coords = tsne_3d(embeddings, seed=seed)
    records = tsne_rows(coords, rows, labels, predicted, texts, split=split)
    csv_path = write_tsne_csv(run_dir / TSNE_CSV, records)
    html_path = run_dir / TSNE_HTML
    # include_plotlyjs=True inlines plotly.js (~4.7 MB): the page must work with no network.
    tsne_figure(records, label_names).write_html(html_path, include_plotlyjs=True, full_html=True)
    return [html_path, csv_path]


def embed_run(run_dir: Path, split: str = "test", max_points: int = DEFAULT_MAX_POINTS) -> Path:
    """`newsclf embed RUN`: embed a (stratified sample of a) split with best_model; t-SNE it."""
    from newsclf.config import TrainConfig
    from newsclf.data import load_data
    from newsclf.predict import Classifier

    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    model_dir = run_dir / "best_model"
    for path in (config_path, model_dir):
        if not path.exists():
            raise FileNotFoundError(
                f"{run_dir} has no {path.name}: is it a newsclf run directory? "
                f"Train one with `newsclf train --name {run_dir.name}`."
            )
    cfg = TrainConfig.from_yaml(config_path)
    data = load_data(cfg)
    if split not in data.splits:
        raise DataError(f"split={split!r}: expected one of {', '.join(data.splits)}.")
    ds = data.splits[split]
    rows = stratified_indices(ds["label"], max_points, seed=cfg.seed)
    subset = ds.select(rows.tolist())
    classifier = Classifier.from_pretrained(model_dir)
    inference = classifier.infer(subset["text"], return_embeddings=True)
    written = write_tsne(
        run_dir,
        inference.embeddings,
        labels=[data.label_names[i] for i in subset["label"]],
        predicted=[classifier.label_names[i] for i in inference.predicted],
        texts=subset["text"],
        label_names=data.label_names,
        rows=rows,
        seed=cfg.seed,
        split=split,
    )
    return written[0]


# ----------------------------------------------------------------------------- after training


def write_visuals(run_dir: Path, data: Any, test_inference: Any, config: TrainConfig) -> list[Path]:
    """Called by `train` at the end: curves, confusion matrix, t-SNE, baseline and report.

    `test_inference` holds probabilities, predictions and embeddings for every row of
    `data.splits["test"]`, in order, so nothing here runs the transformer again.
    """
    from newsclf.report import write_report

    run_dir = Path(run_dir)
    names = list(data.label_names)
    true_ids = np.asarray(data.splits["test"]["label"])
    pred_ids = np.asarray(test_inference.predicted)
    steps = [
        ("plot", lambda: [plot_training_progress(run_dir)]),
        ("plot", lambda: [_confusion_from_ids(run_dir, true_ids, pred_ids, names)]),
        ("embed", lambda: _tsne_of_test(run_dir, data, test_inference, config.seed)),
        ("report", lambda: write_report(run_dir, data=data, config=config)),
    ]
    written: list[Path] = []
    for command, step in steps:
        try:
            written += step()
        except Exception as err:
            # The model is trained and saved by now, and train discards the whole run directory
            # on an error: a picture that fails must not cost the run. Say how to redo it.
            log.warning(
                "Could not write a picture (%s: %s); the run is kept. Retry with "
                "`newsclf %s %s`.", type(err).__name__, err, command, config.run_dir,
            )  # fmt: skip
    return written


def _tsne_of_test(run_dir: Path, data: Any, inference: Any, seed: int) -> list[Path]:
    """The t-SNE page of (a stratified sample of) the test split, from embeddings already made."""
    test, names = data.splits["test"], list(data.label_names)
    if inference.embeddings is None or len(test) < 5:
        log.warning("No test embeddings, or under 5 test rows: skipped the t-SNE page.")
        return []
    true_ids = np.asarray(test["label"])
    pred_ids = np.asarray(inference.predicted)
    rows = stratified_indices(true_ids, DEFAULT_MAX_POINTS, seed=seed)
    return write_tsne(
        run_dir,
        np.asarray(inference.embeddings)[rows],
        labels=[names[i] for i in true_ids[rows]],
        predicted=[names[i] for i in pred_ids[rows]],
        texts=test.select(rows.tolist())["text"],
        label_names=names,
        rows=rows,
        seed=seed,
    )


def _confusion_from_ids(
    run_dir: Path, true_ids: np.ndarray, pred_ids: np.ndarray, names: list[str]
) -> Path:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(true_ids, pred_ids, labels=list(range(len(names))))
    return plot_confusion_matrix(run_dir, matrix, names)


def report_run(run_dir: Path) -> Path:
    """`newsclf report RUN`: write report.html (see `newsclf.report`)."""
    from newsclf.report import report_run as _report_run

    return _report_run(run_dir)
