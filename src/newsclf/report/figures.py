"""The pictures of a run: training curves and confusion matrix (PNG, matplotlib) and the 3D
t-SNE scatter (Plotly). Builders take plain data and return figures or PNG bytes; `plot_run`
(`newsclf plot RUN`) draws the PNGs of a run directory from its files.

matplotlib and plotly are imported inside the functions so `newsclf --help` stays instant.
"""

from __future__ import annotations

import html
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from newsclf import rundir
from newsclf.errors import DataError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from plotly.graph_objects import Figure as PlotlyFigure

log = logging.getLogger(__name__)

PROGRESS_TITLE = "Model Training Progress"
CONFUSION_TITLE = "Confusion Matrix"
TSNE_TITLE = "3D t-SNE Visualization of Embeddings"
# The report's alt text of each PNG, by file name.
PNG_TITLES = {rundir.PROGRESS_PNG: PROGRESS_TITLE, rundir.CONFUSION_PNG: CONFUSION_TITLE}


# ----------------------------------------------------------------------------- matplotlib


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A Figure on the Agg canvas, without pyplot: no display needed, no global state touched
    (so a notebook's own matplotlib backend is left alone), nothing to close afterwards."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, title: str) -> bytes:
    """The figure as PNG, with the title also in the PNG metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Title": title})
    return buffer.getvalue()


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


def run_pngs(history: dict[str, Any], metrics: dict[str, Any] | None) -> dict[str, bytes]:
    """The PNGs of a run by file name: the curves, plus the confusion matrix once tested."""
    pngs = {rundir.PROGRESS_PNG: png_bytes(training_progress_figure(history), PROGRESS_TITLE)}
    if metrics is not None:
        matrix = confusion_matrix_figure(metrics["confusion_matrix"], metrics["label_names"])
        pngs[rundir.CONFUSION_PNG] = png_bytes(matrix, CONFUSION_TITLE)
    return pngs


def plot_run(run_dir: Path) -> list[Path]:
    """`newsclf plot RUN`: training_progress.png, plus confusion_matrix.png once tested."""
    history = rundir.read_history(run_dir)
    metrics = rundir.read_test_metrics(run_dir)
    if metrics is None:
        log.info("%s has no test_metrics.json: skipped the confusion matrix.", run_dir)
    return rundir.write_files(run_dir, run_pngs(history, metrics))


# ----------------------------------------------------------------------------- plotly


def shorten(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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
